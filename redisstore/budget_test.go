package redisstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tether-ws/tether"
)

// TestRoundTrips pins the Redis round trips of each operation on a single
// Redis: the hot path (Append, Read, Ack, SaveIn) costs one each.
func TestRoundTrips(t *testing.T) {
	p := newPrefix(t)
	s := open(t, Options{Prefix: p})
	other := open(t, Options{Prefix: p})
	ctx := testCtx(t)
	create(t, s, rec("a", other.Node())) // owned elsewhere: Append wakes it
	create(t, s, rec("b", s.Node()))
	msg := tether.Message{Type: tether.Text, Data: []byte("x")}
	var lease uint64 = 1
	for _, c := range []struct {
		op    string
		trips uint64
		fn    func() error
	}{
		{"Append", 1, func() error { _, err := s.Append(ctx, "a", msg, msg, msg); return err }},
		{"Read", 1, func() error { _, err := s.Read(ctx, "a", 0, 1<<20, nil); return err }},
		{"Ack", 1, func() error { return s.Ack(ctx, "a", 2) }},
		{"SaveIn", 1, func() error { return s.SaveIn(ctx, "a", lease, 3) }},
		{"Load", 1, func() error { _, err := s.Load(ctx, "a"); return err }},
		{"Save", 1, func() error { r, _ := s.Load(ctx, "b"); r.In = 9; return s.Save(ctx, r) }},
		{"Epoch", 1, func() error { _, err := s.Epoch(ctx); return err }},
		{"Tombstone", 1, func() error { _, err := s.Tombstone(ctx, "none"); _ = err; return nil }},
		{"Create", 2, func() error { return s.Create(ctx, rec("c", s.Node())) }},
		{"Claim", 2, func() error { r, err := s.Claim(ctx, "a", s.Node()); lease = r.Lease; return err }},
		{"JoinRoom", 2, func() error { return join(ctx, s, "c", "x") }},
		{"LeaveRoom", 2, func() error { return leave(ctx, s, "c", "lobby") }},
		{"LeaveRoom (the room's last)", 3, func() error { return leave(ctx, s, "c", "x") }},
		{"Close", 2, func() error { return s.Close(ctx, "c", 0, nil) }},
		{"Release", 2, func() error { return s.Release(ctx, "a", lease) }},
		{"Adopt (nothing to do)", 3, func() error { _, err := s.Adopt(ctx, 10); return err }},
		{"RoomMembers", 2, func() error { _, err := s.RoomMembers(ctx, "lobby"); return err }},
		{"Publish", 1, func() error { _, err := s.Publish(ctx, "lobby", msg, tether.HistoryLimits{}); return err }},
		{"History", 1, func() error { _, _, err := s.History(ctx, "lobby", 0, 10, nil); return err }},
		{"OpenRoom", 1, func() error { _, err := s.OpenRoom(ctx, "new"); return err }},
		{"JoinRoom (with an event)", 2, func() error {
			_, _, err := s.JoinRoom(ctx, "b", "y", 0, tether.RoomPosition{}, &tether.Message{Type: 0x80, Data: []byte("e"), Room: "y"})
			return err
		}},
		{"AppendRoom", 1, func() error {
			_, err := s.AppendRoom(ctx, "b", "y", "e", tether.Message{Type: tether.Text, Offset: 1})
			return err
		}},
		{"AppendRoomEach", 1, func() error {
			_, errs := s.AppendRoomEach(ctx, []string{"a", "b"}, "lobby", "e", tether.Message{Type: tether.Text, Offset: 1})
			return errors.Join(errs...)
		}},
	} {
		before := s.Stats()
		if err := c.fn(); err != nil {
			t.Fatalf("%s: %v", c.op, err)
		}
		got := s.Stats().RoundTrips - before.RoundTrips
		if c.op == "Save" {
			got-- // the Load that prepared it
		}
		if got != c.trips {
			t.Errorf("%s: %d round trips, want %d", c.op, got, c.trips)
		}
	}
}

