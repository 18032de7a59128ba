package tether

import "time"

// Test switches that break a guarantee on purpose, so tests can prove
// they would notice.

// BreakReplay makes resumes skip replay in both directions.
func BreakReplay(o *Options) { o.testNoReplay = true }

// BreakDedupe makes resumes ask for unacknowledged messages again and
// accept repeats.
func BreakDedupe(o *Options) { o.testNoDedupe = true }

// SetAckDelay replaces the server's ack delay (10 ms).
func SetAckDelay(o *Options, d time.Duration) { o.testAckDelay = d }

// HookFrames makes f run before each frame read from a client is
// handled (on the goroutine that read it), and what f returns after.
func HookFrames(o *Options, f func() (after func())) { o.testFrameHook = f }

// PollerPath reports whether this build reads plain TCP connections with
// the poller instead of a goroutine each.
const PollerPath = pollerPath
