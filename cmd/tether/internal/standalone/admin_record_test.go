package standalone

import (
	"fmt"
	"testing"
	"time"
)

// TestSessionHistoryKeepsOpen: a session's events read back as they were
// recorded, oldest first, at most sessionEventCap of them, whether its
// open is kept as an event (something was lost before it) or rebuilt from
// its time (nothing was: most sessions).
func TestSessionHistoryKeepsOpen(t *testing.T) {
	for _, lostBefore := range []bool{false, true} {
		clock := time.Date(2026, 12, 6, 10, 0, 0, 0, time.Local) // a plain open is kept as Unix time, read back as local
		r := newRecorder(nil)
		r.now = func() time.Time { clock = clock.Add(time.Second); return clock }
		open := lifecycleEvent{Session: "s1", User: "u", Kind: "open"}
		if lostBefore {
			open.Previous, open.Reason, open.Lost = "s0", "expired", 3
		}
		r.record(open, nil)
		var want []lifecycleEvent
		open.Time = clock
		want = append(want, open)
		check := func(step string) {
			t.Helper()
			user, got, ok := r.events("s1")
			if !ok || user != "u" {
				t.Fatalf("lost before %v, %s: events of s1: user %q, found %v", lostBefore, step, user, ok)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("lost before %v, %s:\n got %v\nwant %v", lostBefore, step, got, want)
			}
		}
		check("opened")
		for i := range sessionEventCap + 3 {
			kind := "disconnect"
			if i%2 == 1 {
				kind = "resume"
			}
			ev := lifecycleEvent{Session: "s1", User: "u", Kind: kind, Cause: "network-lost", Replayed: i}
			r.record(ev, nil)
			ev.Time = clock
			want = append(want, ev)
			if len(want) > sessionEventCap {
				want = want[1:]
			}
			check(fmt.Sprintf("after %d more", i+1))
		}
	}
}
