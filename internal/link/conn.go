package link

import (
	"math"
	"time"
)

// Conn is one connection's protocol state, in one value: what it has to
// write and who writes it (the embedded Sender, with the acks it owes), the
// message a delivery put in its owner's hands, the drain's probe, and the
// close frame it ends with. The owner holds it under one lock, with the
// session's counters (Counts, which outlive connections: the transitions
// that read them take them as arguments), and does what its transitions
// return: claim the writer, arm a timer, queue a frame, fence, close.
//
// The peer's window is here too: what it may send past our acknowledgement
// (Admits), and what makes our acknowledgement urgent (AckPolicy).
//
// The server's connection and the Go client's both hold one. The drain
// has two sides: the server's (Drain, the probe, Seal) sends the GoAway and
// watches for the answer, the client's (PeerDrain) answers it; the message
// in hand is the server's too.
type Conn struct {
	Sender
	probe Probe
	live  uint64      // seq of the message the owner holds in hand (Deliver); 0: none
	close *closeFrame // Close's; apart, so that an open connection carries 8 bytes for it, not 24
	reply bool        // the peer's GoAway waits for ours (PeerDrain)
	// window: the peer's (SetWindow); 32 bits, beside reply, so that a
	// Conn is 88 bytes.
	window uint32
}

type closeFrame struct {
	code   uint16
	reason string
}

// SetWindow sets the peer's window: how many of its messages may go
// unacknowledged by us (at most MaxUint32). Admits holds the peer to it;
// our acks go out before half of it is used (AckPolicy).
func (c *Conn) SetWindow(n uint64) { c.window = uint32(min(n, math.MaxUint32)) }

// Window is the peer's window.
func (c *Conn) Window() uint64 { return uint64(c.window) }

// Admits reports whether the peer's message seq is within its window past
// the last acknowledgement written (InWindow).
func (c *Conn) Admits(seq uint64) bool { return InWindow(seq, c.Acks.Sent(), uint64(c.window)) }

// AckPolicy is when this side's acks go out on their own: after delay, or
// at once past half the peer's window or AckBytes processed.
func (c *Conn) AckPolicy(delay time.Duration) AckPolicy {
	return AckPolicy{Delay: delay, Window: uint64(c.window), Bytes: AckBytes}
}

// Deliver records that messages up to seq exist; live says the owner holds
// message seq in hand, to be framed without reading it back when it is the
// only one to write (Plan.Live). It reports whether the caller is now the
// writer (Sender.Claim).
func (c *Conn) Deliver(seq uint64, live bool) (claim bool) {
	c.Exists(seq)
	if live && seq > c.live {
		c.live = seq
	}
	return c.Claim()
}

// Live is the seq of the message the owner holds in hand, 0 once it was
// written or read back from the store: the owner lets its payload go then.
func (c *Conn) Live() uint64 { return c.live }

// Plan is Sender.Plan, plus: the message in hand is the write's (Plan.Live)
// when it is the only one to write, a Ping taken counts for the drain's
// probe, and the answer to the peer's GoAway goes (Plan.GoAway).
func (c *Conn) Plan(ctrl bool) (Plan, bool) {
	if c.live != 0 && c.live <= c.Written() {
		c.live = 0 // written from the store
	}
	p, ok := c.Sender.Plan(ctrl || c.reply)
	if !ok {
		return p, false
	}
	p.GoAway, c.reply = c.reply, false
	if p.Data && c.live != 0 && c.live == p.From+1 && c.Target() == c.live {
		p.Live, p.Data = c.live, false
		c.Wrote(c.live)
		c.live = 0
	}
	if p.Ping {
		c.probe.PingWritten()
	}
	return p, true
}

// Close asks for the close frame with code and reason after what is
// queued (Sender.Close); false if one was already asked for or the
// connection ended, which keeps the first code.
func (c *Conn) Close(code uint16, reason string) bool {
	if !c.Sender.Close() {
		return false
	}
	c.close = &closeFrame{code, reason}
	return true
}

// CloseFrame is the code and reason of the close frame Plan.Close writes:
// Close's, or a normal closure (1000) if the close came otherwise.
func (c *Conn) CloseFrame() (code uint16, reason string) {
	if c.close == nil {
		return 1000, ""
	}
	return c.close.code, c.close.reason
}

// Ack takes the peer's acknowledgement of seq: an error if seq was never
// written on this connection (CheckAck), otherwise recorded in n; moved
// reports whether it acknowledged something new.
func (c *Conn) Ack(seq uint64, n *Counts) (moved bool, err error) {
	if err := CheckAck(seq, c.Written()); err != nil {
		return false, err
	}
	return n.Acked(seq), nil
}

// Drain starts the drain (PROTOCOL.md §10): the GoAway to queue names
// lastSeq, the last message that exists, and a Ping is due after it (the
// probe). ok is false on a connection closing or ended, or already
// draining. The owner arms the fence timer (a client slow to answer is
// fenced) and claims the writer.
func (c *Conn) Drain() (lastSeq uint64, ok bool) {
	if c.Ended() || c.Closing() || !c.probe.Start() {
		return 0, false
	}
	c.PingDue()
	return c.Target(), true
}

// Draining reports whether the drain's GoAway is queued.
func (c *Conn) Draining() bool { return c.probe.Draining() }

// Pong takes the peer's Pong and reports whether it shows a client that
// read the GoAway without answering it (Probe.Pong): fence it.
func (c *Conn) Pong() (fence bool) { return c.probe.Pong() && !c.probe.Fenced() }

// Answered records the client's answer to the drain's GoAway; the owner
// fences it.
func (c *Conn) Answered() { c.probe.GoAway() }

// PeerDrain takes the server's GoAway on the client's side: no more
// numbered messages on this connection (Sender.Seal), and the GoAway that
// answers it is due (Plan.GoAway; it names the acknowledgement it
// carries).
func (c *Conn) PeerDrain() {
	c.Sender.Seal()
	c.reply = true
}

// Fence stops taking the client's messages (Probe.Fence); true the first
// time, on a draining connection only: the owner checks the drain.
func (c *Conn) Fence() bool { return c.probe.Fence() }

// Fenced reports whether the client's messages are no longer taken.
func (c *Conn) Fenced() bool { return c.probe.Fenced() }

// Quiet reports whether the connection settled on a server whose sessions
// end with it (Probe.Settle).
func (c *Conn) Quiet() bool { return c.probe.Quiet() }

// DrainStep is a draining connection's next step (Probe.Next), read from
// this connection, the session's counters n, whether the store is shared,
// the drain's barrier (final) and no Send numbering a message.
func (c *Conn) DrainStep(n *Counts, shared, final bool) Step {
	return c.probe.Next(View{Over: c.Sealed() || c.Ended(), Even: n.Even(shared),
		Shared: shared, Final: final, Appending: n.Appending()})
}

// Seal ends a drained connection (Finish said so): no more numbered
// messages, the final Ack (processed, which the owner queues with the
// final GoAway) carries the acknowledgement, and the close frame (code,
// reason) follows them. ok is false if already sealed or ended.
func (c *Conn) Seal(processed uint64, code uint16, reason string) bool {
	if !c.Sender.Seal() {
		return false
	}
	c.Acks.Processed(AckPolicy{}, processed, 0)
	c.Acks.Take(true) // the final Ack frame carries it
	c.Close(code, reason)
	return true
}
