package tether

import (
	"sync"
	"time"
)

// testSwitches break a guarantee on purpose, so that tests can prove they
// would notice; a server's are zero but in tests (export_test.go) and in
// tether_testbreak builds (testbreak.go).
type testSwitches struct {
	// noReplay makes resumes skip replay both ways; noDedupe makes them
	// ask for unacknowledged messages again and accept repeats.
	noReplay, noDedupe bool
	// ackDelay replaces the server's ack delay, so that a test sees which
	// rule sent an ack.
	ackDelay time.Duration
	// frameHook runs before a frame read from a client is handled, and
	// what it returns runs after, so that a test can hold a frame back
	// while other connections go on, and know when it was handled.
	frameHook func() (after func())
}

// testSwitchesOf holds the switches tests set on an *Options, for
// NewServer to read: apart, so that Options holds options only.
var testSwitchesOf sync.Map // *Options → *testSwitches

// switchesOf returns the switches set on o.
func switchesOf(o *Options) testSwitches {
	if o == nil {
		return testSwitches{}
	}
	if v, ok := testSwitchesOf.Load(o); ok {
		return *v.(*testSwitches)
	}
	return testSwitches{}
}

// breakHook is set only in builds with the tether_testbreak tag
// (testbreak.go), so that tether-bench can prove its checker notices loss.
var breakHook func(*Options, *testSwitches)
