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

// Step is what a draining connection does next (Probe.Next).
type Step uint8

const (
	// StepWait: nothing yet; the event that changes the answer checks
	// again (a Pong or the client's GoAway fencing it, a processing
	// ending, a Send ending, an ack, the barrier passing).
	StepWait Step = iota
	// StepQuiet: the connection has just settled on a server whose
	// sessions end with it; tell the server (it passes the barrier once
	// every connection has), then ask again.
	StepQuiet
	// StepLoad: read the session's numbered and acknowledged counts from
	// the store and give them to Finish.
	StepLoad
)

// String names the step for tests and logs.
func (s Step) String() string {
	switch s {
	case StepWait:
		return "wait"
	case StepQuiet:
		return "quiet"
	case StepLoad:
		return "load"
	}
	return "step?"
}

// View is what Next reads of the session and its connection, taken
// together under the session's lock.
type View struct {
	Over      bool // the connection's writing is sealed or ended: its last frames are decided
	Even      bool // Counts.Even: every message taken before the fence processed
	Shared    bool // a store shared by servers: the session outlives this one
	Final     bool // the drain's barrier passed (the server's sessions end with it)
	Appending bool // Counts.Appending: a Send is numbering a message
}

// Next decides a draining connection's next step before its final
// frames (PROTOCOL.md §10): settle (Settle), and on a server whose
// sessions end with it wait for the barrier, after which no Send starts;
// then wait for the Sends under way, whose seqs the final GoAway must
// cover, and read the store.
func (p *Probe) Next(v View) Step {
	if v.Over {
		return StepWait
	}
	ok, quiet := p.Settle(v.Even, v.Shared)
	switch {
	case !ok:
		return StepWait
	case quiet:
		return StepQuiet
	case !v.Shared && !v.Final, v.Appending:
		return StepWait
	}
	return StepLoad
}

// Finish decides, from the store's counts that StepLoad read (found
// false: the store no longer has the session), whether the final Ack and
// GoAway go out now. On a server whose sessions end with it they wait for
// the client to acknowledge every message numbered for it (acked == out),
// so that its count of what it missed is exact; its ack checks again.
// With a shared store they go out at once: the session, and what the
// client has not acknowledged, live on in the store for its next server.
func Finish(shared, found bool, acked, out uint64) bool {
	return shared || !found || acked == out
}
