package tether

import (
	"sync"
	"testing"
	"time"
)

// TestHeartbeatWheel: each connection in the wheel is checked again and
// again; one removed is never checked again; the wheel's timer stops with
// its last connection. (When: TestHeartbeatAhead.)
func TestHeartbeatWheel(t *testing.T) {
	const interval = 64 * time.Millisecond // a tick of 2 ms
	var mu sync.Mutex
	checks := map[*conn][]time.Time{}
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

// TestHeartbeatAhead: a check goes to the first slot whose time is not
// before it is due, counted from the time the wheel's current slot stands
// for; never the current slot; at most two intervals ahead.
func TestHeartbeatAhead(t *testing.T) {
	const tick = 10 * time.Millisecond
	at := time.Unix(100, 0)
	ms := time.Millisecond
	for _, c := range []struct {
		name string
		now  time.Duration // after at
		d    time.Duration
		want int
	}{
		{"due at the next slot's time", 0, tick, 1},
		{"due just after it", 0, tick + 1, 2},
		{"an interval, placed at the slot's time", 0, hbSlots * tick, hbSlots},
		{"an interval, placed 3 ms into the slot", 3 * ms, hbSlots * tick, hbSlots + 1},
		{"an interval, placed by a turn 25 ms late", 25 * ms, hbSlots * tick, hbSlots + 3},
		{"due now: the next slot", 5 * ms, 0, 1},
		{"beyond two intervals: the farthest slot", 0, 3 * hbSlots * tick, hbReach},
	} {
		got := ahead(tick, at, at.Add(c.now), c.d)
		if got != c.want {
			t.Errorf("%s: %d slots ahead, want %d", c.name, got, c.want)
		}
		if c.want < hbReach && at.Add(time.Duration(got)*tick).Before(at.Add(c.now+c.d)) {
			t.Errorf("%s: the slot's time is before the check is due", c.name)
		}
	}
}
