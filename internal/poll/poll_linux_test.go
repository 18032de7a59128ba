//go:build linux

package poll

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// patience bounds every wait of these tests: what is promised happens
// long before, or not at all.
const patience = 10 * time.Second

// state is what a poller told the tests about one connection; it is the
// Conn's Session.
type state struct {
	echo bool // OnData writes back what it got
	// then, if set, runs at the end of OnData.
	then func(c *Conn)

	mu          sync.Mutex
	data        []byte
	closes      int   // OnClose calls
	err         error // the first OnClose's
	dataAtClose int   // len(data) when OnClose ran
	late        int   // OnData calls after OnClose
	offLoop     int   // OnClose calls not on a poller goroutine
	notify      chan struct{}
	closed      chan struct{} // closed by the first OnClose
}

func newState(echo bool) *state {
	return &state{echo: echo, notify: make(chan struct{}, 1), closed: make(chan struct{})}
}

func (s *state) poke() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *state) onData(c *Conn, data []byte) {
	s.mu.Lock()
	if s.closes > 0 {
		s.late++
	}
	s.data = append(s.data, data...)
	s.mu.Unlock()
	s.poke()
	if s.echo {
		_, _ = c.Write(data)
	}
	if s.then != nil {
		s.then(c)
	}
}

func (s *state) onClose(_ *Conn, err error) {
	buf := make([]byte, 64<<10)
	onLoop := strings.Contains(string(buf[:runtime.Stack(buf, false)]), ".(*loop).run(")
	s.mu.Lock()
	s.closes++
	if !onLoop {
		s.offLoop++
	}
	if s.closes == 1 {
		s.err, s.dataAtClose = err, len(s.data)
		close(s.closed)
	}
	s.mu.Unlock()
	s.poke()
}

// waitClosed waits for the first OnClose and returns its error.
func (s *state) waitClosed(t *testing.T) error {
	t.Helper()
	select {
	case <-s.closed:
	case <-time.After(patience):
		t.Fatalf("OnClose did not run within %v", patience)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// waitData waits until OnData delivered at least n bytes and returns
// them all.
func (s *state) waitData(t *testing.T, n int) []byte {
	t.Helper()
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if len(s.data) >= n {
			d := bytes.Clone(s.data)
			s.mu.Unlock()
			return d
		}
		got := len(s.data)
		s.mu.Unlock()
		select {
		case <-s.notify:
		case <-deadline.C:
			t.Fatalf("got %d bytes through OnData within %v, want %d", got, patience, n)
		}
	}
}

func (s *state) closeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closes
}

// check asserts what must hold once the poller is closed: one OnClose,
// on a poller goroutine, with want, and no OnData after it.
func (s *state) check(t *testing.T, name string, want error) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closes != 1 {
		t.Errorf("%s: OnClose ran %d times, want 1", name, s.closes)
	}
	if s.late != 0 {
		t.Errorf("%s: OnData ran %d times after OnClose", name, s.late)
	}
	if s.offLoop != 0 {
		t.Errorf("%s: OnClose ran %d times off the poller goroutines", name, s.offLoop)
	}
	if s.closes > 0 && !sameErr(s.err, want) {
		t.Errorf("%s: OnClose got %v, want %v", name, s.err, want)
	}
}

func sameErr(got, want error) bool {
	if want == nil {
		return got == nil
	}
	return errors.Is(got, want)
}

func callbacks(o Options) Options {
	o.OnData = func(c *Conn, data []byte) { c.Session.(*state).onData(c, data) }
	o.OnClose = func(c *Conn, err error) { c.Session.(*state).onClose(c, err) }
	return o
}

type harness struct {
	t  *testing.T
	p  *Poller
	ln *net.TCPListener
}

func newHarness(t *testing.T, o Options) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(callbacks(o))
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		ln.Close()
	})
	return &harness{t: t, p: p, ln: ln.(*net.TCPListener)}
}

