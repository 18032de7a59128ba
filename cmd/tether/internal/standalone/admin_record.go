package standalone

import (
	"sort"
	"sync"
	"time"

	"github.com/tether-ws/tether"
)

// The admin page's memory is bounded by these sizes (docs/API.md,
// "Admin page"):
const (
	// fineStep × fineBuckets: the last hour in 10-second buckets.
	fineStep    = 10 * time.Second
	fineBuckets = 360
	// coarseStep × coarseBuckets: the last 24 hours in 5-minute buckets.
	coarseStep    = 5 * time.Minute
	coarseBuckets = 288
	// sessionEventCap lifecycle events are kept per session (the oldest
	// go first); a session held with no event costs nothing.
	sessionEventCap = 16
	// closedSessionCap sessions that ended are kept with their events,
	// the most recent ones, so that the operator can see why they left.
	closedSessionCap = 256
	// recentEventCap lifecycle events of every session, newest first, for
	// the page's feed.
	recentEventCap = 200
)

// maxCause bounds the causes counted by index (tether.Cause is a uint8
// with 15 values today; a larger one is counted at maxCause-1).
const maxCause = 32

// offlineBounds are the upper bounds of the offline-time histogram of
// resumes; a last tally counts longer ones.
var offlineBounds = []time.Duration{
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
	2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute,
}

// tally counts what happened during one step of a time series.
type tally struct {
	start       int64 // unix seconds of the step's start; 0: unused
	disconnects [maxCause]int
	closes      [maxCause]int
	opens       int
	resumes     int
	offline     [11]int // len(offlineBounds)+1
	replayedTo  int64
	replayedFr  int64
	lostTo      int64 // server→client messages of sessions that could not be resumed
	lostFrom    int64
	lostRooms   int64 // room messages history no longer held
	lostUnknown int   // room recoveries or sessions whose loss nobody can count
}

func (b *tally) add(o *tally) {
	for i := range b.disconnects {
		b.disconnects[i] += o.disconnects[i]
		b.closes[i] += o.closes[i]
	}
	for i := range b.offline {
		b.offline[i] += o.offline[i]
	}
	b.opens += o.opens
	b.resumes += o.resumes
	b.replayedTo += o.replayedTo
	b.replayedFr += o.replayedFr
	b.lostTo += o.lostTo
	b.lostFrom += o.lostFrom
	b.lostRooms += o.lostRooms
	b.lostUnknown += o.lostUnknown
}

// series is a ring of fixed buckets.
type series struct {
	step int64 // seconds
	b    []tally
}

func newSeries(step time.Duration, n int) *series {
	return &series{step: int64(step / time.Second), b: make([]tally, n)}
}

// at returns the tally for t, clearing it if it held an older step.
func (s *series) at(t time.Time) *tally {
	start := t.Unix() / s.step * s.step
	b := &s.b[(start/s.step)%int64(len(s.b))]
	if b.start != start {
		*b = tally{start: start}
	}
	return b
}

// lifecycleEvent is one thing that happened to a session.
type lifecycleEvent struct {
	Time    time.Time `json:"time"`
	Session string    `json:"session"`
	User    string    `json:"user"`
	// Kind: open, disconnect, resume, room-recovery, close.
	Kind   string `json:"kind"`
	Cause  string `json:"cause,omitempty"`  // disconnect and close
	Reason string `json:"reason,omitempty"` // a loss reason, a kick reason
	Room   string `json:"room,omitempty"`
	// OfflineMS is how long a resumed session had no connection.
	OfflineMS int64 `json:"offline_ms,omitempty"`
	// Replayed (resume) or recovered (room) messages; Lost: -1 unknown.
	Replayed     int    `json:"replayed,omitempty"`
	ReplayedFrom int    `json:"replayed_from_client,omitempty"`
	Lost         int64  `json:"lost,omitempty"`
	LostFrom     int64  `json:"lost_from_client,omitempty"`
	Skipped      int    `json:"skipped,omitempty"`
	Unacked      int    `json:"unacked,omitempty"`  // close: messages the client never acknowledged
	Previous     string `json:"previous,omitempty"` // open: the session that could not be resumed
	Error        string `json:"error,omitempty"`
}

// sessionHistory is the capped list of one session's events.
type sessionHistory struct {
	user string
	// opened is when the session opened, if nothing was lost before it:
	// such an open event is rebuilt from it when asked for, not kept,
	// since most sessions have no other event and an event costs about
	// 200 bytes. Zero if the open is in events, or dropped by the cap.
	opened time.Time
	events []lifecycleEvent // oldest first; at most sessionEventCap with the open
	closed *lifecycleEvent  // a copy of the close, once over
}

