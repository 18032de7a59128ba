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

// Check says whether the link is dead at now, given when the last frame
// arrived, and otherwise how long until it must be checked again: Every,
// or sooner if the limit falls first.
func (l Liveness) Check(last, now time.Time) (dead bool, next time.Duration) {
	left := last.Add(l.Limit).Sub(now)
	if left <= 0 {
		return true, 0
	}
	return false, min(l.Every, left)
}
