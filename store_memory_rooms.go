package tether

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"
)

// memRoom is a session's membership of a room: the room's name (shared
// by every member: see roomName) and the session's cursor there. A
// cursor that was never set (a room given to Create) accepts whatever
// comes first.
type memRoom struct {
	name string
	pos  RoomPosition
	set  bool
}

func (ms *memSession) addRoom(r memRoom) {
	if ms.rooms == nil {
		ms.rooms = ms.inline[:0]
	}
	ms.rooms = append(ms.rooms, r)
}

// room returns the index of a room in ms.rooms, or -1.
func (ms *memSession) room(name string) int {
	for i := range ms.rooms {
		if ms.rooms[i].name == name {
			return i
		}
	}
	return -1
}

func (ms *memSession) roomNames() []string {
	if len(ms.rooms) == 0 {
		return nil
	}
	names := make([]string, len(ms.rooms))
	for i, r := range ms.rooms {
		names[i] = r.name
	}
	return names
}

// roomName returns the name of room's stream when it has one: the
// members of a room then share one copy of its name, so a broadcast
// reads one name, not one per member (in cache or not).
func (s *MemoryStore) roomName(room string) string {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if st := s.streams[room]; st != nil {
		return st.name
	}
	return room
}

// memStream is a room's stream: its epoch, its last offset and the kept
// history. Payloads are shared with the members' replay buffers.
type memStream struct {
	name  string // the room's; read without locks
	mu    sync.Mutex
	epoch string
	last  uint64
	hist  []histEntry // hist[head:] are kept, oldest first
	head  int
	bytes int
	lim   HistoryLimits // as of the last Publish
	at    time.Time     // of the last Publish
}

type histEntry struct {
	m  Message
	at int64 // unix nanos of the Publish
}

// sweepEvery is how many publishes pass between sweeps of expired streams.
const sweepEvery = 4096

func newEpoch() string {
	var e [8]byte
	_, _ = rand.Read(e[:])
	return hex.EncodeToString(e[:])
}

// streamLocked returns room's stream, creating it; s.rmu is held.
func (s *MemoryStore) streamLocked(room string, now time.Time) *memStream {
	st := s.streams[room]
	if st == nil {
		if len(s.streams) >= s.maxR {
			s.evictLocked()
		}
		st = &memStream{name: room, epoch: newEpoch(), at: now}
		s.streams[room] = st
	}
	return st
}

// OpenRoom implements Store.
func (s *MemoryStore) OpenRoom(_ context.Context, room string) (RoomState, error) {
	s.rmu.Lock()
	st := s.streamLocked(room, time.Now())
	st.mu.Lock()
	s.rmu.Unlock()
	defer st.mu.Unlock()
	return RoomState{Epoch: st.epoch, First: st.first(), Last: st.last}, nil
}

// Publish implements Store.
func (s *MemoryStore) Publish(_ context.Context, room string, m Message, lim HistoryLimits) (RoomPosition, error) {
	now := time.Now()
	s.rmu.Lock()
	st := s.streamLocked(room, now)
	s.pubs++
	sweep := s.pubs%sweepEvery == 0
	st.mu.Lock() // under rmu, so a sweep cannot drop the stream in between
	s.rmu.Unlock()
	st.last++
	m.Room, m.Offset, m.Seq = st.name, st.last, 0 // the stream's copy of the name: one per room, not per message
	st.lim, st.at = lim, now
	if lim.MaxMessages >= 0 {
		st.hist = append(st.hist, histEntry{m: m, at: now.UnixNano()})
		st.bytes += len(m.Data)
	}
	st.trim(now)
	pos := RoomPosition{Epoch: st.epoch, Offset: st.last}
	st.mu.Unlock()
	if sweep {
		s.sweep(now)
	}
	return pos, nil
}

// trim drops what the limits no longer allow; st.mu is held.
func (st *memStream) trim(now time.Time) {
	lim := st.lim
	drop := func() bool {
		n := len(st.hist) - st.head
		if n == 0 {
			return false
		}
		switch {
		case lim.MaxMessages < 0,
			lim.MaxMessages > 0 && n > lim.MaxMessages,
			lim.MaxBytes > 0 && st.bytes > lim.MaxBytes,
			lim.MaxAge > 0 && now.UnixNano()-st.hist[st.head].at >= int64(lim.MaxAge):
			return true
		}
		return false
	}
	for drop() {
		st.bytes -= len(st.hist[st.head].m.Data)
		st.hist[st.head] = histEntry{}
		st.head++
	}
	switch {
	case st.head == len(st.hist):
		st.hist, st.head = nil, 0
	case st.head > 64 && st.head > len(st.hist)/2:
		n := copy(st.hist, st.hist[st.head:])
		clear(st.hist[n:])
		st.hist, st.head = st.hist[:n], 0
	}
}

