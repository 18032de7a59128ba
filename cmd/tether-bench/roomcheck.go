package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Room streams (docs/PROTOCOL.md §14). With the rooms feature, every
// broadcast reaches a Tether client as a room message carrying the room's
// offset, and a client whose session was lost presents its position in
// each room when it starts a new one; the server replays what the room
// published after it and reports, per room, what it could not: the
// client's RoomJoined says Recovered, Skipped (still in history, not
// replayed) and Lost (gone; -1 when nobody can know, with a reason).
//
// The checker follows each room of each client by offset, as the client
// itself does:
//
//   - the first RoomJoined sets the client's base: every offset above it,
//     up to the room's last, must reach it, once and in order;
//   - a RoomJoined after a lost session (a return) places the client at a
//     new position; the offsets between the position the client
//     presented and the new one are those the server says it will not
//     get, and Lost + Skipped must be exactly their number (a gap the
//     server does not count, or counts wrong, is unexplained); with Lost
//     -1 (another epoch, or a position the stream does not have any more)
//     the count is unknown, and the server application must have been
//     told the same (below);
//   - an offset that never arrived and is not inside such a gap, an
//     offset delivered twice or out of order, is unexplained;
//   - every client of a worker must see the same payload at the same
//     offset of a room, and a payload at one offset only (the room's
//     order is the same for every member; the coordinator merges the
//     workers' maps).
//
// Each return is also matched with what the server application was told
// for that session and room (OnRoomRecovery in the built-in server, the
// room_recovery webhook of the standalone one): the counts must be the
// same, and a loss of unknown count the client saw must be one the
// server reported as unknown too. Room messages are not counted in the
// session-level reconciliation (SessionLost.ToClient counts them among
// the lost session's messages, but the room recovers them): only the
// other messages (echoes) must be covered by it.

// roomCheck is one client's view of one room.
type roomCheck struct {
	epoch   string
	base    uint64   // position at the first join: offsets above it are this client's
	pos     uint64   // the client's position, as it presents it: last offset accepted, or set by RoomJoined
	off     seqCheck // offsets delivered, in the current epoch
	left    bool     // told it left the room (not readmitted)
	unknown bool     // told an unknown number of its messages are lost

	lost        uint64 // offsets told gone from history (Lost), within gaps
	skipped     uint64 // offsets told still in history, not replayed (Skipped), within gaps
	uncounted   uint64 // offsets of gaps beyond Lost + Skipped
	overcounted uint64 // Lost + Skipped beyond the gaps
	prev        tally  // deliveries of earlier epochs
}

// roomReturn is what one return into a room reported, as the client saw it
// or as the server application was told it.
type roomReturn struct {
	Session   string `json:"session"` // the new session
	Room      string `json:"room"`
	Readmit   bool   `json:"readmit"`
	Recovered int    `json:"recovered"`
	Skipped   int    `json:"skipped"`
	Lost      int64  `json:"lost"` // -1: unknown
}

func (r roomReturn) String() string {
	return fmt.Sprintf("%s in %q: readmitted %v, recovered %d, skipped %d, lost %d", r.Session, r.Room, r.Readmit, r.Recovered, r.Skipped, r.Lost)
}

// maxReturns bounds the returns one worker reports.
const maxReturns = 100_000

// roomTally sums what the clients saw of room streams.
type roomTally struct {
	Members   int    `json:"members"`   // client × room checked
	Recv      uint64 `json:"recv"`      // room messages delivered
	Returns   int    `json:"returns"`   // RoomJoined after a lost session
	Recovered uint64 `json:"recovered"` // messages those returns announced
	// Offsets never delivered that the client was told about.
	Lost        uint64 `json:"lost"`         // exactly: gone from history
	Skipped     uint64 `json:"skipped"`      // exactly: in history, not replayed
	Unknown     int    `json:"unknown"`      // returns that said "count unknown"
	LostUnknown uint64 `json:"lost_unknown"` // offsets missing in rooms told "unknown"
	Left        int    `json:"left"`         // not readmitted
	LostLeft    uint64 `json:"lost_left"`    // offsets after such a leave
	// Away counts the offsets after the last a client got that was not
	// connected when it reported: not delivered yet (its next session
	// recovers them or counts them), not lost without a word either. A
	// run with any is not settled.
	Away uint64 `json:"away,omitempty"`
	// Violations.
	Unexplained uint64 `json:"unexplained"` // offsets missing outside any gap a return made
	Uncounted   uint64 `json:"uncounted"`   // offsets of such gaps beyond Lost + Skipped
	Overcounted uint64 `json:"overcounted"` // Lost + Skipped beyond the gap
	Dup         uint64 `json:"dup"`
	Reorder     uint64 `json:"reorder"`
	Conflicts   uint64 `json:"conflicts"` // an offset with two payloads, or a payload at two offsets
	// LateJoins counts clients whose first join was after the room's
	// first message (they are not owed the earlier ones).
	LateJoins int `json:"late_joins"`
}

