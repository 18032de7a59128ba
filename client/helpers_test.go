package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	"go.uber.org/goleak"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/internal/faultproxy"
	"github.com/tether-ws/tether/internal/wire"
	"github.com/tether-ws/tether/internal/ws"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var bg = context.Background()

// waitTimeout bounds every condition wait: generous, so a slow race
// detector run does not flake; a passing test never waits this long.
const waitTimeout = 10 * time.Second

// waitUntil polls cond until it holds, failing the test after d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recv returns the value from ch, failing the test after d.
func recv[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
		panic("unreachable")
	}
}

// syncBuffer is a goroutine-safe log sink, shown when a test fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serverLog records what the server's hooks saw, per session.
type serverLog struct {
	mu     sync.Mutex
	opens  []string
	msgs   map[string][]tether.Message
	discs  map[string][]tether.Cause
	closes map[string]tether.Closure
}

func (l *serverLog) messages(id string) []tether.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]tether.Message(nil), l.msgs[id]...)
}

func (l *serverLog) texts(id string) []string {
	var out []string
	for _, m := range l.messages(id) {
		out = append(out, string(m.Data))
	}
	return out
}

func (l *serverLog) closure(id string) (tether.Closure, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.closes[id]
	return c, ok
}

func (l *serverLog) disconnects(id string) []tether.Cause {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]tether.Cause(nil), l.discs[id]...)
}

// testServer is a Tether server on httptest behind a fault proxy. The
// HTTP handler delegates to the current server, so a test can replace
// the server "process" while the address stays the same.
type testServer struct {
	t     *testing.T
	opts  tether.Options
	log   *serverLog
	logs  *syncBuffer
	cur   atomic.Pointer[tether.Server]
	mu    sync.Mutex
	all   []*tether.Server
	http  *httptest.Server
	proxy *faultproxy.Proxy
}

// startServer starts a server with fast heartbeats; mutate may change
// the options (hooks it sets run after the recording ones).
func startServer(t *testing.T, mutate func(*tether.Options)) *testServer {
	t.Helper()
	ts := &testServer{t: t, logs: &syncBuffer{}, log: &serverLog{
		msgs: map[string][]tether.Message{}, discs: map[string][]tether.Cause{}, closes: map[string]tether.Closure{},
	}}
	o := tether.Options{
		HeartbeatInterval: 300 * time.Millisecond,
		HeartbeatTimeout:  700 * time.Millisecond,
		GraceWindow:       5 * time.Second,
		RestartJitter:     50 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mutate != nil {
		mutate(&o)
	}
	l := ts.log
	onOpen, onMsg, onDisc, onClose := o.OnOpen, o.OnMessage, o.OnDisconnect, o.OnClose
	o.OnOpen = func(ctx context.Context, s *tether.Session, info tether.OpenInfo) {
		l.mu.Lock()
		l.opens = append(l.opens, s.ID())
		l.mu.Unlock()
		if onOpen != nil {
			onOpen(ctx, s, info)
		}
	}
	o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
		l.mu.Lock()
		l.msgs[s.ID()] = append(l.msgs[s.ID()], m)
		l.mu.Unlock()
		if onMsg != nil {
			return onMsg(ctx, s, m)
		}
		return nil
	}
	o.OnDisconnect = func(ctx context.Context, s *tether.Session, d tether.Disconnect) {
		l.mu.Lock()
		l.discs[s.ID()] = append(l.discs[s.ID()], d.Cause)
		l.mu.Unlock()
		if onDisc != nil {
			onDisc(ctx, s, d)
		}
	}
	o.OnClose = func(ctx context.Context, s *tether.Session, c tether.Closure) {
		l.mu.Lock()
		l.closes[s.ID()] = c
		l.mu.Unlock()
		if onClose != nil {
			onClose(ctx, s, c)
		}
	}
	ts.opts = o
	ts.replace()
	ts.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.cur.Load().ServeHTTP(w, r)
	}))
	p, err := faultproxy.New(ts.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ts.proxy = p
	t.Cleanup(ts.stop)
	return ts
}

// server returns the current server.
func (ts *testServer) server() *tether.Server { return ts.cur.Load() }

// replace starts a new server (with a new memory store) and routes new
// connections to it; the previous one keeps its connections.
func (ts *testServer) replace() {
	o := ts.opts
	o.Store = nil
	srv := tether.NewServer(&o)
	ts.mu.Lock()
	ts.all = append(ts.all, srv)
	ts.mu.Unlock()
	ts.cur.Store(srv)
}

func (ts *testServer) stop() {
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	ts.mu.Lock()
	all := ts.all
	ts.mu.Unlock()
	for _, srv := range all {
		_ = srv.Shutdown(ctx)
	}
	ts.proxy.Close()
	ts.http.Close()
	if ts.t.Failed() {
		ts.t.Logf("server log:\n%s", ts.logs.String())
	}
}

