package client

import (
	"fmt"
	"sync"
	"time"

	"github.com/tether-ws/tether"
)

// Status is where a Client is.
type Status int32

// Statuses.
const (
	StatusConnecting   Status = iota + 1 // first connection in progress
	StatusConnected                      // a session is attached
	StatusReconnecting                   // connection lost; retrying with backoff
	StatusClosed                         // Close was called
	StatusFailed                         // gave up, or the server said stop; see Err
)

func (s Status) String() string {
	switch s {
	case StatusConnecting:
		return "connecting"
	case StatusConnected:
		return "connected"
	case StatusReconnecting:
		return "reconnecting"
	case StatusClosed:
		return "closed"
	case StatusFailed:
		return "failed"
	}
	return fmt.Sprintf("status(%d)", int32(s))
}

// Event is one of Connected, Disconnected, Reconnecting, Resumed,
// SessionLost, Failed and Closed, and, for rooms, RoomJoined, RoomLeft and
// Presence.
type Event interface{ isEvent() }

// Connected: a new session started (the first, or one replacing a lost one).
type Connected struct{ SessionID string }

// Disconnected: the connection was lost. Cause says why; the session may
// still resume.
type Disconnected struct {
	Cause tether.Cause
	Code  tether.CloseCode // close code received, or 0
	Err   error
}

// Reconnecting: the next attempt starts after Delay.
type Reconnecting struct {
	Attempt int
	Delay   time.Duration
	Err     error // why the previous attempt or connection failed
}

// Resumed: the session was resumed on a new connection.
type Resumed struct {
	SessionID  string
	ToClient   int // server messages replayed
	FromClient int // queued or unacknowledged messages sent again
}

// SessionLost: the session could not be resumed; a new one started.
// Unsent holds the messages whose delivery is unknown (Loss.FromClient of
// them); they are not resent, so the application may decide.
type SessionLost struct {
	tether.Loss
	Unsent []tether.Message
}

// Failed: the client stopped for good; Err says why (errors.Is with
// ErrGaveUp, ErrUnauthorized, ErrForbidden, ErrKicked or ErrRefused).
// Unsent hands back every message the server never acknowledged, in
// order: those never written, and those whose delivery is unknown. The
// client keeps none of them.
type Failed struct {
	Err    error
	Unsent []tether.Message
}

// Closed: Close finished. Unsent hands back the messages the server had
// not acknowledged when Close gave up waiting (none if it did not).
type Closed struct {
	Unsent []tether.Message
}

func (Connected) isEvent()    {}
func (Disconnected) isEvent() {}
func (Reconnecting) isEvent() {}
func (Resumed) isEvent()      {}
func (SessionLost) isEvent()  {}
func (Failed) isEvent()       {}
func (Closed) isEvent()       {}

// dispatcher calls the application's callbacks in order, on one
// goroutine that exists only while items are pending, never under a lock.
type dispatcher struct {
	onMsg   func(tether.Message)
	onEvent func(Event)
	done    func(gen, seq uint64, bytes int) // called after messages' callbacks returned, with their payload bytes

	mu        sync.Mutex
	q         []item
	running   bool
	lingering bool          // the goroutine waits a moment for more before it exits
	bell      chan struct{} // rings a lingering goroutine
}

type item struct {
	msg  tether.Message
	gen  uint64 // session generation the message belongs to
	ev   Event
	skip bool // a numbered frame the application does not see (a duplicate room message, an unknown room event): processed at once
}

func newDispatcher(onMsg func(tether.Message), onEvent func(Event), done func(gen, seq uint64, bytes int)) *dispatcher {
	return &dispatcher{onMsg: onMsg, onEvent: onEvent, done: done, bell: make(chan struct{}, 1)}
}

func (d *dispatcher) push(it item) {
	d.mu.Lock()
	d.q = append(d.q, it)
	switch {
	case d.lingering:
		d.lingering = false
		select {
		case d.bell <- struct{}{}:
		default:
		}
	case !d.running:
		d.running = true
		go d.run()
	}
	d.mu.Unlock()
}

// linger is how long the goroutine waits for more before it exits: the
// next message of a conversation usually comes within it, and waking a
// waiting goroutine is cheaper than starting one.
const linger = 2 * time.Millisecond

func (d *dispatcher) run() {
	var t *time.Timer
	for {
		d.mu.Lock()
		if len(d.q) == 0 {
			if !d.lingering {
				d.lingering = true
				d.mu.Unlock()
				if t == nil {
					t = time.NewTimer(linger)
				} else {
					t.Reset(linger)
				}
				select {
				case <-d.bell:
				case <-t.C:
				}
				continue
			}
			d.lingering = false
			d.running = false
			d.q = nil
			d.mu.Unlock()
			if t != nil {
				t.Stop()
			}
			return
		}
		batch := d.q
		d.q = nil
		d.mu.Unlock()
		var last, gen uint64
		n := 0 // payload bytes handled since the last done
		for _, it := range batch {
			if it.ev != nil && it.msg.Seq == 0 {
				if last != 0 {
					d.done(gen, last, n)
					last, n = 0, 0
				}
				if de, ok := it.ev.(doneEvent); ok {
					close(de.ch)
				} else if d.onEvent != nil {
					d.onEvent(it.ev)
				}
				continue
			}
			// A numbered item: a message, or a room event.
			if last != 0 && it.gen != gen {
				d.done(gen, last, n)
				n = 0
			}
			switch {
			case it.ev != nil:
				if d.onEvent != nil {
					d.onEvent(it.ev)
				}
			case !it.skip && d.onMsg != nil:
				d.onMsg(it.msg)
			}
			last, gen = it.msg.Seq, it.gen
			n += len(it.msg.Data)
		}
		if last != 0 {
			d.done(gen, last, n)
		}
	}
}
