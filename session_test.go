package tether_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

func echo(ctx context.Context, s *tether.Session, m tether.Message) error {
	_ = s.Send(ctx, m.Type, m.Data)
	return nil
}

func TestHooksInOrder(t *testing.T) {
	ts := startServer(t, func(o *tether.Options) { o.OnMessage = echo })
	r := newClientRec()
	c := dial(t, ts.url(), r, nil)
	id := c.SessionID()
	for i := 1; i <= 3; i++ {
		if err := c.Send(bg, tether.Text, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	r.waitFor(t, "3 echoes", 5*time.Second, func() bool { return len(r.msgs) == 3 })
	c.ForceReconnect()
	r.waitFor(t, "resumed", 5*time.Second, hasEvent[client.Resumed](r))
	if err := c.Close(bg); err != nil {
		t.Fatal(err)
	}
	ts.hooks.waitFor(t, "close hook", 5*time.Second, func() bool { _, ok := ts.hooks.closes[id]; return ok })
	want := []string{"open", "message", "message", "message", "disconnect:client-detached", "resume", "close:client-closed"}
	if got := ts.hooks.eventsOf(id); !reflect.DeepEqual(got, want) {
		t.Fatalf("hooks = %v, want %v", got, want)
	}
	<-c.Done()
	var kinds []string
	for _, e := range r.events {
		kinds = append(kinds, fmt.Sprintf("%T", e))
	}
	wantEv := []string{"client.Connected", "client.Disconnected", "client.Resumed", "client.Disconnected", "client.Closed"}
	if !reflect.DeepEqual(kinds, wantEv) {
		t.Fatalf("client events = %v, want %v", kinds, wantEv)
	}
	if d := eventsOf[client.Disconnected](r); d[0].Cause != tether.CauseClientDetached || d[1].Cause != tether.CauseClientClosed {
		t.Fatalf("disconnect causes = %v, %v", d[0].Cause, d[1].Cause)
	}
}

// TestBlockedHookHoldsNoOtherSession: while one session's OnMessage
// blocks, the messages of other sessions are handled and answered. On the
// poller path a message's hooks run on the poll loop goroutine that read
// it, which must hand its polling off first (poll.Conn.Handoff); more
// sessions than loops make some share the blocked one's loop.
func TestBlockedHookHoldsNoOtherSession(t *testing.T) {
	release := make(chan struct{})
	free := sync.OnceFunc(func() { close(release) })
	blocked := make(chan struct{}, 1)
	ts := startServer(t, func(o *tether.Options) {
		o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
			if string(m.Data) == "block" {
				blocked <- struct{}{}
				<-release
			}
			return echo(ctx, s, m)
		}
	})
	t.Cleanup(free) // before the server stops, which waits for hooks
	rb := newClientRec()
	cb := dial(t, ts.url(), rb, nil)
	if err := cb.Send(bg, tether.Text, []byte("block")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("the blocking hook did not run")
	}
	n := 2*runtime.GOMAXPROCS(0) + 2
	for i := range n {
		r := newClientRec()
		c := dial(t, ts.url(), r, nil)
		if err := c.Send(bg, tether.Text, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
		r.waitFor(t, fmt.Sprintf("the echo of session %d of %d while another session's hook blocks", i+1, n), 5*time.Second,
			func() bool { return len(r.msgs) == 1 })
	}
	free()
	rb.waitFor(t, "the blocked hook's echo", 5*time.Second, func() bool { return len(rb.msgs) == 1 })
}

// TestBlockedHookReplyGoesOut: a hook that sends and then blocks has
// its reply written while it blocks: the writes wait for a message's
// hooks only briefly (maxHold; on the poller path the poller's watchdog
// lifts the hold, on the other a timer per run of the hooks).
func TestBlockedHookReplyGoesOut(t *testing.T) {
	release := make(chan struct{})
	free := sync.OnceFunc(func() { close(release) })
	ts := startServer(t, func(o *tether.Options) {
		o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
			if err := echo(ctx, s, m); err != nil {
				return err
			}
			<-release
			return nil
		}
	})
	t.Cleanup(free) // before the server stops, which waits for hooks
	r := newClientRec()
	c := dial(t, ts.url(), r, nil)
	if err := c.Send(bg, tether.Text, []byte("reply, then block")); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "the reply of a hook that then blocks", 5*time.Second, func() bool { return len(r.msgs) == 1 })
	free()
}

