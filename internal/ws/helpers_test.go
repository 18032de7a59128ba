package ws

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gobwas "github.com/gobwas/ws"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// prompt bounds every wait for something that should happen at once; it is
// generous so that slow, loaded CI machines never trip it.
const prompt = 5 * time.Second

// errStop is returned by callbacks to make ReadMessage return.
var errStop = errors.New("stop")

// tcpPair returns the two ends of a loopback TCP connection. Both are
// closed when the test ends.
func tcpPair(t testing.TB) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		d.Close()
		t.Fatal(r.err)
	}
	t.Cleanup(func() {
		d.Close()
		r.c.Close()
	})
	return d.(*net.TCPConn), r.c.(*net.TCPConn)
}

// pipePair is net.Pipe with both ends closed when the test ends.
func pipePair(t testing.TB) (a, b net.Conn) {
	a, b = net.Pipe()
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

// memConn is an in-memory net.Conn: it reads from r (io.EOF at its end),
// writes to w (discarded when nil) and accepts deadlines as no-ops. It
// fails with errTooManyReads once Read was called maxReads times (when
// maxReads > 0), so a reader spinning on it terminates.
type memConn struct {
	r        io.Reader
	w        io.Writer
	chunk    func() int // when set, bounds the length of each Read
	reads    int
	maxReads int
}

var errTooManyReads = errors.New("memConn: too many reads")

func (m *memConn) Read(p []byte) (int, error) {
	m.reads++
	if m.maxReads > 0 && m.reads > m.maxReads {
		return 0, errTooManyReads
	}
	if m.chunk != nil {
		if k := m.chunk(); k < len(p) {
			p = p[:k]
		}
	}
	return m.r.Read(p)
}

func (m *memConn) Write(p []byte) (int, error) {
	if m.w != nil {
		return m.w.Write(p)
	}
	return len(p), nil
}

func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return memAddr{} }
func (m *memConn) RemoteAddr() net.Addr             { return memAddr{} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }

// cycleReader repeats data forever.
type cycleReader struct {
	data []byte
	off  int
}

func (c *cycleReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.data[c.off:])
		n += k
		c.off = (c.off + k) % len(c.data)
	}
	return n, nil
}

// probeConn records, on the reading goroutine, the state of the Conn at
// each Read: whether it held a read buffer and how big a read it asked
// for. events counts writes and delivered messages so that a test can
// find the first Read after a given point.
type probeConn struct {
	net.Conn
	c      *Conn // set before the reader starts
	events atomic.Int64
	probes chan readProbe
}

type readProbe struct {
	n      int   // len(p) of the Read call
	held   bool  // c.buf != nil at the call
	events int64 // events seen before the call
}

func newProbeConn(nc net.Conn) *probeConn {
	return &probeConn{Conn: nc, probes: make(chan readProbe, 1<<14)}
}

func (p *probeConn) Read(b []byte) (int, error) {
	select {
	case p.probes <- readProbe{n: len(b), held: p.c.buf != nil, events: p.events.Load()}:
	default:
	}
	return p.Conn.Read(b)
}

func (p *probeConn) Write(b []byte) (int, error) {
	n, err := p.Conn.Write(b)
	p.events.Add(1)
	return n, err
}

// waitProbe returns the first Read made after at least events events.
func (p *probeConn) waitProbe(t *testing.T, events int64) readProbe {
	t.Helper()
	timeout := time.After(prompt)
	for {
		select {
		case pr := <-p.probes:
			if pr.events >= events {
				return pr
			}
		case <-timeout:
			t.Fatalf("no Read after %d events", events)
		}
	}
}

// chunkConn splits every Write into small writes and yields between them,
// so that unserialized concurrent writers would interleave their bytes.
type chunkConn struct{ net.Conn }

func (c chunkConn) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 16)
		m, err := c.Conn.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		p = p[k:]
		runtime.Gosched()
	}
	return n, nil
}

// newMask returns a random mask with four distinct non-zero bytes, so that
// a mask applied at the wrong offset or not at all always shows.
func newMask() [4]byte {
	for {
		m := gobwas.NewMask()
		if m[0] != 0 && m[1] != 0 && m[2] != 0 && m[3] != 0 &&
			m[0] != m[1] && m[0] != m[2] && m[0] != m[3] &&
			m[1] != m[2] && m[1] != m[3] && m[2] != m[3] {
			return m
		}
	}
}

