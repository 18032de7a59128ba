package tether

import (
	"context"
	"errors"
	"time"

	"github.com/tether-ws/tether/internal/wire"
)

// save writes the session's record to the store.
func (s *Session) save() (err error) {
	s.ordered(func() { err = s.saveNow() })
	return err
}

func (s *Session) saveNow() error {
	ctx, cancel := context.WithTimeout(s.srv.ctx, s.srv.o.HandshakeTimeout)
	defer cancel()
	rec, err := s.srv.store.Load(ctx, s.id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	rec.Meta = s.meta.toMap()
	rec.Token, rec.PrevToken = s.token, s.prevToken
	rec.In = s.counts.Processed()
	rec.Detached = s.awaySince()
	rec.Lease = s.lease
	rec.Attempt = s.attempt
	s.mu.Unlock()
	switch err := s.srv.store.Save(ctx, rec); {
	case errors.Is(err, ErrFenced):
		s.srv.drop(s)
		return err
	case err != nil:
		s.srv.log.Warn("tether: cannot save session", "session", s.id, "err", err)
		return err
	}
	s.mu.Lock()
	s.counts.Saved(rec.In)
	s.mu.Unlock()
	return nil
}

// ordered runs f, a write of the session's record (save, persistIn),
// after those queued before it. They are made on the hook runner and, on a
// shared store, by a resume's Welcome (resume.go); one made later must not
// land before one made earlier, or it would take back a token or the
// processed count. Whoever queues into an idle queue runs it, the others'
// writes included; the others wait for theirs. No lock is held while f
// runs. On a store of this server's alone every write is made on the hook
// runner, in order already.
func (s *Session) ordered(f func()) {
	if s.srv.cluster == nil {
		f()
		return
	}
	done := make(chan struct{})
	var failed any // f's panic, raised again on its caller's goroutine
	s.mu.Lock()
	start := s.waitsLocked().writes.Push(func() {
		defer close(done)
		defer func() { failed = recover() }()
		f()
	})
	s.mu.Unlock()
	for start {
		s.mu.Lock()
		batch, ok := s.waits.writes.Take()
		s.mu.Unlock()
		if !ok {
			break
		}
		for _, w := range batch {
			w() // never panics: a store's panic goes to the write's own caller
		}
		s.mu.Lock()
		s.waits.writes.Done(batch)
		s.mu.Unlock()
	}
	<-done
	if failed != nil {
		panic(failed)
	}
}

// persistIn makes the processed client messages durable before they are
// acknowledged, when the store is shared: a server that dies after an ack
// then cannot make another one process them again. It reports whether
// the ack may go out.
func (s *Session) persistIn() (ok bool) {
	s.ordered(func() { ok = s.persistInNow() })
	return ok
}

func (s *Session) persistInNow() bool {
	s.mu.Lock()
	p, unsaved, lease := s.counts.Processed(), s.counts.Unsaved(), s.lease
	s.mu.Unlock()
	if !unsaved {
		return true
	}
	ctx, cancel := s.srv.storeCtx()
	defer cancel()
	switch err := s.srv.store.SaveIn(ctx, s.id, lease, p); {
	case errors.Is(err, ErrFenced):
		s.srv.drop(s)
		return false
	case err != nil:
		s.srv.log.Warn("tether: cannot record processed messages; not acknowledging them yet", "session", s.id, "err", err)
		return false
	}
	s.mu.Lock()
	s.counts.Saved(p)
	s.mu.Unlock()
	return true
}

// bury replaces the session with a tombstone and returns how many
// messages the client never acknowledged; ok is false if another server
// owns the session now (it runs the close hook, not us).
func (s *Session) bury(cause Cause) (unacked int, ok, retry bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.srv.ctx), s.srv.o.HandshakeTimeout)
	defer cancel()
	t := &Tombstone{ID: s.id, UserID: s.user, Reason: cause.lossReason(), Closed: time.Now()}
	s.seal()
	s.mu.Lock()
	t.Token, t.PrevToken, t.In = s.token, s.prevToken, s.counts.Processed()
	lease := s.lease
	var extra uint64 // sealed: no Send adds to it any more
	if s.waits != nil {
		extra = s.waits.lostEnding
	}
	s.mu.Unlock()
	var rooms []string
	if rec, err := s.srv.store.Load(ctx, s.id); err == nil {
		// Sends the full buffer refused while the session ended are
		// numbered here, after the last kept: the client counts them
		// among what it lost, as it would had they been kept.
		t.Out, t.Acked = rec.Out+extra, rec.Acked
		unacked = int(t.Out - rec.Acked)
		rooms = rec.Rooms
		if s.features&wire.FeatureRooms != 0 && rec.Out > rec.Acked {
			t.InRooms = s.srv.inRooms(ctx, s.id, rec.Acked, rec.Out)
		}
	}
	ok = true
	switch err := s.srv.store.Close(ctx, s.id, lease, t); {
	case errors.Is(err, ErrFenced):
		ok = false
	case errors.Is(err, ErrNotFound) && s.srv.cluster != nil:
		ok = false // another server took the session over and ended it
	case err != nil && !errors.Is(err, ErrNotFound):
		if s.srv.cluster != nil {
			select {
			case <-s.srv.done:
			default:
				// The session is still in the shared store, where another
				// server could resume it: try again before telling anyone
				// it is over.
				s.srv.log.Warn("tether: cannot close session in store; retrying", "session", s.id, "err", err)
				s.mu.Lock()
				s.waitsLocked().sealed = false
				s.mu.Unlock()
				return unacked, false, true
			}
		}
		s.srv.log.Warn("tether: cannot close session in store", "session", s.id, "err", err)
	}
	if ok && cause != CauseServerShutdown {
		// Presence rooms learn that the user left (a shutdown announces
		// nothing: the clients come back).
		m := member{s: s, user: s.user, features: s.features}
		for _, room := range rooms {
			if !isUserStream(room) && s.srv.roomOptions(room).Presence {
				if pc := s.srv.announce(ctx, m, s.id, room, false, true); pc != nil && s.srv.o.OnPresence != nil {
					s.srv.o.OnPresence(ctx, s, *pc)
				}
			}
		}
	}
	s.srv.removeSession(s)
	s.mu.Lock()
	s.waitsLocked().buried = true
	if s.waits != nil && s.waits.bury != nil {
		close(s.waits.bury)
	}
	s.mu.Unlock()
	return unacked, ok, false
}

