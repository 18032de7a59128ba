// Package link holds the rules one end of a Tether connection follows, as
// values whose transitions are pure: no lock, no timer, no I/O. The owner
// (the server's conn, the Go client's connection) calls them under its own
// lock, arms the timers they ask for and writes the frames they decide.
// The browser client follows the same rules (js/src/acks.ts), checked
// against the same table of cases (testdata/ack-cases.json at the root).
package link

import (
	"math"
	"time"
)

// AckPolicy says when an acknowledgement goes out on its own rather than
// riding on the next frame written. Both sides use it with their own
// Delay: a short one where the peer waits on the ack to free its queue,
// a longer one where each ack costs a busy peer a read.
type AckPolicy struct {
	// Delay is how long an ack may wait for a frame to ride on.
	Delay time.Duration
	// Window is the peer's limit on unacknowledged messages: half of it
	// pending makes the ack urgent. Zero: every ack is urgent.
	Window uint64
	// Bytes is how many processed payload bytes make the ack urgent (the
	// peer bounds its buffer in bytes too). Zero: no byte rule.
	Bytes int
}

// AckBytes is the byte rule both sides use: each bounds what it keeps for
// the other in bytes too (the server's replay buffer, the client's outbox,
// 1 MiB by default, not announced), and a delayed ack must not overflow it.
const AckBytes = 64 << 10

// Effect is what a transition asks its owner to do.
type Effect uint8

const (
	// None: nothing to do.
	None Effect = iota
	// Write: wake the writer, an ack must go out now.
	Write
	// Arm: start (or restart) a timer of AckPolicy.Delay, and call Due
	// when it fires.
	Arm
)

func (e Effect) String() string {
	switch e {
	case Write:
		return "write"
	case Arm:
		return "arm"
	}
	return "none"
}

// Acks is the acknowledgement state of one connection: what may be
// acknowledged, what was, and whether the rest is urgent. The zero value
// has acknowledged nothing.
type Acks struct {
	want   uint64 // highest seq processed: may be acknowledged
	sent   uint64 // highest seq acknowledged in a frame written
	bytes  int32  // payload bytes processed since the last ack taken, at most MaxInt32 (32 bits: a connection carries one)
	urgent bool   // the ack goes out even if nothing else does
	armed  bool   // the owner's timer runs for the pending ack
}

// Start sets both ends at seq: a connection that takes over a session
// whose messages up to seq the peer knows are processed.
func (a *Acks) Start(seq uint64) { *a = Acks{want: seq, sent: seq} }

// Processed records that the messages up to seq were processed, n payload
// bytes of them since the last call. An ack behind or level with what is
// recorded changes nothing.
func (a *Acks) Processed(p AckPolicy, seq uint64, n int) Effect {
	if seq <= a.want {
		return None
	}
	a.want = seq
	a.bytes = int32(min(int64(a.bytes)+int64(n), math.MaxInt32))
	if a.urgent {
		return None // the writer is already woken
	}
	if seq-a.sent >= max(1, p.Window/2) || (p.Bytes > 0 && int(a.bytes) >= p.Bytes) {
		a.urgent = true
		return Write
	}
	if a.armed {
		return None
	}
	a.armed = true
	return Arm
}

// Due is the timer asked for by Arm firing: the pending ack, if any is
// still pending, becomes urgent. It reports whether to wake the writer.
func (a *Acks) Due() bool {
	if !a.armed {
		return false // taken meanwhile
	}
	a.armed = false
	a.urgent = true
	return true
}

// Take is the writer deciding on a frame: carrier says something else goes
// out in the same write (a message, a control frame), on which a pending
// ack rides at no cost. It returns the ack the write carries (a Ping or
// Pong carries it too) and whether an Ack frame is due for it. Once taken
// the ack is sent: the next is counted from there.
func (a *Acks) Take(carrier bool) (seq uint64, due bool) {
	if a.want > a.sent && (a.urgent || carrier) {
		a.sent = a.want
		a.bytes, a.urgent, a.armed = 0, false, false
		return a.sent, true
	}
	return a.sent, false
}

// Sent is the highest seq acknowledged in a frame taken for writing.
func (a *Acks) Sent() uint64 { return a.sent }

// Pending reports whether an ack waits to go out.
func (a *Acks) Pending() bool { return a.want > a.sent }
