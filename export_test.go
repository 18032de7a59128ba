package tether

import "time"

// Test switches that break a guarantee on purpose, so tests can prove
// they would notice.

// BreakReplay makes resumes skip replay in both directions.
func BreakReplay(o *Options) { setSwitch(o, func(t *testSwitches) { t.noReplay = true }) }

// BreakDedupe makes resumes ask for unacknowledged messages again and
// accept repeats.
func BreakDedupe(o *Options) { setSwitch(o, func(t *testSwitches) { t.noDedupe = true }) }

// SetAckDelay replaces the server's ack delay (10 ms).
func SetAckDelay(o *Options, d time.Duration) { setSwitch(o, func(t *testSwitches) { t.ackDelay = d }) }

// HookFrames makes f run before each frame read from a client is
// handled (on the goroutine that read it), and what f returns after.
func HookFrames(o *Options, f func() (after func())) {
	setSwitch(o, func(t *testSwitches) { t.frameHook = f })
}

// PollerPath reports whether this build reads plain TCP connections with
// the poller instead of a goroutine each.
const PollerPath = pollerPath

// setSwitch changes the switches set on o.
func setSwitch(o *Options, fn func(*testSwitches)) {
	v, _ := testSwitchesOf.LoadOrStore(o, &testSwitches{})
	fn(v.(*testSwitches))
}

// LockOrderErr reports the lock-order violations recorded by a build with
// -tags tether_lockorder; nil otherwise.
var LockOrderErr = lockOrderErr

// Taken returns the last client seq s took for processing.
func Taken(s *Session) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts.In()
}
