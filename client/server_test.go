package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/internal/wire"
)

// TestServerRestart: a draining server disconnects with 4001 and a
// reconnect hint; the client waits for the hint, keeps trying while the
// old server refuses, and connects to the new one. It never fails.
func TestServerRestart(t *testing.T) {
	const jitter = 300 * time.Millisecond
	ts := startServer(t, func(o *tether.Options) { o.RestartJitter = jitter })
	r := &rec{}
	c := dial(t, ts.url(), r, nil)
	id := c.SessionID()
	if err := c.Send(bg, tether.Text, []byte("before")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, waitTimeout, "acknowledgement", func() bool { return c.Pending() == 0 })
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	if err := ts.server().Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if cl, ok := ts.log.closure(id); !ok || cl.Cause != tether.CauseServerShutdown || cl.Unacked != 0 {
		t.Fatalf("old session closure = %+v (closed %v), want server-shutdown", cl, ok)
	}
	d := waitEvents[client.Disconnected](t, r, 1)[0]
	if d.Cause != tether.CauseServerRestart || d.Code != tether.CloseServerRestart {
		t.Fatalf("disconnect = %+v, want server-restart with 4001", d)
	}
	// Let the client be refused by the draining server at least once,
	// then start the new server.
	recs := waitEvents[client.Reconnecting](t, r, 2)
	ts.replace()
	waitEvents[client.Connected](t, r, 2)

	// The first wait is the server's hint: whole milliseconds below the
	// jitter (a backoff delay of 10ms·jitter is nanosecond-random).
	if h := recs[0]; h.Attempt != 1 || h.Delay >= jitter || h.Delay%time.Millisecond != 0 {
		t.Fatalf("first reconnect = %+v, want the server's hint", h)
	}
	if st := c.Status(); st != client.StatusConnected {
		t.Fatalf("status = %v, want connected", st)
	}
	if f := eventsOf[client.Failed](r); len(f) != 0 {
		t.Fatalf("client failed: %v", f[0].Err)
	}
	lost := eventsOf[client.SessionLost](r)
	if len(lost) != 1 || lost[0].SessionID != id || lost[0].Reason != tether.ReasonRestarted || lost[0].ToClient != 0 || lost[0].FromClient != 0 {
		t.Fatalf("session lost = %+v, want a restart that lost nothing", lost)
	}
	nid := c.SessionID()
	if err := c.Send(bg, tether.Text, []byte("after")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, waitTimeout, "a message to the new server", func() bool { return len(ts.log.messages(nid)) == 1 })
}

// garbage returns a rawOptions whose server sends frame after every Welcome.
func garbage(frame []byte) rawOptions {
	return rawOptions{after: func(int) [][]byte { return [][]byte{frame} }}
}

// TestServerProtocolViolation: a server that sends nonsense after a valid
// Welcome makes the client disconnect with CauseProtocolViolation and a
// clear error, and keep reconnecting.
func TestServerProtocolViolation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"unknown frame type", []byte{0x7f, 1, 2, 3}, "0x7f"},
		{"sequence gap", append(wire.AppendMessageHeader(nil, true, 5), "x"...), "seq 5, expected 1"},
		{"ack of nothing", wire.AppendSeqFrame(nil, wire.TypeAck, 9), "ack 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := startRawServer(t, garbage(tc.frame))
			r := &rec{}
			c := dial(t, rs.url(), r, nil)
			ds := waitEvents[client.Disconnected](t, r, 3)
			for _, d := range ds {
				if d.Cause != tether.CauseProtocolViolation || d.Err == nil || !strings.Contains(d.Err.Error(), tc.want) {
					t.Fatalf("disconnect = %+v, want a protocol violation mentioning %q", d, tc.want)
				}
			}
			if n := rs.conns.Load(); n < 3 {
				t.Fatalf("%d connections, want the client to keep reconnecting", n)
			}
			if st := c.Status(); st == client.StatusFailed {
				t.Fatalf("client failed: %v", c.Err())
			}
			if len(r.messages()) != 0 {
				t.Fatalf("client delivered %d messages from a broken stream", len(r.messages()))
			}
			closeClient(t, c)
			if codes := rs.closeCodes(); len(codes) == 0 {
				t.Fatal("the client never sent a close frame")
			}
		})
	}
}

// TestServerWithoutSubprotocol: a server that does not select tether.v1
// is not a Tether server: Dial fails at once and says so.
func TestServerWithoutSubprotocol(t *testing.T) {
	rs := startRawServer(t, rawOptions{noSubprotocol: true})
	took, err := dialErr(t, waitTimeout, rs.url(), slow)
	if !strings.Contains(err.Error(), wire.Subprotocol) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial error = %v, want it to mention %s", err, wire.Subprotocol)
	}
	if took > 2*time.Second {
		t.Fatalf("Dial took %v: it retried", took)
	}
}
