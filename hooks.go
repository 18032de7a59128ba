package tether

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/tether-ws/tether/internal/wire"
)

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

// post queues an event and starts a goroutine to run the hooks if none
// runs them; s.mu must be held.
func (s *Session) post(ev event) {
	if s.push(ev) {
		c := s.life.Conn()
		s.srv.spawn(func() {
			if c != nil {
				c.runHooks(true)
			} else {
				s.drain()
			}
		})
	}
}

// push queues an event. It reports whether no goroutine runs the hooks:
// the caller must then start one, which push counts as started. s.mu held.
func (s *Session) push(ev event) bool { return s.hooks.Push(ev) }

// drain runs queued hooks in order until none are left.
func (s *Session) drain() {
	for {
		s.mu.Lock()
		batch, ok := s.hooks.Take()
		s.mu.Unlock()
		if !ok {
			return // an idle session holds no queue
		}
		n := 0
		for i := range batch {
			n += len(batch[i].msg.Data)
			s.run(&batch[i])
		}
		s.mu.Lock()
		s.hooks.Done(batch) // cleared: the batch keeps no message alive
		c := s.life.Conn()
		s.mu.Unlock()
		if c != nil {
			c.afterBatch(n)
		}
	}
}

// run runs one event's hook on the session's hook goroutine.
func (s *Session) run(ev *event) {
	o := &s.srv.o
	ctx := s.srv.ctx
	defer s.recoverHook(ev)
	switch ev.kind {
	case evOpen:
		s.openRooms(ctx, func() {
			if o.OnOpen != nil {
				o.OnOpen(ctx, s, ev.info.(OpenInfo))
			}
		})
		s.mu.Lock()
		c := s.life.Conn()
		s.mu.Unlock()
		if c != nil {
			c.welcomeReady()
		}
	case evMessage:
		s.runMessage(ctx, ev.msg)
	case evDisconnect:
		d := ev.info.(Disconnect)
		s.save()
		if o.OnDisconnect != nil {
			o.OnDisconnect(ctx, s, d)
		}
	case evResume:
		s.save()
		if o.OnResume != nil {
			o.OnResume(ctx, s, ev.info.(Resume))
		}
	case evClose:
		s.runClose(ctx, ev.info.(Closure))
	case evFunc:
		ev.info.(func())()
	}
}

// recoverHook turns a hook's panic into the end of its session alone.
func (s *Session) recoverHook(ev *event) {
	r := recover()
	if r == nil {
		return
	}
	s.srv.log.Error("tether: panic in hook", "session", s.id, "user", s.user, "hook", ev.kind.String(),
		"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	s.mu.Lock()
	s.waitsLocked().panicked = true
	if ev.kind == evMessage {
		s.counts.Done(ev.msg.Seq) // delivered, and failed: never again
	}
	s.mu.Unlock()
	if ev.kind != evClose {
		s.end(CauseServerError, fmt.Errorf("panic in %s hook: %v", ev.kind, r), wire.CloseServerError, "tether: server error")
	}
}

// runMessage hands a client's message to OnMessage; an error refuses it
// and ends the session, and nothing after it is delivered.
func (s *Session) runMessage(ctx context.Context, m Message) {
	s.mu.Lock()
	skip := s.waits != nil && (s.waits.panicked || s.waits.expired)
	s.mu.Unlock()
	if skip {
		return
	}
	if on := s.srv.o.OnMessage; on != nil {
		if err := on(ctx, s, m); err != nil {
			s.mu.Lock()
			s.waitsLocked().panicked = true // the rest waits for the next session too
			s.mu.Unlock()
			s.srv.log.Error("tether: message refused by the application", "session", s.id, "user", s.user, "seq", m.Seq, "err", err)
			s.end(CauseServerError, fmt.Errorf("message %d refused: %w", m.Seq, err), wire.CloseServerError, "tether: server error")
			return
		}
	}
	s.mu.Lock()
	s.counts.Done(m.Seq)
	s.mu.Unlock()
}

// runClose writes the session's tombstone, then calls OnClose; a store
// that cannot be written is tried again a second later.
func (s *Session) runClose(ctx context.Context, cl Closure) {
	var owned, retry bool
	cl.Unacked, owned, retry = s.bury(cl.Cause)
	if retry {
		time.AfterFunc(time.Second, func() {
			s.mu.Lock()
			s.post(event{kind: evClose, info: cl})
			s.mu.Unlock()
		})
		return
	}
	if !owned {
		return // another server took the session over
	}
	if on := s.srv.o.OnClose; on != nil {
		on(ctx, s, cl)
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
