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
		name   string
		l      Liveness
		since  time.Duration // from the last frame to the check
		unread bool          // bytes from the peer wait unread
		dead   bool
		next   time.Duration
	}{
		{"server, frame just in", server, 0, false, false, 15 * time.Second},
		{"server, a ping interval of silence", server, 15 * time.Second, false, false, 10 * time.Second},
		{"server, the limit less 1 ms", server, 25*time.Second - ms, false, false, ms},
		{"server, exactly the limit", server, 25 * time.Second, false, true, 0},
		{"server, past the limit", server, time.Minute, false, true, 0},
		{"client, frame just in", client, 0, false, false, 25 * time.Second},
		{"client, halfway", client, 10 * time.Second, false, false, 15 * time.Second},
		{"client, exactly the limit", client, 25 * time.Second, false, true, 0},
		{"a clock that went back: the frame is in the future", server, -time.Second, false, false, 15 * time.Second},
		{"server, past the limit, bytes unread: the reader is behind", server, 25 * time.Second, true, false, 15 * time.Second},
		{"server, bytes unread, the next check at Behind limits", server, 90 * time.Second, true, false, 10 * time.Second},
		{"server, bytes unread for Behind limits: dead", server, Behind * 25 * time.Second, true, true, 0},
		{"client, past the limit, bytes unread", client, 30 * time.Second, true, false, 25 * time.Second},
		{"client, bytes unread long past Behind limits", client, time.Hour, true, true, 0},
	} {
		asked := false
		unread := func() bool { asked = true; return c.unread }
		dead, next := c.l.Check(t0, t0.Add(c.since), unread)
		if dead != c.dead || next != c.next {
			t.Errorf("%s: Check = %v, %v; want %v, %v", c.name, dead, next, c.dead, c.next)
		}
		if within := c.since < c.l.Limit; asked && within {
			t.Errorf("%s: asked for unread bytes of a link within its limit", c.name)
		}
		if dead, _ := c.l.Check(t0, t0.Add(c.since), nil); dead != (c.since >= c.l.Limit) {
			t.Errorf("%s: without unread, dead = %v", c.name, dead)
		}
	}
}
