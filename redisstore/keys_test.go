package redisstore

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-ws/tether"
)

// crc16 is CRC-16/XMODEM, the hash of Redis Cluster's key slots.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// slot is the Redis Cluster slot of key: the hash of its hash tag (the
// text between the first '{' and the next '}', if not empty) or else of
// the whole key.
func slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16([]byte(key)) % 16384)
}

func TestSlot(t *testing.T) {
	// Vectors from the Redis Cluster specification.
	if got := crc16([]byte("123456789")); got != 0x31C3 {
		t.Fatalf("crc16 = %#x, want 0x31c3", got)
	}
	if slot("{user1000}.following") != slot("{user1000}.followers") {
		t.Fatal("hash tags ignored")
	}
	if slot("foo{}{bar}") != int(crc16([]byte("foo{}{bar}"))%16384) {
		t.Fatal("an empty tag must hash the whole key")
	}
	if slot("foo{{bar}}zap") != int(crc16([]byte("{bar"))%16384) {
		t.Fatal("the tag ends at the first '}'")
	}
}

var oddIDs = []string{
	"plain", "", "x}y", "x%7Dy", "{", "}", "{}", "%", "%25", "a{b}c", "héllo ✓", "Zm9vYmFyYmF6cXV4MTIzNA",
	strings.Repeat("long", 100),
}

// TestSessionKeysShareASlot checks every key a session's operations
// create, as found in Redis, against the slot of its hash key.
func TestSessionKeysShareASlot(t *testing.T) {
	p := newPrefix(t)
	s := open(t, Options{Prefix: p})
	ctx := testCtx(t)
	tags := make(map[string]string) // tag → ID
	for _, id := range oddIDs {
		ks := s.sessionKeys(id)
		for _, k := range ks {
			if slot(k) != slot(ks[kHash]) {
				t.Errorf("ID %q: key %q in slot %d, hash key %q in %d", id, k, slot(k), ks[kHash], slot(ks[kHash]))
			}
		}
		tg := tag(id)
		if other, ok := tags[tg]; ok {
			t.Errorf("IDs %q and %q share tag %q", id, other, tg)
		}
		tags[tg] = id

		create(t, s, rec(id, s.Node()))
		if _, err := s.Append(ctx, id, tether.Message{Type: tether.Binary, Data: []byte("x")}, tether.Message{Type: tether.Text}); err != nil {
			t.Fatal(err)
		}
		if err := join(ctx, s, id, "r"); err != nil {
			t.Fatal(err)
		}
		if id == "x}y" { // and one tombstone
			if err := s.Close(ctx, id, 0, &tether.Tombstone{ID: id, Closed: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := newClient(t, redisAddr())
	keys, err := c.Keys(ctx, p+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, p+":")
		if !ok || !(strings.HasPrefix(rest, "s:{") || strings.HasPrefix(rest, "t:{")) {
			continue
		}
		tg := rest[3:strings.IndexByte(rest, '}')]
		id, ok := tags[tg]
		if !ok {
			t.Errorf("key %q: unknown tag %q", k, tg)
			continue
		}
		seen++
		if want := slot(s.hashKey(id)); slot(k) != want {
			t.Errorf("key %q of session %q: slot %d, want %d", k, id, slot(k), want)
		}
	}
	// hash, log, sizes, rooms, cursors per session; one closed with a
	// tombstone.
	if want := 5*len(oddIDs) - 5 + 1; seen != want {
		t.Errorf("found %d session keys, want %d: %q", seen, want, keys)
	}
}

// Nothing a session leaves in Redis lives forever: every key of a live
// session and every index set expires unless renewed.
func TestKeysExpire(t *testing.T) {
	p := newPrefix(t)
	s := open(t, Options{Prefix: p, TombstoneTTL: time.Minute})
	ctx := testCtx(t)
	r := rec("a", s.Node())
	create(t, s, r)
	create(t, s, rec("b", s.Node()))
	if _, err := s.Append(ctx, "a", tether.Message{Type: tether.Text, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := join(ctx, s, "a", "room"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkPresent(ctx, "room", r.UserID, "a", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(ctx, "room", tether.Message{Type: tether.Text}, tether.HistoryLimits{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx, "b", 0, &tether.Tombstone{ID: "b"}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, redisAddr())
	keys, _ := c.Keys(ctx, p+":*").Result()
	global := map[string]bool{
		s.epochKey(): true, s.nodesKey(): true, s.orphansKey(): true, s.roomsKey(): true,
		s.ownedKey(s.Node()): true,
	}
	for _, k := range append(s.streamKeys("room"), s.sessionKeys("a")[kCurs], s.presenceKey("room", r.UserID)) {
		if !slices.Contains(keys, k) {
			t.Errorf("key %q missing: the test checks nothing of it", k)
		}
	}
	for _, k := range keys {
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case global[k]:
		case ttl <= 0:
			t.Errorf("key %q never expires", k)
		case k == s.tombKey("b") && ttl > time.Minute:
			t.Errorf("tombstone expires in %v, want ≤ 1m", ttl)
		}
	}
}

// The owner renews its sessions' expiry, so a session without any store
// call for longer than KeyTTL survives while its node lives; a session
// nobody owns does not.
func TestOwnerRenewsExpiry(t *testing.T) {
	p := newPrefix(t)
	s := open(t, Options{Prefix: p, KeyTTL: 2 * time.Second})
	ctx := testCtx(t)
	create(t, s, rec("held", s.Node()))
	create(t, s, rec("ghost", "gone-node"))
	if _, err := s.Append(ctx, "held", tether.Message{Type: tether.Text, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := join(ctx, s, "held", "room"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkPresent(ctx, "room", "u-held", "held", true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3500 * time.Millisecond)
	if _, err := s.Load(ctx, "ghost"); err != tether.ErrNotFound {
		t.Fatalf("an unowned session outlived KeyTTL: %v", err)
	}
	if _, err := s.Load(ctx, "held"); err != nil {
		t.Fatalf("a held session expired: %v", err)
	}
	if m, err := s.Read(ctx, "held", 0, 100, nil); err != nil || len(m) != 1 {
		t.Fatalf("a held session's log expired: %v, %v", m, err)
	}
	if ids, err := s.UserSessions(ctx, "u-held"); err != nil || len(ids) != 1 {
		t.Fatalf("a held session's user index expired: %v, %v", ids, err)
	}
	if ids, err := s.UserSessions(ctx, "u-ghost"); err != nil || len(ids) != 0 {
		t.Fatalf("UserSessions lists an expired session: %v, %v", ids, err)
	}
	if changed, err := s.MarkPresent(ctx, "room", "u-held", "held", false); err != nil || !changed {
		t.Fatalf("a held session's presence expired: its leave changed nothing (%v, %v)", changed, err)
	}
}
