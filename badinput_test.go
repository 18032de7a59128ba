package tether_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/internal/wire"
)

// bystander is a healthy client whose echo round trip must keep working
// while others misbehave.
func bystander(t *testing.T, ts *testServer) func() {
	r := newClientRec()
	c := dial(t, ts.directURL(), r, nil)
	n := 0
	return func() {
		t.Helper()
		n++
		if err := c.Send(bg, tether.Text, fmt.Appendf(nil, "ping%d", n)); err != nil {
			t.Fatalf("bystander send: %v", err)
		}
		r.waitFor(t, "bystander echo", 5*time.Second, func() bool { return len(r.msgs) == n })
		if c.Status() != client.StatusConnected {
			t.Fatalf("bystander status %v", c.Status())
		}
	}
}

func TestBadInput(t *testing.T) {
	ts := startServer(t, func(o *tether.Options) {
		o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
			if string(m.Data) == "slow" {
				if m.Seq == 1 {
					time.Sleep(300 * time.Millisecond) // no ack goes out meanwhile
				}
				return nil
			}
			return echo(ctx, s, m)
		}
		o.MaxMessageSize = 1024
	})
	check := bystander(t, ts)
	check()
	newSession := func(t *testing.T) *rawConn {
		rc, err := rawDial(t, ts.directURL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		rc.hello(&wire.Hello{Window: 100})
		rc.send(wire.AppendSeqFrame(nil, wire.TypeAck, 0))
		return rc
	}
	msg := func(seq uint64, p string) []byte {
		return append(wire.AppendMessageHeader(nil, true, seq), p...)
	}
	cases := []struct {
		name string
		do   func(rc *rawConn)
		code tether.CloseCode
	}{
		{"malformed", func(rc *rawConn) { rc.send([]byte{byte(wire.TypeAck), 0x80}) }, tether.CloseProtocolViolation},
		{"empty frame", func(rc *rawConn) { rc.send(nil) }, tether.CloseProtocolViolation},
		{"unknown type", func(rc *rawConn) { rc.send([]byte{0x7f, 1, 2}) }, tether.CloseProtocolViolation},
		{"welcome from client", func(rc *rawConn) {
			rc.send(wire.AppendWelcome(nil, &wire.Welcome{SessionID: "x"}))
		}, tether.CloseProtocolViolation},
		{"second hello", func(rc *rawConn) { rc.send(wire.AppendHello(nil, &wire.Hello{})) }, tether.CloseProtocolViolation},
		{"ack out of range", func(rc *rawConn) { rc.send(wire.AppendSeqFrame(nil, wire.TypeAck, 5)) }, tether.CloseProtocolViolation},
		{"pong out of range", func(rc *rawConn) { rc.send(wire.AppendSeqFrame(nil, wire.TypePong, 1<<40)) }, tether.CloseProtocolViolation},
		{"seq gap", func(rc *rawConn) { rc.send(msg(2, "skipped one")) }, tether.CloseProtocolViolation},
		{"seq zero", func(rc *rawConn) { rc.send(msg(0, "zero")) }, tether.CloseProtocolViolation},
		{"text websocket frame", func(rc *rawConn) { rc.sendText([]byte("hello")) }, tether.CloseProtocolViolation},
		{"invalid utf8", func(rc *rawConn) { rc.send(msg(1, "\xff\xfe")) }, tether.CloseProtocolViolation},
		{"oversized", func(rc *rawConn) { rc.send(msg(1, strings.Repeat("a", 2000))) }, tether.CloseTooBig},
		{"window exceeded", func(rc *rawConn) {
			var b []byte
			for i := uint64(1); i <= 150; i++ {
				b = append(b, rc.ws.AppendFrame(nil, 2, msg(i, "slow"), nil)...)
			}
			_ = rc.ws.Write(b, time.Second)
		}, tether.ClosePolicy},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := newSession(t)
			tc.do(rc)
			code, reason := rc.closed(5 * time.Second)
			if tether.CloseCode(code) != tc.code {
				t.Fatalf("close code %d (%s), want %d", code, reason, tc.code)
			}
			if reason == "" {
				t.Fatalf("close %d without a reason", code)
			}
			check()
		})
	}
	if t.Failed() {
		return
	}
	// The sessions closed for violations got their close hook with the cause.
	ts.hooks.waitFor(t, "close hooks", 5*time.Second, func() bool {
		causes := map[tether.Cause]int{}
		for _, c := range ts.hooks.closes {
			causes[c.Cause]++
		}
		return causes[tether.CauseProtocolViolation] == 11 && causes[tether.CausePolicyViolation] == 2
	})
}

