//go:build tether_testbreak

package tether

import (
	"context"
	"os"
)

// With the tether_testbreak build tag, TETHER_TEST_BREAK_REPLAY=1 makes
// every server skip replay on resume, both ways, and
// TETHER_TEST_BREAK_ROOMS=1 makes it treat a client returning from a lost
// session as new in its rooms (its room positions are dropped before
// OnOpen: no recovery, no count, no OnRoomRecovery), so that tether-bench
// can prove its checker reports the loss. Production builds never contain
// it.
func init() {
	noReplay := os.Getenv("TETHER_TEST_BREAK_REPLAY") == "1"
	noRooms := os.Getenv("TETHER_TEST_BREAK_ROOMS") == "1"
	if !noReplay && !noRooms {
		return
	}
	breakHook = func(o *Options, t *testSwitches) {
		t.noReplay = noReplay
		if noRooms {
			onOpen := o.OnOpen
			o.OnOpen = func(ctx context.Context, s *Session, info OpenInfo) {
				s.mu.Lock()
				s.rejoin = nil
				s.mu.Unlock()
				if onOpen != nil {
					onOpen(ctx, s, info)
				}
			}
		}
	}
}
