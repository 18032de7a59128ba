package tether

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/tether-ws/tether/internal/link"
	"github.com/tether-ws/tether/internal/wire"
	"github.com/tether-ws/tether/internal/ws"
)

func tokenEqual(a, b TokenHash) bool {
	var zero TokenHash
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && a != zero
}

// resume attaches c to s. It returns a close code to refuse with, or 0
// on success; CloseTryAgain with an empty reason means the session ended
// meanwhile and a new one should be opened. The Welcome goes out from
// here, not after the hooks already queued: a backend slow to take the
// session's messages must not hold its client's return past the client's
// dial timeout or the server's heartbeat. It acknowledges what was
// processed by then; the client sends the rest again, and what the
// session already took is dropped as a repeat. On a shared store its
// write of the new token is ordered with the hook runner's (ordered).
func (s *Session) resume(ctx context.Context, c *conn, user string, h *wire.Hello) (wire.CloseCode, string) {
	th := sha256.Sum256(h.Token)
	rec, err := s.srv.store.Load(ctx, s.id)
	if errors.Is(err, ErrNotFound) {
		return wire.CloseTryAgain, ""
	}
	if err != nil {
		s.srv.log.Error("tether: store unavailable", "session", s.id, "err", err)
		return wire.CloseTryAgain, "tether: store unavailable"
	}
	epoch, err := s.srv.store.Epoch(ctx)
	if err != nil {
		return wire.CloseTryAgain, "tether: store unavailable"
	}
	token, newHash := newToken()

	s.mu.Lock()
	if s.life.Phase() == link.Closed {
		s.mu.Unlock()
		return wire.CloseTryAgain, ""
	}
	usedPrev, no := s.admit(c, user, h, rec, th)
	if no != nil {
		s.mu.Unlock()
		if no.warn != "" {
			s.srv.log.Warn(no.warn, no.args...)
		}
		return no.code, no.reason
	}
	s.srv.adoptSocket(c) // before the hooks share c
	// Not over: that was checked above, under the same lock.
	old, away, _ := s.life.Attach(c)
	req := &resumeReq{c: c, h: h, token: token, epoch: epoch}
	if away != 0 {
		req.offline = stamp(away).since()
	}
	// Rotate: the token just used stays valid until the client proves it
	// got the new one, so a Welcome lost in transit does not lose the session.
	if !usedPrev {
		s.prevToken = s.token
	}
	s.token = newHash
	s.attempt = max(s.attempt, h.Attempt)
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	c.s = s
	c.st.Begin(h.Recv)
	c.confirmToken = true
	if old != nil {
		s.post(event{kind: evDisconnect, info: Disconnect{Cause: CauseReplaced, Err: errors.New("a new connection resumed the session")}})
	}
	s.mu.Unlock()

	s.srv.mu.Lock()
	s.srv.conns[c] = struct{}{}
	draining := s.srv.draining
	s.srv.mu.Unlock()
	if old != nil {
		old.closeWith(wire.CloseReplaced, "tether: session resumed on another connection")
	}
	c.start()
	s.welcome(req)
	if draining {
		c.startDrain(jitter(s.srv.o.RestartJitter))
	}
	return 0, ""
}

// closeDiverged tells accept that a resume's counters disagree with the
// session's; it is never sent.
const closeDiverged wire.CloseCode = 0xffff

// resumeReq is a resume waiting for its Welcome.
type resumeReq struct {
	c       *conn
	h       *wire.Hello
	token   []byte
	epoch   string
	offline time.Duration
}

// refusal is why a resume is refused: the close code and reason, and a
// warning to log once the session's lock is released (a Logger is user
// code).
type refusal struct {
	code   wire.CloseCode
	reason string
	warn   string
	args   []any
}