// After Redis forgot the scripts (SCRIPT FLUSH, a restart), every
// operation still works, pipelined ones included.
func TestScriptsReloaded(t *testing.T) {
	p := newPrefix(t)
	s := open(t, Options{Prefix: p})
	ctx := testCtx(t)
	c := newClient(t, redisAddr())
	flush := func() {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	flush()
	create(t, s, rec("a", s.Node()))
	flush()
	if _, err := s.Claim(ctx, "a", s.Node()); err != nil {
		t.Fatal(err)
	}
	flush()
	if _, err := s.Append(ctx, "a", tether.Message{Type: tether.Text, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	flush()
	if m, err := s.Read(ctx, "a", 0, 10, nil); err != nil || len(m) != 1 {
		t.Fatalf("Read: %v, %v", m, err)
	}
	r, _ := s.Load(ctx, "a")
	r.Detached = time.Now()
	_ = s.Save(ctx, r)
	_ = s.Release(ctx, "a", r.Lease)
	flush()
	if recs, err := s.Adopt(ctx, 10); err != nil || len(recs) != 1 {
		t.Fatalf("Adopt: %v, %v", recs, err)
	}
}

func TestStatsCounts(t *testing.T) {
	s := open(t, Options{Prefix: newPrefix(t)})
	create(t, s, rec("a", s.Node()))
	before := s.Stats()
	for range 10 {
		if _, err := s.Append(testCtx(t), "a", tether.Message{Type: tether.Text}); err != nil {
			t.Fatal(err)
		}
	}
	d := s.Stats()
	if d.Commands-before.Commands != 10 || d.RoundTrips-before.RoundTrips != 10 {
		t.Fatalf("10 Appends counted as %d commands in %d round trips", d.Commands-before.Commands, d.RoundTrips-before.RoundTrips)
	}
}

// BenchmarkAppendReadAck runs a session's hot path: append, read what was
// appended, acknowledge it. It reports the Redis commands per message.
func BenchmarkAppendReadAck(b *testing.B) {
	for _, batch := range []int{1, 16} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := open(b, Options{Prefix: newPrefix(b)})
			ctx := context.Background()
			if err := s.Create(ctx, &tether.Record{ID: "bench", Owner: s.Node(), MaxMessages: 1 << 16, MaxBytes: 1 << 24}); err != nil {
				b.Fatal(err)
			}
			msgs := make([]tether.Message, batch)
			for i := range msgs {
				msgs[i] = tether.Message{Type: tether.Binary, Data: make([]byte, 64)}
			}
			var buf []tether.Message
			var after uint64
			before := s.Stats()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				last, err := s.Append(ctx, "bench", msgs...)
				if err != nil {
					b.Fatal(err)
				}
				for after < last {
					buf, err = s.Read(ctx, "bench", after, 1<<20, buf[:0])
					if err != nil || len(buf) == 0 {
						b.Fatalf("Read: %d messages, %v", len(buf), err)
					}
					after = buf[len(buf)-1].Seq
				}
				if err := s.Ack(ctx, "bench", after); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			st := s.Stats()
			b.ReportMetric(float64(st.Commands-before.Commands)/float64(after), "redis-cmds/msg")
			b.ReportMetric(float64(st.RoundTrips-before.RoundTrips)/float64(after), "round-trips/msg")
		})
	}
}

// BenchmarkBroadcast runs the store's part of a broadcast to a room of 30
// or 2,000 members this node owns: with room streams (Publish,
// RoomMembers, AppendRoomEach), and as before them (RoomMembers,
// AppendEach). Members acknowledge everything every 100 broadcasts.
func BenchmarkBroadcast(b *testing.B) {
	for _, bc := range []struct {
		members int
		stream  bool
	}{{30, true}, {30, false}, {2000, true}} {
		members, stream := bc.members, bc.stream
		b.Run(fmt.Sprintf("members=%d/stream=%v", members, stream), func(b *testing.B) {
			s := open(b, Options{Prefix: newPrefix(b)})
			ctx := context.Background()
			ids := make([]string, members)
			for i := range ids {
				ids[i] = fmt.Sprintf("m%d", i)
				if err := s.Create(ctx, &tether.Record{ID: ids[i], Owner: s.Node(), MaxMessages: 1 << 16, MaxBytes: 1 << 24}); err != nil {
					b.Fatal(err)
				}
				if err := join(ctx, s, ids[i], "all"); err != nil {
					b.Fatal(err)
				}
			}
			lim := tether.HistoryLimits{MaxMessages: 1000, MaxBytes: 1 << 20, MaxAge: 10 * time.Minute}
			m := tether.Message{Type: tether.Binary, Data: make([]byte, 100)}
			before := s.Stats()
			b.ResetTimer()
			for i := range b.N {
				var errs []error
				if stream {
					pos, err := s.Publish(ctx, "all", m, lim)
					if err != nil {
						b.Fatal(err)
					}
					ids, err := s.RoomMembers(ctx, "all")
					if err != nil {
						b.Fatal(err)
					}
					rm := m
					rm.Room, rm.Offset = "all", pos.Offset
					_, errs = s.AppendRoomEach(ctx, ids, "all", pos.Epoch, rm)
				} else {
					ids, err := s.RoomMembers(ctx, "all")
					if err != nil {
						b.Fatal(err)
					}
					_, errs = s.AppendEach(ctx, ids, m)
				}
				if err := errors.Join(errs...); err != nil {
					b.Fatal(err)
				}
				if i%100 == 99 {
					for _, id := range ids {
						if err := s.Ack(ctx, id, uint64(i+1)); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.StopTimer()
			st := s.Stats()
			b.ReportMetric(float64(st.Commands-before.Commands)/float64(b.N*members), "redis-cmds/delivery")
			b.ReportMetric(float64(st.RoundTrips-before.RoundTrips)/float64(b.N), "round-trips/broadcast")
		})
	}
}
