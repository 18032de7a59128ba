package tether

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tether-ws/tether/internal/link"
	"github.com/tether-ws/tether/internal/wire"
)

// SessionState is where a session is in its life.
type SessionState uint8

// Session states.
const (
	StateConnected    SessionState = 1 // a connection is attached
	StateDisconnected SessionState = 2 // waiting for a resume within the grace window
	StateClosed       SessionState = 3 // over
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
	created stamp

	mu        sessionMutex
	life      link.Life[*conn] // its connection, whether it waits for a resume, is over or moved: the transitions of its life
	meta      metaList
	token     TokenHash
	prevToken TokenHash
	expiry    *time.Timer
	waits     *sessionWaits // made when first needed
	lease     uint64        // fencing token of our ownership
	attempt   uint64        // stamp of the client's last accepted connection attempt
	counts    link.Counts   // the message counters: taken, processed, saved, numbered, acknowledged
	rate      *link.Bucket  // the client's rate limit; made by the first message under one
	features  uint64        // wire features of the session's client; set before the session is shared
	rejoin    *rejoinState  // a new session's room positions, until OnOpen and Readmit are done with them

	hooks link.Serial[event] // pending hook calls, drained by one goroutine at a time
}

// sessionWaits is what only a waited-on or ending session needs, apart
// so that an idle one does not carry it; guarded by Session.mu.
type sessionWaits struct {
	bury       chan struct{}       // made by whoever waits for the tombstone
	appends    chan struct{}       // made by seal while Sends are appending, closed by the last
	ack        chan struct{}       // made by WaitPending, closed by the next ack
	lostEnding uint64              // Sends an ending session could not number (replay buffer full): counted in its tombstone
	panicked   bool                // a hook panicked or refused a message: nothing more is delivered
	expired    bool                // messages taken and not yet processed are not delivered: the tombstone tells the client to send them again
	sealed     bool                // the tombstone is being written: no more appends
	buried     bool                // the tombstone is written
	writes     link.Serial[func()] // store writes waiting to run in order (ordered)
}

// waitsLocked returns s.waits, made if need be; s.mu held.
func (s *Session) waitsLocked() *sessionWaits {
	if s.waits == nil {
		s.waits = &sessionWaits{}
	}
	return s.waits
}

// ID returns the session's stable ID.
func (s *Session) ID() string { return s.id }

// UserID returns the user ID that Authenticate gave the session.
func (s *Session) UserID() string { return s.user }

// Created returns when the session started.
func (s *Session) Created() time.Time { return s.created.time() }

// State returns the session's state and, when disconnected, since when.
func (s *Session) State() (SessionState, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SessionState(s.life.Phase()), s.awaySince()
}

// awaySince is when the client went away: the zero time while it is
// connected; s.mu held.
func (s *Session) awaySince() time.Time { return stamp(s.life.Since()).time() }

// Meta returns a copy of the session's metadata.
func (s *Session) Meta() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.toMap()
}

// SetMeta sets a metadata key; an empty value deletes it. Metadata is
// saved with the session and survives resumes.
func (s *Session) SetMeta(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.meta = s.meta.set(key, value)
}

// Send queues a message for the client. It does not wait for the
// network: the message is numbered and kept until the client acknowledges
// it, and replayed if the client resumes. p is copied. Send fails with
// ErrSessionClosed once the session is over: a message sent while it is
// ending (before OnClose), e.g. a hook's reply to a message when the grace
// window runs out, is still numbered, so that the count of what the client
// lost, which it is told if it comes back, includes it. It fails with ErrTooBig above
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
	return s.queue(ctx, newDelivery(Message{Type: typ, Data: p}, ""))
}

// delivery is messages on their way into sessions' replay buffers: one
// for a session alone, or a room's (Room and Offset set, with the
// stream's epoch): one published, or a run of them when a member catches
// up with the room's history. One is shared by every member it goes to,
// so the store is given the same slice each time; neither the slice nor
// the payloads ever change.
type delivery struct {
	msgs  []Message
	epoch string
}

// newDelivery returns a delivery of m.
func newDelivery(m Message, epoch string) *delivery {
	return &delivery{msgs: []Message{m}, epoch: epoch}
}