// first is the offset of the oldest kept message; st.mu is held.
func (st *memStream) first() uint64 {
	return st.last + 1 - uint64(len(st.hist)-st.head)
}

// History implements Store.
func (s *MemoryStore) History(_ context.Context, room string, after uint64, max int, dst []Message) (RoomState, []Message, error) {
	s.rmu.Lock()
	st := s.streams[room]
	if st == nil {
		s.rmu.Unlock()
		return RoomState{}, dst, nil
	}
	st.mu.Lock()
	s.rmu.Unlock()
	defer st.mu.Unlock()
	st.trim(time.Now())
	state := RoomState{Epoch: st.epoch, First: st.first(), Last: st.last}
	if after >= st.last {
		return state, dst, nil
	}
	i := st.head
	if after >= state.First {
		i += int(after + 1 - state.First)
	}
	for ; i < len(st.hist) && max > 0; i++ {
		dst = append(dst, st.hist[i].m)
		max--
	}
	return state, dst, nil
}

// evictLocked drops the streams of rooms without members that were
// published to least recently: one in a hundred of the streams kept, so
// that a flood of new rooms scans them once per hundred; s.rmu is held.
func (s *MemoryStore) evictLocked() {
	s.imu.RLock()
	defer s.imu.RUnlock()
	type cand struct {
		room string
		at   time.Time
	}
	var cs []cand
	for room, st := range s.streams {
		if s.rooms[room].len() > 0 {
			continue
		}
		st.mu.Lock()
		cs = append(cs, cand{room, st.at})
		st.mu.Unlock()
	}
	slices.SortFunc(cs, func(a, b cand) int { return a.at.Compare(b.at) })
	for _, c := range cs[:min(len(cs), max(1, len(s.streams)/100))] {
		delete(s.streams, c.room)
	}
}

// idleStream is how long a stream without an age limit must go without a
// publish (keeping nothing, without members) before a sweep drops it.
const idleStream = 10 * time.Minute

// sweep drops streams that keep nothing, have no members and have seen
// no publish for their age limit: no member can miss anything there.
func (s *MemoryStore) sweep(now time.Time) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.imu.RLock()
	defer s.imu.RUnlock()
	for room, st := range s.streams {
		st.mu.Lock()
		st.trim(now)
		age := st.lim.MaxAge
		if age <= 0 {
			age = idleStream
		}
		idle := len(st.hist) == st.head && now.Sub(st.at) >= age
		st.mu.Unlock()
		if idle && s.rooms[room].len() == 0 {
			delete(s.streams, room)
		}
	}
}

// JoinRoom implements Store.
func (s *MemoryStore) JoinRoom(_ context.Context, id, room string, max int, at RoomPosition, ev *Message) (uint64, bool, error) {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ms, ok := sh.m[id]
	if !ok {
		return 0, false, ErrNotFound
	}
	if ms.room(room) >= 0 {
		return ms.rec.Out, false, nil
	}
	if max > 0 && len(ms.rooms) >= max {
		return 0, false, ErrTooManyRooms
	}
	if ev != nil {
		if err := ms.appendLocked(*ev); err != nil {
			return 0, false, err
		}
	}
	ms.addRoom(memRoom{name: s.roomName(room), pos: at, set: true})
	s.imu.Lock()
	addIndex(s.rooms, room, id)
	s.imu.Unlock()
	return ms.rec.Out, true, nil
}

// LeaveRoom implements Store.
func (s *MemoryStore) LeaveRoom(_ context.Context, id, room string, ev *Message) (uint64, bool, error) {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ms, ok := sh.m[id]
	if !ok {
		return 0, false, ErrNotFound
	}
	i := ms.room(room)
	if i < 0 {
		return ms.rec.Out, false, nil
	}
	if ev != nil {
		if err := ms.appendLocked(*ev); err != nil {
			return 0, false, err
		}
	}
	ms.rooms = slices.Delete(ms.rooms, i, i+1)
	s.imu.Lock()
	removeIndex(s.rooms, room, id)
	s.imu.Unlock()
	return ms.rec.Out, true, nil
}

