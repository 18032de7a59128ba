package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// node is a Tether server on a Redis store.
type node struct {
	store *Store
	srv   *tether.Server
	http  *httptest.Server
}

func startNode(t *testing.T, prefix string, mutate func(*tether.Options)) *node {
	t.Helper()
	n := &node{store: open(t, Options{Prefix: prefix, Liveness: time.Second})}
	o := tether.Options{
		Store:       n.store,
		GraceWindow: 20 * time.Second,
		Logger:      testLogger(t),
		OnMessage: func(ctx context.Context, s *tether.Session, m tether.Message) error {
			return s.Send(ctx, m.Type, append([]byte("echo "), m.Data...))
		},
	}
	if mutate != nil {
		mutate(&o)
	}
	n.srv = tether.NewServer(&o)
	n.http = httptest.NewServer(n.srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.srv.Shutdown(ctx)
		n.http.Close()
	})
	return n
}

// switchboard dials whichever node is current, and can cut the link.
type switchboard struct {
	target atomic.Pointer[string]
	mu     sync.Mutex
	conns  []net.Conn
}

func (sb *switchboard) to(n *node) {
	a := strings.TrimPrefix(n.http.URL, "http://")
	sb.target.Store(&a)
}

func (sb *switchboard) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, *sb.target.Load())
	if err == nil {
		sb.mu.Lock()
		sb.conns = append(sb.conns, c)
		sb.mu.Unlock()
	}
	return c, err
}

func (sb *switchboard) cut() {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for _, c := range sb.conns {
		_ = c.Close()
	}
	sb.conns = nil
}

func (sb *switchboard) off() {
	none := "127.0.0.1:1" // nothing listens there
	sb.target.Store(&none)
}

// received collects a client's messages.
type received struct {
	mu     sync.Mutex
	msgs   []string
	events []client.Event
}

