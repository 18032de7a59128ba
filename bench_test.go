package tether_test

// Throughput, latency and allocation benchmarks of Tether against raw
// gobwas/ws, both over loopback TCP in this process. Run them together so
// the ratios are comparable:
//
//	go test -run '^$' -bench 'OneWay|RoundTrip|PipelinedEcho|SessionSend' -benchtime=2s -count=3 .
//
// One op is one 100-byte message delivered to the receiving application
// (a round trip for RoundTrip). allocs/op and B/op count the whole
// process, client and server together, except in BenchmarkSessionSend
// whose client is a zero-allocation reader, so that it counts the server
// send path alone. Server-side Tether senders pace themselves on the
// client's acknowledgements (see benchFlow).
//
// The raw side is gobwas/ws used the way its README shows:
// HTTPUpgrader.Upgrade, wsutil.WriteServerMessage / WriteClientMessage
// (one write call for the header and one for the payload) and
// wsutil.ReadServerData / ReadClientData straight on the net.Conn.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gobwas "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/internal/wire"
	"github.com/tether-ws/tether/internal/ws"
)

const (
	benchMsgSize = 100
	// benchWindow bounds the server→client messages a benchmark sender
	// lets go unacknowledged: half the default MaxReplayMessages.
	benchWindow = 2048
	// benchLimit bounds one benchmark run (one b.N) in time.
	benchLimit = 2 * time.Minute
)

var (
	benchPayload = bytes.Repeat([]byte{'x'}, benchMsgSize)
	benchLog     = slog.New(slog.DiscardHandler)
)

// benchReport reports messages per second; call it after StopTimer.
func benchReport(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// --- raw gobwas/ws -------------------------------------------------------

// benchRW reads from r and writes to w: a connection whose first bytes
// were already buffered by the handshake.
type benchRW struct {
	io.Reader
	io.Writer
}

// benchRawServer serves upgraded gobwas/ws connections with handle, on
// the HTTP handler's goroutine.
type benchRawServer struct {
	http  *httptest.Server
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startBenchRawServer(b *testing.B, handle func(rw io.ReadWriter)) *benchRawServer {
	b.Helper()
	rs := &benchRawServer{conns: make(map[net.Conn]struct{})}
	rs.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, _, err := gobwas.HTTPUpgrader{}.Upgrade(r, w)
		if err != nil {
			if conn != nil {
				conn.Close()
			}
			return
		}
		rs.mu.Lock()
		if rs.conns == nil {
			rs.mu.Unlock()
			conn.Close()
			return
		}
		rs.conns[conn] = struct{}{}
		rs.wg.Add(1)
		rs.mu.Unlock()
		defer rs.wg.Done()
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(benchLimit))
		var br *bufio.Reader
		if brw != nil {
			br = brw.Reader
		}
		handle(benchRW{benchReader(br, conn), conn})
	}))
	return rs
}

// benchReader returns conn, or conn behind the bytes br already holds.
func benchReader(br *bufio.Reader, conn net.Conn) io.Reader {
	if br == nil || br.Buffered() == 0 {
		return conn
	}
	return io.MultiReader(io.LimitReader(br, int64(br.Buffered())), conn)
}

// bufRW buffers reads and writes; flush sends what was written in one
// system call. It is the raw library used well: one write per message.
type bufRW struct {
	*bufio.Reader
	w *bufio.Writer
}

func newBufRW(rw io.ReadWriter) *bufRW {
	return &bufRW{bufio.NewReaderSize(rw, 4096), bufio.NewWriterSize(rw, 4096)}
}

func (b *bufRW) Write(p []byte) (int, error) { return b.w.Write(p) }

// writeServer and writeClient write one message and flush it.
func (b *bufRW) writeServer(p []byte) error {
	if err := wsutil.WriteServerMessage(b, gobwas.OpBinary, p); err != nil {
		return err
	}
	return b.w.Flush()
}

