package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/internal/link"
	"github.com/tether-ws/tether/internal/wire"
)

// Room errors.
var (
	// ErrNoRooms: the server does not speak room streams (an older
	// server), so it keeps no room history the client could read.
	ErrNoRooms = errors.New("tether client: the server does not speak room streams")
	// ErrHistoryForbidden: the session is not in the room whose history
	// it asked for.
	ErrHistoryForbidden = errors.New("tether client: not in that room")
	// ErrHistoryUnavailable: the server could not read the history now;
	// ask again later.
	ErrHistoryUnavailable = errors.New("tether client: history unavailable")
)

// RoomJoined: the session is in Room, at Position: the room's next
// message to it has a greater offset. When the client returned from a
// lost session, it reports the room's recovery: Recovered messages of the
// room follow, Skipped are still in the room's history but were not
// replayed (History reads them), Lost are gone, -1 if nobody can know.
type RoomJoined struct {
	Room      string // "" is the user's own stream
	Position  tether.RoomPosition
	Recovered int
	Skipped   int
	Lost      int64
	Reason    tether.RoomLossReason // why Lost
}

// RoomLeft: the session is no longer in Room. NotReadmitted says the
// server did not let the client back in after it lost its session.
type RoomLeft struct {
	Room          string
	NotReadmitted bool
}

// Presence: a user entered (Joined) or left a room with presence events.
type Presence struct {
	Room    string
	User    string
	Session string
	Joined  bool
}

func (RoomJoined) isEvent() {}
func (RoomLeft) isEvent()   {}
func (Presence) isEvent()   {}

// RoomPositions returns the client's position in each room it is in: the
// last message of the room it received. The client presents them when it
// starts a new session (its old one lost), so that the server replays
// what it missed; pass them to Options.RoomPositions to carry them across
// a restart of the process.
func (c *Client) RoomPositions() map[string]tether.RoomPosition {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.rooms)
}

// helloRooms lists the positions for a Hello; c.mu held.
func (c *Client) helloRooms() []wire.RoomPosition {
	names := slices.Sorted(maps.Keys(c.rooms))
	if len(names) > wire.MaxRooms {
		names = names[:wire.MaxRooms]
	}
	ps := make([]wire.RoomPosition, 0, len(names))
	for _, r := range names {
		p := c.rooms[r]
		ps = append(ps, wire.RoomPosition{Room: r, Epoch: p.Epoch, Offset: p.Offset})
	}
	return ps
}

// acceptSeq applies §6.2 to a numbered frame; c.mu held. It reports
// whether the frame is new (false: a repeat to drop).
func (c *Client) acceptSeq(seq uint64) (bool, error) {
	arr, err := c.counts.Accept(seq)
	if err != nil {
		return false, &violation{err.Error()}
	}
	if arr == link.Repeat {
		return false, nil
	}
	c.counts.Take(seq)
	return true, nil
}

// onRoomMessage receives a room's message: delivered unless the client
// has it already (it reached it in a session that was lost).
func (c *Client) onRoomMessage(f *wire.Frame) error {
	typ := tether.Binary
	if f.Type == wire.TypeRoomText {
		typ = tether.Text
		if !utf8.Valid(f.Payload) {
			return &violation{fmt.Sprintf("text message %d is not UTF-8", f.Seq)}
		}
	}
	if f.Offset == 0 {
		return &violation{fmt.Sprintf("room message %d at offset 0", f.Seq)}
	}
	c.mu.Lock()
	ok, err := c.acceptSeq(f.Seq)
	if !ok {
		c.mu.Unlock()
		return err
	}
	gen := c.gen
	pos, known := c.rooms[f.Room]
	dup := known && f.Offset <= pos.Offset
	if !dup {
		pos.Offset = f.Offset
		c.rooms[f.Room] = pos
	}
	c.mu.Unlock()
	m := tether.Message{Type: typ, Seq: f.Seq, Room: f.Room, Offset: f.Offset}
	if !dup {
		m.Data = append([]byte(nil), f.Payload...)
	}
	c.disp.push(item{msg: m, gen: gen, skip: dup})
	return nil
}

// onRoomEvent applies a room event to the positions and reports it.
func (c *Client) onRoomEvent(f *wire.Frame) error {
	e := f.RoomEvent
	c.mu.Lock()
	ok, err := c.acceptSeq(f.Seq)
	if !ok {
		c.mu.Unlock()
		return err
	}
	gen := c.gen
	var ev Event
	switch e.Kind {
	case wire.RoomJoined:
		pos := tether.RoomPosition{Epoch: e.Epoch, Offset: e.Offset}
		c.rooms[e.Room] = pos
		j := RoomJoined{Room: e.Room, Position: pos, Recovered: int(e.Recovered), Skipped: int(e.Skipped),
			Lost: int64(e.Lost), Reason: tether.RoomLossReason(e.Reason)}
		if e.Flags&wire.RoomLostUnknown != 0 {
			j.Lost = -1
		}
		ev = j
	case wire.RoomLeft:
		delete(c.rooms, e.Room)
		ev = RoomLeft{Room: e.Room, NotReadmitted: e.Reason == wire.RoomReasonNotReadmitted}
	case wire.RoomPresenceJoin, wire.RoomPresenceLeave:
		ev = Presence{Room: e.Room, User: e.User, Session: e.Session, Joined: e.Kind == wire.RoomPresenceJoin}
	}
	c.mu.Unlock()
	// Unknown kinds are counted as processed and not shown.
	c.disp.push(item{msg: tether.Message{Seq: f.Seq}, gen: gen, ev: ev, skip: ev == nil})
	return nil
}

