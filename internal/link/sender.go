package link

// Sender is what one end of a connection has to send: the numbered
// messages that exist and those written, the acknowledgements it owes
// (Acks), a Ping due, a close asked for, and whether the connection is
// over. Its transitions are pure; the owner holds it under its own lock,
// writes what Plan decides and reports back with Wrote or Exhausted.
//
// The phases: not ready (the handshake reply is not queued yet: only a
// close may go), ready (everything may go), sealed (a final frame
// announced the last numbered message: no more of them), closing (the
// close frame goes after what is queued, nothing numbered), ended (nothing
// more is written).
//
// The writer: at most one runs at a time. Whoever learns that something
// may be written calls Claim (or Release); true makes it the writer, which
// asks Plan and writes until Plan has nothing, which ends its claim. While
// held (the owner's hooks are producing frames it writes afterwards) nobody
// claims. So no wake-up is lost: a change that Plan would see either finds
// the writer running, which asks Plan again, or claims it.
type Sender struct {
	Acks Acks

	ready   bool
	sealed  bool
	closing bool
	ended   bool
	ping    bool
	writing bool   // a writer claimed: it asks Plan until Plan has nothing
	held    bool   // Hold: no claim until Release
	target  uint64 // highest seq known to exist
	written uint64 // highest seq written (recorded before the write)
}

// Plan is what one write carries, in this order: the owner's queued
// control frames, a Ping or an Ack frame, numbered messages after From,
// and last the close frame.
type Plan struct {
	Ping     bool   // a Ping, carrying Ack
	AckFrame bool   // an Ack frame, carrying Ack
	Ack      uint64 // the acknowledgement the write carries
	Data     bool   // the numbered messages after From, read from the store
	From     uint64
	Live     uint64 // Conn.Plan: instead of Data, the message in the owner's hands, seq Live = From+1
	Close    bool   // the close frame; the connection ends once written
	GoAway   bool   // Conn.Plan: the answer to the peer's GoAway, after the messages
}

// Begin sets what the peer already has: a connection that takes over a
// session starts writing after seq.
func (s *Sender) Begin(seq uint64) { s.written = seq }

// Ready lets numbered messages go: the handshake reply is queued.
func (s *Sender) Ready() { s.ready = true }

// Resume is Ready for a resumed session: the peer has everything up to
// from, and messages up to target exist.
func (s *Sender) Resume(from, target uint64) {
	s.written = from
	s.target = max(s.target, target)
	s.ready = true
}

// Exists records that messages up to seq exist.
func (s *Sender) Exists(seq uint64) { s.target = max(s.target, seq) }

// PingDue asks for a Ping in the next write.
func (s *Sender) PingDue() { s.ping = true }

// Seal stops numbered messages (a final frame announced the last one).
// It reports false if already sealed or ended.
func (s *Sender) Seal() bool {
	if s.sealed || s.ended {
		return false
	}
	s.sealed = true
	return true
}

// Close asks for the close frame after what is queued. It reports false
// if a close was already asked for or the connection ended.
func (s *Sender) Close() bool {
	if s.closing || s.ended {
		return false
	}
	s.closing = true
	return true
}

// Abort ends the connection at once, a close frame sent out of band. It
// reports false if it had already ended.
func (s *Sender) Abort() bool {
	if s.ended {
		return false
	}
	s.closing, s.ended = true, true
	return true
}

// End records that nothing more can be written (the close frame went, or
// the socket failed or closed); a writer still running finds nothing more
// to plan, and none is claimed again (Claim checks ended).
func (s *Sender) End() { s.ended = true }

// Claim makes the caller the writer and reports true, unless one runs,
// the connection ended or writes are held.
func (s *Sender) Claim() bool {
	if s.writing || s.ended || s.held {
		return false
	}
	s.writing = true
	return true
}

// Hold keeps anyone from claiming the writer until Release: the owner is
// producing frames (its hooks' replies and acks) to write in one go.
func (s *Sender) Hold() { s.held = true }

// Release lifts Hold and claims the writer for the caller, as Claim.
func (s *Sender) Release() bool {
	s.held = false
	return s.Claim()
}

// Plan takes what the next write carries; ctrl says the owner has control
// frames queued. It reports false when there is nothing to write, which
// ends the writer's claim. Once taken, the Ping and the ack are considered
// written.
func (s *Sender) Plan(ctrl bool) (Plan, bool) {
	p, ok := s.plan(ctrl)
	if !ok {
		s.writing = false
	}
	return p, ok
}

func (s *Sender) plan(ctrl bool) (Plan, bool) {
	if s.ended || (!s.ready && !s.closing) {
		return Plan{}, false
	}
	p := Plan{
		Data:  s.ready && s.written < s.target && !s.closing && !s.sealed,
		Ping:  s.ping && !s.closing,
		Close: s.closing,
		From:  s.written,
	}
	// A pending ack rides on anything written; a Ping carries it anyway.
	ack, due := s.Acks.Take(p.Data || ctrl || s.ping)
	p.Ack, p.AckFrame = ack, due && !p.Ping
	if !ctrl && !due && !s.ping && !p.Data && !p.Close {
		return Plan{}, false
	}
	s.ping = false
	return p, true
}

// Wrote records that the messages up to last were framed for writing.
func (s *Sender) Wrote(last uint64) {
	s.written = max(s.written, last)
	s.target = max(s.target, last)
}

// Exhausted records that nothing after what was written is kept: stop
// looking until another message exists.
func (s *Sender) Exhausted() { s.target = s.written }

// Skip moves past messages the peer acknowledged without our writing
// them here (it got them on a connection it left).
func (s *Sender) Skip(to uint64) { s.written = max(s.written, to) }

// Target is the highest seq known to exist.
func (s *Sender) Target() uint64 { return s.target }

// Written is the highest seq written.
func (s *Sender) Written() uint64 { return s.written }

// Ended reports whether nothing more is written.
func (s *Sender) Ended() bool { return s.ended }

// Closing reports whether a close was asked for (or the connection aborted).
func (s *Sender) Closing() bool { return s.closing }

// Sealed reports whether numbered messages stopped.
func (s *Sender) Sealed() bool { return s.sealed }
