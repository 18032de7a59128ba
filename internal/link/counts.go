package link

// Counts is a session's message counters (PROTOCOL.md §6), on the server:
// what the client sent and what became of it, what was numbered for the
// client and what it acknowledged. The Go client keeps the same for its
// side (what the server sent it, what it numbered); saving and numberings
// under way are the server's only. The owner holds it; its methods only
// compute. The zero value is a new session.
type Counts struct {
	in        uint64 // last client seq taken for processing
	processed uint64 // last client seq whose processing ended
	saved     uint64 // last processed seq a shared store has
	out       uint64 // last seq numbered for the client by this server
	acked     uint64 // last seq the client acknowledged
	// appending counts numberings under way: a sender checked the session
	// and has not heard back from the store. 32 bits keep Counts at 48
	// bytes.
	appending int32
}

// Restore starts the counters from a stored session's: in messages taken
// and processed (and stored), out numbered, acked acknowledged.
func (c *Counts) Restore(in, out, acked uint64) {
	*c = Counts{in: in, processed: in, saved: in, out: out, acked: acked}
}

// Accept checks a client message's seq against the last taken (Accept).
func (c *Counts) Accept(seq uint64) (Arrival, error) { return Accept(c.in, seq) }

// Take records the client message seq, which Accept said is Next, as taken
// for processing.
func (c *Counts) Take(seq uint64) { c.in = seq }

// Done records that the processing of client message seq ended, whether
// it succeeded or not: it is never processed again.
func (c *Counts) Done(seq uint64) { c.processed = seq }

// Saved records that a shared store has every message processed up to seq.
func (c *Counts) Saved(seq uint64) { c.saved = max(c.saved, seq) }

// AckPoint is the highest client seq the server may acknowledge: the
// last processed, or with a shared store the last it has, so that a
// server that dies after the ack leaves no other to process it again.
func (c *Counts) AckPoint(shared bool) uint64 {
	if shared {
		return c.saved
	}
	return c.processed
}

// Unsaved reports whether messages were processed that a shared store
// does not have yet.
func (c *Counts) Unsaved() bool { return c.processed > c.saved }

// Even reports whether every client message taken was processed (and,
// with a shared store, saved): nothing of the client's is in the middle.
func (c *Counts) Even(shared bool) bool {
	return c.processed == c.in && (!shared || c.saved == c.in)
}

// InFlight is how many client messages were taken and are not processed.
func (c *Counts) InFlight() int {
	if c.in <= c.processed {
		return 0
	}
	return int(c.in - c.processed)
}

// Begin records a numbering under way; End must follow.
func (c *Counts) Begin() { c.appending++ }

// End records that a numbering Begin announced is over, seq the number it
// got (0: none). It reports whether no other is under way.
func (c *Counts) End(seq uint64) (none bool) {
	c.appending--
	c.Numbered(seq)
	return c.appending == 0
}

// Appending reports whether a numbering is under way.
func (c *Counts) Appending() bool { return c.appending > 0 }

// Number numbers the next message, for an owner that numbers its own
// (the client; the server's store numbers the server's), and returns its
// seq.
func (c *Counts) Number() uint64 {
	c.out++
	return c.out
}

// Numbered records that messages up to seq exist for the client (another
// server numbered them, or a Begin did).
func (c *Counts) Numbered(seq uint64) { c.out = max(c.out, seq) }

// Acked records the client's acknowledgement; it reports whether it moved.
func (c *Counts) Acked(seq uint64) bool {
	if seq <= c.acked {
		return false
	}
	c.acked = seq
	return true
}

// Pending is how many messages numbered here the client has not
// acknowledged.
func (c *Counts) Pending() int {
	if c.acked >= c.out {
		return 0
	}
	return int(c.out - c.acked)
}

// In is the last client seq taken.
func (c *Counts) In() uint64 { return c.in }

// Out is the last seq numbered.
func (c *Counts) Out() uint64 { return c.out }

// LastAcked is the last seq the peer acknowledged.
func (c *Counts) LastAcked() uint64 { return c.acked }

// Processed is the last client seq processed.
func (c *Counts) Processed() uint64 { return c.processed }
