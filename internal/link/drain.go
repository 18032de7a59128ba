package link

// Probe is the server's watch on a draining client (PROTOCOL.md §10): after
// its GoAway the server writes a Ping. Pongs answer Pings in order, one or
// more each, so the Pong that answers the Ping after the GoAway, or any
// later one, shows the client read the GoAway. A client that answers it
// without answering the GoAway ignores the drain: it is fenced (its
// messages are no longer taken). The zero value is a connection that is
// not draining.
type Probe struct {
	draining bool
	answered bool // the client's GoAway arrived
	fenced   bool // the client's messages are no longer taken
	quiet    bool // settled, and the server was told (Settle)
	// 32 bits each, so that a Probe is 16 bytes: a connection carries one.
	pings   int32 // Pings written on the connection
	pongs   int32 // Pongs received
	probeAt int32 // the number of the first Ping after the GoAway; 0: not written yet
}

// Start records that the GoAway is queued; it reports false if it already
// was.
func (p *Probe) Start() bool {
	if p.draining {
		return false
	}
	p.draining = true
	return true
}

// Draining reports whether the GoAway is queued.
func (p *Probe) Draining() bool { return p.draining }

// PingWritten counts a Ping taken for writing; the first after Start is
// the probe.
func (p *Probe) PingWritten() {
	p.pings++
	if p.draining && p.probeAt == 0 {
		p.probeAt = p.pings
	}
}

// Pong counts a Pong and reports whether it shows a client that read the
// GoAway without answering it: time to fence.
func (p *Probe) Pong() (fence bool) {
	p.pongs++
	return p.probeAt > 0 && p.pongs >= p.probeAt && !p.answered
}

// GoAway records the client's answer to the GoAway.
func (p *Probe) GoAway() { p.answered = true }

// Fence records that the client's messages are no longer taken: from now
// on they are dropped unprocessed, never acknowledged (the client sends
// them again or reports them). It reports true the first time, and only
// on a draining connection.
func (p *Probe) Fence() bool {
	if !p.draining || p.fenced {
		return false
	}
	p.fenced = true
	return true
}

// Fenced reports whether the client's messages are no longer taken.
func (p *Probe) Fenced() bool { return p.fenced }

// Settle reports whether the connection has passed the drain's barrier
// on its side: fenced, and every message taken before the fence processed
// (even: Counts.Even). quiet is true the first time it has, on a server
// whose sessions end with it (not shared): the server then checks whether
// every connection has, and announces the last seqs once they all have.
// With a shared store each connection settles alone.
func (p *Probe) Settle(even, shared bool) (ok, quiet bool) {
	ok = p.fenced && even
	if ok && !shared && !p.quiet {
		p.quiet = true
		return true, true
	}
	return ok, false
}

// Quiet reports whether Settle has returned quiet.
func (p *Probe) Quiet() bool { return p.quiet }