// histReq is a History call waiting for its answer.
type histReq struct {
	req  wire.History
	sent *cconn // the connection it was last written on
	done chan histAnswer
}

type histAnswer struct {
	res *wire.HistoryResult
	err error
}

// maxHistoryCalls bounds the History calls waiting at once.
const maxHistoryCalls = 64

// History reads a room's history from the server: the kept messages with
// an offset above since, at most limit (0 means 100, at most 1,000).
// Page on with since set to the last offset returned. The session must be
// in the room (room "" is the user's own stream). A call in flight when
// the connection drops is asked again on the next one, until ctx ends.
func (c *Client) History(ctx context.Context, room string, since uint64, limit int) (tether.RoomHistory, error) {
	if limit < 0 || limit > wire.MaxHistory {
		limit = wire.MaxHistory
	}
	c.mu.Lock()
	switch {
	case c.closing || c.status == StatusClosed || c.status == StatusFailed:
		c.mu.Unlock()
		return tether.RoomHistory{}, ErrClosed
	case c.status == StatusConnected && c.features&wire.FeatureRooms == 0:
		c.mu.Unlock()
		return tether.RoomHistory{}, ErrNoRooms
	case len(c.hist) >= maxHistoryCalls:
		c.mu.Unlock()
		return tether.RoomHistory{}, fmt.Errorf("tether client: %d History calls in flight already", maxHistoryCalls)
	}
	c.histID++
	id := c.histID
	r := &histReq{req: wire.History{ID: id, Room: room, Since: since, Limit: uint64(limit)}, done: make(chan histAnswer, 1)}
	if c.hist == nil {
		c.hist = make(map[uint64]*histReq)
	}
	c.hist[id] = r
	cc := c.cc
	c.mu.Unlock()
	if cc != nil {
		cc.wake()
	}
	defer func() {
		c.mu.Lock()
		delete(c.hist, id)
		c.mu.Unlock()
	}()
	select {
	case a := <-r.done:
		if a.err != nil {
			return tether.RoomHistory{}, a.err
		}
		return historyOf(room, a.res)
	case <-ctx.Done():
		return tether.RoomHistory{}, fmt.Errorf("failed to read the history of %q: %w", room, ctx.Err())
	case <-c.ended:
		return tether.RoomHistory{}, ErrClosed
	}
}

func historyOf(room string, res *wire.HistoryResult) (tether.RoomHistory, error) {
	switch res.Status {
	case wire.HistoryOK:
	case wire.HistoryForbidden:
		return tether.RoomHistory{}, fmt.Errorf("failed to read the history of %q: %w", room, ErrHistoryForbidden)
	default:
		return tether.RoomHistory{}, fmt.Errorf("failed to read the history of %q: %w", room, ErrHistoryUnavailable)
	}
	h := tether.RoomHistory{Epoch: res.Epoch, First: res.First, Last: res.Last, Messages: make([]tether.Message, len(res.Messages))}
	for i, m := range res.Messages {
		typ := tether.Binary
		if m.Text {
			typ = tether.Text
		}
		h.Messages[i] = tether.Message{Type: typ, Data: append([]byte(nil), m.Payload...), Room: room, Offset: m.Offset}
	}
	return h, nil
}

// onHistoryResult hands an answer to its caller.
func (c *Client) onHistoryResult(res *wire.HistoryResult) {
	c.mu.Lock()
	r := c.hist[res.ID]
	delete(c.hist, res.ID)
	c.mu.Unlock()
	if r != nil {
		r.done <- histAnswer{res: res}
	}
}

// historyDue returns the requests not yet written on cc; c.mu held.
func (c *Client) historyDue(cc *cconn) []wire.History {
	if len(c.hist) == 0 || c.features&wire.FeatureRooms == 0 {
		return nil
	}
	var out []wire.History
	for _, r := range c.hist {
		if r.sent != cc {
			r.sent = cc
			out = append(out, r.req)
		}
	}
	slices.SortFunc(out, func(a, b wire.History) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// failHistory ends every waiting History call with err; c.mu held.
func (c *Client) failHistory(err error) {
	for id, r := range c.hist {
		r.done <- histAnswer{err: err}
		delete(c.hist, id)
	}
}
