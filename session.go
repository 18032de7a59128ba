package tether

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/tether-ws/tether/internal/wire"
	"github.com/tether-ws/tether/internal/ws"
)

// SessionState is where a session is in its life.
type SessionState uint8

// Session states.
const (
	StateConnected    SessionState = 1 // a connection is attached
	StateDisconnected SessionState = 2 // waiting for a resume within the grace window
	StateClosed       SessionState = 3 // over
)

const (
	stateConnected    = StateConnected
	stateDisconnected = StateDisconnected
	stateClosed       = StateClosed
)

func (s SessionState) String() string {
	switch s {
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	case StateClosed:
		return "closed"
	}
	return "new"
}

// Session is a client's stay on the server. It outlives connections: its
// ID stays the same across resumes, and Send works while the client is
// away (the message waits in the replay buffer). Methods are safe for
// concurrent use.
//
// A session's hooks run one at a time, in order, on a goroutine that
// exists only while hooks are pending; no internal lock is held while a
// hook runs.
type Session struct {
	srv     *Server
	id      string
	user    string
	created time.Time

	mu        sync.Mutex
	state     SessionState
	conn      *conn
	meta      map[string]string
	token     TokenHash
	prevToken TokenHash
	in        uint64 // last client→server seq accepted for OnMessage
	processed uint64 // last client→server seq whose OnMessage returned
	detached  time.Time
	expiry    *time.Timer
	expGen    uint64
	cause     Cause
	panicked  bool
	buried    bool
	buryWait  chan struct{} // made by whoever waits for the tombstone
	final     bool          // draining: no more Sends, the last seq is being announced
	appending int           // Sends between their check and their store append
	rooms     []string
	out       uint64        // last seq this server assigned to a message for the client
	acked     uint64        // last seq the client acknowledged
	ackWait   chan struct{} // made by WaitPending, closed by the next ack
	tokens    float64       // rate limit bucket
	refilled  time.Time     // when tokens was last topped up

	q, spare []event // hook queue, drained by one goroutine at a time
	running  bool
}

// ID returns the session's stable ID.
func (s *Session) ID() string { return s.id }

// UserID returns the user ID that Authenticate gave the session.
func (s *Session) UserID() string { return s.user }

// Created returns when the session started.
func (s *Session) Created() time.Time { return s.created }

// State returns the session's state and, when disconnected, since when.
func (s *Session) State() (SessionState, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state, s.detached
}

// Meta returns a copy of the session's metadata.
func (s *Session) Meta() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.meta)
}

// SetMeta sets a metadata key; an empty value deletes it. Metadata is
// saved with the session and survives resumes.
func (s *Session) SetMeta(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if value == "" {
		delete(s.meta, key)
		return
	}
	if s.meta == nil {
		s.meta = make(map[string]string)
	}
	s.meta[key] = value
}

// Send queues a message for the client. It does not wait for the
// network: the message is numbered and kept until the client acknowledges
// it, and replayed if the client resumes. p is copied. Send fails with
// ErrSessionClosed once the session is over, ErrTooBig above
// MaxMessageSize and ErrInvalidUTF8 for a bad Text payload. If the replay
// buffer is full the session ends with CauseOverflow and Send returns
// ErrOverflow; the client is told what it lost when it comes back.
func (s *Session) Send(ctx context.Context, typ MessageType, p []byte) error {
	if err := s.srv.checkPayload(typ, p); err != nil {
		return err
	}
	return s.sendShared(ctx, typ, append([]byte(nil), p...))
}

// sendShared queues p without copying it; p must never change.
func (s *Session) sendShared(ctx context.Context, typ MessageType, p []byte) error {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return ErrSessionClosed
	}
	if s.final {
		s.mu.Unlock()
		return fmt.Errorf("failed to send: %w", ErrServerClosed)
	}
	s.appending++
	s.mu.Unlock()
	seq, err := s.srv.store.Append(ctx, s.id, Message{Type: typ, Data: p})
	s.mu.Lock()
	s.appending--
	final := s.final && s.appending == 0
	c := s.conn
	if err == nil && seq > s.out {
		s.out = seq
	}
	s.mu.Unlock()
	if final && c != nil {
		defer c.checkDrain()
	}
	if err != nil {
		if err == ErrOverflow {
			s.srv.log.Warn("tether: replay buffer overflow", "session", s.id, "user", s.user)
			s.end(CauseOverflow, ErrOverflow, wire.CloseOverflow, "tether: replay buffer overflow")
			return fmt.Errorf("failed to send: %w", ErrOverflow)
		}
		if err == ErrNotFound {
			return ErrSessionClosed
		}
		return fmt.Errorf("failed to send: %w", err)
	}
	if c != nil {
		c.kickData(seq)
	}
	return nil
}