// enc encodes one frame with gobwas, masked with a random key if masked.
func enc(t testing.TB, op gobwas.OpCode, fin, masked bool, p []byte) []byte {
	t.Helper()
	f := gobwas.NewFrame(op, fin, p)
	if masked {
		f = gobwas.MaskFrameWith(f, newMask())
	}
	var buf bytes.Buffer
	if err := gobwas.WriteFrame(&buf, f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// encHeader encodes a frame header with gobwas.
func encHeader(t testing.TB, h gobwas.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := gobwas.WriteHeader(&buf, h); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// encRaw encodes a frame with header h and payload p, masking p with
// h.Mask when h.Masked.
func encRaw(t testing.TB, h gobwas.Header, p []byte) []byte {
	t.Helper()
	p = bytes.Clone(p)
	if h.Masked {
		gobwas.Cipher(p, h.Mask, 0)
	}
	return append(encHeader(t, h), p...)
}

// payload returns n deterministic pseudo-random bytes.
func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// textPayload returns n deterministic printable ASCII bytes.
func textPayload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(' ' + r.IntN(95))
	}
	return p
}

type msg struct {
	op byte
	p  []byte
}

// bgReader runs ReadMessage on its own goroutine and delivers copies of
// the messages on msgs.
type bgReader struct {
	c    *Conn
	msgs chan msg
	done chan struct{}
	err  error // set before done is closed
}

// startReader starts ReadMessage on c; hook, when not nil, runs in the
// callback (on the reading goroutine) before the message is delivered.
// When the test ends, c is closed and the reader is waited for.
func startReader(t *testing.T, c *Conn, hook func()) *bgReader {
	t.Helper()
	r := &bgReader{c: c, msgs: make(chan msg, 1<<12), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = c.ReadMessage(func(op byte, p []byte) error {
			if hook != nil {
				hook()
			}
			r.msgs <- msg{op, bytes.Clone(p)}
			return nil
		})
	}()
	t.Cleanup(func() {
		c.Close()
		select {
		case <-r.done:
		case <-time.After(prompt):
			t.Errorf("reader did not end after Close")
		}
	})
	return r
}

// next returns the next message, failing if none comes promptly.
func (r *bgReader) next(t *testing.T) msg {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case <-r.done:
		select {
		case m := <-r.msgs:
			return m
		default:
		}
		t.Fatalf("ReadMessage returned %v while a message was expected", r.err)
	case <-time.After(prompt):
		t.Fatalf("no message within %v", prompt)
	}
	panic("unreachable")
}

// wait returns ReadMessage's error, failing if it does not return
// within d.
func (r *bgReader) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(d):
		t.Fatalf("ReadMessage did not return within %v", d)
	}
	panic("unreachable")
}

// noMessage fails if a message was delivered.
func (r *bgReader) noMessage(t *testing.T) {
	t.Helper()
	select {
	case m := <-r.msgs:
		t.Fatalf("unexpected message op=%d len=%d", m.op, len(m.p))
	default:
	}
}

// peerFrame reads one frame from the peer end of a connection with gobwas
// and unmasks it. masked reports whether it was masked.
func peerFrame(t *testing.T, nc net.Conn) (f gobwas.Frame, masked bool) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(prompt))
	defer nc.SetReadDeadline(time.Time{})
	f, err := readFrame(nc)
	if err != nil {
		t.Fatalf("peer: reading a frame: %v", err)
	}
	masked = f.Header.Masked
	if masked {
		f = gobwas.UnmaskFrameInPlace(f)
	}
	return f, masked
}

// parseFrames decodes a whole byte stream with gobwas, unmasking frames.
func parseFrames(t *testing.T, b []byte) []gobwas.Frame {
	t.Helper()
	var out []gobwas.Frame
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		f, err := readFrame(r)
		if err != nil {
			t.Fatalf("decoding frame %d: %v", len(out), err)
		}
		if f.Header.Masked {
			f = gobwas.UnmaskFrameInPlace(f)
		}
		out = append(out, f)
	}
	return out
}

// readStream runs one ReadMessage over data through a memConn, returning
// the delivered messages, what the Conn wrote and the error.
func readStream(data []byte, client bool, maxMsg int) (msgs []msg, out []byte, err error) {
	var w bytes.Buffer
	c := NewConn(&memConn{r: bytes.NewReader(data), w: &w}, client, maxMsg, nil)
	err = c.ReadMessage(func(op byte, p []byte) error {
		msgs = append(msgs, msg{op, bytes.Clone(p)})
		return nil
	})
	return msgs, w.Bytes(), err
}

func isProtocolError(err error) bool {
	var pe *ProtocolError
	return errors.As(err, &pe)
}

// gateConn holds its first Write until release is closed, after telling
// entered; it keeps CloseWrite so that Shutdown half-closes.
type gateConn struct {
	*net.TCPConn
	entered, release chan struct{}
	once             sync.Once
}

func (g *gateConn) Write(p []byte) (int, error) {
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
	return g.TCPConn.Write(p)
}

// readFrame reads one frame with gobwas's header parser; tests trust the
// declared length because they produced the bytes.
func readFrame(r io.Reader) (gobwas.Frame, error) {
	h, err := gobwas.ReadHeader(r)
	if err != nil {
		return gobwas.Frame{}, err
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r, p); err != nil {
		return gobwas.Frame{}, err
	}
	return gobwas.Frame{Header: h, Payload: p}, nil
}
