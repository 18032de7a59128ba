package main

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/tether-ws/tether"
)

// BenchmarkRoomHistoryMemory measures what a room's history costs in
// memory per kept message with the in-memory store: rooms whose history
// is full (the default bound, 1,000 messages; twice as many published, so
// that trimming runs as it does in a long-lived room), heap after a
// collection, less the same rooms holding one message each. It reports
// the bytes per kept message, and those beyond the payload's length (the
// history entry, the slice's spare capacity, the payload's copy rounded
// up to its allocation class). Nobody is in the rooms: a broadcast to an
// empty room is kept in its history all the same.
//
//	go test -run '^$' -bench RoomHistoryMemory -benchtime 3x ./cmd/tether-bench/
func BenchmarkRoomHistoryMemory(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("payload=%dB", size), func(b *testing.B) {
			const rooms, kept = 200, 1000
			var perMsg float64
			for b.Loop() {
				perMsg += historyBytes(b, rooms, kept, size)
			}
			perMsg /= float64(b.N)
			b.ReportMetric(perMsg, "B/msg")
			b.ReportMetric(perMsg-float64(size), "B/msg-beyond-payload")
		})
	}
}

// historyBytes returns the heap per kept message of rooms histories of
// kept messages of size bytes.
func historyBytes(b *testing.B, rooms, kept, size int) float64 {
	ctx := context.Background()
	srv := tether.NewServer(&tether.Options{Logger: discardLog, RoomHistory: tether.HistoryLimits{MaxMessages: kept}})
	defer func() { _ = srv.Shutdown(ctx) }()
	p := make([]byte, size)
	for i := range p {
		p[i] = 'x'
	}
	name := func(i int) string { return fmt.Sprintf("room-%04d", i) }
	for i := range rooms {
		if _, err := srv.Broadcast(ctx, name(i), tether.Text, p); err != nil {
			b.Fatal(err)
		}
	}
	before := heap()
	for range 2 * kept {
		for i := range rooms {
			if _, err := srv.Broadcast(ctx, name(i), tether.Text, p); err != nil {
				b.Fatal(err)
			}
		}
	}
	after := heap()
	runtime.KeepAlive(srv)
	// Each room went from 1 kept message to kept.
	return float64(after-before) / float64(rooms*(kept-1))
}

func heap() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