// openEvent is the open event of session id at at, with nothing lost
// before it: what opened stands for.
func openEvent(id, user string, at time.Time) lifecycleEvent {
	return lifecycleEvent{Time: at, Session: id, User: user, Kind: "open"}
}

// add keeps ev, dropping the oldest event beyond sessionEventCap.
func (h *sessionHistory) add(ev lifecycleEvent) {
	if len(h.events) == 0 && h.opened.IsZero() && ev == openEvent(ev.Session, h.user, ev.Time) {
		h.opened = ev.Time
		return
	}
	kept := len(h.events)
	if !h.opened.IsZero() {
		kept++
	}
	if kept == sessionEventCap {
		if !h.opened.IsZero() {
			h.opened = time.Time{}
		} else {
			copy(h.events, h.events[1:])
			h.events = h.events[:sessionEventCap-1]
		}
	}
	h.events = append(h.events, ev)
}

// recorder keeps what the admin page shows that the server's state does
// not: counts over time and lifecycle events. It is fed by the same hooks
// as the Prometheus metrics (hooks.go), so its totals are /metrics' ones.
type recorder struct {
	mu       sync.Mutex
	now      func() time.Time
	started  time.Time
	fine     *series
	coarse   *series
	total    tally
	lossWhy  map[string]*lossCount // "session:<reason>", "room:<reason>", "close:<cause>"
	sessions map[string]*sessionHistory
	// opens holds the sessions whose only event is an open with nothing
	// lost before it (most sessions): 40 bytes of map slot each, where a
	// sessionHistory costs about 110. Such a session moves to sessions at
	// its next event.
	opens    map[string]plainOpen
	ended    []string // IDs of ended sessions kept, oldest first
	recent   []lifecycleEvent
	recentAt int // next slot of the recent ring once full
	// held reports whether this server holds a session; once a minute
	// the events of sessions neither held nor ended here (handed over to
	// another server) are dropped.
	held      func(id string) bool
	lastPrune time.Time
}

// plainOpen is a session's open event with nothing lost before it.
type plainOpen struct {
	user string
	at   int64 // Unix nanoseconds
}

// history is the sessionHistory o stands for.
func (o plainOpen) history() *sessionHistory {
	return &sessionHistory{user: o.user, opened: time.Unix(0, o.at)}
}

// lossCount counts losses of one reason: how many times, how many messages
// (-1 events are counted in Unknown).
type lossCount struct {
	Kind     string `json:"kind"` // session, room or close
	Reason   string `json:"reason"`
	Events   int    `json:"events"`
	Messages int64  `json:"messages"`
	Unknown  int    `json:"unknown"` // events whose count nobody knows
}

func newRecorder(held func(id string) bool) *recorder {
	return &recorder{
		now: time.Now, started: time.Now(), held: held, lastPrune: time.Now(),
		fine: newSeries(fineStep, fineBuckets), coarse: newSeries(coarseStep, coarseBuckets),
		lossWhy: map[string]*lossCount{}, sessions: map[string]*sessionHistory{},
		opens: map[string]plainOpen{},
	}
}

// record adds an event: upd changes the counts of the buckets it falls in.
func (r *recorder) record(ev lifecycleEvent, upd func(*tally)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev.Time = r.now()
	if r.held != nil && ev.Time.Sub(r.lastPrune) > time.Minute {
		r.lastPrune = ev.Time
		for id, h := range r.sessions {
			if h.closed == nil && id != ev.Session && !r.held(id) {
				delete(r.sessions, id)
			}
		}
		for id := range r.opens {
			if id != ev.Session && !r.held(id) {
				delete(r.opens, id)
			}
		}
	}
	if upd != nil {
		upd(r.fine.at(ev.Time))
		upd(r.coarse.at(ev.Time))
		upd(&r.total)
	}
	r.keep(ev)
	if len(r.recent) < recentEventCap {
		r.recent = append(r.recent, ev)
	} else {
		r.recent[r.recentAt] = ev
		r.recentAt = (r.recentAt + 1) % recentEventCap
	}
}

// keep adds ev to its session's events.
func (r *recorder) keep(ev lifecycleEvent) {
	h := r.sessions[ev.Session]
	if h == nil {
		o, ok := r.opens[ev.Session]
		switch {
		case ok:
			delete(r.opens, ev.Session)
			h = o.history()
		case ev == openEvent(ev.Session, ev.User, ev.Time):
			r.opens[ev.Session] = plainOpen{user: ev.User, at: ev.Time.UnixNano()}
			return
		default:
			h = &sessionHistory{user: ev.User}
		}
		r.sessions[ev.Session] = h
	}
	h.add(ev)
	if ev.Kind == "close" && h.closed == nil {
		c := ev
		h.closed = &c
		r.ended = append(r.ended, ev.Session)
		if len(r.ended) > closedSessionCap {
			delete(r.sessions, r.ended[0])
			r.ended = r.ended[1:]
		}
	}
}

