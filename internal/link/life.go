package link

// Phase is where a session is in its life on a server. Its values are
// the root package's SessionState values.
type Phase uint8

// Phases.
const (
	Opening      Phase = iota // made, no connection attached yet
	Connected                 // a connection is attached
	Disconnected              // waiting for a resume within the grace window
	Closed                    // over
)

func (p Phase) String() string {
	switch p {
	case Opening:
		return "opening"
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	case Closed:
		return "closed"
	}
	return "invalid"
}

// Route is where a Send to the session goes.
type Route uint8

// Routes.
const (
	Here      Route = iota // numbered and kept here, for the client
	Ending                 // numbered here, but the session is closed: counted among what its client lost
	Elsewhere              // another server holds the session: it goes through the store
	Gone                   // the session is over here and its tombstone is being written, or it ended elsewhere
	Refused                // the server drains: no more Sends
)

func (r Route) String() string {
	switch r {
	case Here:
		return "here"
	case Ending:
		return "ending"
	case Elsewhere:
		return "elsewhere"
	case Gone:
		return "gone"
	case Refused:
		return "refused"
	}
	return "invalid"
}

// Life is a session's life on one server: the connection attached to it,
// since when it waits for a resume and the generation of the timer that
// ends the wait, whether another server holds it and whether the server
// drains. C is the owner's connection (its zero value: none). Moments are
// the owner's stamps (0: none), passed in: no transition reads a clock,
// arms a timer or closes a connection; each returns what the owner must
// do.
type Life[C comparable] struct {
	conn  C
	since int64  // when the client went away; 0 while connected
	gen   uint32 // the expiry's generation: a timer armed for an older one does nothing
	phase Phase
	final bool // the server drains: Sends are refused
	moved bool // another server holds the session, or it is being handed over
}

// Open attaches a new session's first connection.
func (l *Life[C]) Open(c C) { l.conn, l.phase = c, Connected }

// Hold is a session taken over from another server whose client has been
// away since then: the owner arms the expiry for gen.
func (l *Life[C]) Hold(since int64) (gen uint32) {
	l.phase, l.since = Disconnected, since
	l.gen++
	return l.gen
}

// Attach attaches c to a resumed session. It returns the connection c
// replaces, which the owner closes, and since when the client was away (0:
// it was connected); ok is false if the session is over. A pending expiry
// no longer ends the session.
func (l *Life[C]) Attach(c C) (old C, away int64, ok bool) {
	if l.phase == Closed {
		return old, 0, false
	}
	if l.phase == Disconnected {
		away = l.since
	}
	old = l.conn
	l.conn, l.phase, l.since = c, Connected, 0
	l.gen++
	return old, away, true
}

// Detach is c gone at now: the session waits for a resume, and the owner
// arms the expiry for gen. ok is false, and nothing changes, unless c is
// the connection of a connected session (a replaced one goes unnoticed).
func (l *Life[C]) Detach(c C, now int64) (gen uint32, ok bool) {
	if l.conn != c || l.phase != Connected {
		return 0, false
	}
	var none C
	l.conn, l.phase, l.since = none, Disconnected, now
	l.gen++
	return l.gen, true
}

// Expire is the expiry armed for gen running: whether the session ends,
// i.e. it still waits and was neither resumed nor armed again since.
func (l *Life[C]) Expire(gen uint32) bool { return l.phase == Disconnected && l.gen == gen }

// End ends the session and returns its connection, which the owner
// closes; ok is false if it was over already.
func (l *Life[C]) End() (c C, ok bool) {
	if l.phase == Closed {
		return c, false
	}
	c = l.conn
	var none C
	l.conn, l.phase = none, Closed
	return c, true
}

// Leave hands the session to another server at now: it returns the
// connection, which the owner closes, and whether one was attached (its
// disconnect is reported); ok is false if the session is over or leaving
// already. A pending expiry no longer ends it: the new owner's does.
func (l *Life[C]) Leave(now int64) (c C, connected, ok bool) {
	if l.phase == Closed || l.moved {
		return c, false, false
	}
	l.moved = true
	c = l.conn
	var none C
	l.conn = none
	if l.phase == Connected {
		connected = true
		l.since = now
	}
	l.phase = Disconnected
	l.gen++
	return c, connected, true
}

// Finalize is the server's drain passing its barrier: Sends are refused
// from now on.
func (l *Life[C]) Finalize() { l.final = true }

// Route says where a Send goes; sealed: the session's tombstone is being
// written.
func (l *Life[C]) Route(sealed bool) Route {
	switch {
	case sealed, l.phase == Closed && l.moved:
		return Gone
	case l.moved:
		return Elsewhere
	case l.final:
		return Refused
	case l.phase == Closed:
		return Ending
	}
	return Here
}

// Conn is the attached connection, or none.
func (l *Life[C]) Conn() C { return l.conn }

// Current reports whether c is the connection of a connected session.
func (l *Life[C]) Current(c C) bool { return l.conn == c && l.phase == Connected }

// Phase is where the session is.
func (l *Life[C]) Phase() Phase { return l.phase }

// Since is when the client went away (0: connected, or never attached).
func (l *Life[C]) Since() int64 { return l.since }

// Moved reports whether another server holds the session (or it is being
// handed over).
func (l *Life[C]) Moved() bool { return l.moved }

// Remote reports whether the session lives on elsewhere: moved, not over.
func (l *Life[C]) Remote() bool { return l.moved && l.phase != Closed }

// Final reports whether the server's drain passed its barrier.
func (l *Life[C]) Final() bool { return l.final }