// url is the WebSocket URL through the fault proxy.
func (ts *testServer) url() string { return "ws://" + ts.proxy.Addr() }

// directURL skips the proxy.
func (ts *testServer) directURL() string { return wsURL(ts.http.URL) }

func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") }

// session returns the current server's session for c.
func (ts *testServer) session(t *testing.T, c *client.Client) *tether.Session {
	t.Helper()
	s := ts.server().Session(c.SessionID())
	if s == nil {
		t.Fatalf("no server session %q", c.SessionID())
	}
	return s
}

// rec records what a client's callbacks received.
type rec struct {
	mu     sync.Mutex
	events []client.Event
	msgs   []tether.Message
}

// options installs recording callbacks on o (nil means new options) and
// a fast backoff unless o sets one.
func (r *rec) options(o *client.Options) *client.Options {
	if o == nil {
		o = &client.Options{}
	}
	onMsg, onEvent := o.OnMessage, o.OnEvent
	o.OnMessage = func(m tether.Message) {
		r.mu.Lock()
		r.msgs = append(r.msgs, m)
		r.mu.Unlock()
		if onMsg != nil {
			onMsg(m)
		}
	}
	o.OnEvent = func(e client.Event) {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
		if onEvent != nil {
			onEvent(e)
		}
	}
	if o.InitialDelay == 0 {
		o.InitialDelay = 10 * time.Millisecond
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = 200 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func (r *rec) allEvents() []client.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]client.Event(nil), r.events...)
}

func (r *rec) messages() []tether.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]tether.Message(nil), r.msgs...)
}

// eventsOf returns the recorded events of type E.
func eventsOf[E client.Event](r *rec) []E {
	var out []E
	for _, e := range r.allEvents() {
		if v, ok := e.(E); ok {
			out = append(out, v)
		}
	}
	return out
}

// waitEvents waits until r has recorded n events of type E and returns them.
func waitEvents[E client.Event](t *testing.T, r *rec, n int) []E {
	t.Helper()
	var out []E
	waitUntil(t, waitTimeout, fmt.Sprintf("%d %T events (have %s)", n, *new(E), describe(r.allEvents())), func() bool {
		out = eventsOf[E](r)
		return len(out) >= n
	})
	return out
}

// kinds returns the events' type names, without the package.
func kinds(evs []client.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = strings.TrimPrefix(fmt.Sprintf("%T", e), "client.")
	}
	return out
}

func describe(evs []client.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%T%+v ", e, e)
	}
	return b.String()
}

// dial dials url with r's callbacks and closes the client at cleanup.
func dial(t *testing.T, url string, r *rec, o *client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, r.options(o))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { closeClient(t, c) })
	return c
}

// closeClient closes c (if it still runs) and waits until it stopped.
func closeClient(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 2*time.Second)
	defer cancel()
	_ = c.Close(ctx)
	select {
	case <-c.Done():
	case <-time.After(waitTimeout):
		t.Errorf("client did not stop")
	}
}

// dialCounter wraps net dialing and counts the calls.
type dialCounter struct{ n atomic.Int32 }

