package tether

import (
	"testing"
	"time"
)

// TestStamp: a stamp keeps the moment it was made from (a moment of this
// process's, or a wall-clock one from a store), the zero time is none,
// and the clock's origin is not mistaken for none.
func TestStamp(t *testing.T) {
	if s := stampOf(time.Time{}); s != 0 || !s.time().IsZero() {
		t.Fatalf("zero time: stamp %d, back %v", s, s.time())
	}
	if s := stampOf(clock); s == 0 {
		t.Fatal("the clock's origin made no stamp")
	}
	now := time.Now()
	wall := time.Unix(1_700_000_000, 123_456_789).UTC() // as a store keeps it: no monotonic reading
	for _, m := range []time.Time{now, wall, clock.Add(-time.Hour)} {
		if back := stampOf(m).time(); !back.Equal(m) {
			t.Errorf("%v came back as %v", m, back)
		}
	}
	s := stampOf(now.Add(-time.Minute))
	if d := s.since(); d < time.Minute || d > time.Minute+time.Hour {
		t.Fatalf("since a minute ago: %v", d)
	}
}
