package link

import "time"

// Liveness is the heartbeat rule: a link from which nothing arrived for
// Limit is dead. The server checks it every Every and pings each time
// (so a live client always has recent frames); the Go client checks it
// with Every = Limit and pings never.
type Liveness struct {
	Every time.Duration
	Limit time.Duration
}

// Behind is how many Limits past its last frame a link stays alive while
// bytes from the peer wait unread: its reader (a starved process, a
// poller behind) is late, not the peer silent. Past it the link is dead
// whatever waits, so that a reader that never reads again cannot keep a
// link forever.
const Behind = 4

// Check says whether the link is dead at now, given when the last frame
// arrived, and otherwise how long until it must be checked again: Every,
// or sooner if the limit falls first. unread, if not nil, reports whether
// bytes from the peer wait unread; it is asked only of a link past its
// limit (it may cost a system call).
func (l Liveness) Check(last, now time.Time, unread func() bool) (dead bool, next time.Duration) {
	since := now.Sub(last)
	left := l.Limit - since
	if left > 0 {
		return false, min(l.Every, left)
	}
	if since < Behind*l.Limit && unread != nil && unread() {
		return false, min(l.Every, Behind*l.Limit-since)
	}
	return true, 0
}