// Pending returns how many messages sent from this server the client
// has not acknowledged yet.
func (s *Session) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acked >= s.out {
		return 0
	}
	return int(s.out - s.acked)
}

// WaitPending waits until at most n messages are unacknowledged, so a
// fast producer can pace itself instead of overflowing the replay
// buffer. It returns ErrSessionClosed if the session ends first, or
// ctx's error.
func (s *Session) WaitPending(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		if s.state == stateClosed {
			s.mu.Unlock()
			return ErrSessionClosed
		}
		if s.out <= s.acked || int(s.out-s.acked) <= n {
			s.mu.Unlock()
			return nil
		}
		if s.ackWait == nil {
			s.ackWait = make(chan struct{})
		}
		ch := s.ackWait
		c := s.conn
		s.mu.Unlock()
		if c != nil {
			c.flush() // called from a hook, the replies must go out now
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ackedUpTo records the client's acknowledgement and wakes WaitPending.
func (s *Session) ackedUpTo(seq uint64) {
	s.mu.Lock()
	if seq > s.acked {
		s.acked = seq
		if s.ackWait != nil {
			close(s.ackWait)
			s.ackWait = nil
		}
	}
	s.mu.Unlock()
}

// Close ends the session: the client gets close code 4410 with reason and
// does not reconnect; OnClose runs with CauseKicked.
func (s *Session) Close(reason string) error {
	if !s.end(CauseKicked, nil, wire.CloseKicked, reason) {
		return ErrSessionClosed
	}
	return nil
}

// event is one pending hook call.
type event struct {
	kind evKind
	msg  Message
	info any
}

type evKind uint8

const (
	evOpen evKind = iota + 1
	evMessage
	evDisconnect
	evResume
	evClose
	evFunc // info is a func(), run in order with the hooks
)

// post queues an event; s.mu must be held.
func (s *Session) post(ev event) {
	s.q = append(s.q, ev)
	if !s.running {
		s.running = true
		c := s.conn
		s.srv.spawn(func() {
			if c != nil {
				c.runHooks()
			} else {
				s.drain()
			}
		})
	}
}

// drain runs queued hooks in order until none are left.
func (s *Session) drain() {
	for {
		s.mu.Lock()
		if len(s.q) == 0 {
			s.running = false
			s.q, s.spare = nil, nil // idle sessions hold no queue
			s.mu.Unlock()
			return
		}
		batch := s.q
		s.q, s.spare = s.spare[:0], nil
		s.mu.Unlock()
		for i := range batch {
			s.run(&batch[i])
			batch[i] = event{}
		}
		s.mu.Lock()
		if s.spare == nil {
			s.spare = batch[:0]
		}
		c := s.conn
		s.mu.Unlock()
		if c != nil {
			c.afterBatch()
		}
	}
}

func (s *Session) run(ev *event) {
	o := &s.srv.o
	ctx := s.srv.ctx
	defer func() {
		if r := recover(); r != nil {
			s.srv.log.Error("tether: panic in hook", "session", s.id, "user", s.user, "hook", ev.kind.String(),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			s.mu.Lock()
			s.panicked = true
			if ev.kind == evMessage {
				s.processed = ev.msg.Seq // delivered, and failed: never again
			}
			s.mu.Unlock()
			if ev.kind != evClose {
				s.end(CauseServerError, fmt.Errorf("panic in %s hook: %v", ev.kind, r), wire.CloseServerError, "tether: server error")
			}
		}
	}()
	switch ev.kind {
	case evOpen:
		if o.OnOpen != nil {
			o.OnOpen(ctx, s, ev.info.(OpenInfo))
		}
	case evMessage:
		s.mu.Lock()
		skip := s.panicked
		s.mu.Unlock()
		if skip {
			return
		}
		if o.OnMessage != nil {
			if err := o.OnMessage(ctx, s, ev.msg); err != nil {
				s.mu.Lock()
				s.panicked = true // the rest waits for the next session too
				s.mu.Unlock()
				s.srv.log.Error("tether: message refused by the application", "session", s.id, "user", s.user, "seq", ev.msg.Seq, "err", err)
				s.end(CauseServerError, fmt.Errorf("message %d refused: %w", ev.msg.Seq, err), wire.CloseServerError, "tether: server error")
				return
			}
		}
		s.mu.Lock()
		s.processed = ev.msg.Seq
		s.mu.Unlock()
	case evDisconnect:
		d := ev.info.(Disconnect)
		s.save()
		if o.OnDisconnect != nil {
			o.OnDisconnect(ctx, s, d)
		}
	case evResume:
		r, ok := s.welcome(ev.info.(*resumeReq))
		if !ok {
			return
		}
		s.save()
		if o.OnResume != nil {
			o.OnResume(ctx, s, r)
		}
	case evClose:
		cl := ev.info.(Closure)
		cl.Unacked = s.bury(cl.Cause)
		if o.OnClose != nil {
			o.OnClose(ctx, s, cl)
		}
	case evFunc:
		ev.info.(func())()
	}
}

func (k evKind) String() string {
	switch k {
	case evOpen:
		return "open"
	case evMessage:
		return "message"
	case evDisconnect:
		return "disconnect"
	case evResume:
		return "resume"
	case evClose:
		return "close"
	}
	return "internal"
}

// save writes the session's record to the store.
func (s *Session) save() {
	ctx, cancel := context.WithTimeout(s.srv.ctx, s.srv.o.HandshakeTimeout)
	defer cancel()
	rec, err := s.srv.store.Load(ctx, s.id)
	if err != nil {
		return
	}
	s.mu.Lock()
	rec.Meta = maps.Clone(s.meta)
	rec.Rooms = slices.Clone(s.rooms)
	rec.Token, rec.PrevToken = s.token, s.prevToken
	rec.In = s.processed
	rec.Detached = s.detached
	s.mu.Unlock()
	if err := s.srv.store.Save(ctx, rec); err != nil {
		s.srv.log.Warn("tether: cannot save session", "session", s.id, "err", err)
	}
}

// bury replaces the session with a tombstone and returns how many
// messages the client never acknowledged.
func (s *Session) bury(cause Cause) int {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.srv.ctx), s.srv.o.HandshakeTimeout)
	defer cancel()
	t := &Tombstone{ID: s.id, UserID: s.user, Reason: cause.lossReason(), Closed: time.Now()}
	s.mu.Lock()
	t.Token, t.PrevToken, t.In = s.token, s.prevToken, s.processed
	s.mu.Unlock()
	unacked := 0
	if rec, err := s.srv.store.Load(ctx, s.id); err == nil {
		t.Out = rec.Out
		unacked = int(rec.Out - rec.Acked)
	}
	if err := s.srv.store.Close(ctx, s.id, t); err != nil && err != ErrNotFound {
		s.srv.log.Warn("tether: cannot close session in store", "session", s.id, "err", err)
	}
	s.srv.removeSession(s)
	s.unindex()
	s.mu.Lock()
	s.buried = true
	if s.buryWait != nil {
		close(s.buryWait)
	}
	s.mu.Unlock()
	return unacked
}

// end closes the session for good; it reports false if it already was.
func (s *Session) end(cause Cause, err error, code wire.CloseCode, reason string) bool {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return false
	}
	attrs := []any{"session", s.id, "user", s.user, "cause", cause.String()}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	if cause == CauseExpired {
		attrs = append(attrs, "grace", s.srv.o.GraceWindow, "disconnected_at", s.detached)
	}
	s.srv.log.Info("tether: session closed", attrs...)
	s.state = stateClosed
	s.cause = cause
	if s.ackWait != nil {
		close(s.ackWait)
		s.ackWait = nil
	}
	c := s.conn
	s.conn = nil
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	s.post(event{kind: evClose, info: Closure{Cause: cause, Err: err}})
	s.mu.Unlock()
	if c != nil && code != 0 {
		c.closeWith(code, reason)
	}
	return true
}