// dial connects to the listener; small sets both ends' socket buffers
// small, so that a writer reaches EAGAIN after a few hundred KiB. The
// receive buffers stay at 64 KiB: on loopback (MTU 64 KiB) a receive
// buffer of a few KiB stalls TCP itself for seconds (the window stays
// under a segment and the sender waits for window probes), with or
// without a poller.
func (h *harness) dial(small bool) (server, peer *net.TCPConn) {
	h.t.Helper()
	peer, err := net.DialTCP("tcp", nil, h.ln.Addr().(*net.TCPAddr))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { peer.Close() })
	server, err = h.ln.AcceptTCP()
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { server.Close() })
	if small {
		for _, tc := range []*net.TCPConn{server, peer} {
			if err := tc.SetReadBuffer(64 << 10); err != nil {
				h.t.Fatal(err)
			}
			if err := tc.SetWriteBuffer(4 << 10); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	return server, peer
}

func (h *harness) take(nc net.Conn, s *state) *Conn {
	h.t.Helper()
	c, err := h.p.Take(nc, func(c *Conn) { c.Session = s })
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// connect dials the listener and Takes the accepted end.
func (h *harness) connect(s *state, small bool) (*Conn, *net.TCPConn) {
	h.t.Helper()
	server, peer := h.dial(small)
	return h.take(server, s), peer
}

func randomBytes(seed byte, n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// queued is how many bytes c holds for the kernel.
func queued(c *Conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.out)
}

func mustWrite(t *testing.T, c *Conn, b []byte) {
	t.Helper()
	n, err := c.Write(b)
	if err != nil || n != len(b) {
		t.Fatalf("Write(%d bytes) = %d, %v", len(b), n, err)
	}
}

// writeChunks writes b in pieces of chunk bytes.
func writeChunks(t *testing.T, c *Conn, b []byte, chunk int) {
	t.Helper()
	for off := 0; off < len(b); off += chunk {
		mustWrite(t, c, b[off:min(off+chunk, len(b))])
	}
}

type readResult struct {
	b   []byte
	err error
}

// readAsync reads n bytes (or, with n < 0, to EOF) from nc, bounded by a
// read deadline.
func readAsync(nc net.Conn, n int) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		if err := nc.SetReadDeadline(time.Now().Add(patience)); err != nil {
			ch <- readResult{err: err}
			return
		}
		if n < 0 {
			b, err := io.ReadAll(nc)
			ch <- readResult{b, err}
			return
		}
		b := make([]byte, n)
		m, err := io.ReadFull(nc, b)
		ch <- readResult{b[:m], err}
	}()
	return ch
}

func await(t *testing.T, ch <-chan readResult) []byte {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("peer read: %v (after %d bytes)", r.err, len(r.b))
		}
		return r.b
	case <-time.After(patience + time.Second):
		t.Fatal("peer read did not end")
	}
	return nil
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Fatalf("%s: got %d bytes, want %d; first difference at offset %d", what, len(got), len(want), i)
}

// waitGroup waits for wg, bounded.
func waitGroup(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(patience + time.Second):
		t.Fatalf("%s did not end within %v", what, patience)
	}
}

// TestEchoPeer: what a plain peer writes arrives through OnData, and
// what the Conn writes (echoing it) arrives at the peer, in order.
func TestEchoPeer(t *testing.T) {
	h := newHarness(t, Options{})
	s := newState(true)
	c, peer := h.connect(s, true)
	want := randomBytes(1, 1<<20)
	got := readAsync(peer, len(want))
	werr := make(chan error, 1)
	go func() {
		r := rand.New(rand.NewPCG(1, 2))
		_ = peer.SetWriteDeadline(time.Now().Add(patience))
		for off := 0; off < len(want); {
			n := min(1+r.IntN(20000), len(want)-off)
			if _, err := peer.Write(want[off : off+n]); err != nil {
				werr <- err
				return
			}
			off += n
		}
		werr <- nil
	}()
	sameBytes(t, "echo at the peer", await(t, got), want)
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "OnData", s.waitData(t, len(want)), want)
	if s.closeCount() != 0 {
		t.Fatal("connection closed")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.waitClosed(t); err != nil {
		t.Fatalf("OnClose after Close got %v, want nil", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close = %v, want net.ErrClosed", err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read of a polled connection succeeded")
	}
	h.p.Close()
	s.check(t, "conn", nil)
}

// TestEchoBothTaken: both ends of a connection are Taken; one writes
// (queueing, with small socket buffers), the other echoes from OnData.
func TestEchoBothTaken(t *testing.T) {
	h := newHarness(t, Options{Pollers: 2})
	server, peer := h.dial(true)
	sa, sb := newState(false), newState(true)
	a := h.take(peer, sa)
	h.take(server, sb)
	want := randomBytes(2, 2<<20)
	writeChunks(t, a, want, 10000)
	sameBytes(t, "echo back at the writer", sa.waitData(t, len(want)), want)
	sameBytes(t, "bytes at the echoing end", sb.waitData(t, len(want)), want)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sa.waitClosed(t); err != nil {
		t.Fatalf("closed end: OnClose got %v, want nil", err)
	}
	if err := sb.waitClosed(t); !errors.Is(err, io.EOF) {
		t.Fatalf("other end: OnClose got %v, want io.EOF", err)
	}
	h.p.Close()
	sa.check(t, "writer", nil)
	sb.check(t, "echoer", io.EOF)
}

