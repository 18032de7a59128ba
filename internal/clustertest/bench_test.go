package clustertest

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// BenchmarkCluster measures delivery through one server and through
// three sharing Redis, in one run: K clients spread over the servers, in
// one room, and a producer on server 0 broadcasting to it (through Redis
// to the owning server for clients held elsewhere). It reports
// deliveries per second, the p50 and p99 latency from Send to OnMessage,
// and Redis commands and round trips per delivered message.
//
//	go test -run '^$' -bench Cluster -benchtime 20000x ./internal/clustertest/
func BenchmarkCluster(b *testing.B) {
	for _, nodes := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) { benchCluster(b, nodes) })
	}
}

func benchCluster(b *testing.B, nodes int) {
	const k = 30 // clients
	c := startCluster(b, nodes, func(o *tether.Options) { o.MaxReplayMessages = 1 << 16 })
	var mu sync.Mutex
	var lat []time.Duration
	got := make(chan struct{}, 1<<16)
	ids := make([]string, k)
	for i := range k {
		c.route(i % nodes)
		r := &clientRec{}
		o := r.options(nil)
		o.OnMessage = func(m tether.Message) {
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(m.Data)))
			mu.Lock()
			lat = append(lat, time.Since(sent))
			mu.Unlock()
			got <- struct{}{}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cl, err := client.Dial(ctx, c.url(), o)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_ = cl.Close(ctx)
			<-cl.Done()
		})
		ids[i] = cl.SessionID()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m, _ := c.nodes[0].srv.RoomMemberIDs(context.Background(), "all"); len(m) == k {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("clients did not join the room")
		}
	}
	var cmds0, trips0 uint64
	for _, nd := range c.nodes {
		st := nd.store.Stats()
		cmds0 += st.Commands
		trips0 += st.RoundTrips
	}
	src := c.nodes[0].srv
	rounds := max(1, b.N/k)
	b.ResetTimer()
	start := time.Now()
	payload := make([]byte, 100)
	for range rounds {
		binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
		if n, err := src.Broadcast(context.Background(), "all", tether.Binary, payload); err != nil || n.Members != k {
			b.Fatalf("broadcast: %d, %v", n.Members, err)
		}
		// Keep the replay buffers bounded: wait for this round.
		for range ids {
			select {
			case <-got:
			case <-time.After(20 * time.Second):
				b.Fatal("deliveries stalled")
			}
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var cmds, trips uint64
	for _, nd := range c.nodes {
		st := nd.store.Stats()
		cmds += st.Commands
		trips += st.RoundTrips
	}
	n := rounds * k
	mu.Lock()
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	mu.Unlock()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
	b.ReportMetric(float64(cmds-cmds0)/float64(n), "redis-cmds/delivery")
	b.ReportMetric(float64(trips-trips0)/float64(n), "redis-trips/delivery")
}
