package tether_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
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

// TestHeartbeatSparesAServerBehind stalls the server's reading of one
// frame (its process starved of CPU, its poller behind) for longer than
// the heartbeat's limit while the client goes on sending. The bytes
// waiting unread in the socket show the client is alive: the connection
// is not cut, and nothing is delivered twice.
func TestHeartbeatSparesAServerBehind(t *testing.T) {
	const interval, timeout = 100 * time.Millisecond, 200 * time.Millisecond // limit 300ms
	stall := make(chan struct{}, 1)
	ts := startServer(t, func(o *tether.Options) {
		o.HeartbeatInterval, o.HeartbeatTimeout = interval, timeout
		tether.HookFrames(o, func() func() {
			select {
			case <-stall:
				time.Sleep(3 * (interval + timeout)) // under link.Behind limits
			default:
			}
			return func() {}
		})
	})
	r := newClientRec()
	c := dial(t, ts.url(), r, nil)
	id := c.SessionID()
	stall <- struct{}{} // the next frame read: the message below
	if err := c.Send(bg, tether.Text, []byte("x")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := c.Send(bg, tether.Text, []byte("y")); err != nil { // waits unread
		t.Fatal(err)
	}
	ts.hooks.waitFor(t, "both messages", 5*time.Second, func() bool { return len(ts.hooks.msgs[id]) == 2 })
	time.Sleep(2 * (interval + timeout)) // a cut at the stall's end would be seen by now
	ts.hooks.mu.Lock()
	disc := ts.hooks.disc[id]
	ts.hooks.mu.Unlock()
	if len(disc) != 0 {
		t.Fatalf("the server cut a client whose bytes waited unread: %+v", disc)
	}
	if d := eventsOf[client.Disconnected](r); len(d) != 0 {
		t.Fatalf("client disconnected: %+v", d)
	}
	var got []string
	ts.hooks.mu.Lock()
	for _, m := range ts.hooks.msgs[id] {
		got = append(got, string(m.Data))
	}
	ts.hooks.mu.Unlock()
	if len(got) != 2 || got[0] != "x" || got[1] != "y" {
		t.Fatalf("OnMessage saw %q, want x then y once each", got)
	}
}

// stallConn is a client's socket whose reads can be held back, as if the
// client's process were starved: bytes wait unread in the kernel.
type stallConn struct {
	net.Conn
	until atomic.Int64 // unix nanos: reads wait until then
}

func (s *stallConn) Read(p []byte) (int, error) {
	if d := time.Until(time.Unix(0, s.until.Load())); d > 0 {
		time.Sleep(d)
	}
	return s.Conn.Read(p)
}

// NetConn lets the client see the socket under the wrapper, as under a
// *tls.Conn.
func (s *stallConn) NetConn() net.Conn { return s.Conn }

// TestClientHeartbeatSparesAClientBehind is the client's side of
// TestHeartbeatSparesAServerBehind: its reads held back past its heartbeat
// limit while the server's pings wait unread, the client does not cut
// the connection.
func TestClientHeartbeatSparesAClientBehind(t *testing.T) {
	const interval, timeout = 100 * time.Millisecond, 200 * time.Millisecond // limit 300ms
	ts := startServer(t, func(o *tether.Options) { o.HeartbeatInterval, o.HeartbeatTimeout = interval, timeout })
	var sc atomic.Pointer[stallConn]
	r := newClientRec()
	c := dial(t, ts.url(), r, &client.Options{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		s := &stallConn{Conn: nc}
		sc.Store(s)
		return s, nil
	}})
	id := c.SessionID()
	sc.Load().until.Store(time.Now().Add(3 * (interval + timeout)).UnixNano()) // under link.Behind limits
	// The server hears from the client meanwhile.
	for i := range 20 {
		if err := c.Send(bg, tether.Text, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.hooks.waitFor(t, "20 messages", 5*time.Second, func() bool { return len(ts.hooks.msgs[id]) == 20 })
	if d := eventsOf[client.Disconnected](r); len(d) != 0 {
		t.Fatalf("the client cut a server whose pings waited unread: %+v", d)
	}
}