func TestNoHelloTimesOut(t *testing.T) {
	ts := startServer(t, func(o *tether.Options) { o.HandshakeTimeout = 300 * time.Millisecond })
	rc, err := rawDial(t, ts.directURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = rc.next(5 * time.Second)
	if err == nil || time.Since(start) > 4*time.Second {
		t.Fatalf("connection without hello still open after %v: %v", time.Since(start), err)
	}
}

func TestSubprotocolRequired(t *testing.T) {
	ts := startServer(t, nil)
	rc, err := rawDialProto(t, ts.directURL(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, reason := rc.closed(5 * time.Second)
	if tether.CloseCode(code) != tether.CloseUnsupported || !strings.Contains(reason, wire.Subprotocol) {
		t.Fatalf("close %d %q", code, reason)
	}
	if _, err := rawDialProto(t, ts.directURL(), nil, []string{"tether.v9"}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("dial with only tether.v9: %v", err)
	}
	resp, err := http.Get(ts.http.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("plain GET: %d", resp.StatusCode)
	}
}

func TestResumeTokens(t *testing.T) {
	ts := startServer(t, func(o *tether.Options) {
		o.Authenticate = func(r *http.Request) (string, error) {
			u := r.Header.Get("X-User")
			if u == "" {
				return "", errors.New("no user")
			}
			if u == "banned" {
				return "", fmt.Errorf("banned: %w", tether.ErrForbidden)
			}
			return u, nil
		}
	})
	alice := http.Header{"X-User": {"alice"}}
	rc, err := rawDial(t, ts.directURL(), alice)
	if err != nil {
		t.Fatal(err)
	}
	w := rc.hello(&wire.Hello{})
	if len(w.Token) < 16 || len(w.SessionID) < 22 {
		t.Fatalf("token %d bytes, id %q: want ≥128 bits each", len(w.Token), w.SessionID)
	}
	if s := ts.srv.Session(w.SessionID); s == nil || s.UserID() != "alice" {
		t.Fatal("session not owned by alice")
	}
	t0 := w.Token
	resume := func(h http.Header, token []byte) (*rawConn, *wire.Welcome, uint16) {
		rc, err := rawDial(t, ts.directURL(), h)
		if err != nil {
			t.Fatal(err)
		}
		rc.send(wire.AppendHello(nil, &wire.Hello{SessionID: w.SessionID, Token: token, Epoch: w.Epoch}))
		f, err := rc.next(5 * time.Second)
		if err != nil {
			code, _ := rc.closedFrom(err)
			return rc, nil, code
		}
		if f.Type != wire.TypeWelcome {
			t.Fatalf("got %s", f.Type)
		}
		return rc, f.Welcome, 0
	}
	// Forged token.
	forged := bytes.Repeat([]byte{7}, 16)
	if _, _, code := resume(alice, forged); tether.CloseCode(code) != tether.CloseForbidden {
		t.Fatalf("forged token: close %d", code)
	}
	// Another user's session, with the right token.
	if _, _, code := resume(http.Header{"X-User": {"mallory"}}, t0); tether.CloseCode(code) != tether.CloseForbidden {
		t.Fatalf("other user: close %d", code)
	}
	// Unauthenticated and banned users are refused with a reason.
	if _, _, code := resume(nil, t0); tether.CloseCode(code) != tether.CloseUnauthorized {
		t.Fatalf("no auth: close %d", code)
	}
	if _, _, code := resume(http.Header{"X-User": {"banned"}}, t0); tether.CloseCode(code) != tether.CloseForbidden {
		t.Fatalf("banned: close %d", code)
	}
	// The session survived all that.
	if ts.srv.Session(w.SessionID) == nil {
		t.Fatal("session gone after refused resumes")
	}
	// A real resume rotates the token.
	rc2, w2, code := resume(alice, t0)
	if code != 0 || !w2.Resumed() || bytes.Equal(w2.Token, t0) {
		t.Fatalf("resume: code %d welcome %+v", code, w2)
	}
	// Until the client confirms, the old token still works (a lost
	// Welcome must not lose the session)...
	rc3, w3, code := resume(alice, t0)
	if code != 0 || !w3.Resumed() {
		t.Fatalf("resume with unconfirmed rotation: code %d", code)
	}
	_ = rc2
	// ...and once confirmed, the old tokens are useless.
	rc3.send(wire.AppendSeqFrame(nil, wire.TypeAck, 0))
	time.Sleep(100 * time.Millisecond)
	for _, old := range [][]byte{t0, w2.Token} {
		if _, _, code := resume(alice, old); tether.CloseCode(code) != tether.CloseForbidden {
			t.Fatalf("stale token after rotation: close %d", code)
		}
	}
	if _, w4, code := resume(alice, w3.Token); code != 0 || !w4.Resumed() {
		t.Fatalf("current token refused: %d", code)
	}
}

func (rc *rawConn) closedFrom(err error) (uint16, string) {
	rc.t.Helper()
	var ce interface{ Error() string }
	_ = ce
	code, reason := closeCodeOf(err)
	if code == 0 {
		rc.t.Fatalf("expected close frame, got %v", err)
	}
	return code, reason
}

func TestPanicInHookIsolated(t *testing.T) {
	ts := startServer(t, func(o *tether.Options) {
		o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
			if string(m.Data) == "boom" {
				panic("app bug")
			}
			return echo(ctx, s, m)
		}
	})
	check := bystander(t, ts)
	r := newClientRec()
	c := dial(t, ts.url(), r, &client.Options{MaxAttempts: 1})
	id := c.SessionID()
	if err := c.Send(bg, tether.Text, []byte("boom")); err != nil {
		t.Fatal(err)
	}
	ts.hooks.waitFor(t, "close", 5*time.Second, func() bool { _, ok := ts.hooks.closes[id]; return ok })
	cl := ts.hooks.closes[id]
	if cl.Cause != tether.CauseServerError || cl.Err == nil || !strings.Contains(cl.Err.Error(), "app bug") {
		t.Fatalf("closure = %+v", cl)
	}
	r.waitFor(t, "disconnect", 5*time.Second, func() bool {
		for _, e := range r.events {
			if d, ok := e.(client.Disconnected); ok && d.Code == tether.CloseServerError {
				return true
			}
		}
		return false
	})
	logs := ts.logs.String()
	if !strings.Contains(logs, "panic in hook") || !strings.Contains(logs, "goroutine") {
		t.Fatalf("no stack logged:\n%s", logs)
	}
	check()
	// The client starts a new session; the poison message is not carried.
	r.waitFor(t, "session lost", 5*time.Second, hasEvent[client.SessionLost](r))
	if l := eventsOf[client.SessionLost](r)[0]; l.Reason != tether.ReasonServerError || l.Carried != 0 {
		t.Fatalf("lost = %+v", l)
	}
}

func TestOriginChecked(t *testing.T) {
	ts := startServer(t, func(o *tether.Options) { o.OriginPatterns = []string{"*.good.example"} })
	try := func(origin string) uint16 {
		rc, err := rawDial(t, ts.directURL(), http.Header{"Origin": {origin}})
		if err != nil {
			t.Fatalf("dial with Origin %s: %v", origin, err)
		}
		rc.send(wire.AppendHello(nil, &wire.Hello{}))
		f, err := rc.next(5 * time.Second)
		if err != nil {
			code, _ := closeCodeOf(err)
			return code
		}
		if f.Type != wire.TypeWelcome {
			t.Fatalf("got %s", f.Type)
		}
		return 0
	}
	host := strings.TrimPrefix(ts.http.URL, "http://")
	if code := try("http://" + host); code != 0 {
		t.Fatalf("same-origin page refused with %d", code)
	}
	if code := try("https://app.good.example"); code != 0 {
		t.Fatalf("allowed origin refused with %d", code)
	}
	if code := try("https://evil.example"); tether.CloseCode(code) != tether.CloseForbidden {
		t.Fatalf("foreign origin: close %d, want 4403", code)
	}
}

// TestStaleAttemptRefused: a resume stamped older than the one that holds
// the session (an attempt the client gave up on, arriving late) is
// refused with 4007 and does not take the session.
func TestStaleAttemptRefused(t *testing.T) {
	ts := startServer(t, nil)
	rc, err := rawDial(t, ts.directURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := rc.hello(&wire.Hello{Attempt: 100})
	var last uint64 // client messages sent so far
	resume := func(token []byte, attempt uint64) (*rawConn, *wire.Welcome, uint16) {
		rc, err := rawDial(t, ts.directURL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		rc.send(wire.AppendHello(nil, &wire.Hello{SessionID: w.SessionID, Token: token, Epoch: w.Epoch,
			Written: last, Last: last, Attempt: attempt}))
		f, err := rc.next(5 * time.Second)
		if err != nil {
			code, _ := closeCodeOf(err)
			return rc, nil, code
		}
		return rc, f.Welcome, 0
	}
	newer, w2, code := resume(w.Token, 300)
	if code != 0 || !w2.Resumed() {
		t.Fatalf("resume with attempt 300: %d", code)
	}
	// The abandoned attempt 200 arrives late, with the token it had.
	if _, _, code := resume(w.Token, 200); tether.CloseCode(code) != tether.CloseSuperseded {
		t.Fatalf("late attempt 200: close %d, want 4007", code)
	}
	// The newer connection still holds the session.
	newer.send(wire.AppendSeqFrame(nil, wire.TypeAck, 0))
	newer.send(append(wire.AppendMessageHeader(nil, true, 1), "still here"...))
	last = 1
	ts.hooks.waitFor(t, "message on the newer connection", 5*time.Second, func() bool { return len(ts.hooks.msgs[w.SessionID]) == 1 })
	if _, _, code := resume(w2.Token, 400); code != 0 {
		t.Fatalf("a later attempt with the current token: close %d", code)
	}
}

// TestDivergedCountersStartANewSession: a client whose counters cannot
// match the session's (it restored an old snapshot, or the store lost its
// last writes) gets a new session with reason "diverged", not a dead end.
func TestDivergedCountersStartANewSession(t *testing.T) {
	ts := startServer(t, nil)
	rc, err := rawDial(t, ts.directURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := rc.hello(&wire.Hello{})
	rc2, err := rawDial(t, ts.directURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w2 := rc2.hello(&wire.Hello{SessionID: w.SessionID, Token: w.Token, Epoch: w.Epoch, Recv: 5, Written: 2, Last: 3})
	if w2.Resumed() || w2.SessionID == w.SessionID || w2.Reason != wire.ReasonDiverged {
		t.Fatalf("welcome = %+v, want a new session with reason diverged", w2)
	}
	ts.hooks.waitFor(t, "open with the loss", 5*time.Second, func() bool {
		p := ts.hooks.opens[w2.SessionID].Previous
		return p != nil && p.Reason == tether.ReasonDiverged && p.Carried == 1 && p.FromClient == 2
	})
}

// TestLateFrameDoesNotConfirmToken: a frame read late from a connection
// a newer resume replaced must not confirm the token rotated since — that
// resume's Welcome may be lost, and the client then comes back with the
// token before it. (Seen in the three-node chaos test: a client refused
// with 4403 "bad resume token" after two quick cuts.)
func TestLateFrameDoesNotConfirmToken(t *testing.T) {
	var armed atomic.Bool
	entered, release, handled := make(chan struct{}), make(chan struct{}), make(chan struct{})
	ts := startServer(t, func(o *tether.Options) {
		tether.HookFrames(o, func() func() {
			if !armed.CompareAndSwap(true, false) {
				return func() {}
			}
			close(entered)
			<-release
			return func() { close(handled) }
		})
	})
	dial := func() *rawConn {
		rc, err := rawDial(t, ts.directURL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return rc
	}
	w := dial().hello(&wire.Hello{})
	resume := func(token []byte) *wire.Welcome {
		t.Helper()
		return dial().hello(&wire.Hello{SessionID: w.SessionID, Token: token, Epoch: w.Epoch})
	}
	b := dial()
	wb := b.hello(&wire.Hello{SessionID: w.SessionID, Token: w.Token, Epoch: w.Epoch})
	// B's first frame (an ack: it got wb's token) is read, then held...
	armed.Store(true)
	b.send(wire.AppendSeqFrame(nil, wire.TypeAck, 0))
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the ack on B was not read")
	}
	// ...while C resumes with wb's token, and C's Welcome is lost.
	if wc := resume(wb.Token); !wc.Resumed() {
		t.Fatalf("resume on C: %+v", wc)
	}
	close(release)
	<-handled
	// The client never saw C's token: wb's must still work.
	rc := dial()
	rc.send(wire.AppendHello(nil, &wire.Hello{SessionID: w.SessionID, Token: wb.Token, Epoch: w.Epoch}))
	f, err := rc.next(5 * time.Second)
	if err != nil {
		code, reason := rc.closedFrom(err)
		t.Fatalf("resume with the token before a lost Welcome: close %d %q", code, reason)
	}
	if f.Type != wire.TypeWelcome || !f.Welcome.Resumed() {
		t.Fatalf("got %s", f.Type)
	}
}