// detach records that c is gone; the session waits for a resume.
func (s *Session) detach(c *conn, cause Cause, err error) {
	s.mu.Lock()
	if s.conn != c || s.state != stateConnected {
		s.mu.Unlock()
		return
	}
	s.conn = nil
	s.state = stateDisconnected
	s.detached = time.Now()
	s.expGen++
	gen := s.expGen
	s.expiry = time.AfterFunc(s.srv.o.GraceWindow, func() { s.expire(gen) })
	s.post(event{kind: evDisconnect, info: Disconnect{Cause: cause, Err: err}})
	s.mu.Unlock()
	attrs := []any{"session", s.id, "user", s.user, "cause", cause.String()}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	s.srv.log.Debug("tether: session disconnected", attrs...)
}

func (s *Session) expire(gen uint64) {
	s.mu.Lock()
	ok := s.state == stateDisconnected && s.expGen == gen
	s.mu.Unlock()
	if ok {
		s.end(CauseExpired, nil, 0, "")
	}
}

func tokenEqual(a, b TokenHash) bool {
	var zero TokenHash
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && a != zero
}

// resume attaches c to s. It returns a close code to refuse with, or 0
// on success; CloseTryAgain with an empty reason means the session ended
// meanwhile and a new one should be opened. The Welcome itself is sent by
// the session's hook goroutine, after every message already accepted has
// been processed, so that it acknowledges exactly what was processed.
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
	if s.state == stateClosed {
		s.mu.Unlock()
		return wire.CloseTryAgain, ""
	}
	usedPrev := false
	switch {
	case tokenEqual(th, s.token):
	case tokenEqual(th, s.prevToken):
		usedPrev = true
	default:
		s.mu.Unlock()
		s.srv.log.Warn("tether: resume with a bad token", "session", s.id, "remote", c.ws.NetConn().RemoteAddr().String())
		return wire.CloseForbidden, "tether: bad resume token"
	}
	if user != s.user {
		s.mu.Unlock()
		s.srv.log.Warn("tether: resume by another user", "session", s.id, "owner", s.user, "user", user)
		return wire.CloseForbidden, "tether: session belongs to another user"
	}
	if h.Recv < rec.Acked || h.Recv > rec.Out {
		s.mu.Unlock()
		return wire.CloseProtocolViolation, fmt.Sprintf("tether: resume recv %d outside [%d, %d]", h.Recv, rec.Acked, rec.Out)
	}
	if h.Last < s.in || h.Acked > s.in {
		s.mu.Unlock()
		return wire.CloseProtocolViolation, fmt.Sprintf("tether: resume last %d, acked %d, server has %d", h.Last, h.Acked, s.in)
	}
	old := s.conn
	req := &resumeReq{c: c, h: h, token: token, epoch: epoch}
	if s.state == stateDisconnected {
		req.offline = time.Since(s.detached)
	}
	// Rotate: the token just used stays valid until the client proves it
	// got the new one, so a Welcome lost in transit does not lose the session.
	if !usedPrev {
		s.prevToken = s.token
	}
	s.token = newHash
	s.state = stateConnected
	s.detached = time.Time{}
	s.expGen++
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	c.s = s
	c.written = h.Recv
	c.confirmToken = true
	s.conn = c
	if old != nil {
		s.post(event{kind: evDisconnect, info: Disconnect{Cause: CauseReplaced, Err: errors.New("a new connection resumed the session")}})
	}
	s.post(event{kind: evResume, info: req})
	s.mu.Unlock()

	s.srv.mu.Lock()
	s.srv.conns[c] = struct{}{}
	draining := s.srv.draining
	s.srv.mu.Unlock()
	if old != nil {
		old.closeWith(wire.CloseReplaced, "tether: session resumed on another connection")
	}
	c.start()
	if draining {
		c.startDrain(jitter(s.srv.o.RestartJitter))
	}
	return 0, ""
}