// TestManyConns: 200 connections on 2 pollers, all talking at once; each
// gets its own bytes only.
func TestManyConns(t *testing.T) {
	const n = 200
	h := newHarness(t, Options{Pollers: 2})
	states := make([]*state, n)
	conns := make([]*Conn, n)
	peers := make([]*net.TCPConn, n)
	msgs := make([][]byte, n)
	// A Take's dup gets the lowest free descriptor number, often the one
	// the previous Take freed, and the poller is fd % 2: dial all, then
	// accept all, so that the accepted ends' numbers are consecutive and
	// so, from the second Take on, are the dups' (both pollers get half).
	index := map[string]int{}
	for i := range n {
		peer, err := net.DialTCP("tcp", nil, h.ln.Addr().(*net.TCPAddr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { peer.Close() })
		peers[i] = peer
		index[peer.LocalAddr().String()] = i
	}
	servers := make([]net.Conn, n)
	order := make([]int, 0, n)
	for range n {
		server, err := h.ln.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { server.Close() })
		i, ok := index[server.RemoteAddr().String()]
		if !ok || servers[i] != nil {
			t.Fatalf("accepted an unknown connection from %v", server.RemoteAddr())
		}
		servers[i] = server
		order = append(order, i)
	}
	perLoop := map[*loop]int{}
	for _, i := range order {
		states[i] = newState(true)
		conns[i] = h.take(servers[i], states[i])
		perLoop[conns[i].l]++
		msgs[i] = append([]byte(fmt.Sprintf("conn %d:", i)), randomBytes(byte(i), 6000+i)...)
	}
	for _, l := range h.p.loops {
		if perLoop[l] < n/4 {
			t.Fatalf("connections per poller: %d and %d; the test wants both busy", perLoop[h.p.loops[0]], perLoop[h.p.loops[1]])
		}
	}
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			peer, msg := peers[i], msgs[i]
			_ = peer.SetDeadline(time.Now().Add(patience))
			for _, part := range [][]byte{msg[:100], msg[100:3000], msg[3000:]} {
				if _, err := peer.Write(part); err != nil {
					errs <- fmt.Errorf("conn %d: %w", i, err)
					return
				}
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(peer, got); err != nil {
				errs <- fmt.Errorf("conn %d: %w", i, err)
				return
			}
			if !bytes.Equal(got, msg) {
				errs <- fmt.Errorf("conn %d: echo differs from what it sent (starts %q)", i, got[:min(12, len(got))])
			}
		}()
	}
	waitGroup(t, &wg, "peers")
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, s := range states {
		sameBytes(t, fmt.Sprintf("conn %d OnData", i), s.waitData(t, len(msgs[i])), msgs[i])
	}
	h.p.Close()
	for i, s := range states {
		s.check(t, fmt.Sprintf("conn %d", i), nil)
	}
}

// TestSlowReaderKeepsOrder: 8 MiB written to a peer that does not read
// at first, then drains while more is written: every byte arrives, in
// order.
func TestSlowReaderKeepsOrder(t *testing.T) {
	h := newHarness(t, Options{MaxQueued: 64 << 20})
	s := newState(false)
	c, peer := h.connect(s, true)
	const total = 8 << 20
	want := randomBytes(3, total)
	writeChunks(t, c, want[:total/2], 64<<10)
	if queued(c) == 0 {
		t.Fatal("nothing queued: the test does not reach EAGAIN")
	}
	got := readAsync(peer, total)
	r := rand.New(rand.NewPCG(3, 4))
	for off := total / 2; off < total; {
		n := min(1+r.IntN(100000), total-off)
		mustWrite(t, c, want[off:off+n])
		off += n
	}
	sameBytes(t, "peer", await(t, got), want)
	if q := queued(c); q != 0 {
		t.Fatalf("%d bytes still queued after the peer read them all", q)
	}
	if s.closeCount() != 0 {
		t.Fatalf("connection closed: %v", s.err)
	}
}

// TestQueueFull: a peer that does not read, and a queue limit: the
// connection closes with ErrQueueFull, reported to Write and OnClose.
func TestQueueFull(t *testing.T) {
	const limit = 64 << 10
	h := newHarness(t, Options{MaxQueued: limit})

	t.Run("growing", func(t *testing.T) {
		s := newState(false)
		c, peer := h.connect(s, true)
		chunk := make([]byte, 16<<10)
		var werr error
		for i := 0; i < 512 && werr == nil; i++ {
			_, werr = c.Write(chunk)
			if q := queued(c); q > limit {
				t.Fatalf("%d bytes queued, over the limit %d", q, limit)
			}
		}
		if !errors.Is(werr, ErrQueueFull) {
			t.Fatalf("Write = %v after 8 MiB to a peer that does not read, want ErrQueueFull", werr)
		}
		if err := s.waitClosed(t); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("OnClose got %v, want ErrQueueFull", err)
		}
		if _, err := c.Write(chunk); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after the close = %v, want net.ErrClosed", err)
		}
		// The socket is closed: the peer reads what reached it, then EOF.
		await(t, readAsync(peer, -1))
	})

	t.Run("one big write", func(t *testing.T) {
		s := newState(false)
		c, peer := h.connect(s, true)
		if _, err := c.Write(make([]byte, 1<<20)); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("Write(1 MiB) = %v, want ErrQueueFull", err)
		}
		if err := s.waitClosed(t); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("OnClose got %v, want ErrQueueFull", err)
		}
		await(t, readAsync(peer, -1))
	})
}

