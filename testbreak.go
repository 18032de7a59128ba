//go:build tether_testbreak

package tether

import "os"

// With the tether_testbreak build tag, TETHER_TEST_BREAK_REPLAY=1 makes
// every server skip replay on resume, both ways, so that tether-bench can
// prove its checker reports the loss. Production builds never contain it.
func init() {
	if os.Getenv("TETHER_TEST_BREAK_REPLAY") == "1" {
		breakReplayHook = func(o *Options) { o.testNoReplay = true }
	}
}