// admit checks a resume attempt against the session (s.mu held): the
// token (usedPrev: the one before the last rotation), the user, the
// attempt's stamp and both sides' counters.
func (s *Session) admit(c *conn, user string, h *wire.Hello, rec *Record, th TokenHash) (usedPrev bool, no *refusal) {
	switch {
	case tokenEqual(th, s.token):
	case tokenEqual(th, s.prevToken):
		usedPrev = true
	default:
		return false, &refusal{wire.CloseForbidden, "tether: bad resume token",
			"tether: resume with a bad token", []any{"session", s.id, "remote", c.ws.NetConn().RemoteAddr().String()}}
	}
	if user != s.user {
		return false, &refusal{wire.CloseForbidden, "tether: session belongs to another user",
			"tether: resume by another user", []any{"session", s.id, "owner", s.user, "user", user}}
	}
	if h.Attempt != 0 && h.Attempt <= s.attempt {
		// An attempt the client abandoned, arriving late: it must not take
		// the session from the newer one.
		return false, &refusal{code: wire.CloseSuperseded, reason: "tether: a newer connection attempt holds the session"}
	}
	if h.Recv < rec.Acked || h.Recv > rec.Out || h.Last < s.counts.In() || h.Acked > s.counts.In() {
		// One side lost state (a client restored an old snapshot, a store
		// lost its last writes): this session cannot continue, but the
		// client can start a new one and be told.
		return false, &refusal{code: closeDiverged, warn: "tether: resume with counters that disagree", args: []any{"session", s.id,
			"client_recv", h.Recv, "server_acked", rec.Acked, "server_out", rec.Out,
			"client_last", h.Last, "client_acked", h.Acked, "server_in", s.counts.In()}}
	}
	return usedPrev, nil
}

// welcome sends a resumed Welcome and queues OnResume, in the same lock
// section (so that OnResume comes before the messages the client sends
// once welcomed); it does neither if the connection was replaced or the
// session ended meanwhile.
func (s *Session) welcome(req *resumeReq) {
	c, h := req.c, req.h
	ctx, cancel := context.WithTimeout(s.srv.ctx, s.srv.o.HandshakeTimeout)
	defer cancel()
	rec, err := s.srv.store.Load(ctx, s.id)
	s.mu.Lock()
	current := s.life.Current(c)
	recv := s.counts.Processed()
	s.mu.Unlock()
	if !current {
		return
	}
	if err == nil && s.srv.cluster != nil {
		// Another server may hold the session next: it must know the new
		// token and what was processed before the client does.
		err = s.save()
	}
	if err != nil {
		s.srv.log.Error("tether: store unavailable", "session", s.id, "err", err)
		c.closeWith(wire.CloseTryAgain, "tether: store unavailable")
		return
	}
	from := h.Recv
	switch {
	case s.srv.test.noReplay:
		// Test switch: forget what the client missed and what we saw.
		from, recv = rec.Out, h.Last
	case s.srv.test.noDedupe:
		// Test switch: ask for everything not acknowledged again.
		recv = h.Acked
	}
	wl := &wire.Welcome{Flags: wire.WelcomeResumed, SessionID: s.id, Token: req.token, Epoch: req.epoch, Recv: recv, Replay: rec.Out - from,
		Features: s.features}
	s.srv.fillLimits(wl)
	r := Resume{ToClient: int(rec.Out - from), FromClient: int(h.Last - recv), Offline: req.offline}
	s.mu.Lock()
	if !s.life.Current(c) {
		s.mu.Unlock()
		return // replaced or ended while the store was read
	}
	c.st.Acks.Start(recv) // the client's window starts there
	c.ctrl = append(ws.AppendFrame(nil, false, ws.OpBinary, wire.AppendWelcome(nil, wl), nil), c.ctrl...)
	c.st.Resume(from, rec.Out)
	c.kick()
	s.post(event{kind: evResume, info: r})
	s.mu.Unlock()
	s.srv.log.Debug("tether: session resumed", "session", s.id, "user", s.user, "replay_to_client", rec.Out-from, "offline", req.offline)
}

// awaitBurial waits until a closed session's tombstone is written.
func (s *Session) awaitBurial(ctx context.Context) {
	s.mu.Lock()
	if s.waits != nil && s.waits.buried {
		s.mu.Unlock()
		return
	}
	w := s.waitsLocked()
	if w.bury == nil {
		w.bury = make(chan struct{})
	}
	ch := w.bury
	s.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// tokenConfirmed forgets the previous token once the client used the
// connection c that delivered the new one. A frame read late from a
// connection already replaced proves nothing about the token rotated since
// (its Welcome may be lost), so only the current connection confirms.
func (s *Session) tokenConfirmed(c *conn) {
	s.mu.Lock()
	if s.life.Conn() == c {
		s.prevToken = TokenHash{}
	}
	s.mu.Unlock()
}
