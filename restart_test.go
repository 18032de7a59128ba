package tether_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// TestCrashReportedAsLost: the server process dies with the memory store;
// the client comes back to a new process and both sides are told the
// session was lost because the server restarted, with the counts.
func TestCrashReportedAsLost(t *testing.T) {
	ts := startServer(t, nil)
	r := newClientRec()
	c := dial(t, ts.url(), r, nil)
	id := c.SessionID()
	if err := c.Send(bg, tether.Text, []byte("acked")); err != nil {
		t.Fatal(err)
	}
	ts.hooks.waitFor(t, "first message", 5*time.Second, func() bool { return len(ts.hooks.msgs[id]) == 1 })
	r.waitFor(t, "ack", 5*time.Second, func() bool { return c.Pending() == 0 })
	ts.restart(false)
	for i := 1; i <= 3; i++ {
		if err := c.Send(bg, tether.Text, fmt.Appendf(nil, "queued%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	r.waitFor(t, "session lost", 10*time.Second, hasEvent[client.SessionLost](r))
	lost := eventsOf[client.SessionLost](r)[0]
	if lost.SessionID != id || lost.Reason != tether.ReasonRestarted || lost.ToClient != -1 {
		t.Fatalf("lost = %+v", lost)
	}
	// Messages queued while offline were never written: certainly not
	// processed, so they are carried; nothing is of unknown fate.
	if lost.Carried+lost.FromClient != 3 || len(lost.Unsent) != int(lost.FromClient) {
		t.Fatalf("lost = %+v", lost)
	}
	nid := c.SessionID()
	ts.hooks.waitFor(t, "new session open", 5*time.Second, func() bool { _, ok := ts.hooks.opens[nid]; return ok })
	prev := ts.hooks.opens[nid].Previous
	if prev == nil || prev.Reason != tether.ReasonRestarted || prev.ToClient != -1 {
		t.Fatalf("server's view = %+v", prev)
	}
}

// TestGracefulRestartLosesNothing: Shutdown drains; traffic sent both ways
// up to the drain is delivered, and the new process is told nothing was
// lost even though it has a fresh memory store.
func TestGracefulRestartLosesNothing(t *testing.T) {
	ts := startServer(t, nil)
	const clients = 5
	recs := make([]*clientRec, clients)
	cs := make([]*client.Client, clients)
	for i := range cs {
		recs[i] = newClientRec()
		cs[i] = dial(t, ts.url(), recs[i], nil)
	}
	for i, c := range cs {
		s := ts.srv.Session(c.SessionID())
		for j := 1; j <= 50; j++ {
			if err := s.Send(bg, tether.Text, fmt.Appendf(nil, "s%d", j)); err != nil {
				t.Fatal(err)
			}
			if err := c.Send(bg, tether.Text, fmt.Appendf(nil, "c%d-%d", i, j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	ids := make([]string, clients)
	for i, c := range cs {
		ids[i] = c.SessionID()
	}
	ts.restart(true)
	for i, c := range cs {
		r := recs[i]
		r.waitFor(t, "session lost", 10*time.Second, hasEvent[client.SessionLost](r))
		lost := eventsOf[client.SessionLost](r)[0]
		// Nothing lost either way; what the client had not sent when the
		// drain began is carried into its new session.
		if lost.Reason != tether.ReasonRestarted || lost.ToClient != 0 || lost.FromClient != 0 {
			t.Fatalf("client %d lost = %+v", i, lost)
		}
		nid := c.SessionID()
		ts.hooks.waitFor(t, "carried messages", 5*time.Second, func() bool { return len(ts.hooks.msgs[nid]) == int(lost.Carried) })
		ts.hooks.mu.Lock()
		var got []string
		for _, m := range ts.hooks.msgs[ids[i]] {
			got = append(got, string(m.Data))
		}
		for _, m := range ts.hooks.msgs[nid] {
			got = append(got, string(m.Data))
		}
		cl := ts.hooks.closes[ids[i]]
		ts.hooks.mu.Unlock()
		if cl.Cause != tether.CauseServerShutdown || cl.Unacked != 0 {
			t.Fatalf("client %d: old session closure %+v", i, cl)
		}
		for j := range got {
			got[j] = strings.TrimPrefix(got[j], fmt.Sprintf("c%d-", i))
		}
		if v := checkSequence(got, 50); v != "" {
			t.Fatalf("client %d → server across the restart: %s", i, v)
		}
		r.mu.Lock()
		n := len(r.msgs)
		r.mu.Unlock()
		if n != 50 {
			t.Fatalf("client %d got %d messages", i, n)
		}
		d := eventsOf[client.Disconnected](r)
		if len(d) == 0 || d[0].Code != tether.CloseServerRestart || d[0].Cause != tether.CauseServerRestart {
			t.Fatalf("client %d disconnects = %+v", i, d)
		}
		if c.Status() != client.StatusConnected {
			t.Fatalf("client %d status %v", i, c.Status())
		}
	}
}
