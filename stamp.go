package tether

import "time"

// stamp is a moment kept in 8 bytes where a time.Time takes 24 (a session
// holds two): nanoseconds since the process's clock origin, elapsed on the
// monotonic clock for moments of this process; 0 is none.
type stamp int64

// clock is the origin of stamps.
var clock = time.Now()

// stampOf returns t's stamp; the zero time's is 0.
func stampOf(t time.Time) stamp {
	if t.IsZero() {
		return 0
	}
	if s := stamp(t.Sub(clock)); s != 0 {
		return s
	}
	return 1 // the origin itself: 1 ns later, not none
}

// time returns the moment; the zero time for none.
func (s stamp) time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	return clock.Add(time.Duration(s))
}

// since is how long ago the moment was.
func (s stamp) since() time.Duration { return time.Since(s.time()) }
