package tether_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/internal/faultproxy"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(lockOrderChecked{m})
}

// lockOrderChecked fails the run if it broke the lock order DESIGN.md
// states; only a -tags tether_lockorder build records it.
type lockOrderChecked struct{ m *testing.M }

func (c lockOrderChecked) Run() int {
	code := c.m.Run()
	if err := tether.LockOrderErr(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		code = max(code, 1)
	}
	return code
}

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// hookLog records server hook calls in order, per session.
type hookLog struct {
	mu     sync.Mutex
	events map[string][]string
	msgs   map[string][]tether.Message
	opens  map[string]tether.OpenInfo
	closes map[string]tether.Closure
	resume map[string][]tether.Resume
	disc   map[string][]tether.Disconnect
	recov  map[string][]tether.RoomRecovery
	pres   []tether.PresenceChange
	cond   *sync.Cond
}

func newHookLog() *hookLog {
	h := &hookLog{
		events: map[string][]string{}, msgs: map[string][]tether.Message{},
		opens: map[string]tether.OpenInfo{}, closes: map[string]tether.Closure{},
		resume: map[string][]tether.Resume{}, disc: map[string][]tether.Disconnect{},
		recov: map[string][]tether.RoomRecovery{},
	}
	h.cond = sync.NewCond(&h.mu)
	return h
}

func (h *hookLog) add(id, ev string) {
	h.events[id] = append(h.events[id], ev)
	h.cond.Broadcast()
}

// install sets hooks on o that record into h, then call the given ones.
func (h *hookLog) install(o *tether.Options) {
	onOpen, onMsg, onDisc, onRes, onClose := o.OnOpen, o.OnMessage, o.OnDisconnect, o.OnResume, o.OnClose
	onRecov, onPres := o.OnRoomRecovery, o.OnPresence
	o.OnRoomRecovery = func(ctx context.Context, s *tether.Session, r tether.RoomRecovery) {
		h.mu.Lock()
		h.recov[s.ID()] = append(h.recov[s.ID()], r)
		h.add(s.ID(), "recovery:"+r.Room)
		h.mu.Unlock()
		if onRecov != nil {
			onRecov(ctx, s, r)
		}
	}
	o.OnPresence = func(ctx context.Context, s *tether.Session, p tether.PresenceChange) {
		h.mu.Lock()
		h.pres = append(h.pres, p)
		h.cond.Broadcast()
		h.mu.Unlock()
		if onPres != nil {
			onPres(ctx, s, p)
		}
	}
	o.OnOpen = func(ctx context.Context, s *tether.Session, info tether.OpenInfo) {
		h.mu.Lock()
		h.opens[s.ID()] = tether.OpenInfo{Previous: info.Previous}
		h.add(s.ID(), "open")
		h.mu.Unlock()
		if onOpen != nil {
			onOpen(ctx, s, info)
		}
	}
	o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
		h.mu.Lock()
		h.msgs[s.ID()] = append(h.msgs[s.ID()], m)
		h.add(s.ID(), "message")
		h.mu.Unlock()
		if onMsg != nil {
			return onMsg(ctx, s, m)
		}
		return nil
	}
	o.OnDisconnect = func(ctx context.Context, s *tether.Session, d tether.Disconnect) {
		h.mu.Lock()
		h.disc[s.ID()] = append(h.disc[s.ID()], d)
		h.add(s.ID(), "disconnect:"+d.Cause.String())
		h.mu.Unlock()
		if onDisc != nil {
			onDisc(ctx, s, d)
		}
	}
	o.OnResume = func(ctx context.Context, s *tether.Session, r tether.Resume) {
		h.mu.Lock()
		h.resume[s.ID()] = append(h.resume[s.ID()], r)
		h.add(s.ID(), "resume")
		h.mu.Unlock()
		if onRes != nil {
			onRes(ctx, s, r)
		}
	}
	o.OnClose = func(ctx context.Context, s *tether.Session, c tether.Closure) {
		h.mu.Lock()
		h.closes[s.ID()] = c
		h.add(s.ID(), "close:"+c.Cause.String())
		h.mu.Unlock()
		if onClose != nil {
			onClose(ctx, s, c)
		}
	}
}

// waitFor waits until cond (called with h.mu held) is true.
func (h *hookLog) waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	stop := time.AfterFunc(d, func() { h.mu.Lock(); h.cond.Broadcast(); h.mu.Unlock() })
	defer stop.Stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; hooks: %v", d, what, h.events)
		}
		h.cond.Wait()
	}
}

func (h *hookLog) eventsOf(id string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.events[id]...)
}

