package tether_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/internal/wire"
)

// A scripted peer speaks the protocol frame by frame, to pin the rules of
// docs/PROTOCOL.md §5–§10 at their boundaries (exactly at, one below, one
// above): real clients rarely produce these cases.

// peer is a scripted client on one connection.
type peer struct {
	*rawConn
	t       *testing.T
	w       *wire.Welcome
	got     []wire.Frame // server messages received, in order
	ackHigh uint64       // highest ack received
}

// newPeer opens a new session.
func newPeer(t *testing.T, ts *testServer, h *wire.Hello) *peer {
	t.Helper()
	rc, err := rawDial(t, ts.directURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = &wire.Hello{Window: 100}
	}
	p := &peer{rawConn: rc, t: t, w: rc.hello(h)}
	p.send(wire.AppendSeqFrame(nil, wire.TypeAck, 0)) // confirms the Welcome
	return p
}

func (p *peer) msg(seq uint64, text string) {
	p.t.Helper()
	p.send(append(wire.AppendMessageHeader(nil, true, seq), text...))
}

// until reads frames until cond holds, recording messages and acks; it
// fails on a close or after d.
func (p *peer) until(what string, d time.Duration, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s (acked %d, got %d messages)", what, p.ackHigh, len(p.got))
		}
		f, err := p.next(time.Until(deadline))
		if err != nil {
			p.t.Fatalf("waiting for %s: %v", what, err)
		}
		p.record(f)
	}
}

// quiet reads for d and fails if anything but heartbeats and acks up to
// maxAck arrives.
func (p *peer) quiet(d time.Duration, maxAck uint64) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		f, err := p.next(time.Until(deadline))
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				return
			}
			p.t.Fatalf("while quiet: %v", err)
		}
		p.record(f)
		if p.ackHigh > maxAck {
			p.t.Fatalf("ack %d arrived; at most %d may", p.ackHigh, maxAck)
		}
	}
}

func (p *peer) record(f wire.Frame) {
	switch f.Type {
	case wire.TypeAck, wire.TypePing:
		p.ackHigh = max(p.ackHigh, f.Seq)
		if f.Type == wire.TypePing {
			p.send(wire.AppendSeqFrame(nil, wire.TypePong, p.recv()))
		}
	case wire.TypeBinary, wire.TypeText:
		p.got = append(p.got, f)
	}
}

func (p *peer) recv() uint64 {
	if len(p.got) == 0 {
		return 0
	}
	return p.got[len(p.got)-1].Seq
}

// closesWith reads until the server closes and checks the code.
func (p *peer) closesWith(want tether.CloseCode) {
	p.t.Helper()
	if code, reason := p.closed(5 * time.Second); tether.CloseCode(code) != want {
		p.t.Fatalf("closed with %d %q, want %d", code, reason, want)
	}
}

// processed returns the texts OnMessage received for a session.
func (ts *testServer) processed(id string) []string {
	ts.hooks.mu.Lock()
	defer ts.hooks.mu.Unlock()
	var out []string
	for _, m := range ts.hooks.msgs[id] {
		out = append(out, string(m.Data))
	}
	return out
}

// §6.2: a repeat (seq ≤ R) is dropped silently, on a live connection and
// after a resume, and the session carries on.
func TestPeerRepeatIgnored(t *testing.T) {
	ts := startServer(t, nil)
	p := newPeer(t, ts, nil)
	id := p.w.SessionID
	p.msg(1, "a")
	p.msg(2, "b")
	p.until("ack 2", 5*time.Second, func() bool { return p.ackHigh >= 2 })
	p.msg(2, "b again") // exactly R
	p.msg(1, "a again") // below R
	p.msg(3, "c")       // R + 1
	p.until("ack 3", 5*time.Second, func() bool { return p.ackHigh >= 3 })
	p.ws.Shutdown(uint16(wire.CloseDetach), "bye", time.Second)

	rc, err := rawDial(t, ts.directURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := rc.hello(&wire.Hello{SessionID: id, Token: p.w.Token, Epoch: p.w.Epoch, Acked: 3, Written: 3, Last: 4})
	if !w.Resumed() || w.Recv != 3 {
		t.Fatalf("resume: %+v", w)
	}
	p2 := &peer{rawConn: rc, t: t, w: w}
	p2.msg(3, "c again")
	p2.msg(4, "d")
	p2.until("ack 4", 5*time.Second, func() bool { return p2.ackHigh >= 4 })
	if got := ts.processed(id); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("processed %q, want a b c d once each", got)
	}
}

