package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// The user and room indexes are sets, one per user and per room, each in
// its own slot, plus a set of room names for RoomSizes. They follow the
// session's own script in a second step, so after a crash between the two
// an index may name a session that is gone: RoomMembers and UserSessions
// filter those out (and drop them). Index sets expire like session keys,
// renewed by every join and by the owners' periodic renewal.
//
// The set of room names must never lack a room that has members. A
// joiner adds itself to the room before adding the name; a pruner removes
// the name of an empty room, then looks again and puts it back if the
// room filled meanwhile. Whatever the interleaving, a non-empty room
// keeps its name.

// index adds a new session to its user's and rooms' sets.
func (s *Store) index(ctx context.Context, id, user string, rooms []string) error {
	b := newBatch(ctx)
	b.add("sadd", s.userKey(user), id)
	b.add("pexpire", s.userKey(user), s.ttl())
	for _, r := range rooms {
		b.add("sadd", s.roomKey(r), id)
		b.add("pexpire", s.roomKey(r), s.ttl())
	}
	if len(rooms) > 0 {
		b.then()
		b.add(roomNames("sadd", s.roomsKey(), rooms)...)
	}
	return s.exec(b)
}

// unindex removes a closed session from every index.
func (s *Store) unindex(ctx context.Context, id, user, owner string, rooms []string) error {
	b := newBatch(ctx)
	b.add("srem", s.userKey(user), id)
	b.add("srem", s.orphansKey(), id)
	if owner != "" {
		b.add("srem", s.ownedKey(owner), id)
	}
	cards := make([]*redis.Cmd, len(rooms))
	for i, r := range rooms {
		b.add("srem", s.roomKey(r), id)
		cards[i] = b.add("scard", s.roomKey(r))
	}
	if err := s.exec(b); err != nil {
		return err
	}
	return s.pruneRooms(ctx, emptyRooms(rooms, cards))
}

func roomNames(cmd, key string, rooms []string) []any {
	a := make([]any, 0, 2+len(rooms))
	a = append(a, cmd, key)
	for _, r := range rooms {
		a = append(a, r)
	}
	return a
}

// emptyRooms returns the rooms whose SCARD said 0.
func emptyRooms(rooms []string, cards []*redis.Cmd) []string {
	var empty []string
	for i, c := range cards {
		if n, err := c.Int64(); err == nil && n == 0 {
			empty = append(empty, rooms[i])
		}
	}
	return empty
}

// pruneRooms drops the names of rooms that were seen empty, and puts back
// those that filled again meanwhile.
func (s *Store) pruneRooms(ctx context.Context, rooms []string) error {
	if len(rooms) == 0 {
		return nil
	}
	b := newBatch(ctx)
	b.add(roomNames("srem", s.roomsKey(), rooms)...)
	b.then()
	cards := make([]*redis.Cmd, len(rooms))
	for i, r := range rooms {
		cards[i] = b.add("scard", s.roomKey(r))
	}
	if err := s.exec(b); err != nil {
		return err
	}
	var back []string
	for i, c := range cards {
		if n, err := c.Int64(); err == nil && n > 0 {
			back = append(back, rooms[i])
		}
	}
	if len(back) == 0 {
		return nil
	}
	return s.rdb.Do(ctx, roomNames("sadd", s.roomsKey(), back)...).Err()
}

// unindexRoom removes a session from a room's member set, and the room's
// name from the set of names if the room is empty.
func (s *Store) unindexRoom(ctx context.Context, id, room string) error {
	b := newBatch(ctx)
	b.add("srem", s.roomKey(room), id)
	card := b.add("scard", s.roomKey(room))
	if err := s.exec(b); err != nil {
		return err
	}
	return s.pruneRooms(ctx, emptyRooms([]string{room}, []*redis.Cmd{card}))
}

// RoomMembers implements tether.Store.
func (s *Store) RoomMembers(ctx context.Context, room string) ([]string, error) {
	return s.members(ctx, s.roomKey(room))
}

// UserSessions implements tether.Store.
func (s *Store) UserSessions(ctx context.Context, user string) ([]string, error) {
	return s.members(ctx, s.userKey(user))
}

// members returns the IDs in an index set whose sessions exist, and drops
// the others from the set. (A session ID is never reused, so dropping a
// gone one cannot hide a new one.)
func (s *Store) members(ctx context.Context, key string) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, key).Result()
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	live, gone, err := s.exist(ctx, ids)
	if err != nil {
		return nil, err
	}
	if len(gone) > 0 {
		args := make([]any, len(gone))
		for i, id := range gone {
			args[i] = id
		}
		if err := s.rdb.SRem(ctx, key, args...).Err(); err != nil {
			s.log.Debug("redisstore: cannot drop stale index entries", "key", key, "err", err)
		}
	}
	return live, nil
}

// exist splits session IDs into those whose session exists and those
// gone, in one round trip. A reply lost to an error counts as live.
func (s *Store) exist(ctx context.Context, ids []string) (live, gone []string, err error) {
	b := newBatch(ctx)
	ex := make([]*redis.Cmd, len(ids))
	for i, id := range ids {
		ex[i] = b.add("exists", s.hashKey(id))
	}
	if err := s.exec(b); err != nil {
		return nil, nil, err
	}
	for i, c := range ex {
		if n, err := c.Int64(); err == nil && n == 0 {
			gone = append(gone, ids[i])
		} else {
			live = append(live, ids[i])
		}
	}
	return live, gone, nil
}

// RoomSizes implements tether.Store. Sizes are SCARDs; empty rooms are
// left out and their names pruned.
func (s *Store) RoomSizes(ctx context.Context) (map[string]int, error) {
	rooms, err := s.rdb.SMembers(ctx, s.roomsKey()).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(rooms))
	if len(rooms) == 0 {
		return out, nil
	}
	b := newBatch(ctx)
	cards := make([]*redis.Cmd, len(rooms))
	for i, r := range rooms {
		cards[i] = b.add("scard", s.roomKey(r))
	}
	if err := s.exec(b); err != nil {
		return nil, err
	}
	for i, c := range cards {
		if n, _ := c.Int64(); n > 0 {
			out[rooms[i]] = int(n)
		}
	}
	if err := s.pruneRooms(ctx, emptyRooms(rooms, cards)); err != nil {
		s.log.Debug("redisstore: cannot prune empty rooms", "err", err)
	}
	return out, nil
}
