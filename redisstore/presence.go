package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// A user's presence in a room is a set of its session IDs there, in the
// room's slot:
//
//	<p>:room:{room}:pres:<user>
//
// scPresence adds one ID (ARGV[1] "1") or removes some ("0"), and returns
// {changed, size}: changed is 1 if the add made the set's first entry, or
// the removal emptied it. It expires like the room's index and is renewed
// with it.
var scPresence = redis.NewScript(`
if ARGV[1] == '1' then
  local n = redis.call('SADD', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  local c = redis.call('SCARD', KEYS[1])
  if n == 1 and c == 1 then return {1, c} end
  return {0, c}
end
local n = redis.call('SREM', KEYS[1], unpack(ARGV, 3))
local c = redis.call('SCARD', KEYS[1])
if n > 0 and c == 0 then return {1, 0} end
return {0, c}
`)

func (s *Store) presenceKey(room, user string) string { return s.roomKey(room) + ":pres:" + user }

// MarkPresent implements tether.Store.
func (s *Store) MarkPresent(ctx context.Context, room, user, id string, present bool) (bool, error) {
	k := s.presenceKey(room, user)
	flag := "0"
	if present {
		flag = "1"
	}
	changed, size, err := s.presence(ctx, k, flag, id)
	if err != nil || present || changed || size == 0 {
		return changed, err
	}
	// Others remain: drop those whose session is gone, in the script, so
	// that whoever empties the set reports it.
	ids, err := s.rdb.SMembers(ctx, k).Result()
	if err != nil || len(ids) == 0 {
		return false, err
	}
	_, gone, err := s.exist(ctx, ids)
	if err != nil || len(gone) == 0 {
		return false, err
	}
	changed, _, err = s.presence(ctx, k, "0", gone...)
	return changed, err
}

// presence runs scPresence.
func (s *Store) presence(ctx context.Context, key, flag string, ids ...string) (changed bool, size int64, err error) {
	args := make([]any, 0, 2+len(ids))
	args = append(args, flag, s.ttl())
	for _, id := range ids {
		args = append(args, id)
	}
	v, err := scPresence.Run(ctx, s.rdb, []string{key}, args...).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("redisstore: presence: %w", err)
	}
	if len(v) != 2 {
		return false, 0, fmt.Errorf("redisstore: presence: unexpected reply %v", v)
	}
	return v[0] == 1, v[1], nil
}
