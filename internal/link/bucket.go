package link

import "time"

// Bucket is a token bucket: the rate limit on a peer's messages. It holds
// Burst tokens when full and gains Rate per second; each message takes
// one, and a message that finds none is refused. The zero Bucket is full
// the first time it is used.
type Bucket struct {
	tokens   float64
	refilled time.Time // zero: not used yet
}

// Take takes a token at now for a limit of rate per second with bursts
// of burst, and reports whether there was one.
func (b *Bucket) Take(rate float64, burst int, now time.Time) bool {
	if b.refilled.IsZero() {
		b.tokens = float64(burst)
	} else if now.After(b.refilled) {
		b.tokens = min(float64(burst), b.tokens+now.Sub(b.refilled).Seconds()*rate)
	}
	if now.After(b.refilled) {
		b.refilled = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
