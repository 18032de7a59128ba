package link

import (
	"testing"
	"time"
)

func TestLivenessCheck(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	server := Liveness{Every: 15 * time.Second, Limit: 25 * time.Second}
	client := Liveness{Every: 25 * time.Second, Limit: 25 * time.Second}
	for _, c := range []struct {
		name  string
		l     Liveness
		since time.Duration // from the last frame to the check
		dead  bool
		next  time.Duration
	}{
		{"server, frame just in", server, 0, false, 15 * time.Second},
		{"server, a ping interval of silence", server, 15 * time.Second, false, 10 * time.Second},
		{"server, the limit less 1 ms", server, 25*time.Second - ms, false, ms},
		{"server, exactly the limit", server, 25 * time.Second, true, 0},
		{"server, past the limit", server, time.Minute, true, 0},
		{"client, frame just in", client, 0, false, 25 * time.Second},
		{"client, halfway", client, 10 * time.Second, false, 15 * time.Second},
		{"client, exactly the limit", client, 25 * time.Second, true, 0},
		{"a clock that went back: the frame is in the future", server, -time.Second, false, 15 * time.Second},
	} {
		dead, next := c.l.Check(t0, t0.Add(c.since))
		if dead != c.dead || next != c.next {
			t.Errorf("%s: Check = %v, %v; want %v, %v", c.name, dead, next, c.dead, c.next)
		}
	}
}