// queue appends d to the session's replay buffer and wakes its writer.
func (s *Session) queue(ctx context.Context, d *delivery) error {
	s.mu.Lock()
	// An ending session (closed, tombstone not written yet) still numbers
	// the message: it is then counted among those its client lost.
	route := s.life.Route(s.waits != nil && s.waits.sealed)
	switch route {
	case link.Gone:
		s.mu.Unlock()
		return ErrSessionClosed
	case link.Elsewhere:
		s.mu.Unlock()
		return s.srv.deliverRemote(ctx, s.id, d)
	case link.Refused:
		s.mu.Unlock()
		return fmt.Errorf("failed to send: %w", ErrServerClosed)
	}
	ending := route == link.Ending
	s.counts.Begin()
	s.mu.Unlock()
	seq, live, err := s.srv.appendTo(ctx, s.id, d)
	s.mu.Lock()
	var got uint64
	if err == nil {
		got = seq
	}
	none := s.counts.End(got)
	if none && s.waits != nil && s.waits.appends != nil {
		close(s.waits.appends)
		s.waits.appends = nil
	}
	final := s.life.Final() && none
	c := s.life.Conn()
	if ending && errors.Is(err, ErrOverflow) && d.msgs[0].Offset == 0 {
		// Not numbered, so not in the client's count of what it lost
		// unless bury adds it (a room's message stays in the room's
		// history, which the client recovers from).
		s.waitsLocked().lostEnding++
	}
	// The writer learns of the message under the same lock that numbered
	// it: one lock operation per delivery fewer.
	wake := false
	if c != nil && err == nil && !ending {
		if !live {
			d = nil
		}
		wake = c.dataExists(seq, d)
	}
	s.mu.Unlock()
	if wake {
		c.wakeWriter()
	}
	if final && c != nil {
		defer c.checkDrain()
	}
	switch {
	case ending:
		// Numbered (err nil), or the buffer was full (lostEnding): counted
		// among the client's losses.
		return ErrSessionClosed
	case err == nil:
	case errors.Is(err, ErrOverflow), errors.Is(err, errRoomLost):
		s.srv.log.Warn("tether: replay buffer overflow", "session", s.id, "user", s.user, "err", err)
		s.end(CauseOverflow, err, wire.CloseOverflow, "tether: replay buffer overflow")
		return fmt.Errorf("failed to send: %w", ErrOverflow)
	case errors.Is(err, ErrNotFound):
		return ErrSessionClosed
	case errors.Is(err, ErrNotMember):
		return err
	default:
		return fmt.Errorf("failed to send: %w", err)
	}
	return nil
}

// Pending returns how many messages sent from this server the client
// has not acknowledged yet.
func (s *Session) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts.Pending()
}

// InFlight returns how many client messages the session has received
// and not yet processed (their OnMessage has not returned): the client
// holds them unacknowledged, and sends them again after a resume. It
// counts this server's session only.
func (s *Session) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts.InFlight()
}

// WaitPending waits until at most n messages are unacknowledged, so a
// fast producer can pace itself instead of overflowing the replay
// buffer. It returns ErrSessionClosed if the session ends first, or
// ctx's error.
func (s *Session) WaitPending(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		if s.life.Phase() == link.Closed {
			s.mu.Unlock()
			return ErrSessionClosed
		}
		if p := s.counts.Pending(); p == 0 || p <= n {
			s.mu.Unlock()
			return nil
		}
		w := s.waitsLocked()
		if w.ack == nil {
			w.ack = make(chan struct{})
		}
		ch := w.ack
		c := s.life.Conn()
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

// ackMoved wakes WaitPending: the client's acknowledgement moved (the
// connection's link.Conn.Ack said so); s.mu held.
func (s *Session) ackMoved() {
	if s.waits != nil && s.waits.ack != nil {
		close(s.waits.ack)
		s.waits.ack = nil
	}
}

// Close ends the session: the client gets close code 4410 with reason and
// does not reconnect; OnClose runs with CauseKicked.
func (s *Session) Close(ctx context.Context, reason string) error {
	s.mu.Lock()
	moved := s.life.Remote()
	s.mu.Unlock()
	if moved {
		return s.srv.remoteKick(ctx, s.id, reason)
	}
	if !s.end(CauseKicked, nil, wire.CloseKicked, reason) {
		return ErrSessionClosed
	}
	return nil
}