func (b *bufRW) writeClient(p []byte) error {
	if err := wsutil.WriteClientMessage(b, gobwas.OpBinary, p); err != nil {
		return err
	}
	return b.w.Flush()
}

func (rs *benchRawServer) url() string { return "ws" + strings.TrimPrefix(rs.http.URL, "http") }

func (rs *benchRawServer) close(b *testing.B) {
	rs.mu.Lock()
	for c := range rs.conns {
		c.Close()
	}
	rs.conns = nil
	rs.mu.Unlock()
	rs.http.Close()
	done := make(chan struct{})
	go func() { rs.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		b.Fatal("raw server handlers did not return")
	}
}

// benchRawDial connects a gobwas/ws client.
func benchRawDial(b *testing.B, url string) (net.Conn, io.ReadWriter) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, br, _, err := gobwas.Dialer{}.Dial(ctx, url)
	if err != nil {
		b.Fatalf("raw dial: %v", err)
	}
	_ = conn.SetDeadline(time.Now().Add(benchLimit))
	return conn, benchRW{benchReader(br, conn), conn}
}

// benchRawEcho echoes every client message.
func benchRawEcho(rw io.ReadWriter) {
	for {
		p, op, err := wsutil.ReadClientData(rw)
		if err != nil {
			return
		}
		if err := wsutil.WriteServerMessage(rw, op, p); err != nil {
			return
		}
	}
}

// --- tether --------------------------------------------------------------

type benchTether struct {
	srv  *tether.Server
	http *httptest.Server
	c    *client.Client
	s    *tether.Session // the client's session on the server
}

// startBenchTether starts a Tether server with default options (hooks
// and a silent logger aside; with f, its memory store reports acks to f)
// and connects the Go client to it.
func startBenchTether(b *testing.B, f *benchFlow, onServer func(context.Context, *tether.Session, tether.Message) error, onClient func(tether.Message)) *benchTether {
	b.Helper()
	sessions := make(chan *tether.Session, 1)
	bt := &benchTether{}
	var store tether.Store
	if f != nil {
		store = benchStore{tether.NewMemoryStore(nil), f}
	}
	bt.srv = tether.NewServer(&tether.Options{
		Store:     store,
		Logger:    benchLog,
		OnOpen:    func(_ context.Context, s *tether.Session, _ tether.OpenInfo) { sessions <- s },
		OnMessage: onServer,
	})
	bt.http = httptest.NewServer(bt.srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(bt.http.URL, "http"), &client.Options{OnMessage: onClient, Logger: benchLog})
	if err != nil {
		bt.close(b)
		b.Fatalf("dial: %v", err)
	}
	bt.c = c
	select {
	case bt.s = <-sessions:
	case <-ctx.Done():
		bt.close(b)
		b.Fatal("no session on the server")
	}
	return bt
}

func (bt *benchTether) close(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if bt.c != nil {
		_ = bt.c.Close(ctx)
		select {
		case <-bt.c.Done():
		case <-ctx.Done():
			b.Error("client did not stop")
		}
	}
	_ = bt.srv.Shutdown(ctx)
	bt.http.Close()
}

// benchFlow paces a server-side sender and counts deliveries. Session.Send
// never blocks, and a replay buffer beyond MaxReplayMessages (default
// 4096) ends the session with CauseOverflow, so a producer faster than
// its client must pace itself on the client's acknowledgements. No
// public API tells how full a session's replay buffer is, so the
// benchmarks learn it from a Store wrapper (benchStore) that sees every Ack.
type benchFlow struct {
	sent, acked, recv atomic.Int64
	waiting           atomic.Bool
	more              chan struct{}
	target            int64
	done              chan struct{}
}

func newBenchFlow(n int) *benchFlow {
	return &benchFlow{more: make(chan struct{}, 1), target: int64(n), done: make(chan struct{})}
}

// delivered counts a message received by the client application.
func (f *benchFlow) delivered() {
	if f.recv.Add(1) == f.target {
		close(f.done)
	}
}