// testServer is a Tether server on httptest, optionally behind a fault proxy.
type testServer struct {
	t     *testing.T
	srv   *tether.Server
	http  *httptest.Server
	proxy *faultproxy.Proxy
	hooks *hookLog
	logs  *logBuffer
	opts  tether.Options
	addr  string
	old   []*tether.Server
}

// restart replaces the server process by a new one on the same address,
// with a new memory store. graceful drains first; otherwise it crashes:
// every connection is cut, then the old server is discarded.
func (ts *testServer) restart(graceful bool) { ts.restartWith(graceful, nil) }

// restartWith is restart, calling before with the new server before any
// client can reach it.
func (ts *testServer) restartWith(graceful bool, before func(*tether.Server)) {
	t := ts.t
	t.Helper()
	if graceful {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		cancel()
	} else {
		ts.proxy.Refuse(true)
		ts.proxy.CutAll()
		ts.old = append(ts.old, ts.srv)
	}
	ts.http.Close()
	o := ts.opts
	o.Store = nil
	ts.srv = tether.NewServer(&o)
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", ts.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("relisten: %v", err)
	}
	ts.http = httptest.NewUnstartedServer(ts.srv)
	ts.http.Listener.Close()
	ts.http.Listener = l
	ts.http.Start()
	if before != nil {
		before(ts.srv)
	}
	ts.proxy.Refuse(false)
}

// startServer starts a server with fast heartbeats; mutate may change options.
func startServer(t *testing.T, mutate func(*tether.Options)) *testServer {
	t.Helper()
	ts := &testServer{t: t, hooks: newHookLog(), logs: &logBuffer{}}
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
	ts.hooks.install(&o)
	ts.opts = o
	ts.srv = tether.NewServer(&o)
	ts.http = httptest.NewServer(ts.srv)
	ts.addr = ts.http.Listener.Addr().String()
	p, err := faultproxy.New(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	ts.proxy = p
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ts.srv.Shutdown(ctx)
	for _, o := range ts.old {
		cctx, ccancel := context.WithCancel(ctx)
		ccancel()
		_ = o.Shutdown(cctx)
	}
	ts.proxy.Close()
	ts.http.Close()
	if ts.t.Failed() {
		ts.t.Logf("server log:\n%s", ts.logs.String())
	}
}

// url is the WebSocket URL through the proxy; direct skips the proxy.
func (ts *testServer) url() string { return "ws://" + ts.proxy.Addr() }
func (ts *testServer) directURL() string {
	return "ws" + strings.TrimPrefix(ts.http.URL, "http")
}

// clientRec records what a client saw.
type clientRec struct {
	mu     sync.Mutex
	msgs   []tether.Message
	events []client.Event
	cond   *sync.Cond
}

func newClientRec() *clientRec {
	r := &clientRec{}
	r.cond = sync.NewCond(&r.mu)
	return r
}

func (r *clientRec) options(o *client.Options) *client.Options {
	if o == nil {
		o = &client.Options{}
	}
	o.OnMessage = func(m tether.Message) {
		r.mu.Lock()
		r.msgs = append(r.msgs, m)
		r.cond.Broadcast()
		r.mu.Unlock()
	}
	o.OnEvent = func(e client.Event) {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.cond.Broadcast()
		r.mu.Unlock()
	}
	if o.InitialDelay == 0 {
		o.InitialDelay = 20 * time.Millisecond
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = 200 * time.Millisecond
	}
	return o
}

// messages returns a copy of the messages received so far: the client
// may still be appending (the race detector sees no order through the
// network between a read here and a later delivery).
func (r *clientRec) messages() []tether.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func (r *clientRec) waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	stop := time.AfterFunc(d, func() { r.mu.Lock(); r.cond.Broadcast(); r.mu.Unlock() })
	defer stop.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; events: %s", d, what, describe(r.events))
		}
		r.cond.Wait()
	}
}

func describe(evs []client.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%T%+v ", e, e)
	}
	return b.String()
}

// eventsOf returns the recorded events of type E.
func eventsOf[E client.Event](r *clientRec) []E {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []E
	for _, e := range r.events {
		if v, ok := e.(E); ok {
			out = append(out, v)
		}
	}
	return out
}

func hasEvent[E client.Event](r *clientRec) func() bool {
	return func() bool {
		for _, e := range r.events {
			if _, ok := e.(E); ok {
				return true
			}
		}
		return false
	}
}

func dial(t *testing.T, url string, r *clientRec, o *client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, r.options(o))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = c.Close(ctx)
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Errorf("client did not stop")
		}
	})
	return c
}

var bg = context.Background()