func (t *roomTally) add(o roomTally) {
	t.Members += o.Members
	t.Recv += o.Recv
	t.Returns += o.Returns
	t.Recovered += o.Recovered
	t.Lost += o.Lost
	t.Skipped += o.Skipped
	t.Unknown += o.Unknown
	t.LostUnknown += o.LostUnknown
	t.Left += o.Left
	t.LostLeft += o.LostLeft
	t.Away += o.Away
	t.Unexplained += o.Unexplained
	t.Uncounted += o.Uncounted
	t.Overcounted += o.Overcounted
	t.Dup += o.Dup
	t.Reorder += o.Reorder
	t.Conflicts += o.Conflicts
	t.LateJoins += o.LateJoins
}

// violations counts what no report explains, duplicates and reorders
// aside (they are counted with the other fan-out messages).
func (t *roomTally) violations() uint64 {
	return t.Unexplained + t.Uncounted + t.Overcounted + t.Conflicts
}

// missed counts the offsets never delivered, explained or not.
func (t *roomTally) missed() uint64 {
	return t.Lost + t.Skipped + t.LostUnknown + t.LostLeft + t.Unexplained + t.Uncounted
}

// roomExpect is what a drain expects of a room: every offset up to Last,
// or, when the server does not say offsets (0), N messages after each
// client's first position.
type roomExpect struct {
	Last uint64 `json:"last,omitempty"`
	N    uint64 `json:"n,omitempty"`
}

func (e roomExpect) last(base uint64) uint64 {
	if e.Last > 0 {
		return e.Last
	}
	return base + e.N
}

// joined applies a RoomJoined (e.g. client.RoomJoined); it returns the
// return to report, if it was one. c.mu held.
func (c *bclient) joinedLocked(room, epoch string, at uint64, ret roomReturn) (roomReturn, bool) {
	if c.rooms == nil {
		c.rooms = make(map[string]*roomCheck, 1)
	}
	r := c.rooms[room]
	switch {
	case r == nil:
		// The first join: the client is owed what follows.
		r = &roomCheck{epoch: epoch, base: at, pos: at}
		r.off.next = at + 1
		c.rooms[room] = r
		return ret, false
	case r.left:
		// Back after leaving: owed what follows again.
		r.prev.add(r.off.tally())
		r.off = seqCheck{next: at + 1}
		r.epoch, r.pos, r.left = epoch, at, false
		return ret, false
	}
	ret.Readmit = true
	switch {
	case ret.Lost < 0:
		// Unknown: the stream changed (another epoch) or lost its last
		// messages. What follows is checked from the new position.
		r.unknown = true
		if epoch != r.epoch || at < r.pos {
			r.prev.add(r.off.tally())
			r.off = seqCheck{next: at + 1}
		}
	case epoch != r.epoch:
		// Another epoch, yet an exact count: offsets of two epochs are
		// not comparable, so no count can be exact.
		r.overcounted++
		r.prev.add(r.off.tally())
		r.off = seqCheck{next: at + 1}
	default:
		var gap uint64
		if at > r.pos {
			gap = at - r.pos
		}
		told := uint64(ret.Lost) + uint64(ret.Skipped)
		counted := min(told, gap)
		r.uncounted += gap - counted
		r.overcounted += told - counted
		r.lost += min(uint64(ret.Lost), counted)
		r.skipped += counted - min(uint64(ret.Lost), counted)
		if at >= r.off.next {
			// The gap is accounted for here, not as missing offsets.
			r.off.next = at + 1
		}
		// A position below the client's (at < pos) would make it take
		// offsets it has again: they show up as duplicates.
	}
	r.epoch, r.pos, r.left = epoch, at, false
	return ret, true
}

