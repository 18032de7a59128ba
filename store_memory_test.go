package tether_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tether.Store {
		return tether.NewMemoryStore(nil)
	})
}

func memCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// closeWithTombstone creates a session and closes it, leaving a tombstone
// with the given UserID.
func closeWithTombstone(t *testing.T, ctx context.Context, s tether.Store, id, user string) {
	t.Helper()
	if err := s.Create(ctx, &tether.Record{ID: id, UserID: user, Created: time.Now(), MaxMessages: 10, MaxBytes: 100}); err != nil {
		t.Fatalf("Create(%q): %v", id, err)
	}
	if err := s.Close(ctx, id, 0, &tether.Tombstone{ID: id, UserID: user, Reason: tether.ReasonClosed, Closed: time.Now()}); err != nil {
		t.Fatalf("Close(%q): %v", id, err)
	}
}

// wantTombstone checks that id has a tombstone left by user, or none if
// user is "".
func wantTombstone(t *testing.T, ctx context.Context, s tether.Store, id, user string) {
	t.Helper()
	ts, err := s.Tombstone(ctx, id)
	switch {
	case user == "" && !errors.Is(err, tether.ErrNotFound):
		t.Fatalf("Tombstone(%q) = %+v, %v; want ErrNotFound", id, ts, err)
	case user == "":
	case err != nil:
		t.Fatalf("Tombstone(%q): %v", id, err)
	case ts.UserID != user:
		t.Fatalf("Tombstone(%q) left by %q, want %q", id, ts.UserID, user)
	}
}

func TestMemoryStoreTombstoneTTL(t *testing.T) {
	const ttl = 100 * time.Millisecond
	ctx := memCtx(t)
	s := tether.NewMemoryStore(&tether.MemoryStoreOptions{TombstoneTTL: ttl})

	closeWithTombstone(t, ctx, s, "a", "ua")
	wantTombstone(t, ctx, s, "a", "ua")
	time.Sleep(ttl + ttl/2)
	closeWithTombstone(t, ctx, s, "b", "ub")
	wantTombstone(t, ctx, s, "a", "") // expired
	wantTombstone(t, ctx, s, "b", "ub")
	time.Sleep(ttl + ttl/2)
	wantTombstone(t, ctx, s, "b", "")

	// Expiry is not eviction: a later tombstone is still kept.
	closeWithTombstone(t, ctx, s, "c", "uc")
	wantTombstone(t, ctx, s, "c", "uc")
}

func TestMemoryStoreMaxTombstones(t *testing.T) {
	ctx := memCtx(t)
	s := tether.NewMemoryStore(&tether.MemoryStoreOptions{MaxTombstones: 3})
	for i := range 5 {
		closeWithTombstone(t, ctx, s, fmt.Sprintf("s%d", i), fmt.Sprintf("u%d", i))
	}
	// The oldest go first.
	wantTombstone(t, ctx, s, "s0", "")
	wantTombstone(t, ctx, s, "s1", "")
	wantTombstone(t, ctx, s, "s2", "u2")
	wantTombstone(t, ctx, s, "s3", "u3")
	wantTombstone(t, ctx, s, "s4", "u4")

	// Closing without a tombstone evicts nothing.
	if err := s.Create(ctx, &tether.Record{ID: "quiet", MaxMessages: 10, MaxBytes: 100}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx, "quiet", 0, nil); err != nil {
		t.Fatal(err)
	}
	wantTombstone(t, ctx, s, "s2", "u2")

	closeWithTombstone(t, ctx, s, "s5", "u5")
	wantTombstone(t, ctx, s, "s2", "")
	wantTombstone(t, ctx, s, "s3", "u3")
	wantTombstone(t, ctx, s, "s5", "u5")
}

