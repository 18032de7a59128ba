package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/tether-ws/tether"
)

// Room streams. A room's stream (its epoch, last offset and bounded
// history) lives in two keys of the room's slot (keys.go), changed only
// by scPublish: one script, so concurrent publishes from any number of
// servers get consecutive offsets. The epoch is drawn here and used by
// the script only when it creates the stream, so it changes only when
// Redis lost the stream's keys: never on a server's restart or death.
//
// A member's cursor in a room lives with the session's keys (the cursors
// hash), changed by the session's scripts: JoinRoom places it, AppendRoom
// moves it, LeaveRoom and Close delete it. Those scripts append to the
// session's log like Append does (push in scripts.go): the owner, if
// another node, is woken with the entries, and this node caches what it
// appends to the sessions it owns.
//
// Expiry. Stream keys expire roomTTL (2×KeyTTL, or the age bound if
// longer) after the last publish. JoinRoom extends that (PEXPIRE GT:
// never shortened), and so does every owner's periodic renewal of its
// sessions (touchOwned), for each room they are in. A member's session
// keys expire KeyTTL after their last renewal, and any live owner renews
// both every KeyTTL/4, so a stream outlives its members' cursors: it
// goes only when the room had no member held by a live server, and no
// publish, for roomTTL. If Redis loses a stream anyway (a flush, a
// restart without persistence, eviction), the next publish starts a new
// epoch at offset 1: members whose cursors are in the old one get a
// *tether.RoomGapError with the old epoch, the server ends their sessions
// (the loss reported), and their clients are told epoch-changed (count
// unknown) when they return.
//
// Offsets, like seqs, are Lua numbers in the scripts: exact up to 2^53.

// newEpoch names a new stream: 16 random hex digits.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// roomTTL is the expiry of a stream's keys, in ms.
func (s *Store) roomTTL(lim tether.HistoryLimits) int64 {
	return max(2*s.keyTTL, lim.MaxAge).Milliseconds()
}

// Publish implements tether.Store: one script.
func (s *Store) Publish(ctx context.Context, room string, m tether.Message, lim tether.HistoryLimits) (tether.RoomPosition, error) {
	pos, _, err := s.publish(ctx, room, m, lim, false)
	return pos, err
}

// PublishMembers is Publish returning the room's members too, from the
// same script (the member set is in the stream's slot): a broadcast
// costs a round trip less. The list is the index's, which may still name
// a session that is gone.
func (s *Store) PublishMembers(ctx context.Context, room string, m tether.Message, lim tether.HistoryLimits) (tether.RoomPosition, []string, error) {
	return s.publish(ctx, room, m, lim, true)
}

func (s *Store) publish(ctx context.Context, room string, m tether.Message, lim tether.HistoryLimits, members bool) (tether.RoomPosition, []string, error) {
	entry := append([]byte{byte(m.Type)}, m.Data...)
	age := int64(0)
	if lim.MaxAge > 0 {
		age = max(1, lim.MaxAge.Milliseconds())
	}
	keys := s.streamKeys(room)
	if members {
		keys = append(keys, s.roomKey(room))
	}
	v, err := scPublish.Run(ctx, s.rdb, keys, newEpoch(), max(lim.MaxMessages, -1),
		max(lim.MaxBytes, 0), age, s.roomTTL(lim), entry).Result()
	if err != nil {
		return tether.RoomPosition{}, nil, err
	}
	a := strs(slice(v))
	if len(a) < 2 {
		return tether.RoomPosition{}, nil, errCorrupt
	}
	off, err := strconv.ParseUint(a[1], 10, 64)
	if err != nil || a[0] == "" {
		return tether.RoomPosition{}, nil, fmt.Errorf("%w: stream of room %q", errCorrupt, room)
	}
	var ids []string
	if members {
		ids = append([]string{}, a[2:]...)
	}
	return tether.RoomPosition{Epoch: a[0], Offset: off}, ids, nil
}

