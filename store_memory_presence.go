package tether

import "context"

// presenceKey names a user's presence in a room.
type presenceKey struct{ room, user string }

// MarkPresent implements Store.
func (s *MemoryStore) MarkPresent(_ context.Context, room, user, id string, present bool) (bool, error) {
	k := presenceKey{room, user}
	s.imu.Lock()
	before := s.presence[k].len()
	if present {
		addIndex(s.presence, k, id)
		after := s.presence[k].len()
		s.imu.Unlock()
		return before == 0 && after == 1, nil
	}
	removeIndex(s.presence, k, id)
	others := s.presence[k].appendTo(nil)
	s.imu.Unlock()
	if len(others) == 0 {
		return before > 0, nil // this leave emptied the set, or it was empty
	}
	// Others remain: drop those whose session is gone (looked up without
	// the index lock, which is taken after a shard lock, never before).
	var gone []string
	for _, other := range others {
		sh := s.shard(other)
		sh.mu.Lock()
		_, ok := sh.m[other]
		sh.mu.Unlock()
		if !ok {
			gone = append(gone, other)
		}
	}
	if len(gone) == 0 {
		return false, nil
	}
	s.imu.Lock()
	defer s.imu.Unlock()
	before = s.presence[k].len()
	for _, other := range gone {
		removeIndex(s.presence, k, other)
	}
	return before > 0 && s.presence[k].len() == 0, nil
}