// §6.3: an ack may cover exactly what the server sent on the connection;
// one more is a protocol violation.
func TestPeerAckBoundary(t *testing.T) {
	ts := startServer(t, nil)
	for _, extra := range []uint64{0, 1} {
		p := newPeer(t, ts, nil)
		s := ts.srv.Session(p.w.SessionID)
		for i := range 2 {
			if err := s.Send(bg, tether.Text, fmt.Appendf(nil, "m%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		p.until("two messages", 5*time.Second, func() bool { return len(p.got) == 2 })
		p.send(wire.AppendSeqFrame(nil, wire.TypeAck, 2+extra))
		if extra == 1 {
			p.closesWith(tether.CloseProtocolViolation)
			continue
		}
		if err := s.WaitPending(ctxTimeout(t), 0); err != nil {
			t.Fatalf("ack of exactly what was sent: %v", err)
		}
		p.msg(1, "alive")
		p.until("ack 1", 5*time.Second, func() bool { return p.ackHigh >= 1 })
	}
}

// §6.5: a payload of exactly maxSize passes; one byte more closes 4413.
func TestPeerMaxSizeBoundary(t *testing.T) {
	const max = 1000
	ts := startServer(t, func(o *tether.Options) { o.MaxMessageSize = max })
	p := newPeer(t, ts, nil)
	if p.w.MaxSize != max {
		t.Fatalf("Welcome.maxSize = %d", p.w.MaxSize)
	}
	p.msg(1, strings.Repeat("a", max))
	p.until("ack of the largest message", 5*time.Second, func() bool { return p.ackHigh >= 1 })
	p.msg(2, strings.Repeat("b", max+1))
	p.closesWith(tether.CloseTooBig)
	if got := ts.processed(p.w.SessionID); len(got) != 1 || len(got[0]) != max {
		t.Fatalf("processed %d messages", len(got))
	}
}

// §6.3: no ack covers a message whose handler has not returned, however
// many are queued behind it.
func TestPeerNoAckBeforeHandlerReturns(t *testing.T) {
	release := make(chan struct{})
	ts := startServer(t, func(o *tether.Options) {
		o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
			if string(m.Data) == "slow" {
				<-release
			}
			return nil
		}
	})
	p := newPeer(t, ts, nil)
	p.msg(1, "fast")
	p.until("ack 1", 5*time.Second, func() bool { return p.ackHigh >= 1 })
	p.msg(2, "slow")
	p.msg(3, "queued")
	p.msg(4, "queued too")
	p.quiet(600*time.Millisecond, 1) // two heartbeats: pings carry acks too
	close(release)
	p.until("ack 4", 5*time.Second, func() bool { return p.ackHigh >= 4 })
}

// §8: a session ended while messages wait behind a slow handler (here by
// a handler error, close 4005): the client carries every unprocessed one
// into its next session, where each is processed once.
func TestPeerUnprocessedCarriedAfterServerError(t *testing.T) {
	var fails atomic.Int32
	fails.Store(1)
	ts := startServer(t, func(o *tether.Options) {
		o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
			if string(m.Data) == "b" && fails.Add(-1) >= 0 {
				time.Sleep(100 * time.Millisecond) // c and d queue up behind it
				return errors.New("backend down")
			}
			return nil
		}
	})
	r := newClientRec()
	c := dial(t, ts.url(), r, nil)
	old := c.SessionID()
	for _, s := range []string{"a", "b", "c", "d"} {
		if err := c.Send(bg, tether.Text, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	r.waitFor(t, "a new session", 10*time.Second, hasEvent[client.SessionLost](r))
	ts.hooks.waitFor(t, "the carried messages", 5*time.Second, func() bool { return len(ts.hooks.msgs[c.SessionID()]) == 3 })
	if got := ts.processed(old); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("the old session processed %q, want a then the refused b", got)
	}
	if got := ts.processed(c.SessionID()); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Fatalf("the new session processed %q, want b c d", got)
	}
	l := eventsOf[client.SessionLost](r)[0]
	if l.Reason != tether.ReasonServerError || l.Carried != 3 || l.FromClient != 0 {
		t.Fatalf("SessionLost = %+v, want server-error with 3 carried", l.Loss)
	}
}

// §7.3: a client that missed exactly one server message, and resumes
// when nothing more is sent, gets that message replayed.
func TestPeerMissedOneMessageReplayed(t *testing.T) {
	ts := startServer(t, nil)
	p := newPeer(t, ts, nil)
	s := ts.srv.Session(p.w.SessionID)
	for _, m := range []string{"m1", "m2"} {
		if err := s.Send(bg, tether.Text, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	p.until("m1", 5*time.Second, func() bool { return len(p.got) >= 1 })
	// The peer acts as if m2 was lost in the cut: it acknowledged nothing
	// and resumes having received m1 only.
	p.ws.Close()
	rc, err := rawDial(t, ts.directURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := rc.hello(&wire.Hello{SessionID: p.w.SessionID, Token: p.w.Token, Epoch: p.w.Epoch, Recv: 1})
	if !w.Resumed() || w.Replay != 1 {
		t.Fatalf("resume: %+v, want replay 1", w)
	}
	p2 := &peer{rawConn: rc, t: t, w: w}
	p2.until("m2 replayed", 5*time.Second, func() bool { return len(p2.got) == 1 })
	if f := p2.got[0]; f.Seq != 2 || string(f.Payload) != "m2" {
		t.Fatalf("replayed %d %q, want 2 m2", f.Seq, f.Payload)
	}
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// §8: a session that overflows (4003) while client messages wait behind a
// slow handler: the client carries the unprocessed ones into its next
// session, where each is processed once.
func TestPeerUnprocessedCarriedAfterOverflow(t *testing.T) {
	release := make(chan struct{})
	var once atomic.Bool
	ts := startServer(t, func(o *tether.Options) {
		o.MaxReplayMessages = 4
		o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
			if string(m.Data) == "slow" && once.CompareAndSwap(false, true) {
				<-release
			}
			return nil
		}
	})
	r := newClientRec()
	c := dial(t, ts.url(), r, nil)
	old := c.SessionID()
	for _, s := range []string{"a", "slow", "c", "d"} {
		if err := c.Send(bg, tether.Text, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	ts.hooks.waitFor(t, "the slow handler", 5*time.Second, func() bool { return len(ts.hooks.msgs[old]) == 2 })
	// The client acknowledges nothing: the server's buffer overflows.
	ts.proxy.Blackhole(true)
	s := ts.srv.Session(old)
	for i := range 5 {
		_ = s.Send(bg, tether.Text, fmt.Appendf(nil, "m%d", i))
	}
	close(release)
	ts.proxy.Blackhole(false)
	r.waitFor(t, "a new session", 10*time.Second, hasEvent[client.SessionLost](r))
	l := eventsOf[client.SessionLost](r)[0]
	// The messages queued before the overflow ran before the session
	// closed (hooks run in order); whatever did not, the client carries.
	ts.hooks.waitFor(t, "the carried messages", 5*time.Second, func() bool {
		return len(ts.hooks.msgs[c.SessionID()]) == int(l.Carried)
	})
	oldGot, newGot := ts.processed(old), ts.processed(c.SessionID())
	all := append(slices.Clone(oldGot), newGot...)
	slices.Sort(all)
	if !slices.Equal(all, []string{"a", "c", "d", "slow"}) {
		t.Fatalf("processed %q by the old session and %q by the new: want a, slow, c, d once each", oldGot, newGot)
	}
	if l.Reason != tether.ReasonOverflow || l.FromClient != 0 {
		t.Fatalf("SessionLost = %+v, want overflow with every message's fate known", l.Loss)
	}
}

// gapStore runs a hook before the next Read of a session's replay buffer
// after a given point: a way to order an event between a resume's checks
// and its writer's first read, which the network cannot.
type gapStore struct {
	tether.Store
	mu   sync.Mutex
	at   uint64
	hook func(ctx context.Context, id string) error // its error is Read's
}

func (g *gapStore) Read(ctx context.Context, id string, after uint64, maxBytes int, dst []tether.Message) ([]tether.Message, error) {
	g.mu.Lock()
	h := g.hook
	if h != nil && after == g.at {
		g.hook = nil
	} else {
		h = nil
	}
	g.mu.Unlock()
	if h != nil {
		if err := h(ctx, id); err != nil {
			return dst, err
		}
	}
	return g.Store.Read(ctx, id, after, maxBytes, dst)
}

// The resume point is where the client said it is (Hello.recv); its
// acknowledgement of later messages can still reach the server by the
// connection it left, after the resume's checks and before the writer
// reads. The writer then continues after the acknowledgement (the client
// has those messages). A gap that no acknowledgement explains is the
// store's fault: nothing after it is written, so no message is skipped
// silently.
func TestPeerResumeAfterLateAck(t *testing.T) {
	for _, late := range []struct {
		name string
		ack  uint64 // the late acknowledgement; 0: none, the store lost 2 and 3
		want []uint64
	}{
		{"ack beyond the resume point", 3, []uint64{4}},
		{"gap at the resume point", 0, nil},
	} {
		t.Run(late.name, func(t *testing.T) {
			st := &gapStore{Store: tether.NewMemoryStore(nil)}
			ts := startServer(t, func(o *tether.Options) { o.Store = st })
			p := newPeer(t, ts, nil)
			id := p.w.SessionID
			s := ts.srv.Session(id)
			for i := 1; i <= 4; i++ {
				if err := s.Send(bg, tether.Text, fmt.Appendf(nil, "m%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			p.until("4 messages", 5*time.Second, func() bool { return len(p.got) == 4 })
			// It acknowledged 1 before leaving, and resumes from there:
			// the store's acknowledgement is exactly the resume point.
			p.send(wire.AppendSeqFrame(nil, wire.TypeAck, 1))
			if err := s.WaitPending(ctxTimeout(t), 3); err != nil {
				t.Fatal(err)
			}
			p.ws.Shutdown(uint16(wire.CloseDetach), "bye", time.Second)
			deadline := time.Now().Add(5 * time.Second)
			for state, _ := s.State(); state != tether.StateDisconnected; state, _ = s.State() {
				if time.Now().After(deadline) {
					t.Fatalf("not disconnected (state %v)", state)
				}
				time.Sleep(5 * time.Millisecond)
			}
			st.mu.Lock()
			st.at = 1 // the resume point
			st.hook = func(ctx context.Context, id string) error {
				if late.ack == 0 {
					return tether.ErrGap
				}
				return st.Store.Ack(ctx, id, late.ack)
			}
			st.mu.Unlock()

			rc, err := rawDial(t, ts.directURL(), nil)
			if err != nil {
				t.Fatal(err)
			}
			w := rc.hello(&wire.Hello{SessionID: id, Token: p.w.Token, Epoch: p.w.Epoch, Recv: 1})
			if !w.Resumed() {
				t.Fatalf("resume: %+v", w)
			}
			p2 := &peer{rawConn: rc, t: t, w: w}
			p2.send(wire.AppendSeqFrame(nil, wire.TypeAck, 1)) // confirms the Welcome
			if late.want != nil {
				p2.until("the message after the acknowledgement", 5*time.Second, func() bool { return len(p2.got) >= len(late.want) })
			}
			p2.quiet(300*time.Millisecond, 0)
			var got []uint64
			for _, f := range p2.got {
				got = append(got, f.Seq)
			}
			if !slices.Equal(got, late.want) {
				t.Fatalf("after the resume the client got seqs %v, want %v", got, late.want)
			}
			if late.ack == 0 && !strings.Contains(ts.logs.String(), "cannot read replay buffer") {
				t.Fatalf("the store's gap was not logged; log:\n%s", ts.logs.String())
			}
		})
	}
}

// §6.4: the server's ack waits for a frame to ride on, or goes alone once
// 64 KiB of payload were processed: at 64 KiB − 1 nothing comes (the delay
// is stretched to an hour, and no Ping carries it), at 64 KiB the ack does.
func TestPeerAckBytesBoundary(t *testing.T) {
	ts := startServer(t, func(o *tether.Options) {
		tether.SetAckDelay(o, time.Hour)
		o.HeartbeatInterval = time.Minute
	})
	p := newPeer(t, ts, nil)
	p.msg(1, strings.Repeat("a", 32<<10))
	p.msg(2, strings.Repeat("b", 32<<10-1))
	p.quiet(300*time.Millisecond, 0)
	p.msg(3, "c")
	p.until("ack 3", 5*time.Second, func() bool { return p.ackHigh >= 3 })
}

// §4 HELLO.window: the client may have exactly window messages past the
// last ack the server wrote; one more closes the session with 4429. The
// hook holds every message, so no ack is written and the window stays
// where the Welcome put it (0).
func TestPeerWindowBoundary(t *testing.T) {
	for _, extra := range []uint64{0, 1} {
		release := make(chan struct{})
		ts := startServer(t, func(o *tether.Options) {
			o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
				<-release
				return nil
			}
		})
		var once sync.Once
		free := func() { once.Do(func() { close(release) }) }
		t.Cleanup(free)
		const window = 4
		p := newPeer(t, ts, &wire.Hello{Window: window})
		for seq := uint64(1); seq <= window+extra; seq++ {
			p.msg(seq, "m")
		}
		if extra == 1 {
			p.closesWith(tether.ClosePolicy)
			free()
			continue
		}
		p.quiet(300*time.Millisecond, 0) // not closed, nothing acknowledged
		free()
		p.until("ack of the window", 5*time.Second, func() bool { return p.ackHigh >= window })
	}
}

// §9 (Shutdown): once the drain passed its barrier (every connection
// answered the GoAway and settled), a Send fails with ErrServerClosed,
// even while its session still waits for its client's last ack: the
// final GoAway has named the last seq there will be.
func TestPeerSendRefusedAfterTheDrainBarrier(t *testing.T) {
	ts := startServer(t, func(o *tether.Options) { o.HeartbeatInterval, o.HeartbeatTimeout = 10*time.Second, 10*time.Second })
	p := newPeer(t, ts, nil)
	s := ts.srv.Session(p.w.SessionID)
	if err := s.Send(bg, tether.Text, []byte("left unacknowledged")); err != nil {
		t.Fatal(err)
	}
	p.until("the message", 5*time.Second, func() bool { return len(p.got) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ts.srv.Shutdown(ctx) }()
	goAway := false
	for !goAway {
		f, err := p.next(5 * time.Second)
		if err != nil {
			t.Fatalf("waiting for the GoAway: %v", err)
		}
		goAway = f.Type == wire.TypeGoAway
		p.record(f)
	}
	p.send(wire.AppendGoAway(nil, &wire.GoAway{})) // answered; the message stays unacknowledged
	deadline := time.Now().Add(5 * time.Second)
	for sent := 0; ; sent++ {
		err := s.Send(bg, tether.Text, []byte("during the drain"))
		if errors.Is(err, tether.ErrServerClosed) {
			break
		}
		if err != nil {
			t.Fatalf("Send %d during the drain = %v; want nil before the barrier, ErrServerClosed after", sent, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Sends after the GoAway was answered, none refused", sent+1)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st, _ := s.State(); st == tether.StateClosed {
		t.Fatal("the session ended before its client acknowledged: the refusal was not the barrier's")
	}
	cancel()
	<-done
}
