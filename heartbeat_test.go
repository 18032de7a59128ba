package tether_test

import (
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// TestHalfOpenDetected blackholes the link (no FIN, no RST: a dead NAT or
// a pulled cable). Both sides must notice within HeartbeatInterval +
// HeartbeatTimeout, and the session resumes once the network is back.
func TestHalfOpenDetected(t *testing.T) {
	ts := startServer(t, nil) // interval 300ms + timeout 700ms = 1s bound
	bound := ts.opts.HeartbeatInterval + ts.opts.HeartbeatTimeout
	r := newClientRec()
	c := dial(t, ts.url(), r, &client.Options{InitialDelay: time.Second, MaxDelay: time.Second})
	id := c.SessionID()
	if err := c.Send(bg, tether.Text, []byte("before")); err != nil {
		t.Fatal(err)
	}
	ts.hooks.waitFor(t, "message", 5*time.Second, func() bool { return len(ts.hooks.msgs[id]) == 1 })
	time.Sleep(50 * time.Millisecond)
	cut := time.Now()
	ts.proxy.Blackhole(true)
	slack := time.Second // timer and scheduling slack on a busy machine
	ts.hooks.waitFor(t, "server detects", bound+slack+time.Second, func() bool { return len(ts.hooks.disc[id]) == 1 })
	serverTook := time.Since(cut)
	if d := ts.hooks.disc[id][0]; d.Cause != tether.CauseHeartbeatTimeout {
		t.Fatalf("server cause = %v", d.Cause)
	}
	r.waitFor(t, "client detects", bound+slack+time.Second, hasEvent[client.Disconnected](r))
	clientTook := time.Since(cut)
	if d := eventsOf[client.Disconnected](r)[0]; d.Cause != tether.CauseHeartbeatTimeout {
		t.Fatalf("client cause = %v", d.Cause)
	}
	t.Logf("half-open detected by server in %v, by client in %v (bound %v)", serverTook.Round(time.Millisecond), clientTook.Round(time.Millisecond), bound)
	if serverTook > bound+slack || clientTook > bound+slack {
		t.Fatalf("detection took server %v, client %v; bound %v", serverTook, clientTook, bound)
	}
	ts.proxy.Blackhole(false)
	r.waitFor(t, "resumed", 10*time.Second, hasEvent[client.Resumed](r))
	if c.SessionID() != id {
		t.Fatal("session changed")
	}
}