// ack records the client's acknowledgement of messages up to seq.
func (f *benchFlow) ack(seq uint64) {
	a := int64(seq)
	for {
		old := f.acked.Load()
		if a <= old || f.acked.CompareAndSwap(old, a) {
			break
		}
	}
	if f.waiting.Load() && f.sent.Load()-a <= benchWindow/2 {
		select {
		case f.more <- struct{}{}:
		default:
		}
	}
}

// acquire waits until fewer than benchWindow messages are unacknowledged
// and counts one more message sent.
func (f *benchFlow) acquire(ctx context.Context) error {
	for f.sent.Load()-f.acked.Load() >= benchWindow {
		f.waiting.Store(true)
		if f.sent.Load()-f.acked.Load() < benchWindow {
			break
		}
		select {
		case <-f.more:
		case <-ctx.Done():
			f.waiting.Store(false)
			return fmt.Errorf("client stalled: %d sent, %d acknowledged: %w", f.sent.Load(), f.acked.Load(), ctx.Err())
		}
	}
	f.waiting.Store(false)
	f.sent.Add(1)
	return nil
}

func (f *benchFlow) wait(ctx context.Context) error {
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("client received %d of %d: %w", f.recv.Load(), f.target, ctx.Err())
	}
}

// benchStore is the default memory store, telling f about every Ack.
type benchStore struct {
	tether.Store
	f *benchFlow
}

func (s benchStore) Ack(ctx context.Context, id string, seq uint64) error {
	err := s.Store.Ack(ctx, id, seq)
	if err == nil {
		s.f.ack(seq)
	}
	return err
}

// --- benchmarks ----------------------------------------------------------

// BenchmarkOneWay: server→client throughput of 100-byte messages. One op
// is one message delivered to the client application.
func BenchmarkOneWay(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		n := b.N
		rs := startBenchRawServer(b, func(rw io.ReadWriter) {
			// Wait for the client's go, then send n messages.
			if _, _, err := wsutil.ReadClientData(rw); err != nil {
				return
			}
			for range n {
				if err := wsutil.WriteServerMessage(rw, gobwas.OpBinary, benchPayload); err != nil {
					return
				}
			}
			_, _, _ = wsutil.ReadClientData(rw) // until the client leaves
		})
		defer rs.close(b)
		conn, rw := benchRawDial(b, rs.url())
		defer conn.Close()
		b.ReportAllocs()
		b.ResetTimer()
		if err := wsutil.WriteClientMessage(rw, gobwas.OpBinary, []byte("go")); err != nil {
			b.Fatal(err)
		}
		for i := range n {
			p, _, err := wsutil.ReadServerData(rw)
			if err != nil {
				b.Fatalf("message %d: %v", i, err)
			}
			if len(p) != benchMsgSize {
				b.Fatalf("message of %d bytes", len(p))
			}
		}
		b.StopTimer()
		benchReport(b)
	})
	b.Run("raw-buffered", func(b *testing.B) {
		n := b.N
		rs := startBenchRawServer(b, func(rw io.ReadWriter) {
			brw := newBufRW(rw)
			if _, _, err := wsutil.ReadClientData(brw); err != nil {
				return
			}
			for range n {
				if err := brw.writeServer(benchPayload); err != nil {
					return
				}
			}
			_, _, _ = wsutil.ReadClientData(brw)
		})
		defer rs.close(b)
		conn, rw := benchRawDial(b, rs.url())
		defer conn.Close()
		brw := newBufRW(rw)
		b.ReportAllocs()
		b.ResetTimer()
		if err := brw.writeClient([]byte("go")); err != nil {
			b.Fatal(err)
		}
		for i := range n {
			p, _, err := wsutil.ReadServerData(brw)
			if err != nil {
				b.Fatalf("message %d: %v", i, err)
			}
			if len(p) != benchMsgSize {
				b.Fatalf("message of %d bytes", len(p))
			}
		}
		b.StopTimer()
		benchReport(b)
	})
	b.Run("tether", func(b *testing.B) {
		f := newBenchFlow(b.N)
		bt := startBenchTether(b, f, nil, func(m tether.Message) {
			if len(m.Data) != benchMsgSize {
				panic(fmt.Sprintf("message of %d bytes", len(m.Data)))
			}
			f.delivered()
		})
		defer bt.close(b)
		ctx, cancel := context.WithTimeout(context.Background(), benchLimit)
		defer cancel()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if err := f.acquire(ctx); err != nil {
				b.Fatal(err)
			}
			if err := bt.s.Send(ctx, tether.Binary, benchPayload); err != nil {
				b.Fatalf("send: %v", err)
			}
		}
		if err := f.wait(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		benchReport(b)
	})
}

