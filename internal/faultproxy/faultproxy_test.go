package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const prompt = 2 * time.Second

// echoServer echoes every byte back and records what it saw, so tests can
// observe the upstream side of the proxy.
type echoServer struct {
	ln       net.Listener
	wg       sync.WaitGroup
	accepted atomic.Int32
	received atomic.Int64
	errs     chan error // first error of each connection's loop
	once     sync.Once

	mu    sync.Mutex
	conns []net.Conn
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln, errs: make(chan error, 64)}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.accepted.Add(1)
			e.mu.Lock()
			e.conns = append(e.conns, c)
			e.mu.Unlock()
			e.wg.Add(1)
			go e.serve(c)
		}
	}()
	t.Cleanup(e.Close)
	return e
}

func (e *echoServer) serve(c net.Conn) {
	defer e.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			e.received.Add(int64(n))
			if _, werr := c.Write(buf[:n]); werr != nil && err == nil {
				err = werr
			}
		}
		if err != nil {
			select {
			case e.errs <- err:
			default:
			}
			return
		}
	}
}

func (e *echoServer) Close() {
	e.once.Do(func() {
		_ = e.ln.Close()
		e.mu.Lock()
		for _, c := range e.conns {
			_ = c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
}

// serverErr waits for the echo server to report a connection error.
func (e *echoServer) serverErr(t *testing.T) error {
	t.Helper()
	select {
	case err := <-e.errs:
		return err
	case <-time.After(prompt):
		t.Fatal("echo server did not see the connection fail promptly")
		return nil
	}
}

func newProxy(t *testing.T, e *echoServer) *Proxy {
	t.Helper()
	p, err := New(e.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeProxy(t, p) })
	return p
}

// closeProxy closes p but fails instead of hanging if Close never returns.
func closeProxy(t *testing.T, p *Proxy) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- p.Close() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Close did not return")
	}
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), prompt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func roundTrip(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(prompt))
	defer c.SetDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() { _, err := c.Write(msg); errc <- err }()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("round trip read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("round trip write: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("round trip mismatch: got %d bytes, want %d", len(got), len(msg))
	}
}

// readUntilErr reads everything until an error, failing on a timeout.
func readUntilErr(t *testing.T, c net.Conn) ([]byte, error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(prompt))
	var got []byte
	buf := make([]byte, 1024)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read did not fail promptly (got %q)", got)
			}
			return got, err
		}
	}
}

// expectSilence checks a read times out: nothing delivered, nothing closed.
func expectSilence(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	n, err := c.Read(make([]byte, 64))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read = %d, %v; want a timeout on a silent link", n, err)
	}
}

func TestNewRejectsNonLoopback(t *testing.T) {
	for _, target := range []string{"192.0.2.1:80", "example.com:80", "nonsense"} {
		if p, err := New(target); err == nil {
			_ = p.Close()
			t.Errorf("New(%q) succeeded; want an error", target)
		}
	}
}

func TestPassThrough(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e)
	c := dial(t, p)
	roundTrip(t, c, []byte("hello"))
	big := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB
	roundTrip(t, c, big)
	if got, want := e.received.Load(), int64(len(big)+5); got != want {
		t.Fatalf("server received %d bytes, want %d", got, want)
	}
	if n := p.Conns(); n != 1 {
		t.Fatalf("Conns = %d, want 1", n)
	}
}

func TestCutAll(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e)
	c := dial(t, p)
	roundTrip(t, c, []byte("before"))
	p.CutAll()
	if _, err := readUntilErr(t, c); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client read error = %v, want a reset", err)
	}
	if err := e.serverErr(t); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("server read error = %v, want a reset", err)
	}
	if n := p.Conns(); n != 0 {
		t.Fatalf("Conns after CutAll = %d, want 0", n)
	}
	roundTrip(t, dial(t, p), []byte("after")) // still accepting
}

func TestBlackhole(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e)
	c := dial(t, p)
	roundTrip(t, c, []byte("before"))
	sent := e.received.Load()

	p.Blackhole(true)
	if _, err := c.Write([]byte("lost")); err != nil {
		t.Fatalf("write on blackholed link: %v", err)
	}
	expectSilence(t, c)
	if got := e.received.Load(); got != sent {
		t.Fatalf("server received %d bytes during blackhole, want %d", got, sent)
	}
	select {
	case err := <-e.errs:
		t.Fatalf("server connection ended during blackhole: %v", err)
	default:
	}
	if n := p.Conns(); n != 1 {
		t.Fatalf("Conns during blackhole = %d, want 1", n)
	}
	if _, err := c.Write([]byte("still lost")); err != nil {
		t.Fatalf("second write on blackholed link: %v", err)
	}
	expectSilence(t, c)

	// A connection accepted while on is blackholed too.
	c2 := dial(t, p)
	if _, err := c2.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	expectSilence(t, c2)

	// Off: new connections work, blackholed ones stay broken.
	p.Blackhole(false)
	roundTrip(t, dial(t, p), []byte("fresh"))
	if _, err := c.Write([]byte("after")); err != nil {
		t.Fatalf("write on old blackholed link: %v", err)
	}
	expectSilence(t, c)
}