// resumeReq is a resume waiting for its Welcome.
type resumeReq struct {
	c       *conn
	h       *wire.Hello
	token   []byte
	epoch   string
	offline time.Duration
}

// welcome sends a resumed Welcome on the hook goroutine and returns what
// OnResume should be told; ok is false if the connection was replaced or
// the session ended meanwhile.
func (s *Session) welcome(req *resumeReq) (Resume, bool) {
	c, h := req.c, req.h
	ctx, cancel := context.WithTimeout(s.srv.ctx, s.srv.o.HandshakeTimeout)
	defer cancel()
	rec, err := s.srv.store.Load(ctx, s.id)
	s.mu.Lock()
	current := s.conn == c && s.state == stateConnected
	recv := s.processed
	s.mu.Unlock()
	if !current {
		return Resume{}, false
	}
	if err != nil {
		s.srv.log.Error("tether: store unavailable", "session", s.id, "err", err)
		c.closeWith(wire.CloseTryAgain, "tether: store unavailable")
		return Resume{}, false
	}
	from := h.Recv
	switch {
	case s.srv.o.testNoReplay:
		// Test switch: forget what the client missed and what we saw.
		from, recv = rec.Out, h.Last
	case s.srv.o.testNoDedupe:
		// Test switch: ask for everything not acknowledged again.
		recv = h.Acked
	}
	wl := &wire.Welcome{Flags: wire.WelcomeResumed, SessionID: s.id, Token: req.token, Epoch: req.epoch, Recv: recv, Replay: rec.Out - from}
	s.srv.fillLimits(wl)
	c.mu.Lock()
	c.written = from
	c.target = max(c.target, rec.Out)
	c.ackSent, c.ackWant = recv, recv
	c.ackHigh.Store(recv)
	c.ctrl = append(ws.AppendFrame(nil, false, ws.OpBinary, wire.AppendWelcome(nil, wl), nil), c.ctrl...)
	c.ready = true
	c.kick()
	c.mu.Unlock()
	s.srv.log.Debug("tether: session resumed", "session", s.id, "user", s.user, "replay_to_client", rec.Out-from, "offline", req.offline)
	return Resume{ToClient: int(rec.Out - from), FromClient: int(h.Last - recv), Offline: req.offline}, true
}

