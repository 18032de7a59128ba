package tether

import (
	"errors"
	"fmt"
	"time"

	"github.com/tether-ws/tether/internal/link"
)

// A client's messages coming in: the sequence rules (internal/link), the
// window and the rate limit, before OnMessage sees them.

// receive accepts a client message on c for OnMessage.
func (s *Session) receive(c *conn, seq uint64, typ MessageType, p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.st.Fenced() {
		// Draining, and the client was told to stop: not taken, never
		// acknowledged; the client sends it again or reports it. The
		// fence is checked under the lock that takes the message, so a
		// message is either dropped or counted as taken before the drain
		// can see the session even.
		return nil
	}
	if s.life.Conn() != c {
		return nil // replaced: the client will resend on its new connection
	}
	arr, err := s.counts.Accept(seq)
	if seq != 0 && (s.srv.test.noDedupe || s.srv.test.noReplay && err != nil) {
		// Test switches: take repeats and gaps, or gaps.
		arr, err = link.Next, nil
	}
	if err != nil {
		return violationf("%v", err)
	}
	if arr == link.Repeat {
		return nil // already have it
	}
	if !c.st.Admits(seq) {
		return &policyError{fmt.Sprintf("%d unacknowledged messages, window is %d", seq-c.st.Acks.Sent(), c.st.Window())}
	}
	if o := &s.srv.o; o.RateLimit > 0 {
		if s.rate == nil {
			s.rate = new(link.Bucket)
		}
		if !s.rate.Take(o.RateLimit, o.RateBurst, time.Now()) {
			return errRateLimited
		}
	}
	s.counts.Take(seq)
	ev := event{kind: evMessage, msg: Message{Type: typ, Data: p, Seq: seq}}
	if !c.rd.mayRunHooks {
		s.post(ev)
		return nil
	}
	if s.push(ev) {
		// The poller's feed runs the hooks itself once it is done
		// (poll_linux.go): no goroutine hand-off between message and reply.
		s.srv.active.add()
		c.rd.hooksHere = true
	}
	return nil
}

// errRateLimited drops the connection, not the session: the client
// comes back after its backoff and resends what was not accepted.
var errRateLimited = errors.New("tether: client sends faster than RateLimit")

type policyError struct{ msg string }

func (e *policyError) Error() string { return "policy violation: " + e.msg }