// seal stops Sends from appending to the ending session and waits for
// those already appending, so that the tombstone's counts include every
// message a Send numbered.
func (s *Session) seal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waitsLocked().sealed = true
	for s.counts.Appending() {
		w := s.waitsLocked()
		if w.appends == nil {
			w.appends = make(chan struct{})
		}
		ch := w.appends
		s.mu.Unlock()
		<-ch
		s.mu.Lock()
	}
}

// end closes the session for good; it reports false if it already was.
func (s *Session) end(cause Cause, err error, code wire.CloseCode, reason string) bool {
	s.mu.Lock()
	c, ok := s.life.End()
	if !ok {
		s.mu.Unlock()
		return false
	}
	attrs := []any{"session", s.id, "user", s.user, "cause", cause.String()}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	if cause == CauseExpired {
		attrs = append(attrs, "grace", s.srv.o.GraceWindow, "disconnected_at", s.awaySince())
		// What its hooks have not begun is left to the client, which
		// sends it again in its next session: else the tombstone, and
		// with it the client's return, would wait for a backend slow to
		// take them, past the handshake's timeout (the loss then unknown).
		s.waitsLocked().expired = true
	}
	s.srv.log.Info("tether: session closed", attrs...)
	if s.waits != nil && s.waits.ack != nil {
		close(s.waits.ack)
		s.waits.ack = nil
	}
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	s.post(event{kind: evClose, info: Closure{Cause: cause, Err: err, Reason: reason}})
	s.mu.Unlock()
	if c != nil && code != 0 {
		c.closeWith(code, reason)
	}
	return true
}

// detach records that c is gone; the session waits for a resume.
func (s *Session) detach(c *conn, cause Cause, err error) {
	s.mu.Lock()
	gen, ok := s.life.Detach(c, int64(stampOf(time.Now())))
	if !ok {
		s.mu.Unlock()
		return
	}
	s.expiry = time.AfterFunc(s.srv.o.GraceWindow, func() { s.expire(gen) })
	s.post(event{kind: evDisconnect, info: Disconnect{Cause: cause, Err: err}})
	s.mu.Unlock()
	attrs := []any{"session", s.id, "user", s.user, "cause", cause.String()}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	s.srv.log.Debug("tether: session disconnected", attrs...)
}

func (s *Session) expire(gen uint32) {
	s.mu.Lock()
	ok := s.life.Expire(gen)
	s.mu.Unlock()
	if ok {
		s.end(CauseExpired, nil, 0, "")
	}
}