// TestResumeBothWays cuts a connection, keeps the client away while both
// sides send, and checks everything arrives once, in order, on resume.
func TestResumeBothWays(t *testing.T) {
	ts := startServer(t, nil)
	r := newClientRec()
	c := dial(t, ts.url(), r, nil)
	id := c.SessionID()
	s := ts.srv.Session(id)
	send := func(i int) {
		if err := s.Send(bg, tether.Text, fmt.Appendf(nil, "s%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	csend := func(i int) {
		if err := c.Send(bg, tether.Binary, fmt.Appendf(nil, "c%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	send(1)
	csend(1)
	r.waitFor(t, "s1", 5*time.Second, func() bool { return len(r.msgs) == 1 })
	ts.hooks.waitFor(t, "c1", 5*time.Second, func() bool { return len(ts.hooks.msgs[id]) == 1 })
	ts.proxy.Refuse(true)
	ts.proxy.CutAll()
	ts.hooks.waitFor(t, "disconnect", 5*time.Second, func() bool { return len(ts.hooks.disc[id]) == 1 })
	for i := 2; i <= 20; i++ {
		send(i)
		csend(i)
	}
	if st, _ := s.State(); st != tether.StateDisconnected {
		t.Fatalf("state = %v", st)
	}
	ts.proxy.Refuse(false)
	r.waitFor(t, "20 messages", 10*time.Second, func() bool { return len(r.msgs) == 20 })
	ts.hooks.waitFor(t, "20 messages", 10*time.Second, func() bool { return len(ts.hooks.msgs[id]) == 20 })
	for i, m := range r.messages() {
		if string(m.Data) != fmt.Sprintf("s%d", i+1) || m.Seq != uint64(i+1) || m.Type != tether.Text {
			t.Fatalf("client message %d = %q seq %d", i, m.Data, m.Seq)
		}
	}
	for i, m := range ts.hooks.msgs[id] {
		if string(m.Data) != fmt.Sprintf("c%d", i+1) || m.Seq != uint64(i+1) || m.Type != tether.Binary {
			t.Fatalf("server message %d = %q seq %d", i, m.Data, m.Seq)
		}
	}
	res := ts.hooks.resume[id]
	if len(res) != 1 || res[0].ToClient != 19 || res[0].FromClient != 19 || res[0].Offline <= 0 {
		t.Fatalf("resume info = %+v", res)
	}
	if ev := eventsOf[client.Resumed](r); len(ev) != 1 || ev[0].ToClient != 19 || ev[0].FromClient != 19 {
		t.Fatalf("client resumed = %+v", ev)
	}
	if c.SessionID() != id {
		t.Fatalf("session ID changed")
	}
}

// TestResumeWhileHookBlocks: a client comes back while OnMessage still
// holds one of its messages (a slow backend). It is welcomed at once, not
// after the hook returns, which could be after its dial timeout and the
// server's heartbeat; the message it sends again meanwhile is taken once,
// and the hooks still run in order: the held message, the disconnect,
// the resume, then what the client sent after.
func TestResumeWhileHookBlocks(t *testing.T) {
	release := make(chan struct{})
	free := sync.OnceFunc(func() { close(release) })
	ts := startServer(t, func(o *tether.Options) {
		o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
			if string(m.Data) == "c1" {
				<-release
			}
			return nil
		}
	})
	t.Cleanup(free) // before the server stops, which waits for hooks
	r := newClientRec()
	c := dial(t, ts.url(), r, nil)
	id := c.SessionID()
	if err := c.Send(bg, tether.Text, []byte("c1")); err != nil {
		t.Fatal(err)
	}
	ts.hooks.waitFor(t, "c1 held by its hook", 5*time.Second, func() bool { return len(ts.hooks.msgs[id]) == 1 })
	ts.proxy.CutAll()
	r.waitFor(t, "the resume while c1 is held", 5*time.Second, func() bool {
		for _, e := range r.events {
			if _, ok := e.(client.Resumed); ok {
				return true
			}
		}
		return false
	})
	if st, _ := ts.srv.Session(id).State(); st != tether.StateConnected {
		t.Fatalf("state = %v while the hook holds c1", st)
	}
	if err := c.Send(bg, tether.Text, []byte("c2")); err != nil {
		t.Fatal(err)
	}
	free()
	ts.hooks.waitFor(t, "c2", 5*time.Second, func() bool { return len(ts.hooks.msgs[id]) == 2 })
	for deadline := time.Now().Add(5 * time.Second); c.Pending() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still unacknowledged", c.Pending())
		}
	}
	var got []string
	for _, m := range ts.hooks.msgs[id] {
		got = append(got, string(m.Data))
	}
	if fmt.Sprint(got) != "[c1 c2]" {
		t.Fatalf("OnMessage saw %v, want [c1 c2]", got)
	}
	// The cut is seen as lost, or as replaced if the resume came first.
	evs := ts.hooks.eventsOf(id)
	if len(evs) == 5 && (evs[2] == "disconnect:network-lost" || evs[2] == "disconnect:replaced") {
		evs[2] = "disconnect"
	}
	if want := "[open message disconnect resume message]"; fmt.Sprint(evs) != want {
		t.Fatalf("hooks ran %v, want %v", ts.hooks.eventsOf(id), want)
	}
	if res := ts.hooks.resume[id]; len(res) != 1 || res[0].FromClient != 1 {
		t.Fatalf("resume info = %+v, want the held message counted as sent again", res)
	}
}

// TestExpiryLeavesQueuedMessagesToTheClient: a session expires while
// OnMessage holds its first message and two more wait behind it, whose
// hooks would hold too. The two waiting are not delivered: the tombstone
// is written once the first returns, so the client that comes back is
// told at once (reason expired, 2 carried) instead of waiting for them
// past the handshake's timeout, and sends them again in its new session.
// Each message reaches OnMessage once, in order.
func TestExpiryLeavesQueuedMessagesToTheClient(t *testing.T) {
	first, never := make(chan struct{}), make(chan struct{})
	var oldID atomic.Pointer[string]
	ts := startServer(t, func(o *tether.Options) {
		o.GraceWindow = 300 * time.Millisecond
		o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
			if id := oldID.Load(); id != nil && s.ID() == *id {
				if string(m.Data) == "1" {
					<-first
				} else {
					<-never // only if delivered after the expiry
				}
			}
			return nil
		}
	})
	t.Cleanup(func() { close(never) }) // before the server stops, which waits for hooks
	r := newClientRec()
	c := dial(t, ts.url(), r, nil)
	id := c.SessionID()
	oldID.Store(&id)
	for _, m := range []string{"1", "2", "3"} {
		if err := c.Send(bg, tether.Text, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	ts.hooks.waitFor(t, "1 held by its hook", 5*time.Second, func() bool { return len(ts.hooks.msgs[id]) == 1 })
	for deadline := time.Now().Add(5 * time.Second); tether.Taken(ts.srv.Session(id)) < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("2 and 3 not taken") // they must wait in the hook queue
		}
	}
	ts.proxy.Refuse(true)
	ts.proxy.CutAll()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st, _ := ts.srv.Session(id).State(); st == tether.StateClosed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session did not expire")
		}
	}
	close(first)
	ts.proxy.Refuse(false)
	r.waitFor(t, "the loss, told at once", 5*time.Second, hasEvent[client.SessionLost](r))
	lost := eventsOf[client.SessionLost](r)[0]
	if lost.Reason != tether.ReasonExpired || lost.Carried != 2 || lost.FromClient != 0 {
		t.Fatalf("lost = %+v, want expired with 2 carried", lost.Loss)
	}
	nid := c.SessionID()
	ts.hooks.waitFor(t, "2 and 3 in the new session", 5*time.Second, func() bool { return len(ts.hooks.msgs[nid]) == 2 })
	var got []string
	ts.hooks.mu.Lock()
	for _, sid := range []string{id, nid} {
		for _, m := range ts.hooks.msgs[sid] {
			got = append(got, string(m.Data))
		}
	}
	ts.hooks.mu.Unlock()
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("OnMessage saw %v, want [1 2 3]", got)
	}
}