// OpenRoom implements tether.Store: one script (History's, which creates
// the stream if there is none).
func (s *Store) OpenRoom(ctx context.Context, room string) (tether.RoomState, error) {
	st, _, err := s.history(ctx, room, noOffset, 0, nil, newEpoch(), s.roomTTL(tether.HistoryLimits{}))
	return st, err
}

// noOffset is after every offset: History from it reads nothing.
const noOffset = math.MaxUint64

// History implements tether.Store: one script.
func (s *Store) History(ctx context.Context, room string, after uint64, max int, dst []tether.Message) (tether.RoomState, []tether.Message, error) {
	return s.history(ctx, room, after, max, dst)
}

// history runs scHistory; create (an epoch, then a TTL) makes it create a
// missing stream.
func (s *Store) history(ctx context.Context, room string, after uint64, max int, dst []tether.Message, create ...any) (tether.RoomState, []tether.Message, error) {
	max = min(max, math.MaxInt32)
	v, err := scHistory.Run(ctx, s.rdb, s.streamKeys(room), append([]any{u64(after), max}, create...)...).Result()
	if err != nil {
		return tether.RoomState{}, dst, err
	}
	a := strs(slice(v))
	if len(a) == 0 {
		return tether.RoomState{}, dst, nil
	}
	if len(a) < 3 {
		return tether.RoomState{}, dst, errCorrupt
	}
	st := tether.RoomState{Epoch: a[0]}
	var e1, e2 error
	st.First, e1 = strconv.ParseUint(a[1], 10, 64)
	st.Last, e2 = strconv.ParseUint(a[2], 10, 64)
	if e1 != nil || e2 != nil {
		return tether.RoomState{}, dst, fmt.Errorf("%w: stream of room %q", errCorrupt, room)
	}
	off := max64(after+1, st.First)
	for _, e := range a[3:] {
		ts, rest, ok := strings.Cut(e, " ")
		if !ok || ts == "" || rest == "" {
			return st, dst, fmt.Errorf("%w: history of room %q", errCorrupt, room)
		}
		dst = append(dst, tether.Message{Type: tether.MessageType(rest[0]), Data: []byte(rest[1:]), Room: room, Offset: off})
		off++
	}
	return st, dst, nil
}

func max64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// cursor is a position as the cursors hash keeps it.
func cursor(at tether.RoomPosition) string { return u64(at.Offset) + " " + at.Epoch }

// roomArgs are the arguments of scAppendRoom for msgs.
func (s *Store) roomArgs(id, room, epoch string, msgs []tether.Message) []any {
	first := uint64(0)
	if len(msgs) > 0 {
		first = msgs[0].Offset
	}
	args := append(s.pushArgs(id, 3+len(msgs)), room, epoch, u64(first))
	return entryArgs(args, msgs)
}

// checkRun refuses room messages whose offsets are not consecutive, and
// sets their room.
func checkRun(room string, msgs []tether.Message) ([]tether.Message, error) {
	out := make([]tether.Message, len(msgs))
	for i, m := range msgs {
		if i > 0 && m.Offset != msgs[i-1].Offset+1 {
			return nil, fmt.Errorf("redisstore: AppendRoom given offsets %d then %d", msgs[i-1].Offset, m.Offset)
		}
		m.Room = room
		out[i] = m
	}
	return out, checkRooms(out)
}

// AppendRoom implements tether.Store: one script, which checks the
// session's cursor, appends and moves the cursor.
func (s *Store) AppendRoom(ctx context.Context, id, room, epoch string, msgs ...tether.Message) (uint64, error) {
	msgs, err := checkRun(room, msgs)
	if err != nil {
		return 0, err
	}
	p, err := s.runPush(ctx, id, scAppendRoom, s.roomArgs(id, room, epoch, msgs))
	if err != nil {
		return 0, err
	}
	s.loc.appended(id, p, msgs)
	return p.last, nil
}