// awaitBurial waits until a closed session's tombstone is written.
func (s *Session) awaitBurial(ctx context.Context) {
	s.mu.Lock()
	if s.buried {
		s.mu.Unlock()
		return
	}
	if s.buryWait == nil {
		s.buryWait = make(chan struct{})
	}
	ch := s.buryWait
	s.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// tokenConfirmed forgets the previous token once the client used the
// connection that delivered the new one.
func (s *Session) tokenConfirmed() {
	s.mu.Lock()
	s.prevToken = TokenHash{}
	s.mu.Unlock()
}

// receive accepts a client message on c for OnMessage.
func (s *Session) receive(c *conn, seq uint64, typ MessageType, p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != c {
		return nil // replaced: the client will resend on its new connection
	}
	if seq == 0 {
		return violationf("message seq 0; sequences start at 1")
	}
	if seq <= s.in && !s.srv.o.testNoDedupe {
		return nil // already have it
	}
	if seq != s.in+1 && !s.srv.o.testNoReplay && !s.srv.o.testNoDedupe {
		return violationf("message seq %d, expected %d", seq, s.in+1)
	}
	if acked := c.ackHigh.Load(); seq > acked+c.window {
		return &policyError{fmt.Sprintf("%d unacknowledged messages, window is %d", seq-acked, c.window)}
	}
	if rate := s.srv.o.RateLimit; rate > 0 {
		now := time.Now()
		burst := float64(s.srv.o.RateBurst)
		if s.refilled.IsZero() {
			s.tokens = burst
		} else {
			s.tokens = min(burst, s.tokens+now.Sub(s.refilled).Seconds()*rate)
		}
		s.refilled = now
		if s.tokens < 1 {
			return errRateLimited
		}
		s.tokens--
	}
	s.in = seq
	s.post(event{kind: evMessage, msg: Message{Type: typ, Data: p, Seq: seq}})
	return nil
}

// errRateLimited drops the connection, not the session: the client
// comes back after its backoff and resends what was not accepted.
var errRateLimited = errors.New("tether: client sends faster than RateLimit")

type policyError struct{ msg string }

func (e *policyError) Error() string { return "policy violation: " + e.msg }