func (d *dialCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.n.Add(1)
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// rawServer is a hand-written WebSocket server that speaks just enough
// of the protocol to misbehave in a chosen way.
type rawServer struct {
	http  *httptest.Server
	wg    sync.WaitGroup
	conns atomic.Int32 // connections that sent a Hello

	mu     sync.Mutex
	closes []uint16      // close codes received from the client
	hellos []*wire.Hello // every Hello received, in order
	acks   []uint64      // acks received (ACK, PONG), in order
	frames []rawFrame    // every frame received after the Hello, in order
}

// rawFrame is a frame a rawServer received on connection conn (1-based).
type rawFrame struct {
	conn int
	typ  wire.Type
	seq  uint64 // a message's seq or an ack
}

// rawOptions says how a rawServer behaves on each connection.
type rawOptions struct {
	// noSubprotocol answers the upgrade without selecting tether.v1.
	noSubprotocol bool
	// silent, if set, says whether to read the Hello on connection n
	// (1-based) and never answer it.
	silent func(n int) bool
	// after returns the Tether frames sent right after the Welcome on
	// connection n (1-based).
	after func(n int) [][]byte
	// features are the Welcome's.
	features uint64
	// answer, if set, answers a client frame other than an ack with the
	// frames it returns.
	answer func(f wire.Frame) [][]byte
	// lost, if set, says whether connection n answers a resume with a new
	// session (reason expired) instead of resuming.
	lost func(n int) bool
	// push, if set, carries frames the test has written on the open
	// connection, whenever it chooses.
	push chan []byte
}

func startRawServer(t *testing.T, ro rawOptions) *rawServer {
	t.Helper()
	rs := &rawServer{}
	rs.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.wg.Add(1)
		defer rs.wg.Done()
		up := gobwas.HTTPUpgrader{}
		if !ro.noSubprotocol {
			up.Protocol = func(p string) bool { return p == wire.Subprotocol }
		}
		nc, rw, _, err := up.Upgrade(r, w)
		if err != nil {
			if nc != nil {
				nc.Close()
			}
			return
		}
		defer nc.Close()
		var pre []byte
		if rw != nil && rw.Reader.Buffered() > 0 {
			p, _ := rw.Reader.Peek(rw.Reader.Buffered())
			pre = append(pre, p...)
		}
		wc := ws.NewConn(nc, false, 1<<20, pre)
		defer wc.Drop()
		_ = nc.SetDeadline(time.Now().Add(waitTimeout))
		var hello *wire.Hello
		err = wc.ReadMessage(func(op byte, p []byte) error {
			f, err := wire.Decode(p)
			if err != nil {
				return err
			}
			if f.Type != wire.TypeHello {
				return fmt.Errorf("expected hello, got %s", f.Type)
			}
			hello = f.Hello
			return errStop
		})
		if !errors.Is(err, errStop) {
			return
		}
		n := int(rs.conns.Add(1))
		rs.mu.Lock()
		rs.hellos = append(rs.hellos, hello)
		rs.mu.Unlock()
		if ro.silent != nil && ro.silent(n) {
			// Wait for the client to give up on us.
			_ = wc.ReadMessage(func(byte, []byte) error { return nil })
			return
		}
		wl := &wire.Welcome{SessionID: fmt.Sprintf("raw-%d", n), Token: []byte("token"), Epoch: "raw",
			Heartbeat: 300, Timeout: 700, MaxSize: 1 << 16, Window: 4096, Grace: 5000, Features: ro.features}
		switch {
		case hello.SessionID != "" && ro.lost != nil && ro.lost(n):
			wl.Reason = wire.ReasonExpired
		case hello.SessionID != "":
			wl.Flags, wl.SessionID = wire.WelcomeResumed, hello.SessionID
		}
		b := ws.AppendFrame(nil, false, ws.OpBinary, wire.AppendWelcome(nil, wl), nil)
		if ro.after != nil {
			for _, f := range ro.after(n) {
				b = ws.AppendFrame(b, false, ws.OpBinary, f, nil)
			}
		}
		if err := wc.Write(b, time.Second); err != nil {
			return
		}
		if ro.push != nil {
			done := make(chan struct{})
			defer close(done)
			go func() {
				for {
					select {
					case f := <-ro.push:
						_ = wc.Write(ws.AppendFrame(nil, false, ws.OpBinary, f, nil), time.Second)
					case <-done:
						return
					}
				}
			}()
		}
		// Read until the client closes: record its frames, acks and close code.
		err = wc.ReadMessage(func(_ byte, p []byte) error {
			f, err := wire.Decode(p)
			if err != nil {
				return nil
			}
			rf := rawFrame{conn: n, typ: f.Type, seq: f.Seq}
			if f.Type == wire.TypeGoAway {
				rf.seq = f.GoAway.LastSeq
			}
			rs.mu.Lock()
			rs.frames = append(rs.frames, rf)
			rs.mu.Unlock()
			switch f.Type {
			case wire.TypeAck, wire.TypePong:
				rs.mu.Lock()
				rs.acks = append(rs.acks, f.Seq)
				rs.mu.Unlock()
			default:
				if ro.answer != nil {
					var b []byte
					for _, a := range ro.answer(f) {
						b = ws.AppendFrame(b, false, ws.OpBinary, a, nil)
					}
					if len(b) > 0 {
						return wc.Write(b, time.Second)
					}
				}
			}
			return nil
		})
		var ce *ws.CloseError
		if errors.As(err, &ce) {
			rs.mu.Lock()
			rs.closes = append(rs.closes, ce.Code)
			rs.mu.Unlock()
			_ = wc.EchoClose(ce)
		}
	}))
	t.Cleanup(func() {
		rs.http.Close()
		rs.wg.Wait()
	})
	return rs
}

var errStop = errors.New("stop")

func (rs *rawServer) url() string { return wsURL(rs.http.URL) }

func (rs *rawServer) helloList() []*wire.Hello {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]*wire.Hello(nil), rs.hellos...)
}

// acksOn returns the acks received, in order.
func (rs *rawServer) ackList() []uint64 {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]uint64(nil), rs.acks...)
}

// frameList returns the frames received, in order.
func (rs *rawServer) frameList() []rawFrame {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]rawFrame(nil), rs.frames...)
}

// received reports whether a frame of type typ arrived on connection n.
func (rs *rawServer) received(n int, typ wire.Type) bool {
	for _, f := range rs.frameList() {
		if f.conn == n && f.typ == typ {
			return true
		}
	}
	return false
}

func (rs *rawServer) lastAck() uint64 {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.acks) == 0 {
		return 0
	}
	return rs.acks[len(rs.acks)-1]
}

func (rs *rawServer) closeCodes() []uint16 {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]uint16(nil), rs.closes...)
}