// AppendRoom implements Store.
func (s *MemoryStore) AppendRoom(ctx context.Context, id, room, epoch string, msgs ...Message) (uint64, error) {
	seq, _, err := s.appendRoomN(ctx, id, room, epoch, msgs...)
	return seq, err
}

// appendRoomN is AppendRoom, also saying how many of msgs it appended
// (the others were skipped): a last message appended has the seq
// returned (countingAppender).
func (s *MemoryStore) appendRoomN(_ context.Context, id, room, epoch string, msgs ...Message) (uint64, int, error) {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ms, ok := sh.m[id]
	if !ok {
		return 0, 0, ErrNotFound
	}
	i := ms.room(room)
	if i < 0 {
		return 0, 0, ErrNotMember
	}
	c := &ms.rooms[i]
	if c.set && c.pos.Epoch != "" && c.pos.Epoch != epoch {
		return 0, 0, &RoomGapError{Cursor: c.pos}
	}
	k := 0
	if c.set {
		for k < len(msgs) && msgs[k].Offset <= c.pos.Offset {
			k++
		}
	}
	msgs = msgs[k:]
	if len(msgs) == 0 {
		return ms.rec.Out, 0, nil
	}
	if c.set && msgs[0].Offset != c.pos.Offset+1 {
		return 0, 0, &RoomGapError{Cursor: c.pos}
	}
	for j := 1; j < len(msgs); j++ {
		if msgs[j].Offset != msgs[j-1].Offset+1 {
			return 0, 0, fmt.Errorf("tether: AppendRoom given offsets %d then %d", msgs[j-1].Offset, msgs[j].Offset)
		}
	}
	if err := ms.appendLocked(msgs...); err != nil {
		return 0, 0, err
	}
	if c.pos.Epoch != epoch {
		c.pos.Epoch = epoch
	}
	c.pos.Offset, c.set = msgs[len(msgs)-1].Offset, true
	return ms.rec.Out, len(msgs), nil
}

// RoomMembers implements Store.
func (s *MemoryStore) RoomMembers(_ context.Context, room string) ([]string, error) {
	s.imu.RLock()
	defer s.imu.RUnlock()
	set := s.rooms[room]
	return set.appendTo(make([]string, 0, set.len())), nil
}

// RoomSizes implements Store.
func (s *MemoryStore) RoomSizes(context.Context) (map[string]int, error) {
	s.imu.RLock()
	defer s.imu.RUnlock()
	out := make(map[string]int, len(s.rooms))
	for r, set := range s.rooms {
		out[r] = set.len()
	}
	return out, nil
}

// UserSessions implements Store.
func (s *MemoryStore) UserSessions(_ context.Context, user string) ([]string, error) {
	s.imu.RLock()
	defer s.imu.RUnlock()
	return s.users[user].appendTo(nil), nil
}

// addIndex adds id to the set of key (a room's members, a user's
// sessions, a user's presence in a room).
func addIndex[K comparable](m map[K]idSet, key K, id string) { m[key] = m[key].add(id) }

// removeIndex takes id out of the set of key, and the set once empty.
func removeIndex[K comparable](m map[K]idSet, key K, id string) {
	if set := m[key].remove(id); set.empty() {
		delete(m, key)
	} else {
		m[key] = set
	}
}

// idSet is a set of session IDs: a room's members or a user's sessions.
// Most users have one session, and a room of one member (a user's own
// channel) is common: one ID is kept inline, where a map of one cost
// about 290 bytes. A map holds them from the second.
type idSet struct {
	one  string // the only ID while many is nil; "" when none
	many map[string]struct{}
}

func (s idSet) add(id string) idSet {
	switch {
	case s.many != nil:
		s.many[id] = struct{}{}
	case s.one == "" || s.one == id:
		s.one = id
	default:
		s.many = map[string]struct{}{s.one: {}, id: {}}
		s.one = ""
	}
	return s
}

func (s idSet) remove(id string) idSet {
	switch {
	case s.many != nil:
		delete(s.many, id)
	case s.one == id:
		s.one = ""
	}
	return s
}

func (s idSet) empty() bool { return s.len() == 0 }

func (s idSet) len() int {
	switch {
	case s.many != nil:
		return len(s.many)
	case s.one != "":
		return 1
	}
	return 0
}

// appendTo appends the IDs to ids.
func (s idSet) appendTo(ids []string) []string {
	if s.one != "" {
		return append(ids, s.one)
	}
	for id := range s.many {
		ids = append(ids, id)
	}
	return ids
}
