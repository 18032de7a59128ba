package client_test

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/internal/wire"
)

// A scripted server pins the client's rules (docs/PROTOCOL.md §6–§8) at
// their boundaries.

func text(seq uint64, s string) []byte { return append(wire.AppendMessageHeader(nil, true, seq), s...) }

// §6.2: a repeat (seq ≤ R) is dropped, the next one (R + 1) delivered.
func TestPeerRepeatDeliveredOnce(t *testing.T) {
	rs := startRawServer(t, rawOptions{after: func(int) [][]byte {
		return [][]byte{text(1, "a"), text(1, "a again"), text(2, "b"), text(1, "a once more"), text(3, "c")}
	}})
	r := &rec{}
	dial(t, rs.url(), r, &client.Options{AckDelay: 10 * time.Millisecond})
	waitUntil(t, waitTimeout, "ack 3", func() bool { return rs.lastAck() == 3 })
	var got []string
	for _, m := range r.messages() {
		got = append(got, string(m.Data))
	}
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("delivered %q, want a b c once each", got)
	}
	if ds := eventsOf[client.Disconnected](r); len(ds) != 0 {
		t.Fatalf("repeats broke the connection: %+v", ds)
	}
}

// §6.3, §8: the handler of a message of a lost session that returns after
// the new session started must not acknowledge anything in it: seq 1 of
// the new session is another message.
func TestPeerLateHandlerDoesNotAckNewSession(t *testing.T) {
	release := make(chan struct{})
	rs := startRawServer(t, rawOptions{
		after: func(n int) [][]byte {
			if n == 1 {
				return [][]byte{text(1, "slow")}
			}
			return nil
		},
		lost: func(n int) bool { return n == 2 },
	})
	r := &rec{}
	c := dial(t, rs.url(), r, &client.Options{
		AckDelay: 10 * time.Millisecond,
		OnMessage: func(m tether.Message) {
			if string(m.Data) == "slow" {
				<-release
			}
		},
	})
	// The recorder sees the message as its handler starts.
	waitUntil(t, waitTimeout, "the slow handler", func() bool { return len(r.messages()) == 1 })
	c.ForceReconnect()
	// The SessionLost event waits behind the slow handler (events and
	// messages are delivered in order): wait for the new session's Hello.
	waitUntil(t, waitTimeout, "the new session", func() bool { return rs.conns.Load() == 2 })
	time.Sleep(50 * time.Millisecond)
	close(release)
	waitUntil(t, waitTimeout, "SessionLost", func() bool { return len(eventsOf[client.SessionLost](r)) == 1 })
	time.Sleep(300 * time.Millisecond) // time for a wrong ack to go out
	for _, a := range rs.ackList() {
		if a != 0 {
			t.Fatalf("acks sent %v: the old session's handler acknowledged into the new one", rs.ackList())
		}
	}
}

// §8.1, §10: after a final GOAWAY, the messages above the final ack were
// never processed (the server takes nothing after it): a new session
// carries them, none has an unknown fate.
func TestPeerCarryAfterFinalGoAway(t *testing.T) {
	var sent atomic.Int32
	rs := startRawServer(t, rawOptions{
		answer: func(f wire.Frame) [][]byte {
			if !f.IsMessage() || sent.Add(1) != 3 {
				return nil
			}
			return [][]byte{wire.AppendSeqFrame(nil, wire.TypeAck, 1), wire.AppendGoAway(nil, &wire.GoAway{Flags: wire.GoAwayFinal})}
		},
		lost: func(n int) bool { return n == 2 },
	})
	r := &rec{}
	c := dial(t, rs.url(), r, nil)
	for _, s := range []string{"m1", "m2", "m3"} {
		if err := c.Send(bg, tether.Text, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, waitTimeout, "the final ack", func() bool { return c.Pending() == 2 })
	time.Sleep(50 * time.Millisecond) // the final GOAWAY follows the ack
	c.ForceReconnect()
	l := waitEvents[client.SessionLost](t, r, 1)[0]
	if l.Carried != 2 || l.FromClient != 0 || len(l.Unsent) != 0 || l.ToClient != 0 {
		t.Fatalf("SessionLost = %+v, want m2 and m3 carried, nothing of unknown fate", l)
	}
}

// §9: the client answers the server's PING with a PONG, even with nothing
// of its own to send, so that the server's heartbeat sees it alive.
func TestPeerPingAnsweredWithPong(t *testing.T) {
	rs := startRawServer(t, rawOptions{after: func(n int) [][]byte {
		if n == 1 {
			return [][]byte{wire.AppendSeqFrame(nil, wire.TypePing, 0)}
		}
		return nil
	}})
	dial(t, rs.url(), &rec{}, &client.Options{AckDelay: time.Hour})
	waitUntil(t, waitTimeout, "a PONG on the first connection", func() bool { return rs.received(1, wire.TypePong) })
}

// §10: after the server's non-final GOAWAY the client answers with its
// own and sends no more messages on that connection: Send queues them, and
// the next connection carries them.
func TestPeerGoAwayStopsSending(t *testing.T) {
	push := make(chan []byte)
	rs := startRawServer(t, rawOptions{push: push})
	c := dial(t, rs.url(), &rec{}, &client.Options{AckDelay: 10 * time.Millisecond})
	got := func(conn int, seq uint64) bool {
		for _, f := range rs.frameList() {
			if f.conn == conn && f.typ == wire.TypeText && f.seq == seq {
				return true
			}
		}
		return false
	}
	if err := c.Send(bg, tether.Text, []byte("m1")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, waitTimeout, "m1", func() bool { return got(1, 1) })
	push <- wire.AppendGoAway(nil, &wire.GoAway{RetryAfter: 10})
	waitUntil(t, waitTimeout, "the client's GOAWAY", func() bool { return rs.received(1, wire.TypeGoAway) })
	if err := c.Send(bg, tether.Text, []byte("m2")); err != nil {
		t.Fatal(err)
	}
	// A PING after the Send: its PONG comes after anything the client
	// writes for m2, on the same connection.
	push <- wire.AppendSeqFrame(nil, wire.TypePing, 1)
	waitUntil(t, waitTimeout, "the PONG", func() bool { return rs.received(1, wire.TypePong) })
	if got(1, 2) {
		t.Fatalf("m2 was sent on the connection after its GOAWAY: %+v", rs.frameList())
	}
	// The server says no more; the client's watchdog moves it on, and the
	// resumed session gets m2.
	waitUntil(t, waitTimeout, "m2 on the next connection", func() bool { return got(2, 2) })
}
