package tether

// Test switches that break a guarantee on purpose, so tests can prove
// they would notice.

// BreakReplay makes resumes skip replay in both directions.
func BreakReplay(o *Options) { o.testNoReplay = true }

// BreakDedupe makes resumes ask for unacknowledged messages again and
// accept repeats.
func BreakDedupe(o *Options) { o.testNoDedupe = true }
