//go:build tether_lockorder

package tether

import (
	"fmt"
	"strings"
)

// lockOrderErr reports the lock-order violations the whole run recorded
// (lockorder_check.go).
func lockOrderErr() error {
	v := lockOrderViolations()
	if len(v) == 0 {
		return nil
	}
	return fmt.Errorf("%d lock-order violations; the first:\n%s", len(v), strings.TrimSpace(v[0]))
}
