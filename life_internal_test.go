package tether

import (
	"testing"

	"github.com/tether-ws/tether/internal/link"
)

// TestStatesAreLifePhases: Session.State converts the session's
// link.Phase to the SessionState of the same name.
func TestStatesAreLifePhases(t *testing.T) {
	for p, want := range map[link.Phase]SessionState{
		link.Opening: 0, link.Connected: StateConnected, link.Disconnected: StateDisconnected, link.Closed: StateClosed,
	} {
		if got := SessionState(p); got != want {
			t.Errorf("phase %s is state %s, want %s", p, got, want)
		}
	}
}
