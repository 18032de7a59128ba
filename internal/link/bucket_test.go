package link

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t0 := time.Unix(500, 0)
	ms := time.Millisecond
	type take struct {
		at time.Duration // after t0
		ok bool
	}
	for _, c := range []struct {
		name  string
		rate  float64
		burst int
		takes []take
	}{
		{"a full burst at once, not one more", 10, 3, []take{{0, true}, {0, true}, {0, true}, {0, false}}},
		{"one token back after 1/rate", 10, 2, []take{{0, true}, {0, true}, {99 * ms, false}, {100 * ms, true}, {100 * ms, false}}},
		{"a refused take costs nothing", 10, 1, []take{{0, true}, {50 * ms, false}, {100 * ms, true}}},
		{"refill stops at the burst", 10, 2, []take{{0, true}, {0, true}, {10 * time.Second, true}, {10 * time.Second, true}, {10 * time.Second, false}}},
		{"steady at the rate is never refused", 4, 1, []take{{0, true}, {250 * ms, true}, {500 * ms, true}, {750 * ms, true}, {time.Second, true}}},
		{"a clock that goes back gains nothing", 10, 1, []take{{time.Second, true}, {0, false}, {time.Second, false}, {1100 * ms, true}}},
	} {
		var b Bucket
		for i, tk := range c.takes {
			if got := b.Take(c.rate, c.burst, t0.Add(tk.at)); got != tk.ok {
				t.Errorf("%s: take %d at %v = %v, want %v", c.name, i, tk.at, got, tk.ok)
				break
			}
		}
	}
}