func TestSetDelay(t *testing.T) {
	const d = 150 * time.Millisecond
	e := startEcho(t)
	p := newProxy(t, e)
	c := dial(t, p)
	roundTrip(t, c, []byte("warm-up"))
	p.SetDelay(d)
	start := time.Now()
	roundTrip(t, c, []byte("slow"))
	if el := time.Since(start); el < 2*d {
		t.Fatalf("round trip took %v, want at least %v (delay both ways)", el, 2*d)
	}
	p.SetDelay(0)
	roundTrip(t, c, []byte("fast again"))
}

func TestCutAfterToClient(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e)
	c := dial(t, p)
	roundTrip(t, c, []byte("before"))
	p.CutAfter(-1, 3)
	if _, err := c.Write([]byte("hello world")); err != nil {
		t.Fatal(err)
	}
	got, err := readUntilErr(t, c)
	if string(got) != "hel" {
		t.Fatalf("client got %q before the cut, want %q", got, "hel")
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client error = %v, want a reset", err)
	}
	if err := e.serverErr(t); err == nil {
		t.Fatal("server saw no error")
	}
	if n := p.Conns(); n != 0 {
		t.Fatalf("Conns after cut = %d, want 0", n)
	}
	roundTrip(t, dial(t, p), []byte("later conns are not armed"))
}

func TestCutAfterToServer(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e)
	c := dial(t, p)
	roundTrip(t, c, []byte("before"))
	sent := e.received.Load()
	p.CutAfter(5, -1)
	if _, err := c.Write([]byte("hello world")); err != nil {
		t.Fatal(err)
	}
	if _, err := readUntilErr(t, c); err == nil {
		t.Fatal("client saw no error")
	}
	if err := e.serverErr(t); err == nil {
		t.Fatal("server saw no error")
	}
	if got := e.received.Load() - sent; got != 5 {
		t.Fatalf("server received %d bytes after arming, want 5", got)
	}
}

func TestRefuse(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e)
	old := dial(t, p)
	roundTrip(t, old, []byte("before"))

	p.Refuse(true)
	// The reset may land before the dial returns; that is a refusal too.
	if c, err := net.DialTimeout("tcp", p.Addr(), prompt); err == nil {
		_, _ = c.Write([]byte("anyone there?")) // may fail once the reset lands
		got, err := readUntilErr(t, c)
		_ = c.Close()
		if err == nil || len(got) != 0 {
			t.Fatalf("refused conn read %q, %v; want no data and an error", got, err)
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("dial while refusing timed out: %v", err)
	}
	if n := e.accepted.Load(); n != 1 {
		t.Fatalf("server accepted %d connections, want 1 (refused one must not reach it)", n)
	}
	roundTrip(t, old, []byte("existing untouched"))

	p.Refuse(false)
	roundTrip(t, dial(t, p), []byte("back up"))
}

func TestCloseNoLeak(t *testing.T) {
	e := startEcho(t)
	p, err := New(e.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	live := dial(t, p)
	roundTrip(t, live, []byte("live"))
	holed := dial(t, p)
	roundTrip(t, holed, []byte("holed"))
	p.Blackhole(true)
	p.SetDelay(time.Hour) // a forwarder parked in a long delay must still exit
	p.Blackhole(false)
	slow := dial(t, p)
	if _, err := slow.Write([]byte("stuck in delay")); err != nil {
		t.Fatal(err)
	}

	closeProxy(t, p)
	if n := p.Conns(); n != 0 {
		t.Fatalf("Conns after Close = %d, want 0", n)
	}
	for _, c := range []net.Conn{live, holed, slow} {
		if _, err := readUntilErr(t, c); err == nil {
			t.Fatal("client read succeeded after Close")
		}
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), prompt); err == nil {
		_ = c.Close()
		t.Fatal("dial succeeded after Close")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	e.Close()
	goleak.VerifyNone(t)
}