// BenchmarkRoundTrip: the client sends 100 bytes, the server echoes them,
// the client waits for the echo before sending again. One op is one
// round trip.
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		rs := startBenchRawServer(b, benchRawEcho)
		defer rs.close(b)
		conn, rw := benchRawDial(b, rs.url())
		defer conn.Close()
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if err := wsutil.WriteClientMessage(rw, gobwas.OpBinary, benchPayload); err != nil {
				b.Fatal(err)
			}
			p, _, err := wsutil.ReadServerData(rw)
			if err != nil {
				b.Fatalf("echo %d: %v", i, err)
			}
			if len(p) != benchMsgSize {
				b.Fatalf("echo of %d bytes", len(p))
			}
		}
		b.StopTimer()
		benchReport(b)
	})
	b.Run("raw-buffered", func(b *testing.B) {
		rs := startBenchRawServer(b, func(rw io.ReadWriter) {
			brw := newBufRW(rw)
			for {
				p, _, err := wsutil.ReadClientData(brw)
				if err != nil {
					return
				}
				if err := brw.writeServer(p); err != nil {
					return
				}
			}
		})
		defer rs.close(b)
		conn, rw := benchRawDial(b, rs.url())
		defer conn.Close()
		brw := newBufRW(rw)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if err := brw.writeClient(benchPayload); err != nil {
				b.Fatal(err)
			}
			p, _, err := wsutil.ReadServerData(brw)
			if err != nil {
				b.Fatalf("echo %d: %v", i, err)
			}
			if len(p) != benchMsgSize {
				b.Fatalf("echo of %d bytes", len(p))
			}
		}
		b.StopTimer()
		benchReport(b)
	})
	b.Run("tether", func(b *testing.B) {
		got := make(chan int, 1)
		bt := startBenchTether(b, nil,
			func(ctx context.Context, s *tether.Session, m tether.Message) error {
				return s.Send(ctx, m.Type, m.Data)
			},
			func(m tether.Message) { got <- len(m.Data) })
		defer bt.close(b)
		ctx, cancel := context.WithTimeout(context.Background(), benchLimit)
		defer cancel()
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if err := bt.c.Send(ctx, tether.Binary, benchPayload); err != nil {
				b.Fatal(err)
			}
			select {
			case n := <-got:
				if n != benchMsgSize {
					b.Fatalf("echo of %d bytes", n)
				}
			case <-ctx.Done():
				b.Fatalf("echo %d: %v", i, ctx.Err())
			}
		}
		b.StopTimer()
		benchReport(b)
	})
	// The server's session layer alone: a client that speaks the
	// protocol on one goroutine, as the raw clients above do; its ack
	// of the last echo rides on its next message, in one write.
	b.Run("tether-server", func(b *testing.B) {
		url := startBenchEchoServer(b)
		rc, err := rawDial(b, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		rc.hello(&wire.Hello{Window: 100})
		b.ReportAllocs()
		b.ResetTimer()
		if err := echoes(rc, b.N); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		benchReport(b)
	})
}

