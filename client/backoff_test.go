package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// ceiling is the documented bound on attempt n's delay.
func ceiling(o *client.Options, n int) time.Duration {
	d := float64(o.InitialDelay)
	for i := 1; i < n; i++ {
		d *= o.Multiplier
	}
	return min(o.MaxDelay, time.Duration(d))
}

// checkFailed checks a client that gave up: a Failed event last, whose
// error mentions attempts, and the status, Err and Done that go with it.
func checkFailed(t *testing.T, c *client.Client, r *rec) error {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(waitTimeout):
		t.Fatalf("client did not give up; events: %s", describe(r.allEvents()))
	}
	evs := r.allEvents()
	f, ok := evs[len(evs)-1].(client.Failed)
	if !ok {
		t.Fatalf("last event is not Failed: %s", describe(evs))
	}
	if f.Err == nil || !strings.Contains(f.Err.Error(), "attempts") {
		t.Fatalf("Failed.Err = %v, want it to mention attempts", f.Err)
	}
	if n := len(eventsOf[client.Failed](r)); n != 1 {
		t.Fatalf("%d Failed events", n)
	}
	if st := c.Status(); st != client.StatusFailed {
		t.Fatalf("status = %v, want failed", st)
	}
	if err := c.Err(); err == nil || err.Error() != f.Err.Error() {
		t.Fatalf("Err() = %v, want %v", err, f.Err)
	}
	if err := c.Send(bg, tether.Text, []byte("late")); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Send after failure = %v, want ErrClosed", err)
	}
	if err := c.Close(bg); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Close after failure = %v, want ErrClosed", err)
	}
	return f.Err
}

// TestBackoffFullJitterAndMaxAttempts: against a server that refuses every
// connection, attempt n waits a random time in
// [0, min(MaxDelay, InitialDelay·Multiplier^(n-1))), and the client gives
// up after MaxAttempts.
func TestBackoffFullJitterAndMaxAttempts(t *testing.T) {
	ts := startServer(t, nil)
	r := &rec{}
	o := &client.Options{InitialDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond, Multiplier: 2, MaxAttempts: 12}
	c := dial(t, ts.url(), r, o)
	ts.proxy.Refuse(true)
	ts.proxy.CutAll()
	checkFailed(t, c, r)

	recs := eventsOf[client.Reconnecting](r)
	if len(recs) != o.MaxAttempts {
		t.Fatalf("%d Reconnecting events, want %d: %s", len(recs), o.MaxAttempts, describe(r.allEvents()))
	}
	var longest time.Duration
	distinct := map[time.Duration]bool{}
	for i, ev := range recs {
		n := i + 1
		if ev.Attempt != n {
			t.Fatalf("event %d has attempt %d", i, ev.Attempt)
		}
		if hi := ceiling(o, n); ev.Delay < 0 || ev.Delay >= hi {
			t.Fatalf("attempt %d waited %v, want [0, %v)", n, ev.Delay, hi)
		}
		if ev.Err == nil {
			t.Fatalf("attempt %d has no error saying why", n)
		}
		longest = max(longest, ev.Delay)
		distinct[ev.Delay] = true
	}
	if len(distinct) < 2 {
		t.Fatalf("every delay is %v: no jitter", recs[0].Delay)
	}
	// Seven attempts have a ceiling of 160ms or more; with full jitter the
	// chance that all of them stay under InitialDelay is below 1e-8. A
	// backoff that does not grow would never exceed it.
	if longest <= o.InitialDelay {
		t.Fatalf("longest delay %v ≤ InitialDelay: the backoff does not grow", longest)
	}
	if n := len(eventsOf[client.Connected](r)); n != 1 {
		t.Fatalf("%d Connected events", n)
	}
}

// TestMaxElapsed: the client gives up once it has been without a
// connection for MaxElapsed.
func TestMaxElapsed(t *testing.T) {
	ts := startServer(t, nil)
	r := &rec{}
	const maxElapsed = 300 * time.Millisecond
	c := dial(t, ts.url(), r, &client.Options{InitialDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond, MaxElapsed: maxElapsed})
	ts.proxy.Refuse(true)
	start := time.Now()
	ts.proxy.CutAll()
	err := checkFailed(t, c, r)
	if took := time.Since(start); took < maxElapsed {
		t.Fatalf("gave up after %v, before MaxElapsed %v: %v", took, maxElapsed, err)
	}
	if n := len(eventsOf[client.Reconnecting](r)); n < 2 {
		t.Fatalf("only %d attempts in %v", n, maxElapsed)
	}
}

// TestDialMaxAttempts: Dial itself gives up after MaxAttempts.
func TestDialMaxAttempts(t *testing.T) {
	ts := startServer(t, nil)
	ts.proxy.Refuse(true)
	var dc dialCounter
	r := &rec{}
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, ts.url(), r.options(&client.Options{MaxAttempts: 3, NetDial: dc.dial}))
	if err == nil {
		closeClient(t, c)
		t.Fatal("Dial succeeded against a refusing server")
	}
	if c != nil {
		t.Fatal("Dial returned a client with its error")
	}
	if !strings.Contains(err.Error(), "3 attempts") || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial error = %v, want it to give up after 3 attempts", err)
	}
	if n := dc.n.Load(); n != 4 {
		t.Fatalf("%d connection attempts, want the first and 3 retries", n)
	}
}
