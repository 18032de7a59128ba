package storetest

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Presence: MarkPresent, whose answers decide which session announces a
// user entering or leaving a room.

var presenceTests = []struct {
	name string
	fn   func(h *harness)
}{
	{"PresenceFirstAndLast", testPresenceFirstAndLast},
	{"PresenceConcurrent", testPresenceConcurrent},
	{"PresenceDropsGone", testPresenceDropsGone},
}

func init() {
	tests = append(tests, presenceTests...)
}

func (h *harness) mark(room, user, id string, present, want bool) {
	h.t.Helper()
	got, err := h.s.MarkPresent(h.ctx, room, user, id, present)
	if err != nil || got != want {
		h.t.Fatalf("MarkPresent(%q, %q, %q, %v) = %v, %v; want %v", room, user, id, present, got, err, want)
	}
}

// testPresenceFirstAndLast: the first of a user's sessions to enter and the
// last to leave change its presence; nothing else does, and users and
// rooms are apart.
func testPresenceFirstAndLast(h *harness) {
	a, b, c := h.session("a"), h.session("b"), h.session("c")
	h.mark("r", "u", a, false, false) // never entered
	h.mark("r", "u", a, true, true)
	h.mark("r", "u", a, true, false) // again
	h.mark("r", "u", b, true, false)
	h.mark("r", "v", c, true, true) // another user
	h.mark("q", "u", a, true, true) // another room
	h.mark("r", "u", a, false, false)
	h.mark("r", "u", a, false, false) // again
	h.mark("r", "u", b, false, true)
	h.mark("r", "u", b, false, false)
	h.mark("r", "u", a, true, true) // back
	h.mark("r", "v", c, false, true)
	h.mark("q", "u", a, false, true)
}

// testPresenceConcurrent: of sessions of one user entering at once, one
// reports the change; of the same leaving at once, one too.
func testPresenceConcurrent(h *harness) {
	const sessions, rounds = 8, 10
	ids := make([]string, sessions)
	for i := range ids {
		ids[i] = h.session(fmt.Sprintf("s%d", i))
	}
	for round := range rounds {
		room := fmt.Sprintf("r%d", round)
		for _, present := range []bool{true, false} {
			var changed atomic.Int32
			var wg sync.WaitGroup
			errs := make(chan error, sessions)
			for _, id := range ids {
				wg.Go(func() {
					ok, err := h.s.MarkPresent(h.ctx, room, "u", id, present)
					if err != nil {
						errs <- err
					}
					if ok {
						changed.Add(1)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				h.t.Fatalf("MarkPresent: %v", err)
			}
			if n := changed.Load(); n != 1 {
				h.t.Fatalf("round %d, present %v: %d of %d concurrent calls reported a change, want 1", round, present, n, sessions)
			}
		}
	}
}

// testPresenceDropsGone: a session closed without leaving does not keep
// its user present when the user's last live session leaves.
func testPresenceDropsGone(h *harness) {
	a, b := h.session("a"), h.session("b")
	h.mark("r", "u", a, true, true)
	h.mark("r", "u", b, true, false)
	h.close(b, nil)
	h.mark("r", "u", a, false, true)
	h.mark("r", "u", a, true, true)
}