// BenchmarkPipelinedEcho: the client sends b.N messages as fast as it can,
// the server echoes each; it ends when every echo is received. One op is
// one message echoed.
func BenchmarkPipelinedEcho(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		rs := startBenchRawServer(b, benchRawEcho)
		defer rs.close(b)
		conn, rw := benchRawDial(b, rs.url())
		defer conn.Close()
		n := b.N
		readErr := make(chan error, 1)
		b.ReportAllocs()
		b.ResetTimer()
		go func() {
			for i := range n {
				p, _, err := wsutil.ReadServerData(rw)
				if err != nil {
					readErr <- fmt.Errorf("echo %d: %w", i, err)
					return
				}
				if len(p) != benchMsgSize {
					readErr <- fmt.Errorf("echo of %d bytes", len(p))
					return
				}
			}
			readErr <- nil
		}()
		for range n {
			if err := wsutil.WriteClientMessage(rw, gobwas.OpBinary, benchPayload); err != nil {
				conn.Close()
				<-readErr
				b.Fatal(err)
			}
		}
		if err := <-readErr; err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		benchReport(b)
	})
	b.Run("tether", func(b *testing.B) {
		f := newBenchFlow(b.N)
		bt := startBenchTether(b, nil,
			func(ctx context.Context, s *tether.Session, m tether.Message) error {
				if err := s.Send(ctx, m.Type, m.Data); err != nil {
					panic(fmt.Sprintf("echo: %v", err))
				}
				return nil
			},
			func(tether.Message) { f.delivered() })
		defer bt.close(b)
		ctx, cancel := context.WithTimeout(context.Background(), benchLimit)
		defer cancel()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if err := bt.c.Send(ctx, tether.Binary, benchPayload); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.wait(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		benchReport(b)
	})
}

