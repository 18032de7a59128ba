package tether

import (
	"sync"
	"testing"
	"time"
)

// TestHeartbeatWheel: each connection in the wheel is checked about once
// per interval, never before a tick short of it; one removed is never
// checked again; the wheel's timer stops with its last connection.
func TestHeartbeatWheel(t *testing.T) {
	const interval = 64 * time.Millisecond // a tick of 2 ms
	var mu sync.Mutex
	checks := map[*conn][]time.Time{}
	added := map[*conn]time.Time{}
	var h heartbeats
	h.check = func(c *conn, now time.Time) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		checks[c] = append(checks[c], now)
		return interval
	}
	conns := make([]*conn, 50)
	for i := range conns {
		conns[i] = &conn{}
		mu.Lock()
		added[conns[i]] = time.Now()
		mu.Unlock()
		h.add(conns[i], interval)
	}
	count := func(c *conn) int {
		mu.Lock()
		defer mu.Unlock()
		return len(checks[c])
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range conns {
		for count(c) < 3 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if count(c) < 3 {
			t.Fatalf("a connection was checked %d times in 10 s (interval %v)", count(c), interval)
		}
	}
	gone := conns[:25]
	for _, c := range gone {
		h.remove(c)
	}
	mu.Lock()
	seen := map[*conn]int{}
	for _, c := range gone {
		seen[c] = len(checks[c])
	}
	mu.Unlock()
	// A turn under way may still hold a removed connection: wait for two
	// intervals more of turns, then every removed one is settled.
	for range 2 {
		n := count(conns[len(conns)-1])
		for count(conns[len(conns)-1]) <= n+1 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	mu.Lock()
	for _, c := range gone {
		if got := len(checks[c]); got > seen[c]+1 {
			t.Errorf("a removed connection was checked %d more times", got-seen[c])
		}
	}
	tick := h.tick
	for c, at := range checks {
		prev := added[c]
		for _, x := range at {
			if gap := x.Sub(prev); gap < interval-tick {
				t.Errorf("checked %v after the previous check, interval %v, tick %v", gap, interval, tick)
			}
			prev = x
		}
	}
	mu.Unlock()
	for _, c := range conns[25:] {
		h.remove(c)
	}
	h.mu.Lock()
	n := h.n
	stopped := !h.t.Stop()
	h.mu.Unlock()
	if n != 0 || !stopped {
		t.Fatalf("wheel empty: n = %d, timer stopped %v", n, stopped)
	}
}
