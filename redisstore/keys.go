package redisstore

import "strings"

// Key layout. Every key of one session carries the session's ID as its
// hash tag, so a Lua script may touch all of them even on Redis Cluster,
// where a script's keys must share a slot:
//
//	<p>:s:{id}         hash: the record (fields below) and the log counters
//	<p>:s:{id}:log     list: one entry per unacknowledged message, type byte + payload
//	<p>:s:{id}:sz      list: cumulative payload bytes at each entry (only when MaxBytes > 0)
//	<p>:s:{id}:rooms   list: the session's rooms, in join order
//	<p>:s:{id}:cur     hash: room → the session's cursor there, "offset epoch"
//	<p>:t:{id}         string: the tombstone, with PEXPIRE TombstoneTTL
//
// A room's stream lives in the slot of the room's member set (hash tag:
// the room), so that Publish is one script on Redis Cluster too:
//
//	<p>:room:{room}:meta  hash: epoch, last (offset), bytes (kept payload
//	                      bytes), and the limits of the last publish
//	                      (mm, mb, ma: messages, bytes, age in ms)
//	<p>:room:{room}:hist  list: the kept history, offsets first..last, one
//	                      entry each: "<unix ms> " + type byte + payload
//
// The history is a list guarded by Lua rather than a Redis Stream: offsets
// are dense, so offset o sits at index o-first and History is one LRANGE;
// the byte bound needs each trimmed entry's size, which LPOP returns
// (XTRIM trims by count or ID only); and Streams' IDs, consumer groups and
// per-entry field maps would be unused weight. Stream keys expire
// 2×KeyTTL (or the age bound, if longer) after the last Publish (or the
// OpenRoom that created them); JoinRoom and the owners' periodic renewal
// extend that while the room has a member (see streams.go).
//
// Indexes span sessions, so each lives in a slot of its own and is
// updated in a second step, after the session's script:
//
//	<p>:user:{user}    set of session IDs
//	<p>:room:{room}    set of session IDs
//	<p>:room:{room}:pres:<user>  set of the user's session IDs in a
//	                   presence room (MarkPresent, presence.go)
//	<p>:rooms          set of room names (sizes are SCARDs)
//	<p>:node:{node}:owned  set of the session IDs a node owns
//	<p>:orphans        set of session IDs waiting for Adopt
//	<p>:nodes          set of node names ever registered and not yet swept
//	<p>:alive:{node}   string with PX Liveness: the node is alive
//	<p>:epoch          string: the store's epoch
//
// Notices travel on the pub/sub channel <p>:n:<node>.

// tag escapes s for use as a hash tag: Redis hashes the text between the
// first '{' and the next '}', so a '}' inside s must not end the tag, and
// an empty tag would make Redis hash the whole key (scattering a
// session's keys over several slots). '%' is escaped so that the mapping
// stays one to one.
func tag(s string) string {
	if s == "" {
		return "%"
	}
	if !strings.ContainsAny(s, "%}") {
		return s
	}
	r := strings.NewReplacer("%", "%25", "}", "%7D")
	return r.Replace(s)
}

// keys of one session, in the order every session script expects them.
const (
	kHash = iota
	kLog
	kSizes
	kRooms
	kTomb
	kCurs
	nKeys
)

func (s *Store) sessionKeys(id string) []string {
	t := "{" + tag(id) + "}"
	base := s.prefix + ":s:" + t
	return []string{base, base + ":log", base + ":sz", base + ":rooms", s.prefix + ":t:" + t, base + ":cur"}
}

// streamKeys are a room stream's keys, in the order its scripts expect.
func (s *Store) streamKeys(room string) []string {
	base := s.roomKey(room)
	return []string{base + ":meta", base + ":hist"}
}

func (s *Store) hashKey(id string) string { return s.prefix + ":s:{" + tag(id) + "}" }
func (s *Store) tombKey(id string) string { return s.prefix + ":t:{" + tag(id) + "}" }
func (s *Store) userKey(u string) string  { return s.prefix + ":user:{" + tag(u) + "}" }
func (s *Store) roomKey(r string) string  { return s.prefix + ":room:{" + tag(r) + "}" }
func (s *Store) roomsKey() string         { return s.prefix + ":rooms" }
func (s *Store) ownedKey(n string) string { return s.prefix + ":node:{" + tag(n) + "}:owned" }
func (s *Store) orphansKey() string       { return s.prefix + ":orphans" }
func (s *Store) nodesKey() string         { return s.prefix + ":nodes" }
func (s *Store) aliveKey(n string) string { return s.prefix + ":alive:{" + tag(n) + "}" }
func (s *Store) epochKey() string         { return s.prefix + ":epoch" }
func (s *Store) channel(n string) string  { return s.prefix + ":n:" + n }
