package link

import (
	"strings"
	"testing"
)

// TestSerial runs sequences of Serial's transitions from idle and checks
// each one's result. Steps: "+x" pushes x and wants a runner started,
// "=x" pushes x and wants none started; "take:xy" wants the batch xy,
// "take:-" wants the runner stopped; "done" hands the last batch back.
// After the steps: whether a runner drains, how many wait, and whether
// the queue holds a buffer.
func TestSerial(t *testing.T) {
	cases := []struct {
		name    string
		steps   string
		running bool
		pending int
		holds   bool
	}{
		{"idle", "", false, 0, false},
		{"the first push starts a runner", "+a", true, 1, true},
		{"a push while one runs starts none", "+a =b =c", true, 3, true},
		{"take hands over all, in order", "+a =b =c take:abc", true, 0, false},
		{"what comes during a batch waits for the next take", "+a take:a =b =c done take:bc", true, 0, true},
		{"a runner that finds nothing stops, and lets go of its buffers", "+a take:a done take:-", false, 0, false},
		{"after it stopped, a push starts a new one", "+a take:a done take:- +b", true, 1, true},
		{"a runner stopped before done still stops clean", "+a take:a take:-", false, 0, false},
		{"done keeps the batch for reuse while running", "+a take:a done", true, 0, true},
		{"a push after done reuses it", "+a take:a done =b take:b done take:-", false, 0, false},
		{"a push between take and done is not lost", "+a take:a =b done take:b done take:-", false, 0, false},
		{"a run after a stop takes only what is new", "+a take:a done take:- +b =c take:bc", true, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s Serial[string]
			var last []string
			for step := range strings.FieldsSeq(tc.steps) {
				switch {
				case step[0] == '+' || step[0] == '=':
					if got := s.Push(step[1:]); got != (step[0] == '+') {
						t.Fatalf("%s: Push started a runner: %v", step, got)
					}
				case step == "take:-":
					if b, ok := s.Take(); ok {
						t.Fatalf("%s: Take = %v, true", step, b)
					}
				case strings.HasPrefix(step, "take:"):
					b, ok := s.Take()
					if !ok || strings.Join(b, "") != step[5:] {
						t.Fatalf("%s: Take = %v, %v", step, b, ok)
					}
					last = b
				case step == "done":
					s.Done(last)
					for i, e := range last {
						if e != "" {
							t.Fatalf("done: the batch still holds %q at %d", e, i)
						}
					}
				default:
					t.Fatalf("bad step %q", step)
				}
			}
			if s.Running() != tc.running || s.Pending() != tc.pending {
				t.Errorf("Running, Pending = %v, %d; want %v, %d", s.Running(), s.Pending(), tc.running, tc.pending)
			}
			if holds := cap(s.q) > 0 || s.spare != nil; holds != tc.holds {
				t.Errorf("holds a buffer: %v, want %v (q %v cap %d, spare %v)", holds, tc.holds, s.q, cap(s.q), s.spare)
			}
		})
	}
}

// TestSerialReusesItsBatch: a runner that keeps finding work allocates no
// new buffer per batch.
func TestSerialReusesItsBatch(t *testing.T) {
	var s Serial[int]
	s.Push(0)
	allocs := testing.AllocsPerRun(100, func() {
		b, _ := s.Take()
		s.Push(1) // lands in the buffer the last Done gave back
		s.Done(b)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per batch, want 0", allocs)
	}
}