func dialVia(t *testing.T, sb *switchboard, r *received) *client.Client {
	t.Helper()
	c, err := client.Dial(testCtx(t), "ws://tether.test/", &client.Options{
		NetDial:      sb.dial,
		InitialDelay: 10 * time.Millisecond,
		MaxDelay:     100 * time.Millisecond,
		OnMessage: func(m tether.Message) {
			r.mu.Lock()
			r.msgs = append(r.msgs, string(m.Data))
			r.mu.Unlock()
		},
		OnEvent: func(e client.Event) {
			r.mu.Lock()
			r.events = append(r.events, e)
			r.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Bounded: a client cut off for good (sb.off) cannot flush what
		// it holds, and Close waits for that until ctx ends.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// sendEchoed sends "i" for i in [from, to] and adds their echoes to want.
func sendEchoed(t *testing.T, c *client.Client, from, to int, want []string) []string {
	t.Helper()
	for i := from; i <= to; i++ {
		if err := c.Send(testCtx(t), tether.Text, fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("echo %d", i))
	}
	return want
}

func (r *received) check(t *testing.T, want []string) {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // anything extra would show up
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Equal(r.msgs, want) {
		t.Fatalf("client got %q\nwant %q", r.msgs, want)
	}
}

func (r *received) has(want ...string) func() bool {
	return func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.msgs) >= len(want)
	}
}

// TestResumeOnAnotherNode runs real servers on a shared Redis: a client
// moves from A to B and resumes there, nothing lost or repeated either
// way, and A can still send to the session, which B delivers.
func TestResumeOnAnotherNode(t *testing.T) {
	// Known core bug (cluster.go, Server.handOver): the context made by
	// handOver is cancelled when handOver returns, but the Release and
	// the NoticeReleased run later, on the session's hook goroutine, with
	// that cancelled context. The old owner never releases, the new one
	// waits until its own context ends (ErrBusy). With both calls given a
	// context of their own this test passes; remove the skip then.
	prefix := newPrefix(t)
	a, b := startNode(t, prefix, nil), startNode(t, prefix, nil)
	sb := &switchboard{}
	sb.to(a)
	r := &received{}
	ctx := testCtx(t)
	c, err := client.Dial(ctx, "ws://tether.test/", &client.Options{
		NetDial:      sb.dial,
		InitialDelay: 10 * time.Millisecond,
		MaxDelay:     100 * time.Millisecond,
		OnMessage: func(m tether.Message) {
			r.mu.Lock()
			r.msgs = append(r.msgs, string(m.Data))
			r.mu.Unlock()
		},
		OnEvent: func(e client.Event) {
			r.mu.Lock()
			r.events = append(r.events, e)
			r.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close(context.Background()) }()
	id := c.SessionID()
	var want []string
	for i := 1; i <= 5; i++ {
		if err := c.Send(ctx, tether.Text, fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("echo %d", i))
	}
	eventually(t, 5*time.Second, "echoes from A", r.has(want...))

	sb.to(b)
	sb.cut()
	for i := 6; i <= 10; i++ {
		if err := c.Send(ctx, tether.Text, fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("echo %d", i))
	}
	eventually(t, 10*time.Second, "echoes from B", r.has(want...))
	if b.srv.Session(id) == nil {
		t.Fatal("B does not hold the session")
	}
	eventually(t, 5*time.Second, "A lets go", func() bool { return a.srv.Session(id) == nil })
	if rec, err := a.store.Load(ctx, id); err != nil || rec.Owner != b.store.Node() {
		t.Fatalf("record after the move: %+v, %v", rec, err)
	}

	// A sends to the session it no longer holds: B is woken and delivers.
	if err := a.srv.Send(ctx, id, tether.Text, []byte("from A")); err != nil {
		t.Fatal(err)
	}
	want = append(want, "from A")
	eventually(t, 5*time.Second, "A's message via B", r.has(want...))
	time.Sleep(200 * time.Millisecond)
	r.mu.Lock()
	got := slices.Clone(r.msgs)
	r.mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("client got %q\nwant %q", got, want)
	}
	if resumed, evs := r.resumed(); !resumed {
		t.Fatalf("no Resumed event: %v", evs)
	}
}

// TestResumeAfterOwnerDied: the node holding a session dies; another
// node adopts the session, and its client resumes there.
func TestResumeAfterOwnerDied(t *testing.T) {
	testResumeAfterOwnerDied(t, true)
}

// TestResumeRacingAdoption: as above, but the client comes back while the
// other node's adoption scan may be claiming the same session.
func TestResumeRacingAdoption(t *testing.T) {
	// Known core bug (cluster.go, Server.hold): when the adoption loop and
	// a resume both claim a session on one server, the second claim's
	// hold returns the session the first one registered, with the first
	// claim's lease, already superseded: its next SaveIn is fenced and the
	// server drops the session it owns. hold must raise the held session's
	// lease to the newer claim's; this test passes then: remove the skip.
	testResumeAfterOwnerDied(t, false)
}

func testResumeAfterOwnerDied(t *testing.T, adoptedFirst bool) {
	a, b, sb, r, c, want := onNodeA(t, 5, nil)
	id := c.SessionID()

	_ = a.store.Stop() // A dies: it renews nothing and hears nothing
	if adoptedFirst {
		sb.off()
		sb.cut()
		eventually(t, 15*time.Second, "B adopts the session", func() bool { return b.srv.Session(id) != nil })
		sb.to(b)
	} else {
		sb.to(b)
		sb.cut()
	}
	want = sendEchoed(t, c, 6, 10, want)
	eventually(t, 15*time.Second, "echoes from B", r.has(want...))
	r.check(t, want)
	if rec, err := b.store.Load(testCtx(t), id); err != nil || rec.Owner != b.store.Node() {
		t.Fatalf("record: %+v, %v", rec, err)
	}
}

// TestOrphanExpiresElsewhere: a node dies holding a disconnected
// session; another node adopts it and expires it, running its close hook.
func TestOrphanExpiresElsewhere(t *testing.T) {
	prefix := newPrefix(t)
	disconnected := make(chan string, 1)
	a := startNode(t, prefix, func(o *tether.Options) {
		o.GraceWindow = time.Minute
		o.OnDisconnect = func(_ context.Context, s *tether.Session, _ tether.Disconnect) {
			select { // the first is checked; a later one must not block the node's hooks (and its shutdown)
			case disconnected <- s.ID():
			default:
			}
		}
	})
	closed := make(chan tether.Closure, 1)
	b := startNode(t, prefix, func(o *tether.Options) {
		o.GraceWindow = time.Second
		o.OnClose = func(_ context.Context, s *tether.Session, c tether.Closure) {
			select { // the first is checked; a later one must not block the node's hooks (and its shutdown)
			case closed <- c:
			default:
			}
		}
	})
	sb := &switchboard{}
	sb.to(a)
	r := &received{}
	c := dialVia(t, sb, r)
	id := c.SessionID()
	want := sendEchoed(t, c, 1, 3, nil)
	eventually(t, 5*time.Second, "echoes from A", r.has(want...))
	// A acknowledges once it saved what it processed, which can come
	// after the echoes: wait for it, so that the client holds nothing.
	eventually(t, 5*time.Second, "A's acknowledgement", func() bool { return c.Pending() == 0 })
	sb.off() // the client never gets back
	sb.cut()
	select {
	case got := <-disconnected:
		if got != id {
			t.Fatalf("disconnect of %s", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("A did not see the disconnect")
	}
	time.Sleep(200 * time.Millisecond) // the disconnect is saved after the hook
	_ = a.store.Stop()                 // A dies
	select {
	case cl := <-closed:
		if cl.Cause != tether.CauseExpired {
			t.Fatalf("closure on B: %+v", cl)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("B did not adopt and expire the orphan")
	}
	ts, err := b.store.Tombstone(testCtx(t), id)
	if err != nil || ts.Reason != tether.ReasonExpired {
		t.Fatalf("tombstone: %+v, %v", ts, err)
	}
	_ = b
}

// TestShutdownOrphanExpires: a node shuts down gracefully while a client
// is connected; the client never comes back. The session must still end
// (another node adopts and expires it), with its close hook.
func TestShutdownOrphanExpires(t *testing.T) {
	prefix := newPrefix(t)
	a := startNode(t, prefix, nil)
	closed := make(chan tether.Closure, 1)
	b := startNode(t, prefix, func(o *tether.Options) {
		o.GraceWindow = time.Second
		o.OnClose = func(_ context.Context, s *tether.Session, c tether.Closure) {
			select { // the first is checked; a later one must not block the node's hooks (and its shutdown)
			case closed <- c:
			default:
			}
		}
	})
	sb := &switchboard{}
	sb.to(a)
	r := &received{}
	c := dialVia(t, sb, r)
	id := c.SessionID()
	want := sendEchoed(t, c, 1, 3, nil)
	eventually(t, 5*time.Second, "echoes from A", r.has(want...))
	// A acknowledges once it saved what it processed, which can come
	// after the echoes: wait for it, so that the client holds nothing.
	eventually(t, 5*time.Second, "A's acknowledgement", func() bool { return c.Pending() == 0 })
	sb.off() // the client never gets back
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, err := b.store.Load(testCtx(t), id); err == nil && rec.Detached.IsZero() {
		t.Logf("the session was released with Detached zero: %+v", rec)
	}
	select {
	case cl := <-closed:
		if cl.Cause != tether.CauseExpired {
			t.Fatalf("closure on B: %+v", cl)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nobody expired the session A released at shutdown")
	}
}

// TestFencedServerSendsClientOn: another server claims a session while
// its client is still connected here (as when this server renewed its
// liveness late and was taken for dead). This server's next write to the
// store is fenced; it must let the connection go with 4001, so that the
// client resumes on the new owner, not with 4409, which ends a client.
// (Seen in the three-node chaos test under load.)
func TestFencedServerSendsClientOn(t *testing.T) {
	saves := &countSaveIn{}
	a, b, sb, r, c, want := onNodeA(t, 3, func(o *tether.Options) {
		saves.Store = o.Store.(*Store)
		o.Store = saves
	})
	id := c.SessionID()

	ctx := testCtx(t)
	if _, err := b.store.ClaimFrom(ctx, id, b.store.Node(), a.store.Node()); err != nil {
		t.Fatal(err)
	}
	sb.to(b)
	want = sendEchoed(t, c, 4, 6, want) // A's record of them is fenced
	// A may echo them before its record is refused and it sends the
	// client on: the echoes can arrive before the resume on B.
	eventually(t, 15*time.Second, "echoes", r.has(want...))
	eventually(t, 15*time.Second, "a resume on B", func() bool { resumed, _ := r.resumed(); return resumed })
	if c.SessionID() != id {
		t.Fatalf("the client lost its session: %v", c.Err())
	}
	if s := b.srv.Session(id); s == nil {
		t.Fatal("B does not hold the session")
	} else if st, _ := s.State(); st != tether.StateConnected {
		t.Fatalf("the session is %v on B", st)
	}
	// A, fenced, must not keep trying to record what it processed (it
	// retried once a second for ever).
	n := saves.n.Load()
	time.Sleep(2500 * time.Millisecond)
	if more := saves.n.Load() - n; more > 0 {
		t.Fatalf("A recorded processed messages %d more times after it lost the session", more)
	}
}

// countSaveIn counts a store's SaveIn calls.
type countSaveIn struct {
	*Store
	n atomic.Int64
}

func (c *countSaveIn) SaveIn(ctx context.Context, id string, lease, in uint64) error {
	c.n.Add(1)
	return c.Store.SaveIn(ctx, id, lease, in)
}

// onNodeA starts two nodes, A (its options changed by mutateA, if not
// nil) and B, and a client on A that sent "1" to "n" and got their echoes
// (want).
func onNodeA(t *testing.T, n int, mutateA func(*tether.Options)) (a, b *node, sb *switchboard, r *received, c *client.Client, want []string) {
	t.Helper()
	prefix := newPrefix(t)
	a, b = startNode(t, prefix, mutateA), startNode(t, prefix, nil)
	sb = &switchboard{}
	sb.to(a)
	r = &received{}
	c = dialVia(t, sb, r)
	want = sendEchoed(t, c, 1, n, nil)
	eventually(t, 5*time.Second, "echoes from A", r.has(want...))
	return a, b, sb, r, c, want
}

// resumed reports whether the client had a Resumed event, and its events.
func (r *received) resumed() (bool, []client.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if _, ok := e.(client.Resumed); ok {
			return true, slices.Clone(r.events)
		}
	}
	return false, slices.Clone(r.events)
}

// TestResumeWhileHookBlocks: on a shared store too, a client that comes
// back while OnMessage holds one of its messages is welcomed at once,
// not after the hook returns. The Welcome's write of the new token is
// ordered with the hook runner's writes, so the session then moves to
// another server with that token, and every message is echoed once.
func TestResumeWhileHookBlocks(t *testing.T) {
	release, held := make(chan struct{}), make(chan struct{}, 1)
	free := sync.OnceFunc(func() { close(release) })
	prefix := newPrefix(t)
	a := startNode(t, prefix, func(o *tether.Options) {
		o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
			if string(m.Data) == "1" {
				held <- struct{}{}
				<-release
			}
			return s.Send(ctx, m.Type, append([]byte("echo "), m.Data...))
		}
	})
	t.Cleanup(free) // before the server stops, which waits for hooks
	b := startNode(t, prefix, nil)
	sb := &switchboard{}
	sb.to(a)
	r := &received{}
	c := dialVia(t, sb, r)
	want := sendEchoed(t, c, 1, 1, nil)
	<-held
	sb.cut()
	eventually(t, 5*time.Second, "a resume while message 1 is held", func() bool { ok, _ := r.resumed(); return ok })
	free()
	eventually(t, 5*time.Second, "echo 1", r.has(want...))
	eventually(t, 5*time.Second, "message 1 acknowledged", func() bool { return c.Pending() == 0 })
	sb.to(b)
	sb.cut()
	want = sendEchoed(t, c, 2, 3, want)
	eventually(t, 10*time.Second, "echoes from B", r.has(want...))
	r.check(t, want)
	r.mu.Lock()
	defer r.mu.Unlock()
	resumes := 0
	for _, e := range r.events {
		switch e.(type) {
		case client.Resumed:
			resumes++
		case client.SessionLost:
			t.Fatalf("session lost: %+v", e)
		}
	}
	if resumes != 2 {
		t.Fatalf("%d resumes, want 2 (on A while held, then on B): %v", resumes, r.events)
	}
}

// slowSave, once armed, delays the next Save and closes landed when it
// returned, lets one more through, and holds every later one until
// unblock is closed, then fails it: the server seems to die there.
type slowSave struct {
	*Store
	armed   atomic.Bool
	calls   atomic.Int32 // Saves since armed
	landed  chan struct{}
	unblock chan struct{}
}

func (s *slowSave) Save(ctx context.Context, rec *tether.Record) error {
	if !s.armed.Load() {
		return s.Store.Save(ctx, rec)
	}
	switch s.calls.Add(1) {
	case 1:
		defer close(s.landed)
		time.Sleep(500 * time.Millisecond)
	case 2:
	default:
		<-s.unblock
		return errors.New("this server died")
	}
	return s.Store.Save(ctx, rec)
}

// TestResumeWriteOrdered: the hook runner's save of a detached session
// (the old token in it) is slow to land, and the client resumes
// meanwhile. The Welcome's write of the new token must wait for it, not
// land first and be overwritten: else, if the server dies before its
// next save, the store keeps a token the client no longer has and the
// session cannot resume on another server.
func TestResumeWriteOrdered(t *testing.T) {
	slow := &slowSave{landed: make(chan struct{}), unblock: make(chan struct{})}
	a, b, sb, r, c, want := onNodeA(t, 2, func(o *tether.Options) {
		slow.Store = o.Store.(*Store)
		o.Store = slow
	})
	t.Cleanup(func() { close(slow.unblock) }) // before A stops
	id := c.SessionID()
	slow.armed.Store(true) // the saves after the cut: OnDisconnect's, the Welcome's, OnResume's
	sb.cut()
	eventually(t, 5*time.Second, "a resume on A", func() bool { ok, _ := r.resumed(); return ok })
	<-slow.landed
	_ = a.store.Stop() // A dies: B has only the store's record to go by
	sb.to(b)
	sb.cut()
	want = sendEchoed(t, c, 3, 4, want)
	eventually(t, 15*time.Second, "echoes from B", r.has(want...))
	r.check(t, want)
	if c.SessionID() != id {
		t.Fatalf("the client lost its session: %v", c.Err())
	}
	if s := b.srv.Session(id); s == nil {
		t.Fatal("B does not hold the session")
	}
}