// TestMemoryStoreMaxTombstonesReclose closes the same ID twice (the
// session was re-created in between): the second tombstone replaces the
// first and is the newest, so it must outlive older ones.
func TestMemoryStoreMaxTombstonesReclose(t *testing.T) {
	ctx := memCtx(t)
	s := tether.NewMemoryStore(&tether.MemoryStoreOptions{MaxTombstones: 2})
	closeWithTombstone(t, ctx, s, "a", "first")
	closeWithTombstone(t, ctx, s, "a", "second")
	wantTombstone(t, ctx, s, "a", "second")
	closeWithTombstone(t, ctx, s, "b", "ub")
	wantTombstone(t, ctx, s, "a", "second") // only 2 tombstones exist
	wantTombstone(t, ctx, s, "b", "ub")
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestMemoryStoreIdleSessionsAreSmall checks from outside that an idle
// session (everything sent was acknowledged) keeps no replay buffer: each
// session was sent a fresh 1 KiB message, so a kept buffer would cost at
// least that much.
func TestMemoryStoreIdleSessionsAreSmall(t *testing.T) {
	const n = 10_000
	ctx := memCtx(t)
	s := tether.NewMemoryStore(nil)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("idle-%05d", i)
	}

	before := heapInUse()
	for _, id := range ids {
		rec := &tether.Record{ID: id, UserID: "user", Created: time.Now(), MaxMessages: 4096, MaxBytes: 1 << 20}
		if err := s.Create(ctx, rec); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if _, err := s.Append(ctx, id, tether.Message{Type: tether.Binary, Data: make([]byte, 1024)}); err != nil {
			t.Fatalf("Append: %v", err)
		}
		if err := s.Ack(ctx, id, 1); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	after := heapInUse()
	if s.Len() != n {
		t.Fatalf("store holds %d sessions, want %d", s.Len(), n)
	}
	runtime.KeepAlive(s)
	runtime.KeepAlive(ids)

	per := (after - before) / n
	t.Logf("idle session: %d bytes of heap each (%d sessions, IDs not counted)", per, n)
	if per >= 1024 {
		t.Errorf("idle session costs %d bytes of heap, want < 1024: is the replay buffer kept after a full ack?", per)
	}
}

// TestMemoryStoreRoomEpochs: a memory store's rooms start a new epoch in
// every process (their history died with the last one), and a stream
// dropped for lack of room starts a new epoch too.
func TestMemoryStoreRoomEpochs(t *testing.T) {
	ctx := memCtx(t)
	a, b := tether.NewMemoryStore(nil), tether.NewMemoryStore(nil)
	pa, _ := a.Publish(ctx, "r", tether.Message{Type: tether.Text}, tether.HistoryLimits{})
	pb, _ := b.Publish(ctx, "r", tether.Message{Type: tether.Text}, tether.HistoryLimits{})
	if pa.Epoch == pb.Epoch || pa.Offset != 1 || pb.Offset != 1 {
		t.Fatalf("two processes' room r: %+v and %+v, want offset 1 under different epochs", pa, pb)
	}

	s := tether.NewMemoryStore(&tether.MemoryStoreOptions{MaxRoomStreams: 2})
	first, _ := s.OpenRoom(ctx, "kept")
	if err := s.Create(ctx, &tether.Record{ID: "m", MaxMessages: 10}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.JoinRoom(ctx, "m", "kept", 0, tether.RoomPosition{Epoch: first.Epoch}, nil); err != nil {
		t.Fatal(err)
	}
	old, _ := s.OpenRoom(ctx, "old")
	s.OpenRoom(ctx, "new") // a third stream: the one without members goes
	if st, _ := s.OpenRoom(ctx, "kept"); st.Epoch != first.Epoch {
		t.Fatalf("a room with members lost its stream: epoch %q, was %q", st.Epoch, first.Epoch)
	}
	if st, _ := s.OpenRoom(ctx, "old"); st.Epoch == old.Epoch {
		t.Fatalf("room old kept epoch %q after its stream was dropped", st.Epoch)
	}
}

// BenchmarkMemoryFanOut is the memory store's part of a broadcast: one
// message appended to each of 2,000 sessions, as Append (a message to
// each session) and as AppendRoom (a room's message to each member). The
// sessions joined with room names of their own, as the standalone
// server's do (parsed per request).
func BenchmarkMemoryFanOut(b *testing.B) {
	const members = 2000
	for _, mode := range []string{"append", "room"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			s := tether.NewMemoryStore(nil)
			st, _ := s.OpenRoom(ctx, "lobby")
			ids := make([]string, members)
			for i := range ids {
				ids[i] = fmt.Sprintf("s%04d", i)
				if err := s.Create(ctx, &tether.Record{ID: ids[i], MaxMessages: 1 << 20, MaxBytes: 1 << 30}); err != nil {
					b.Fatal(err)
				}
				room := strings.Clone("lobby")
				if _, _, err := s.JoinRoom(ctx, ids[i], room, 0, tether.RoomPosition{Epoch: st.Epoch}, nil); err != nil {
					b.Fatal(err)
				}
			}
			p := make([]byte, 100)
			b.ReportAllocs()
			b.ResetTimer()
			for n := range b.N {
				m := tether.Message{Type: tether.Binary, Data: p, Room: "lobby", Offset: uint64(n + 1)}
				for _, id := range ids {
					var seq uint64
					var err error
					if mode == "append" {
						seq, err = s.Append(ctx, id, m)
					} else {
						seq, err = s.AppendRoom(ctx, id, "lobby", st.Epoch, m)
					}
					if err != nil {
						b.Fatal(err)
					}
					if seq%8 == 0 {
						_ = s.Ack(ctx, id, seq)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*members), "ns/delivery")
		})
	}
}