// TestWriteTimeout: bytes queued for a peer that never reads close the
// connection with ErrWriteTimeout.
func TestWriteTimeout(t *testing.T) {
	h := newHarness(t, Options{WriteTimeout: 100 * time.Millisecond})
	s := newState(false)
	c, _ := h.connect(s, true)
	writeChunks(t, c, make([]byte, 1<<20), 64<<10)
	if queued(c) == 0 {
		t.Fatal("nothing queued: the test does not reach EAGAIN")
	}
	if err := s.waitClosed(t); !errors.Is(err, ErrWriteTimeout) {
		t.Fatalf("OnClose got %v, want ErrWriteTimeout", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after the close = %v, want net.ErrClosed", err)
	}
	h.p.Close()
	s.check(t, "conn", ErrWriteTimeout)
}

// TestCloseDropsQueue: Close with bytes queued closes at once: the peer
// gets what the kernel had taken, then EOF, and not the rest.
func TestCloseDropsQueue(t *testing.T) {
	h := newHarness(t, Options{MaxQueued: 64 << 20})
	s := newState(false)
	c, peer := h.connect(s, true)
	want := randomBytes(5, 4<<20)
	writeChunks(t, c, want, 64<<10)
	if q := queued(c); q < 1<<20 {
		t.Fatalf("%d bytes queued, want at least 1 MiB: the kernel takes more than the test expects", q)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if q := queued(c); q != 0 {
		t.Fatalf("%d bytes still queued after Close", q)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close = %v, want net.ErrClosed", err)
	}
	if err := c.CloseWrite(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("CloseWrite after Close = %v, want net.ErrClosed", err)
	}
	if err := s.waitClosed(t); err != nil {
		t.Fatalf("OnClose got %v, want nil", err)
	}
	got := await(t, readAsync(peer, -1))
	if len(got) >= len(want) {
		t.Fatal("the peer got every byte: Close sent the queue")
	}
	sameBytes(t, "peer", got, want[:len(got)])
	h.p.Close()
	s.check(t, "conn", nil)
}

// TestSetWriteDeadline: bytes still queued at the write deadline close
// the connection with ErrWriteTimeout.
func TestSetWriteDeadline(t *testing.T) {
	h := newHarness(t, Options{})
	s := newState(false)
	c, _ := h.connect(s, true)
	writeChunks(t, c, make([]byte, 1<<20), 64<<10)
	if queued(c) == 0 {
		t.Fatal("nothing queued: the test does not reach EAGAIN")
	}
	if err := c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := s.waitClosed(t); !errors.Is(err, ErrWriteTimeout) {
		t.Fatalf("OnClose got %v, want ErrWriteTimeout", err)
	}
	h.p.Close()
	s.check(t, "conn", ErrWriteTimeout)
}

// TestSetWriteDeadlineZeroKeepsWriteTimeout: cancelling the deadline
// leaves the poller's WriteTimeout in force for bytes already queued.
func TestSetWriteDeadlineZeroKeepsWriteTimeout(t *testing.T) {
	h := newHarness(t, Options{WriteTimeout: 100 * time.Millisecond})
	s := newState(false)
	c, _ := h.connect(s, true)
	writeChunks(t, c, make([]byte, 1<<20), 64<<10)
	if queued(c) == 0 {
		t.Fatal("nothing queued: the test does not reach EAGAIN")
	}
	if err := c.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.waitClosed(t); !errors.Is(err, ErrWriteTimeout) {
		t.Fatalf("OnClose got %v, want ErrWriteTimeout", err)
	}
}

// TestSetWriteDeadlineOutlivesEmptyQueue: a write deadline stays in force
// when the queue empties: bytes queued again and still there at the
// deadline close the connection.
func TestSetWriteDeadlineOutlivesEmptyQueue(t *testing.T) {
	h := newHarness(t, Options{})
	for d := 500 * time.Millisecond; ; d *= 2 {
		if d > 4*time.Second {
			t.Fatal("the machine never drained 1 MiB in time")
		}
		s := newState(false)
		c, peer := h.connect(s, true)
		chunk := make([]byte, 1<<20)
		writeChunks(t, c, chunk, 64<<10)
		deadline := time.Now().Add(d)
		if err := c.SetWriteDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		await(t, readAsync(peer, len(chunk))) // the queue empties
		writeChunks(t, c, chunk, 64<<10)      // and fills again
		if time.Now().After(deadline) || s.closeCount() > 0 || queued(c) == 0 {
			continue // too slow to be before the deadline: again, with a longer one
		}
		if err := s.waitClosed(t); !errors.Is(err, ErrWriteTimeout) {
			t.Fatalf("OnClose got %v, want ErrWriteTimeout", err)
		}
		return
	}
}

// TestReadDeadline: a passed read deadline closes with ErrReadTimeout;
// a zero time cancels it. A later deadline on another connection is the
// clock that says the cancelled one would have passed.
func TestReadDeadline(t *testing.T) {
	h := newHarness(t, Options{Pollers: 2})
	sa, sb, sw := newState(false), newState(false), newState(false)
	a, peerA := h.connect(sa, false)
	b, peerB := h.connect(sb, false)
	w, _ := h.connect(sw, false)
	now := time.Now()
	if err := a.SetReadDeadline(now.Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := b.SetReadDeadline(now.Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := b.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := w.SetReadDeadline(now.Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := sa.waitClosed(t); !errors.Is(err, ErrReadTimeout) {
		t.Fatalf("OnClose got %v, want ErrReadTimeout", err)
	}
	await(t, readAsync(peerA, -1)) // the socket is closed: EOF
	if err := sw.waitClosed(t); !errors.Is(err, ErrReadTimeout) {
		t.Fatalf("witness: OnClose got %v, want ErrReadTimeout", err)
	}
	if n := sb.closeCount(); n != 0 {
		t.Fatalf("cancelled deadline: connection closed (%v)", sb.err)
	}
	// b still works both ways.
	mustWrite(t, b, []byte("pong"))
	if got := await(t, readAsync(peerB, 4)); string(got) != "pong" {
		t.Fatalf("peer got %q", got)
	}
	if _, err := peerB.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if got := sb.waitData(t, 4); string(got) != "ping" {
		t.Fatalf("OnData got %q", got)
	}
	if err := a.SetReadDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("SetReadDeadline on a closed connection = %v, want net.ErrClosed", err)
	}
	h.p.Close()
	sa.check(t, "a", ErrReadTimeout)
	sw.check(t, "witness", ErrReadTimeout)
	sb.check(t, "b", nil)
}

// TestCloseWriteQueued: CloseWrite with bytes queued: the peer reads
// every byte, then EOF; the read half stays open.
func TestCloseWriteQueued(t *testing.T) {
	h := newHarness(t, Options{MaxQueued: 64 << 20})

	t.Run("queued", func(t *testing.T) {
		s := newState(false)
		c, peer := h.connect(s, true)
		want := randomBytes(4, 2<<20)
		writeChunks(t, c, want, 64<<10)
		if queued(c) == 0 {
			t.Fatal("nothing queued: the test does not reach EAGAIN")
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		sameBytes(t, "peer", await(t, readAsync(peer, -1)), want)
		if _, err := peer.Write([]byte("after")); err != nil {
			t.Fatal(err)
		}
		if got := s.waitData(t, 5); string(got) != "after" {
			t.Fatalf("OnData got %q after the half-close", got)
		}
		if n := s.closeCount(); n != 0 {
			t.Fatalf("connection closed by CloseWrite (%v)", s.err)
		}
		if err := peer.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.waitClosed(t); !errors.Is(err, io.EOF) {
			t.Fatalf("OnClose got %v, want io.EOF", err)
		}
	})

	t.Run("empty", func(t *testing.T) {
		s := newState(false)
		c, peer := h.connect(s, true)
		mustWrite(t, c, []byte("all"))
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if got := await(t, readAsync(peer, -1)); string(got) != "all" {
			t.Fatalf("peer got %q", got)
		}
	})
}

// TestPeerClose: peers that write and close: each Conn gets all the
// bytes, then OnClose(io.EOF), once.
func TestPeerClose(t *testing.T) {
	const n = 20
	h := newHarness(t, Options{Pollers: 2})
	states := make([]*state, n)
	peers := make([]*net.TCPConn, n)
	msgs := make([][]byte, n)
	for i := range n {
		states[i] = newState(false)
		_, peers[i] = h.connect(states[i], true)
		msgs[i] = randomBytes(byte(i), 256<<10)
	}
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 5))
			_ = peers[i].SetWriteDeadline(time.Now().Add(patience))
			for off := 0; off < len(msgs[i]); {
				m := min(1+r.IntN(5000), len(msgs[i])-off)
				if _, err := peers[i].Write(msgs[i][off : off+m]); err != nil {
					errs <- err
					return
				}
				off += m
			}
			errs <- peers[i].Close()
		}()
	}
	waitGroup(t, &wg, "peers")
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range states {
		if err := s.waitClosed(t); !errors.Is(err, io.EOF) {
			t.Fatalf("conn %d: OnClose got %v, want io.EOF", i, err)
		}
		s.mu.Lock()
		atClose := s.dataAtClose
		s.mu.Unlock()
		if atClose != len(msgs[i]) {
			t.Fatalf("conn %d: OnClose ran after %d bytes, want %d", i, atClose, len(msgs[i]))
		}
		sameBytes(t, fmt.Sprintf("conn %d OnData", i), s.waitData(t, len(msgs[i])), msgs[i])
	}
	h.p.Close()
	for i, s := range states {
		s.check(t, fmt.Sprintf("conn %d", i), io.EOF)
	}
}

// TestCloseWhileDataFlows: Close from other goroutines while the peer
// writes and reads and the Conn is written: one Close succeeds, OnClose
// runs once with nil, and no OnData follows it.
func TestCloseWhileDataFlows(t *testing.T) {
	const n = 8
	h := newHarness(t, Options{Pollers: 2})
	var wg sync.WaitGroup
	states := make([]*state, n)
	for i := range n {
		s := newState(false)
		states[i] = s
		c, peer := h.connect(s, true)
		_ = peer.SetDeadline(time.Now().Add(patience))
		wg.Add(3)
		go func() { // the peer writes until the connection is gone
			defer wg.Done()
			buf := make([]byte, 8<<10)
			for {
				if _, err := peer.Write(buf); err != nil {
					return
				}
			}
		}()
		go func() { // the peer reads until the connection is gone
			defer wg.Done()
			_, _ = io.Copy(io.Discard, peer)
		}()
		go func() { // the Conn is written until it is closed
			defer wg.Done()
			buf := make([]byte, 4<<10)
			for {
				if queued(c) > 1<<20 {
					time.Sleep(time.Millisecond) // pace: the peer drains
					continue
				}
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
		s.waitData(t, (i+1)*8<<10)
		results := make(chan error, 4)
		for range 4 {
			go func() { results <- c.Close() }()
		}
		succeeded := 0
		for range 4 {
			select {
			case err := <-results:
				switch {
				case err == nil:
					succeeded++
				case !errors.Is(err, net.ErrClosed):
					t.Fatalf("Close = %v", err)
				}
			case <-time.After(patience):
				t.Fatal("Close did not return")
			}
		}
		if succeeded != 1 {
			t.Fatalf("conn %d: %d Closes succeeded, want 1", i, succeeded)
		}
		if err := s.waitClosed(t); err != nil {
			t.Fatalf("conn %d: OnClose got %v, want nil", i, err)
		}
	}
	waitGroup(t, &wg, "peers and writers")
	h.p.Close()
	for i, s := range states {
		s.check(t, fmt.Sprintf("conn %d", i), nil)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestPollerClose: Poller.Close with connections in every state (idle,
// reading, writes queued, a half-close pending, a deadline set): each
// gets OnClose(nil) before it returns, its goroutines are gone, and every
// descriptor it had is closed.
func TestPollerClose(t *testing.T) {
	warm, err := net.Listen("tcp", "127.0.0.1:0") // the runtime's own descriptors first
	if err != nil {
		t.Fatal(err)
	}
	warm.Close()
	fds := openFDs(t)
	ignore := goleak.IgnoreCurrent()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(callbacks(Options{Pollers: 2, MaxQueued: 64 << 20}))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, p: p, ln: ln.(*net.TCPListener)}
	const n = 20
	states := make([]*state, n)
	conns := make([]*Conn, n)
	peers := make([]*net.TCPConn, n)
	for i := range n {
		states[i] = newState(false)
		conns[i], peers[i] = h.connect(states[i], true)
		switch i % 4 {
		case 1: // writes queued
			writeChunks(t, conns[i], make([]byte, 1<<20), 64<<10)
			if queued(conns[i]) == 0 {
				t.Fatal("nothing queued: the test does not reach EAGAIN")
			}
		case 2: // writes queued, half-close pending
			writeChunks(t, conns[i], make([]byte, 1<<20), 64<<10)
			if err := conns[i].CloseWrite(); err != nil {
				t.Fatal(err)
			}
		case 3: // a deadline pending, data read
			if err := conns[i].SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if _, err := peers[i].Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			states[i].waitData(t, 5)
		}
	}
	p.Close()
	for i, s := range states {
		s.check(t, fmt.Sprintf("conn %d", i), nil) // before Close returned
	}
	for i, l := range p.loops {
		select {
		case <-l.done:
		default:
			t.Fatalf("poller goroutine %d still running after Close", i)
		}
	}
	for i, c := range conns {
		if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("conn %d: Write after Poller.Close = %v, want net.ErrClosed", i, err)
		}
	}
	// Every peer sees its connection end.
	for i, peer := range peers {
		_ = peer.SetReadDeadline(time.Now().Add(patience))
		if _, err := io.Copy(io.Discard, peer); err != nil {
			t.Fatalf("peer %d: %v, want EOF", i, err)
		}
	}
	// Take after Close fails.
	server, extra := h.dial(false)
	if _, err := p.Take(server, nil); err == nil {
		t.Fatal("Take after Close succeeded")
	}
	p.Close() // twice is fine
	for _, peer := range append(peers, extra) {
		peer.Close()
	}
	ln.Close()
	if n := openFDs(t); n != fds {
		t.Fatalf("%d descriptors open after everything closed, %d before", n, fds)
	}
	goleak.VerifyNone(t, ignore)
}

// TestTakeDuringClose: connections Taken while the poller closes are
// either refused or closed by it, with OnClose.
func TestTakeDuringClose(t *testing.T) {
	for iter := range 30 {
		h := newHarness(t, Options{Pollers: 2})
		const n = 16
		servers := make([]net.Conn, n)
		for i := range n {
			servers[i], _ = h.dial(false)
		}
		type taken struct {
			i int
			s *state
		}
		got := make(chan taken, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, server := range servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				s := newState(false)
				if _, err := h.p.Take(server, func(c *Conn) { c.Session = s }); err == nil {
					got <- taken{i, s}
				}
			}()
		}
		close(start)
		runtime.Gosched()
		h.p.Close()
		waitGroup(t, &wg, "Takes")
		close(got)
		for tk := range got {
			tk.s.check(t, fmt.Sprintf("iteration %d, conn %d", iter, tk.i), nil)
		}
		if t.Failed() {
			return
		}
	}
}

// TestWake: OnWake runs on the connection's poller goroutine, once for
// any number of Wakes before it runs; a Wake during OnWake runs it again;
// and it can write, which is what the server uses it for.
func TestWake(t *testing.T) {
	var mu sync.Mutex
	calls := map[*Conn]int{}
	rewoke := false
	gate := make(chan struct{})
	done := make(chan *Conn, 16)
	h := newHarness(t, Options{Pollers: 1, OnWake: func(c *Conn) {
		<-gate
		if !bytes.Contains(stack(), []byte("(*loop).run")) {
			t.Error("OnWake off the poller goroutine")
		}
		mu.Lock()
		calls[c]++
		again := !rewoke && calls[c] == 1
		rewoke = rewoke || again
		mu.Unlock()
		if again {
			c.Wake() // during OnWake: must run once more
		}
		_, _ = c.Write([]byte("w"))
		done <- c
	}})
	c1, p1 := h.connect(newState(false), false)
	c2, p2 := h.connect(newState(false), false)
	for range 5 {
		c1.Wake()
		c2.Wake()
	}
	close(gate)
	got := map[*Conn]int{}
	for range 3 { // c1 twice (the Wake in OnWake), c2 once
		select {
		case c := <-done:
			got[c]++
		case <-time.After(patience):
			t.Fatalf("OnWake calls: %v", got)
		}
	}
	select {
	case c := <-done:
		t.Fatalf("an extra OnWake for %p", c)
	case <-time.After(100 * time.Millisecond):
	}
	if got[c1]+got[c2] != 3 || got[c1] < 1 || got[c2] < 1 {
		t.Fatalf("OnWake calls = %d and %d; want 1 each plus 1 for the Wake made during one", got[c1], got[c2])
	}
	for _, p := range []*net.TCPConn{p1, p2} {
		n := got[c1]
		if p == p2 {
			n = got[c2]
		}
		sameBytes(t, "written in OnWake", await(t, readAsync(p, n)), bytes.Repeat([]byte("w"), n))
	}
}

// TestHandoff: an OnData that hands its loop off may block without
// holding up the loop's other connections, and goes on on its own
// goroutine.
func TestHandoff(t *testing.T) {
	checkBlockedHandedOff(t, newHarness(t, Options{Pollers: 1}), (*Conn).Handoff, nil)
}

// checkBlockedHandedOff runs an OnData that calls leave (Handoff, or
// MayBlock) and then blocks: once onBlocked, if any, returned for its
// connection, the loop's other connection must be served while it
// blocks; it goes on on its own goroutine, and its successor leads.
func checkBlockedHandedOff(t *testing.T, h *harness, leave, onBlocked func(*Conn)) {
	t.Helper()
	gate := make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(release) // before the poller's Close, which waits for the loop
	blocked := make(chan *Conn, 4)
	slow := newState(false)
	var calls atomic.Int32
	slow.then = func(c *Conn) {
		if calls.Add(1) > 1 {
			return
		}
		leave(c)
		blocked <- c
		<-gate
		_, _ = c.Write([]byte("after"))
	}
	_, ps := h.connect(slow, false)
	_, pe := h.connect(newState(true), false)
	if _, err := ps.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-blocked:
		if onBlocked != nil {
			onBlocked(c)
		}
	case <-time.After(patience):
		t.Fatal("OnData did not run")
	}
	// The blocked callback holds no loop: the other connection is served.
	if _, err := pe.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "echo while a handed-off OnData blocks", await(t, readAsync(pe, 4)), []byte("ping"))
	release()
	sameBytes(t, "written after the block", await(t, readAsync(ps, 5)), []byte("after"))
	// The successor leads: the slow connection is read again.
	if _, err := ps.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "read by the successor", slow.waitData(t, 2), []byte("xy"))
}

