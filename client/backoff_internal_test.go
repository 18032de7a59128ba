package client

import (
	"math"
	"testing"
	"time"
)

// TestBackoffDistribution samples the backoff directly: every delay is in
// [0, ceiling) and the samples spread over the whole range, as full
// jitter requires.
func TestBackoffDistribution(t *testing.T) {
	c := &Client{o: (&Options{InitialDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond, Multiplier: 3}).withDefaults()}
	const samples = 4000
	for n := 1; n <= 8; n++ {
		ceil := min(200*time.Millisecond, time.Duration(float64(10*time.Millisecond)*math.Pow(3, float64(n-1))))
		var sum, lo, hi float64
		lo = math.Inf(1)
		for range samples {
			d := c.backoff(n)
			if d < 0 || d >= ceil {
				t.Fatalf("attempt %d: delay %v outside [0, %v)", n, d, ceil)
			}
			f := float64(d) / float64(ceil)
			sum += f
			lo, hi = min(lo, f), max(hi, f)
		}
		// Uniform on [0, 1): the mean's standard deviation is
		// 1/sqrt(12·4000) ≈ 0.0046, so ±0.05 is over ten sigmas.
		if mean := sum / samples; math.Abs(mean-0.5) > 0.05 {
			t.Fatalf("attempt %d: mean delay %.3f of the ceiling, want 0.5", n, mean)
		}
		if lo > 0.01 || hi < 0.99 {
			t.Fatalf("attempt %d: delays span [%.3f, %.3f] of the ceiling, want [0, 1)", n, lo, hi)
		}
	}
}

// TestBackoffExtremes: huge attempt numbers and odd multipliers stay
// within MaxDelay and never panic.
func TestBackoffExtremes(t *testing.T) {
	for _, m := range []float64{1, 2, 1e300, math.Inf(1), math.NaN()} {
		c := &Client{o: (&Options{InitialDelay: time.Nanosecond, MaxDelay: time.Second, Multiplier: m}).withDefaults()}
		for _, n := range []int{1, 2, 64, 1 << 20, math.MaxInt32} {
			if d := c.backoff(n); d < 0 || d >= time.Second {
				t.Fatalf("multiplier %v, attempt %d: delay %v", m, n, d)
			}
		}
	}
}