func TestGraceWindowExpiry(t *testing.T) {
	ts := startServer(t, func(o *tether.Options) { o.GraceWindow = 300 * time.Millisecond })
	r := newClientRec()
	c := dial(t, ts.url(), r, nil)
	id := c.SessionID()
	s := ts.srv.Session(id)
	ts.proxy.Refuse(true)
	ts.proxy.CutAll()
	ts.hooks.waitFor(t, "disconnect", 5*time.Second, func() bool { return len(ts.hooks.disc[id]) == 1 })
	for i := 1; i <= 4; i++ {
		if err := s.Send(bg, tether.Text, []byte("lost")); err != nil {
			t.Fatal(err)
		}
		if err := c.Send(bg, tether.Text, fmt.Appendf(nil, "offline%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	ts.hooks.waitFor(t, "expiry", 5*time.Second, func() bool { _, ok := ts.hooks.closes[id]; return ok })
	cl := ts.hooks.closes[id]
	if cl.Cause != tether.CauseExpired || cl.Unacked != 4 {
		t.Fatalf("closure = %+v", cl)
	}
	if err := s.Send(bg, tether.Text, []byte("late")); !errors.Is(err, tether.ErrSessionClosed) {
		t.Fatalf("send after expiry = %v", err)
	}
	if !strings.Contains(ts.logs.String(), "cause=expired") {
		t.Fatalf("no structured expiry log line:\n%s", ts.logs)
	}
	ts.proxy.Refuse(false)
	r.waitFor(t, "session lost", 5*time.Second, hasEvent[client.SessionLost](r))
	lost := eventsOf[client.SessionLost](r)[0]
	if lost.SessionID != id || lost.Reason != tether.ReasonExpired || lost.ToClient != 4 || lost.FromClient != 0 || lost.Carried != 4 {
		t.Fatalf("session lost = %+v", lost)
	}
	nid := c.SessionID()
	if nid == id {
		t.Fatal("same session ID after loss")
	}
	ts.hooks.waitFor(t, "carried messages", 5*time.Second, func() bool { return len(ts.hooks.msgs[nid]) == 4 })
	for i, m := range ts.hooks.msgs[nid] {
		if string(m.Data) != fmt.Sprintf("offline%d", i+1) {
			t.Fatalf("carried message %d = %q", i, m.Data)
		}
	}
	prev := ts.hooks.opens[nid].Previous
	if prev == nil || prev.SessionID != id || prev.Reason != tether.ReasonExpired || prev.ToClient != 4 || prev.Carried != 4 {
		t.Fatalf("server's view of the loss = %+v", prev)
	}
}

// replyAsGraceRunsOut runs a hook that is still handling "slow" when the
// grace window runs out: the client is cut off, away runs once the
// session is disconnected, the session expires, and then the hook sends
// its reply into the ending session, which must fail with
// ErrSessionClosed. It returns once the close hook ran, with the client
// still cut off.
func replyAsGraceRunsOut(t *testing.T, maxReplay int, away func(s *tether.Session)) (*testServer, *clientRec, *tether.Session) {
	t.Helper()
	started, release := make(chan struct{}), make(chan struct{})
	replied := make(chan error, 1)
	ts := startServer(t, func(o *tether.Options) {
		o.GraceWindow = 300 * time.Millisecond
		o.MaxReplayMessages = maxReplay
		o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
			if string(m.Data) == "slow" {
				close(started)
				<-release
				replied <- s.Send(ctx, tether.Text, []byte("reply"))
			}
			return nil
		}
	})
	var once sync.Once
	releaseHook := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseHook) // a failure below must not leave the hook blocked
	r := newClientRec()
	c := dial(t, ts.url(), r, nil)
	id := c.SessionID()
	s := ts.srv.Session(id)
	if err := c.Send(bg, tether.Text, []byte("slow")); err != nil {
		t.Fatal(err)
	}
	<-started
	ts.proxy.Refuse(true)
	ts.proxy.CutAll()
	// The hooks wait behind the slow one: watch the state instead.
	waitState := func(want tether.SessionState) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for st, _ := s.State(); st != want; st, _ = s.State() {
			if time.Now().After(deadline) {
				t.Fatalf("state %v, want %v", st, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitState(tether.StateDisconnected)
	away(s)
	waitState(tether.StateClosed)
	releaseHook()
	if err := <-replied; !errors.Is(err, tether.ErrSessionClosed) {
		t.Fatalf("reply into the ending session = %v, want ErrSessionClosed", err)
	}
	ts.hooks.waitFor(t, "expiry", 5*time.Second, func() bool { _, ok := ts.hooks.closes[id]; return ok })
	return ts, r, s
}

// TestReplyAsGraceRunsOutIsCounted: a hook still handling a message when
// the grace window runs out sends its reply into the ending session; the
// reply cannot reach the client, which must be told it lost it (the
// standalone server's webhook replies, seen lost uncounted in the soak).
func TestReplyAsGraceRunsOutIsCounted(t *testing.T) {
	ts, r, s := replyAsGraceRunsOut(t, 0, func(*tether.Session) {})
	if cl := ts.hooks.closes[s.ID()]; cl.Cause != tether.CauseExpired || cl.Unacked != 1 {
		t.Fatalf("closure = %+v, want expired with the reply unacknowledged", cl)
	}
	ts.proxy.Refuse(false)
	r.waitFor(t, "session lost", 5*time.Second, hasEvent[client.SessionLost](r))
	lost := eventsOf[client.SessionLost](r)[0]
	if lost.ToClient != 1 || lost.Carried != 0 || lost.FromClient != 0 {
		t.Fatalf("session lost = %+v, want the reply counted (ToClient 1) and the message processed", lost)
	}
	if err := s.Send(bg, tether.Text, []byte("later")); !errors.Is(err, tether.ErrSessionClosed) {
		t.Fatalf("send after the close = %v", err)
	}
}

// TestReplyIntoFullBufferAsGraceRunsOutIsCounted: as above, but the
// replay buffer is full when the reply comes, so it cannot be kept; it is
// still counted among what the client lost, and in the close hook's
// Unacked.
func TestReplyIntoFullBufferAsGraceRunsOutIsCounted(t *testing.T) {
	ts, r, s := replyAsGraceRunsOut(t, 2, func(s *tether.Session) {
		for i := 1; i <= 2; i++ { // fills the buffer while the client is away
			if err := s.Send(bg, tether.Text, fmt.Appendf(nil, "m%d", i)); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
	})
	if cl := ts.hooks.closes[s.ID()]; cl.Cause != tether.CauseExpired || cl.Unacked != 3 {
		t.Fatalf("closure = %+v, want expired with 3 unacknowledged (2 kept, the reply refused by the full buffer)", cl)
	}
	ts.proxy.Refuse(false)
	r.waitFor(t, "session lost", 5*time.Second, hasEvent[client.SessionLost](r))
	lost := eventsOf[client.SessionLost](r)[0]
	if lost.ToClient != 3 || lost.Carried != 0 || lost.FromClient != 0 {
		t.Fatalf("session lost = %+v, want the two kept and the refused reply counted (ToClient 3)", lost)
	}
}

func TestOverflowReportsLoss(t *testing.T) {
	ts := startServer(t, func(o *tether.Options) { o.MaxReplayMessages = 5 })
	r := newClientRec()
	c := dial(t, ts.url(), r, nil)
	id := c.SessionID()
	s := ts.srv.Session(id)
	ts.proxy.Refuse(true)
	ts.proxy.CutAll()
	ts.hooks.waitFor(t, "disconnect", 5*time.Second, func() bool { return len(ts.hooks.disc[id]) == 1 })
	for i := 1; i <= 5; i++ {
		if err := s.Send(bg, tether.Text, []byte("x")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := s.Send(bg, tether.Text, []byte("x")); !errors.Is(err, tether.ErrOverflow) {
		t.Fatalf("6th send = %v, want ErrOverflow", err)
	}
	ts.hooks.waitFor(t, "close", 5*time.Second, func() bool { _, ok := ts.hooks.closes[id]; return ok })
	if cl := ts.hooks.closes[id]; cl.Cause != tether.CauseOverflow || cl.Unacked != 5 {
		t.Fatalf("closure = %+v", cl)
	}
	ts.proxy.Refuse(false)
	r.waitFor(t, "session lost", 5*time.Second, hasEvent[client.SessionLost](r))
	lost := eventsOf[client.SessionLost](r)[0]
	if lost.Reason != tether.ReasonOverflow || lost.ToClient != 5 {
		t.Fatalf("session lost = %+v", lost)
	}
}

// TestOverflowWhileConnected: a client that does not acknowledge (its
// handler is stuck) is closed with 4003 once the buffer is full; once it
// recovers it is told the session was lost to overflow.
func TestOverflowWhileConnected(t *testing.T) {
	ts := startServer(t, func(o *tether.Options) { o.MaxReplayMessages = 8 })
	r := newClientRec()
	block := make(chan struct{})
	o := r.options(nil)
	record := o.OnMessage
	o.OnMessage = func(m tether.Message) { <-block; record(m) }
	c, err := client.Dial(bg, ts.url(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close(bg); <-c.Done() }()
	id := c.SessionID()
	s := ts.srv.Session(id)
	var sendErr error
	sent := 0
	for i := 0; i < 100 && sendErr == nil; i++ {
		if sendErr = s.Send(bg, tether.Text, []byte("x")); sendErr == nil {
			sent++
		}
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(sendErr, tether.ErrOverflow) || sent != 8 {
		t.Fatalf("send = %v after %d, want ErrOverflow after 8", sendErr, sent)
	}
	ts.hooks.waitFor(t, "close", 5*time.Second, func() bool { _, ok := ts.hooks.closes[id]; return ok })
	if cl := ts.hooks.closes[id]; cl.Cause != tether.CauseOverflow || cl.Unacked != 8 {
		t.Fatalf("closure = %+v", cl)
	}
	close(block)
	r.waitFor(t, "overflow disconnect", 5*time.Second, func() bool {
		for _, e := range r.events {
			if d, ok := e.(client.Disconnected); ok && d.Code == tether.CloseOverflow && d.Cause == tether.CauseOverflow {
				return true
			}
		}
		return false
	})
	r.waitFor(t, "session lost", 5*time.Second, hasEvent[client.SessionLost](r))
	if l := eventsOf[client.SessionLost](r)[0]; l.Reason != tether.ReasonOverflow || l.ToClient != 0 {
		t.Fatalf("lost = %+v (the client had received all 8 before the close)", l)
	}
	if n := len(r.messages()); n != 8 {
		t.Fatalf("client handled %d messages, want 8", n)
	}
}

// TestInFlight: a message whose OnMessage has not returned is in flight,
// and no longer once it has.
func TestInFlight(t *testing.T) {
	entered, release := make(chan *tether.Session, 1), make(chan struct{})
	ts := startServer(t, func(o *tether.Options) {
		o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
			if string(m.Data) == "hold" {
				entered <- s
				<-release
			}
			return nil
		}
	})
	c := dial(t, ts.url(), newClientRec(), nil)
	if err := c.Send(bg, tether.Text, []byte("hold")); err != nil {
		t.Fatal(err)
	}
	s := <-entered
	if n := s.InFlight(); n != 1 {
		close(release)
		t.Fatalf("InFlight while OnMessage runs = %d, want 1", n)
	}
	close(release)
	ts.hooks.waitFor(t, "message processed", 5*time.Second, func() bool { return len(ts.hooks.msgs[s.ID()]) == 1 })
	deadline := time.Now().Add(5 * time.Second)
	for s.InFlight() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("InFlight after OnMessage returned = %d, want 0", s.InFlight())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