// TestHandoffFollowersBounded: goroutines that handed their loop off
// wait to lead again, at most maxFollowers of them; the others leave.
func TestHandoffFollowersBounded(t *testing.T) {
	h := newHarness(t, Options{Pollers: 1})
	l := h.p.loops[0]
	gate := make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(release) // before the poller's Close, which waits for the loop
	const n = maxFollowers + 3
	blocked := make(chan struct{}, n)
	var returned sync.WaitGroup
	peers := make([]*net.TCPConn, n)
	for i := range peers {
		var calls atomic.Int32
		st := newState(false)
		st.then = func(c *Conn) {
			if calls.Add(1) > 1 {
				return
			}
			defer returned.Done()
			c.Handoff()
			blocked <- struct{}{}
			<-gate
		}
		returned.Add(1)
		_, peers[i] = h.connect(st, false)
	}
	for i, p := range peers { // one at a time: each is read by the leader the last one handed off to
		if _, err := p.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-blocked:
		case <-time.After(patience):
			t.Fatalf("callback %d did not run: the loop was not handed off", i)
		}
	}
	if got := l.followers.Load(); got != 0 {
		t.Fatalf("%d followers while every goroutine that handed off still runs its callback", got)
	}
	release()
	waitGroup(t, &returned, "the blocked callbacks")
	deadline := time.Now().Add(patience)
	for l.followers.Load() < maxFollowers && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the others, if they were to wait too, would by now
	if got := l.followers.Load(); got != maxFollowers {
		t.Fatalf("%d goroutines wait to lead after %d hand-offs, want %d", got, n, maxFollowers)
	}
	// The loop still works, led by one of them or by the last leader.
	echo := newState(true)
	_, pe := h.connect(echo, false)
	if _, err := pe.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "echo after the hand-offs", await(t, readAsync(pe, 4)), []byte("ping"))
}

