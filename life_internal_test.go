package tether

import (
	"testing"

	"github.com/tether-ws/tether/internal/link"
)

// TestStatesAreLifePhases: Session.State converts the session's
// link.Phase to a SessionState by value.
func TestStatesAreLifePhases(t *testing.T) {
	for _, p := range []link.Phase{link.Opening, link.Connected, link.Disconnected, link.Closed} {
		if got, want := SessionState(p).String(), map[link.Phase]string{link.Opening: "new"}[p]; want != "" && got != want {
			t.Errorf("phase %s is state %q, want %q", p, got, want)
		} else if want == "" && got != p.String() {
			t.Errorf("phase %s is state %q", p, got)
		}
	}
}
