package redisstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/tether-ws/tether"
)

func ownedRecord(id, node string) *tether.Record {
	return &tether.Record{ID: id, UserID: "u", Owner: node, Created: time.Now(), MaxMessages: 1000, MaxBytes: 1 << 20}
}

// TestCacheAnswersOwnersReads checks the point of the cache: the owner
// reads what it appended without a round trip, an ack costs none either,
// and yet Load (what another node would see after a Claim) counts the ack.
func TestCacheAnswersOwnersReads(t *testing.T) {
	ctx := testCtx(t)
	s := open(t, Options{Prefix: newPrefix(t), Node: "node-1"})
	if err := s.Create(ctx, ownedRecord("c1", "node-1")); err != nil {
		t.Fatal(err)
	}
	msgs := make([]tether.Message, 10)
	for i := range msgs {
		msgs[i] = tether.Message{Type: tether.Text, Data: []byte(fmt.Sprintf("m%d", i+1))}
	}
	if last, err := s.Append(ctx, "c1", msgs...); err != nil || last != 10 {
		t.Fatalf("Append: %d, %v", last, err)
	}
	before := s.Stats().Commands
	got, err := s.Read(ctx, "c1", 0, 1<<20, nil)
	if err != nil || len(got) != 10 || string(got[9].Data) != "m10" || got[9].Seq != 10 {
		t.Fatalf("Read: %v, %v", got, err)
	}
	if err := s.Ack(ctx, "c1", 4); err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().Commands - before; n > 1 { // the ack loop may have flushed already
		t.Fatalf("a cached read and an ack sent %d commands, want at most the one flush", n)
	}
	if c := s.loc.stats(); c.Entries != 6 {
		t.Fatalf("after the ack of 4, %d entries cached, want 6", c.Entries)
	}
	rec, err := s.Load(ctx, "c1")
	if err != nil || rec.Acked != 4 || rec.Out != 10 {
		t.Fatalf("Load: %+v, %v; want acked 4 out 10", rec, err)
	}
	// Reading below the ack is Redis's to answer: the gap is reported.
	if _, err := s.Read(ctx, "c1", 1, 1<<20, nil); err == nil {
		t.Fatal("a read of trimmed messages succeeded")
	}
	// An ack beyond what was assigned is refused, cached or not.
	if err := s.Ack(ctx, "c1", 11); err == nil {
		t.Fatal("an ack of a message never sent was taken")
	}
}

// TestCacheBounded appends to many owned sessions with a small total
// bound: the cache stays under it and reads still come out right (from
// Redis once evicted).
func TestCacheBounded(t *testing.T) {
	ctx := testCtx(t)
	s := open(t, Options{Prefix: newPrefix(t), Node: "node-1"})
	s.loc.mu.Lock()
	s.loc.totalBytes = 20 * (100 + entryOverhead)
	s.loc.mu.Unlock()
	payload := make([]byte, 100)
	for i := range 10 {
		id := fmt.Sprintf("b%d", i)
		if err := s.Create(ctx, ownedRecord(id, "node-1")); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if _, err := s.Append(ctx, id, tether.Message{Type: tether.Binary, Data: payload}); err != nil {
				t.Fatal(err)
			}
		}
		if c := s.loc.stats(); c.Bytes > s.loc.totalBytes {
			t.Fatalf("cache holds %d bytes, bound %d", c.Bytes, s.loc.totalBytes)
		}
	}
	for i := range 10 {
		got, err := s.Read(ctx, fmt.Sprintf("b%d", i), 0, 1<<20, nil)
		if err != nil || len(got) != 5 {
			t.Fatalf("session %d: read %d messages, %v", i, len(got), err)
		}
	}
}

// TestCacheForgetsOnRelease: once the session leaves this node, a pending
// ack is in Redis and nothing of it is kept.
func TestCacheForgetsOnRelease(t *testing.T) {
	ctx := testCtx(t)
	s := open(t, Options{Prefix: newPrefix(t), Node: "node-1"})
	if err := s.Create(ctx, ownedRecord("r1", "node-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "r1", tether.Message{Type: tether.Text, Data: []byte("a")}, tether.Message{Type: tether.Text, Data: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, "r1", 2); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Load(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, "r1", rec.Lease); err != nil {
		t.Fatal(err)
	}
	if c := s.loc.stats(); c.Sessions != 0 {
		t.Fatalf("%d sessions still known after Release", c.Sessions)
	}
	other := open(t, Options{Prefix: s.prefix, Node: "node-2"})
	if rec, err = other.Load(ctx, "r1"); err != nil || rec.Acked != 2 {
		t.Fatalf("another node sees %+v, %v; want acked 2", rec, err)
	}
}