// leftLocked applies a RoomLeft; it returns the return to report when
// the client was not readmitted. c.mu held.
func (c *bclient) leftLocked(room string, notReadmitted bool) (roomReturn, bool) {
	r := c.rooms[room]
	if r == nil {
		return roomReturn{}, false
	}
	r.left = true
	return roomReturn{Session: c.session, Room: room}, notReadmitted
}

// roomMessageLocked checks a room message and returns the room's epoch;
// c.mu held.
func (c *bclient) roomMessageLocked(room string, offset uint64) string {
	if c.rooms == nil {
		c.rooms = make(map[string]*roomCheck, 1)
	}
	r := c.rooms[room]
	if r == nil {
		// A message before any RoomJoined: the protocol sends the event
		// first. Owed from here on.
		r = &roomCheck{base: offset - 1, pos: offset - 1}
		r.off.next = offset
		c.rooms[room] = r
		c.w.noteErr(fmt.Errorf("client %d got offset %d of %q before joining it", c.cid, offset, room))
	}
	r.off.see(offset)
	r.pos = max(r.pos, offset)
	return r.epoch
}

// roomSettledLocked reports whether the client has every offset of every
// expected room, or was told why not; c.mu held.
func (c *bclient) roomSettledLocked(expect map[string]roomExpect) bool {
	for room, e := range expect {
		r := c.rooms[room]
		if r == nil {
			return false
		}
		if r.left {
			continue
		}
		if !r.off.complete(e.last(r.base)) {
			return false
		}
	}
	return true
}

// roomReportLocked adds the client's rooms to t; c.mu held.
func (c *bclient) roomReportLocked(expect map[string]roomExpect, t *roomTally) {
	for _, ret := range c.returns {
		if !ret.Readmit {
			continue // counted with Left
		}
		t.Returns++
		t.Recovered += uint64(ret.Recovered)
		if ret.Lost < 0 {
			t.Unknown++
		}
	}
	for room, r := range c.rooms {
		e, ok := expect[room]
		if !ok {
			continue
		}
		t.Members++
		if r.base > 0 && e.Last > 0 && e.N > 0 && r.base > e.Last-e.N {
			t.LateJoins++
		}
		t.Recv += r.off.recv + r.prev.Recv
		t.Dup += r.off.dup + r.prev.Dup
		t.Reorder += r.off.reorder + r.prev.Reorder
		t.Lost += r.lost
		t.Skipped += r.skipped
		t.Uncounted += r.uncounted
		t.Overcounted += r.overcounted
		last := e.last(r.base)
		missing := r.off.lost(last, nil) + r.prev.Lost
		switch {
		case r.left:
			t.Left++
			t.LostLeft += missing
		case r.unknown:
			t.LostUnknown += missing
		case !c.up && last > r.off.highest():
			tail := last - r.off.highest()
			t.Away += tail
			t.Unexplained += missing - tail
		default:
			t.Unexplained += missing
		}
	}
}

// --- the same payload at the same offset for every member -------------------

// payloadKey names a fan-out payload: its stream and number.
func payloadKey(h header) uint64 { return h.stream<<40 | h.seq }

type roomOffset struct {
	room, epoch string
	offset      uint64
}

const identShards = 16

// roomIdent maps, across the clients of a worker, each room offset to the
// payload seen at it and each payload to its offset.
type roomIdent struct {
	mu        [identShards]sync.Mutex
	at        [identShards]map[roomOffset]uint64
	keyMu     [identShards]sync.Mutex
	offsetOf  [identShards]map[uint64]roomOffset
	conflicts [identShards]uint64
}

// see records that a client got payload key at room's offset (in epoch);
// it reports whether that contradicts what another client got.
func (ri *roomIdent) see(room, epoch string, offset, key uint64) bool {
	ro := roomOffset{room, epoch, offset}
	bad := false
	i := offset % identShards
	ri.mu[i].Lock()
	if ri.at[i] == nil {
		ri.at[i] = make(map[roomOffset]uint64)
	}
	if k, ok := ri.at[i][ro]; !ok {
		ri.at[i][ro] = key
	} else if k != key {
		bad = true
	}
	ri.mu[i].Unlock()
	j := key % identShards
	ri.keyMu[j].Lock()
	if ri.offsetOf[j] == nil {
		ri.offsetOf[j] = make(map[uint64]roomOffset)
	}
	if o, ok := ri.offsetOf[j][key]; !ok {
		ri.offsetOf[j][key] = ro
	} else if o != ro {
		bad = true
	}
	if bad {
		ri.conflicts[j]++
	}
	ri.keyMu[j].Unlock()
	return bad
}