// BenchmarkSessionSend measures the server's send path alone: Session.Send,
// the store, the writer goroutine and the handling of the client's acks.
// The client is a minimal reader on internal/ws that allocates nothing per
// message and acknowledges every 256 messages, so allocs/op and B/op are
// the server's. One op is one Send, timed until the client has it.
func BenchmarkSessionSend(b *testing.B) {
	f := newBenchFlow(b.N)
	sessions := make(chan *tether.Session, 1)
	srv := tether.NewServer(&tether.Options{
		Store:  benchStore{tether.NewMemoryStore(nil), f},
		Logger: benchLog,
		OnOpen: func(_ context.Context, s *tether.Session, _ tether.OpenInfo) { sessions <- s },
	})
	hs := httptest.NewServer(srv)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	}()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")

	wc, readDone := benchMinimalClient(b, url, f)
	defer func() {
		wc.Shutdown(1000, "", time.Second)
		select {
		case <-readDone:
		case <-time.After(10 * time.Second):
			b.Error("minimal client reader did not stop")
		}
		wc.Close()
	}()
	var s *tether.Session
	select {
	case s = <-sessions:
	case <-time.After(10 * time.Second):
		b.Fatal("no session on the server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), benchLimit)
	defer cancel()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := f.acquire(ctx); err != nil {
			b.Fatal(err)
		}
		if err := s.Send(ctx, tether.Binary, benchPayload); err != nil {
			b.Fatalf("send: %v", err)
		}
	}
	if err := f.wait(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	benchReport(b)
}

// benchMinimalClient opens a session by hand and reads it on a goroutine
// that closes the returned channel when it ends.
func benchMinimalClient(b *testing.B, url string, f *benchFlow) (*ws.Conn, chan struct{}) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, br, _, err := gobwas.Dialer{Protocols: []string{wire.Subprotocol}}.Dial(ctx, url)
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	var pre []byte
	if br != nil {
		pre, _ = br.Peek(br.Buffered())
		pre = append([]byte(nil), pre...)
		gobwas.PutReader(br)
	}
	wc := ws.NewConn(nc, true, 1<<20, pre)
	_ = nc.SetReadDeadline(time.Now().Add(benchLimit))
	if err := wc.Write(wc.AppendFrame(nil, ws.OpBinary, wire.AppendHello(nil, &wire.Hello{Window: 1024}), nil), time.Second); err != nil {
		wc.Close()
		b.Fatalf("hello: %v", err)
	}
	errStop := errors.New("stop")
	err = wc.ReadMessage(func(_ byte, p []byte) error {
		fr, err := wire.Decode(p)
		if err != nil {
			return err
		}
		if fr.Type != wire.TypeWelcome {
			return fmt.Errorf("expected welcome, got %s", fr.Type)
		}
		return errStop
	})
	if err != errStop {
		wc.Close()
		b.Fatalf("welcome: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer wc.Drop()
		var last, acked uint64
		var hdr [16]byte
		out := make([]byte, 0, 64)
		ack := func(t wire.Type) error {
			out = wc.AppendFrame(out[:0], ws.OpBinary, wire.AppendSeqFrame(hdr[:0], t, last), nil)
			acked = last
			return wc.Write(out, 5*time.Second)
		}
		_ = wc.ReadMessage(func(_ byte, p []byte) error {
			if len(p) == 0 {
				return errors.New("empty frame")
			}
			switch wire.Type(p[0]) {
			case wire.TypeBinary, wire.TypeText:
				seq, k := binary.Uvarint(p[1:])
				if k <= 0 || seq != last+1 || len(p)-1-k != benchMsgSize {
					return fmt.Errorf("bad message after %d", last)
				}
				last = seq
				f.delivered()
				if last-acked >= 256 {
					return ack(wire.TypeAck)
				}
			case wire.TypePing:
				return ack(wire.TypePong)
			}
			return nil
		})
	}()
	return wc, done
}

// BenchmarkManyRoundTrips: 64 clients speaking the protocol, each sending
// a message and waiting for its echo, all at once: the server reads,
// runs the hooks of and writes to many connections at a time. One op is
// one round trip.
func BenchmarkManyRoundTrips(b *testing.B) {
	const clients = 64
	url := startBenchEchoServer(b)
	rcs := make([]*rawConn, clients)
	for i := range rcs {
		rc, err := rawDial(b, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		rc.hello(&wire.Hello{Window: 100})
		rcs[i] = rc
	}
	errs := make(chan error, clients)
	b.ReportAllocs()
	b.ResetTimer()
	for k, rc := range rcs {
		n := b.N / clients
		if k < b.N%clients {
			n++
		}
		go func() { errs <- echoes(rc, n) }()
	}
	for range rcs {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	benchReport(b)
}

// startBenchEchoServer starts a server whose OnMessage sends every
// message back, stopped when b ends, and returns its WebSocket URL.
func startBenchEchoServer(b *testing.B) string {
	srv := tether.NewServer(&tether.Options{
		Logger: benchLog,
		OnMessage: func(ctx context.Context, s *tether.Session, m tether.Message) error {
			return s.Send(ctx, m.Type, m.Data)
		},
	})
	hs := httptest.NewServer(srv)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

// echoes makes n round trips on rc, one message at a time.
func echoes(rc *rawConn, n int) error {
	var recv uint64
	var buf []byte
	var hdr [32]byte
	for i := range n {
		buf = rc.ws.AppendFrame(buf[:0], ws.OpBinary, wire.AppendSeqFrame(hdr[:0], wire.TypeAck, recv), nil)
		buf = rc.ws.AppendFrame(buf, ws.OpBinary, wire.AppendMessageHeader(hdr[:0], false, uint64(i+1)), benchPayload)
		if err := rc.ws.Write(buf, benchLimit); err != nil {
			return err
		}
		for {
			f, err := rc.next(benchLimit)
			if err != nil {
				return fmt.Errorf("echo %d: %w", i, err)
			}
			if f.Type == wire.TypePing {
				pong := rc.ws.AppendFrame(nil, ws.OpBinary, wire.AppendSeqFrame(nil, wire.TypePong, recv), nil)
				if err := rc.ws.Write(pong, benchLimit); err != nil {
					return err
				}
			}
			if f.Type == wire.TypeBinary {
				if len(f.Payload) != benchMsgSize {
					return fmt.Errorf("echo of %d bytes", len(f.Payload))
				}
				recv = f.Seq
				break
			}
		}
	}
	return nil
}