func stack() []byte {
	b := make([]byte, 64<<10)
	return b[:runtime.Stack(b, false)]
}

// TestAddrs: the addresses of a taken connection are the socket's.
func TestAddrs(t *testing.T) {
	h := newHarness(t, Options{})
	server, peer := h.dial(false)
	want := server.LocalAddr().String()
	c := h.take(server, newState(false))
	if got := c.LocalAddr(); got == nil || got.String() != want {
		t.Fatalf("LocalAddr = %v, want %s", got, want)
	}
	if got := c.RemoteAddr().String(); got != peer.LocalAddr().String() {
		t.Fatalf("RemoteAddr = %s, want %s", got, peer.LocalAddr())
	}
	_ = c.Close()
	if got := c.LocalAddr(); got != nil {
		t.Fatalf("LocalAddr after Close = %v, want nil", got)
	}
}

// TestUnixAddrs: a taken Unix socket reports its peer as a Unix address,
// and still an address (not nil) after Close.
func TestUnixAddrs(t *testing.T) {
	h := newHarness(t, Options{})
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := h.take(server, newState(false))
	if got := c.RemoteAddr(); got == nil || got.Network() != "unix" {
		t.Fatalf("RemoteAddr = %#v, want a unix address", got)
	}
	if got := c.LocalAddr(); got == nil || got.String() != ln.Addr().String() {
		t.Fatalf("LocalAddr = %v, want %s", got, ln.Addr())
	}
	_ = c.Close()
	if got := c.RemoteAddr(); got == nil || got.Network() != "unix" {
		t.Fatalf("RemoteAddr after Close = %#v, want a unix address", got)
	}
}