// AppendRoomEach is AppendRoom of one message for each of several
// sessions, in one round trip (a pipeline), as AppendEach: what a
// broadcast to a room needs. A member whose cursor is behind gets a
// *tether.RoomGapError, for the caller to fill from history.
func (s *Store) AppendRoomEach(ctx context.Context, ids []string, room, epoch string, m tether.Message) ([]uint64, []error) {
	m.Room = room
	if err := checkRooms([]tether.Message{m}); err != nil {
		return failAll(ids, err)
	}
	entry := appendEntry(nil, &m)
	off := u64(m.Offset)
	return s.pushEach(ctx, ids, m, scAppendRoom, scAppendRoomMany, func(id string) []any {
		return append(s.pushArgs(id, 4), room, epoch, off, entry)
	})
}

// memberReply decodes the reply of scJoin and scLeave.
func memberReply(v any) (p pushed, changed bool, err error) {
	a := slice(v)
	switch {
	case len(a) == 2:
		out, ok := a[1].(int64)
		if !ok || out < 0 {
			return pushed{}, false, errCorrupt
		}
		return pushed{last: uint64(out)}, false, nil
	case len(a) != 5:
		return pushed{}, false, errCorrupt
	}
	if c, _ := a[0].(int64); c != 1 {
		return pushed{}, false, errCorrupt
	}
	p, err = pushedReply(a[1:])
	return p, true, err
}

// JoinRoom implements tether.Store: the session's script (membership,
// cursor, event), then the index step (the room's member set, the names
// of rooms) with the renewal of the stream's expiry. The index is written
// even when the session was in the room already: it repairs an index step
// lost to a crash.
func (s *Store) JoinRoom(ctx context.Context, id, room string, max int, at tether.RoomPosition, ev *tether.Message) (uint64, bool, error) {
	args, evs, err := withEvent(append(s.pushArgs(id, 4), room, max, cursor(at)), ev)
	if err != nil {
		return 0, false, err
	}
	p, joined, err := s.member(ctx, id, scJoin, args)
	if err != nil {
		return 0, false, err
	}
	if joined {
		s.loc.appended(id, p, evs)
	}
	b := newBatch(ctx)
	b.add("sadd", s.roomKey(room), id)
	b.add("pexpire", s.roomKey(room), s.ttl())
	for _, k := range s.streamKeys(room) {
		b.add("pexpire", k, s.roomTTL(tether.HistoryLimits{}), "gt")
	}
	b.then()
	b.add("sadd", s.roomsKey(), room)
	return p.last, joined, s.exec(b)
}

// withEvent adds a join's or leave's event, if any, to its script's
// arguments.
func withEvent(args []any, ev *tether.Message) ([]any, []tether.Message, error) {
	if ev == nil {
		return args, nil, nil
	}
	evs := []tether.Message{*ev}
	if err := checkRooms(evs); err != nil {
		return nil, nil, err
	}
	return entryArgs(args, evs), evs, nil
}

// LeaveRoom implements tether.Store: the session's script, then the index
// step. The stream stays, for the members that come back.
func (s *Store) LeaveRoom(ctx context.Context, id, room string, ev *tether.Message) (uint64, bool, error) {
	args, evs, err := withEvent(append(s.pushArgs(id, 2), room), ev)
	if err != nil {
		return 0, false, err
	}
	p, left, err := s.member(ctx, id, scLeave, args)
	if err != nil {
		return 0, false, err
	}
	if left {
		s.loc.appended(id, p, evs)
	}
	return p.last, left, s.unindexRoom(ctx, id, room)
}

// member runs scJoin or scLeave.
func (s *Store) member(ctx context.Context, id string, sc *redis.Script, args []any) (pushed, bool, error) {
	v, err := s.runRetry(ctx, id, sc, args)
	if err != nil {
		return pushed{}, false, err
	}
	return memberReply(v)
}