// identRun is a run of consecutive offsets of a room carrying consecutive
// payloads of one stream: offset+i carries payload key+i, i < N.
type identRun struct {
	Room   string `json:"room"`
	Epoch  string `json:"epoch"`
	Offset uint64 `json:"offset"`
	Key    uint64 `json:"key"`
	N      uint64 `json:"n"`
}

// identEntry is one offset of a room and the payload seen at it.
type identEntry struct {
	ro  roomOffset
	key uint64
}

// runs returns the map as runs, and the conflicts seen.
func (ri *roomIdent) runs() ([]identRun, uint64) {
	var all []identEntry
	var conflicts uint64
	for i := range ri.at {
		ri.mu[i].Lock()
		for ro, k := range ri.at[i] {
			all = append(all, identEntry{ro, k})
		}
		ri.mu[i].Unlock()
		ri.keyMu[i].Lock()
		conflicts += ri.conflicts[i]
		ri.keyMu[i].Unlock()
	}
	slices.SortFunc(all, func(a, b identEntry) int {
		if c := strings.Compare(a.ro.room, b.ro.room); c != 0 {
			return c
		}
		if c := strings.Compare(a.ro.epoch, b.ro.epoch); c != 0 {
			return c
		}
		return cmp.Compare(a.ro.offset, b.ro.offset)
	})
	var out []identRun
	for _, e := range all {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.Room == e.ro.room && last.Epoch == e.ro.epoch && last.Offset+last.N == e.ro.offset && last.Key+last.N == e.key {
				last.N++
				continue
			}
		}
		out = append(out, identRun{Room: e.ro.room, Epoch: e.ro.epoch, Offset: e.ro.offset, Key: e.key, N: 1})
	}
	return out, conflicts
}

// identConflicts merges the workers' runs and counts the offsets (or
// payloads) for which two workers disagree.
func identConflicts(runs [][]identRun) uint64 {
	at := map[roomOffset]uint64{}
	offsetOf := map[uint64]roomOffset{}
	var n uint64
	for _, rs := range runs {
		for _, r := range rs {
			for i := range r.N {
				ro, k := roomOffset{r.Room, r.Epoch, r.Offset + i}, r.Key+i
				bad := false
				if k0, ok := at[ro]; ok && k0 != k {
					bad = true
				}
				if o, ok := offsetOf[k]; ok && o != ro {
					bad = true
				}
				if bad {
					n++
					continue
				}
				at[ro], offsetOf[k] = k, ro
			}
		}
	}
	return n
}

// reconcileReturns matches the returns the clients saw with those the
// server application was told. It returns how many the clients saw that
// the server reported otherwise (or not at all), and how many the server
// reported that no client saw (a return whose RoomJoined was lost with
// the session it was sent in: the client returned again).
func reconcileReturns(client, server []roomReturn, notef func(string, ...any)) (mismatched, unseen int) {
	type key struct{ session, room string }
	srv := make(map[key]roomReturn, len(server))
	for _, r := range server {
		srv[key{r.Session, r.Room}] = r
	}
	const shown = 3
	for _, r := range client {
		k := key{r.Session, r.Room}
		s, ok := srv[k]
		delete(srv, k)
		switch {
		case !ok:
			if mismatched++; mismatched <= shown {
				notef("the server did not report the return of %s", r)
			}
		case s != r:
			if mismatched++; mismatched <= shown {
				notef("a client saw the return of %s; the server reported %s", r, s)
			}
		}
	}
	if mismatched > shown {
		notef("... %d returns into rooms in all that the server reported otherwise, or not at all", mismatched)
	}
	return mismatched, len(srv)
}

// tally returns what s saw; the numbers it remembers missing are lost.
func (s *seqCheck) tally() tally {
	return tally{Recv: s.recv, Dup: s.dup, Reorder: s.reorder, Lost: uint64(len(s.missing)) + s.over}
}