func (r *recorder) loss(kind, reason string, messages int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := kind + ":" + reason
	l := r.lossWhy[k]
	if l == nil {
		l = &lossCount{Kind: kind, Reason: reason}
		r.lossWhy[k] = l
	}
	l.Events++
	if messages < 0 {
		l.Unknown++
	} else {
		l.Messages += messages
	}
}

func causeIndex(c tether.Cause) int { return min(int(c), maxCause-1) }

func offlineIndex(d time.Duration) int {
	for i, b := range offlineBounds {
		if d <= b {
			return i
		}
	}
	return len(offlineBounds)
}

func (r *recorder) opened(s *tether.Session, prev *tether.Loss) {
	ev := lifecycleEvent{Session: s.ID(), User: s.UserID(), Kind: "open"}
	if prev != nil {
		ev.Previous, ev.Reason, ev.Lost, ev.LostFrom = prev.SessionID, prev.Reason.String(), prev.ToClient, prev.FromClient
		lost := prev.ToClient
		if lost >= 0 && prev.FromClient > 0 {
			lost += prev.FromClient
		}
		r.loss("session", prev.Reason.String(), lost)
	}
	r.record(ev, func(b *tally) {
		b.opens++
		if prev == nil {
			return
		}
		if prev.ToClient < 0 || prev.FromClient < 0 {
			b.lostUnknown++
		}
		b.lostTo += max(prev.ToClient, 0)
		b.lostFrom += max(prev.FromClient, 0)
	})
}

func (r *recorder) disconnected(s *tether.Session, d tether.Disconnect) {
	ev := lifecycleEvent{Session: s.ID(), User: s.UserID(), Kind: "disconnect", Cause: d.Cause.String()}
	if d.Err != nil {
		ev.Error = truncate(d.Err.Error(), 200)
	}
	i := causeIndex(d.Cause)
	r.record(ev, func(b *tally) { b.disconnects[i]++ })
}

func (r *recorder) resumed(s *tether.Session, res tether.Resume) {
	ev := lifecycleEvent{Session: s.ID(), User: s.UserID(), Kind: "resume", OfflineMS: res.Offline.Milliseconds(),
		Replayed: res.ToClient, ReplayedFrom: res.FromClient}
	i := offlineIndex(res.Offline)
	r.record(ev, func(b *tally) {
		b.resumes++
		b.offline[i]++
		b.replayedTo += int64(res.ToClient)
		b.replayedFr += int64(res.FromClient)
	})
}

func (r *recorder) roomRecovered(s *tether.Session, rr tether.RoomRecovery) {
	ev := lifecycleEvent{Session: s.ID(), User: s.UserID(), Kind: "room-recovery", Room: rr.Room,
		Replayed: rr.Recovered, Skipped: rr.Skipped, Lost: rr.Lost}
	if rr.Lost != 0 {
		ev.Reason = rr.Reason.String()
		r.loss("room", rr.Reason.String(), rr.Lost)
	}
	if !rr.Readmitted {
		ev.Reason = "not-readmitted"
	}
	r.record(ev, func(b *tally) {
		b.replayedTo += int64(rr.Recovered)
		if rr.Lost < 0 {
			b.lostUnknown++
		} else {
			b.lostRooms += rr.Lost
		}
	})
}

func (r *recorder) sessionClosed(s *tether.Session, c tether.Closure) {
	ev := lifecycleEvent{Session: s.ID(), User: s.UserID(), Kind: "close", Cause: c.Cause.String(), Unacked: c.Unacked}
	if c.Err != nil {
		ev.Error = truncate(c.Err.Error(), 200)
	}
	if c.Cause == tether.CauseKicked {
		ev.Reason = c.Reason
	}
	if c.Unacked > 0 {
		r.loss("close", c.Cause.String(), int64(c.Unacked))
	}
	i := causeIndex(c.Cause)
	r.record(ev, func(b *tally) { b.closes[i]++ })
}

// events returns a session's kept events, oldest first.
func (r *recorder) events(id string) (user string, evs []lifecycleEvent, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.sessions[id]
	if h == nil {
		o, ok := r.opens[id]
		if !ok {
			return "", nil, false
		}
		h = o.history()
	}
	evs = make([]lifecycleEvent, 0, len(h.events)+1)
	if !h.opened.IsZero() {
		evs = append(evs, openEvent(id, h.user, h.opened))
	}
	return h.user, append(evs, h.events...), true
}

// lastEvent returns a held session's last event time and kind, and its
// last disconnect cause (for the list).
func (r *recorder) lastCause(id string) (cause string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.sessions[id]
	if h == nil {
		return "", time.Time{}
	}
	for i := len(h.events) - 1; i >= 0; i-- {
		if e := h.events[i]; e.Kind == "disconnect" || e.Kind == "close" {
			return e.Cause, e.Time
		}
	}
	return "", time.Time{}
}

