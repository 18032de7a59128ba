package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// TestStatusTransitions: Connected → Reconnecting → Connected → Closed,
// each observed while the client is in it. (Connecting is the status
// during Dial, before any *Client exists for a caller to ask.)
func TestStatusTransitions(t *testing.T) {
	ts := startServer(t, nil)
	var dials atomic.Int32
	dialing := make(chan struct{}, 1)
	release := make(chan struct{})
	o := &client.Options{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 2 {
			// Hold the reconnect so the test can look at the status.
			dialing <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	r := &rec{}
	c := dial(t, ts.url(), r, o)
	id := c.SessionID()
	got := []client.Status{c.Status()}

	ts.proxy.CutAll()
	recv(t, dialing, waitTimeout, "the reconnect")
	got = append(got, c.Status())
	close(release)
	waitEvents[client.Resumed](t, r, 1)
	got = append(got, c.Status())
	if err := c.Close(bg); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got = append(got, c.Status())

	want := []client.Status{client.StatusConnected, client.StatusReconnecting, client.StatusConnected, client.StatusClosed}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("statuses = %v, want %v", got, want)
	}
	<-c.Done()
	evs := r.allEvents()
	wantEv := []string{"Connected", "Disconnected", "Reconnecting", "Resumed", "Disconnected", "Closed"}
	if !reflect.DeepEqual(kinds(evs), wantEv) {
		t.Fatalf("events = %s, want %v", describe(evs), wantEv)
	}
	if d := evs[1].(client.Disconnected); d.Cause != tether.CauseNetworkLost || d.Err == nil {
		t.Fatalf("first disconnect = %+v, want network-lost with an error", d)
	}
	if rc := evs[2].(client.Reconnecting); rc.Attempt != 1 {
		t.Fatalf("reconnecting = %+v", rc)
	}
	if rs := evs[3].(client.Resumed); rs.SessionID != id {
		t.Fatalf("resumed %q, want %q", rs.SessionID, id)
	}
	if d := evs[4].(client.Disconnected); d.Cause != tether.CauseClientClosed {
		t.Fatalf("last disconnect = %+v, want client-closed", d)
	}
	for _, s := range []client.Status{client.StatusConnecting, client.StatusConnected, client.StatusReconnecting, client.StatusClosed, client.StatusFailed} {
		if strings.HasPrefix(s.String(), "status(") {
			t.Fatalf("status %d has no name", s)
		}
	}
}

// TestForceReconnect: the connection is dropped with the session kept,
// and resumed at once.
func TestForceReconnect(t *testing.T) {
	ts := startServer(t, nil)
	r := &rec{}
	c := dial(t, ts.url(), r, nil)
	id := c.SessionID()
	if err := c.Send(bg, tether.Text, []byte("before")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, waitTimeout, "first message acknowledged", func() bool { return c.Pending() == 0 })
	c.ForceReconnect()
	waitEvents[client.Resumed](t, r, 1)
	evs := r.allEvents()
	if want := []string{"Connected", "Disconnected", "Resumed"}; !reflect.DeepEqual(kinds(evs), want) {
		t.Fatalf("events = %s, want %v", describe(evs), want)
	}
	if d := evs[1].(client.Disconnected); d.Cause != tether.CauseClientDetached {
		t.Fatalf("disconnect = %+v, want client-detached", d)
	}
	if rs := evs[2].(client.Resumed); rs.SessionID != id || rs.ToClient != 0 || rs.FromClient != 0 {
		t.Fatalf("resumed = %+v", rs)
	}
	if c.SessionID() != id || c.Status() != client.StatusConnected {
		t.Fatalf("after resume: session %q (was %q), status %v", c.SessionID(), id, c.Status())
	}
	waitUntil(t, waitTimeout, "server disconnect hook", func() bool { return len(ts.log.disconnects(id)) == 1 })
	if d := ts.log.disconnects(id); d[0] != tether.CauseClientDetached {
		t.Fatalf("server saw %v, want client-detached", d[0])
	}
	if err := c.Send(bg, tether.Text, []byte("after")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, waitTimeout, "second message", func() bool { return len(ts.log.messages(id)) == 2 })
	if got := ts.log.texts(id); !reflect.DeepEqual(got, []string{"before", "after"}) {
		t.Fatalf("server got %q", got)
	}
}

// TestKicked: Session.Close ends the client for good, without a retry.
func TestKicked(t *testing.T) {
	ts := startServer(t, nil)
	var dc dialCounter
	r := &rec{}
	c := dial(t, ts.url(), r, &client.Options{NetDial: dc.dial})
	if err := ts.session(t, c).Close(bg, "bye"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(waitTimeout):
		t.Fatalf("client still running after a kick; events: %s", describe(r.allEvents()))
	}
	evs := r.allEvents()
	if want := []string{"Connected", "Disconnected", "Failed"}; !reflect.DeepEqual(kinds(evs), want) {
		t.Fatalf("events = %s, want %v", describe(evs), want)
	}
	d := evs[1].(client.Disconnected)
	if d.Code != tether.CloseKicked || d.Cause != tether.CauseKicked {
		t.Fatalf("disconnect = %+v, want code 4410 cause kicked", d)
	}
	f := evs[2].(client.Failed)
	if tether.CloseStatus(f.Err) != tether.CloseKicked || !strings.Contains(f.Err.Error(), "bye") {
		t.Fatalf("Failed.Err = %v, want close 4410 with the reason", f.Err)
	}
	if c.Status() != client.StatusFailed || c.Err() == nil {
		t.Fatalf("status %v, err %v", c.Status(), c.Err())
	}
	if n := dc.n.Load(); n != 1 {
		t.Fatalf("%d connection attempts after a kick, want none", n-1)
	}
}

// TestCloseDeliversOutbox: Close returns once the server has processed
// everything sent before it, and the server sees the client leave.
func TestCloseDeliversOutbox(t *testing.T) {
	ts := startServer(t, nil)
	r := &rec{}
	c := dial(t, ts.url(), r, nil)
	id := c.SessionID()
	const n = 50
	for i := 1; i <= n; i++ {
		if err := c.Send(bg, tether.Text, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The server acknowledges a message after OnMessage returned, so no
	// wait is needed here.
	got := ts.log.texts(id)
	if len(got) != n {
		t.Fatalf("server processed %d of %d messages when Close returned", len(got), n)
	}
	for i, s := range got {
		if s != fmt.Sprintf("m%d", i+1) {
			t.Fatalf("server message %d = %q", i, s)
		}
	}
	if c.Status() != client.StatusClosed || c.Err() != nil || c.Pending() != 0 {
		t.Fatalf("after Close: status %v, err %v, pending %d", c.Status(), c.Err(), c.Pending())
	}
	recv(t, c.Done(), waitTimeout, "Done")
	waitUntil(t, waitTimeout, "server close hook", func() bool { _, ok := ts.log.closure(id); return ok })
	if cl, _ := ts.log.closure(id); cl.Cause != tether.CauseClientClosed || cl.Unacked != 0 {
		t.Fatalf("server closure = %+v, want client-closed", cl)
	}
	if evs := r.allEvents(); kinds(evs)[len(evs)-1] != "Closed" {
		t.Fatalf("last event is not Closed: %s", describe(evs))
	}
	if err := c.Send(bg, tether.Text, []byte("late")); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
	if err := c.Close(bg); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
}

// TestCloseUndelivered: Close gives up when ctx ends and says how many
// messages were not acknowledged.
func TestCloseUndelivered(t *testing.T) {
	ts := startServer(t, nil)
	r := &rec{}
	c := dial(t, ts.url(), r, nil)
	ts.proxy.Refuse(true)
	ts.proxy.CutAll()
	waitEvents[client.Disconnected](t, r, 1)
	for i := 0; i < 3; i++ {
		if err := c.Send(bg, tether.Text, []byte("stuck")); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Close(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "3 messages") {
		t.Fatalf("Close = %v, want 3 messages undelivered and DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Close took %v", took)
	}
	recv(t, c.Done(), waitTimeout, "Done")
	if c.Status() != client.StatusClosed {
		t.Fatalf("status = %v", c.Status())
	}
	if err := c.Send(bg, tether.Text, []byte("late")); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
}

// TestForceReconnectWhileDialing: ForceReconnect while no connection is up
// cuts the wait short; it must not linger and drop the next connection.
func TestForceReconnectWhileDialing(t *testing.T) {
	ts := startServer(t, nil)
	var dials atomic.Int32
	dialing := make(chan struct{}, 1)
	release := make(chan struct{})
	o := &client.Options{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 2 {
			dialing <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	r := &rec{}
	c := dial(t, ts.url(), r, o)
	ts.proxy.CutAll()
	recv(t, dialing, waitTimeout, "the reconnect")
	c.ForceReconnect() // nothing to drop: a connection attempt is under way
	close(release)
	waitEvents[client.Resumed](t, r, 1)
	// Round-trip a message, so a lingering request has had every chance
	// to drop the new connection.
	if err := c.Send(bg, tether.Text, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, waitTimeout, "acknowledgement", func() bool { return c.Pending() == 0 })
	if d := eventsOf[client.Disconnected](r); len(d) != 1 {
		t.Fatalf("the new connection was dropped: %s", describe(r.allEvents()))
	}
}

// TestHeartbeatTimeout: a silent half-open link is detected by the
// client's watchdog (Heartbeat+Timeout from the Welcome) and the session
// resumes on a new connection.
func TestHeartbeatTimeout(t *testing.T) {
	ts := startServer(t, nil)
	r := &rec{}
	c := dial(t, ts.url(), r, &client.Options{DialTimeout: time.Second})
	id := c.SessionID()
	ts.proxy.Blackhole(true)
	start := time.Now()
	d := waitEvents[client.Disconnected](t, r, 1)[0]
	took := time.Since(start)
	ts.proxy.Blackhole(false)
	if d.Cause != tether.CauseHeartbeatTimeout || d.Err == nil {
		t.Fatalf("disconnect = %+v, want heartbeat-timeout", d)
	}
	// 300ms interval + 700ms timeout since the last frame, which came at
	// most one interval before the link went silent.
	if took < 600*time.Millisecond {
		t.Fatalf("declared dead after %v, before the heartbeat bound", took)
	}
	rs := waitEvents[client.Resumed](t, r, 1)
	if rs[0].SessionID != id || c.SessionID() != id {
		t.Fatalf("resumed %+v, want session %q", rs[0], id)
	}
}