// closedSessions returns the kept ended sessions, newest first.
func (r *recorder) closedSessions() []lifecycleEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]lifecycleEvent, 0, len(r.ended))
	for i := len(r.ended) - 1; i >= 0; i-- {
		if h := r.sessions[r.ended[i]]; h != nil && h.closed != nil {
			out = append(out, *h.closed)
		}
	}
	return out
}

// seriesPoint is one tally as the page gets it.
type seriesPoint struct {
	T           int64          `json:"t"` // unix seconds
	Disconnects map[string]int `json:"disconnects,omitempty"`
	Closes      map[string]int `json:"closes,omitempty"`
	Opens       int            `json:"opens,omitempty"`
	Resumes     int            `json:"resumes,omitempty"`
	Replayed    int64          `json:"replayed,omitempty"`
	Lost        int64          `json:"lost,omitempty"`
	LostUnknown int            `json:"lost_unknown,omitempty"`
}

// totals is a tally as the page gets it.
type totals struct {
	Disconnects  map[string]int `json:"disconnects"`
	Closes       map[string]int `json:"closes"`
	Opens        int            `json:"opens"`
	Resumes      int            `json:"resumes"`
	Offline      []histBin      `json:"offline"`
	ReplayedTo   int64          `json:"replayed_to_client"`
	ReplayedFrom int64          `json:"replayed_from_client"`
	LostTo       int64          `json:"lost_to_client"`
	LostFrom     int64          `json:"lost_from_client"`
	LostRooms    int64          `json:"lost_room_messages"`
	LostUnknown  int            `json:"lost_unknown"`
}

type histBin struct {
	LE    string `json:"le"` // upper bound, "+Inf" for the last
	Count int    `json:"count"`
}

func causeCounts(c *[maxCause]int) map[string]int {
	m := map[string]int{}
	for i, n := range c {
		if n != 0 {
			m[tether.Cause(i).String()] = n
		}
	}
	return m
}

func (b *tally) totals() totals {
	t := totals{Disconnects: causeCounts(&b.disconnects), Closes: causeCounts(&b.closes), Opens: b.opens, Resumes: b.resumes,
		ReplayedTo: b.replayedTo, ReplayedFrom: b.replayedFr, LostTo: b.lostTo, LostFrom: b.lostFrom, LostRooms: b.lostRooms, LostUnknown: b.lostUnknown}
	for i, n := range b.offline {
		le := "+Inf"
		if i < len(offlineBounds) {
			le = offlineBounds[i].String()
		}
		t.Offline = append(t.Offline, histBin{LE: le, Count: n})
	}
	return t
}

// window returns the points of the last d (10-second buckets up to an
// hour, 5-minute ones beyond), oldest first, and their sum.
func (r *recorder) window(d time.Duration) (step time.Duration, pts []seriesPoint, sum totals) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.fine
	if d > fineStep*fineBuckets {
		s = r.coarse
	}
	n := int(int64(d/time.Second) / s.step)
	n = min(max(n, 1), len(s.b))
	now := r.now().Unix() / s.step * s.step
	var acc tally
	pts = make([]seriesPoint, 0, n)
	for i := n - 1; i >= 0; i-- {
		start := now - int64(i)*s.step
		b := &s.b[(start/s.step)%int64(len(s.b))]
		p := seriesPoint{T: start}
		if b.start == start {
			acc.add(b)
			p.Disconnects, p.Closes = causeCounts(&b.disconnects), causeCounts(&b.closes)
			p.Opens, p.Resumes, p.Replayed = b.opens, b.resumes, b.replayedTo+b.replayedFr
			p.Lost, p.LostUnknown = b.lostTo+b.lostFrom+b.lostRooms, b.lostUnknown
		}
		pts = append(pts, p)
	}
	return time.Duration(s.step) * time.Second, pts, acc.totals()
}

// snapshot returns the totals since start, the losses by reason and the
// recent events, newest first.
func (r *recorder) snapshot() (totals, []lossCount, []lifecycleEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	losses := make([]lossCount, 0, len(r.lossWhy))
	for _, l := range r.lossWhy {
		losses = append(losses, *l)
	}
	sort.Slice(losses, func(i, j int) bool {
		if losses[i].Kind != losses[j].Kind {
			return losses[i].Kind < losses[j].Kind
		}
		return losses[i].Reason < losses[j].Reason
	})
	recent := make([]lifecycleEvent, 0, len(r.recent))
	for i := len(r.recent) - 1; i >= 0; i-- {
		recent = append(recent, r.recent[(r.recentAt+i)%len(r.recent)])
	}
	return r.total.totals(), losses, recent
}
