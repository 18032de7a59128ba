package client_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/internal/wire"
)

func roomText(seq uint64, room string, off uint64, text string) []byte {
	return append(wire.AppendRoomMessageHeader(nil, true, seq, room, off), text...)
}

func roomEvent(seq uint64, e wire.RoomEvent) []byte { return wire.AppendRoomEvent(nil, seq, &e) }

func roomsServer(t *testing.T, after func(n int) [][]byte) *rawServer {
	return startRawServer(t, rawOptions{features: wire.FeatureRooms, after: after})
}

// TestRoomDuplicatesDeliveredOnce: a room message at or below the
// client's position in its room is not delivered again, yet counted as
// processed; unknown room events are counted and not shown.
func TestRoomDuplicatesDeliveredOnce(t *testing.T) {
	rs := roomsServer(t, func(int) [][]byte {
		return [][]byte{
			roomEvent(1, wire.RoomEvent{Kind: wire.RoomJoined, Room: "lobby", Epoch: "e1", Offset: 4}),
			roomText(2, "lobby", 5, "a"),
			roomText(3, "lobby", 5, "a again"),
			roomText(4, "lobby", 6, "b"),
			roomText(5, "lobby", 3, "older"),
			roomEvent(6, wire.RoomEvent{Kind: 99, Room: "lobby"}),
			append(wire.AppendMessageHeader(nil, true, 7), "plain"...),
		}
	})
	r := &rec{}
	c := dial(t, rs.url(), r, &client.Options{AckDelay: 10 * time.Millisecond})
	waitUntil(t, waitTimeout, "the ack of everything", func() bool { return rs.lastAck() == 7 })
	var got []string
	for _, m := range r.messages() {
		got = append(got, string(m.Data))
		if string(m.Data) == "b" && (m.Room != "lobby" || m.Offset != 6 || m.Seq != 4) {
			t.Errorf("room message delivered as %+v", m)
		}
	}
	if !slices.Equal(got, []string{"a", "b", "plain"}) {
		t.Fatalf("delivered %q, want a, b and plain once each", got)
	}
	js := eventsOf[client.RoomJoined](r)
	if len(js) != 1 || js[0] != (client.RoomJoined{Room: "lobby", Position: tether.RoomPosition{Epoch: "e1", Offset: 4}}) {
		t.Fatalf("RoomJoined = %+v", js)
	}
	if p := c.RoomPositions(); len(p) != 1 || p["lobby"] != (tether.RoomPosition{Epoch: "e1", Offset: 6}) {
		t.Fatalf("positions = %+v, want lobby at e1:6", p)
	}
}

// TestRoomPositionsInHello: every Hello lists the client's positions,
// those it was started with and those it learnt, and says it speaks rooms.
func TestRoomPositionsInHello(t *testing.T) {
	rs := roomsServer(t, func(n int) [][]byte {
		if n > 1 {
			return nil
		}
		return [][]byte{
			roomEvent(1, wire.RoomEvent{Kind: wire.RoomJoined, Room: "lobby", Epoch: "e1", Offset: 0}),
			roomText(2, "lobby", 1, "x"),
			roomEvent(3, wire.RoomEvent{Kind: wire.RoomJoined, Room: "", Epoch: "u", Offset: 7, Reason: wire.RoomReasonEpochChanged, Flags: wire.RoomLostUnknown, Recovered: 2}),
		}
	})
	r := &rec{}
	c := dial(t, rs.url(), r, &client.Options{RoomPositions: map[string]tether.RoomPosition{"old": {Epoch: "e0", Offset: 9}}})
	first := rs.helloList()[0]
	if first.Features != wire.FeatureRooms || len(first.Rooms) != 1 || first.Rooms[0] != (wire.RoomPosition{Room: "old", Epoch: "e0", Offset: 9}) {
		t.Fatalf("first Hello: features %d, rooms %+v", first.Features, first.Rooms)
	}
	waitEvents[client.RoomJoined](t, r, 2)
	if j := eventsOf[client.RoomJoined](r)[1]; j.Lost != -1 || j.Reason != tether.RoomEpochChanged || j.Recovered != 2 {
		t.Fatalf("an unknown loss reported as %+v", j)
	}
	c.ForceReconnect()
	waitUntil(t, waitTimeout, "a second Hello", func() bool { return len(rs.helloList()) >= 2 })
	want := []wire.RoomPosition{{Room: "", Epoch: "u", Offset: 7}, {Room: "lobby", Epoch: "e1", Offset: 1}, {Room: "old", Epoch: "e0", Offset: 9}}
	if got := rs.helloList()[1].Rooms; !slices.Equal(got, want) {
		t.Fatalf("second Hello's rooms = %+v, want %+v", got, want)
	}
}

// TestRoomLeftAndPresence: a left event forgets the position; presence
// events reach the application.
func TestRoomLeftAndPresence(t *testing.T) {
	rs := roomsServer(t, func(int) [][]byte {
		return [][]byte{
			roomEvent(1, wire.RoomEvent{Kind: wire.RoomJoined, Room: "vip", Epoch: "e", Offset: 3}),
			roomEvent(2, wire.RoomEvent{Kind: wire.RoomPresenceJoin, Room: "vip", User: "ann", Session: "s1"}),
			roomEvent(3, wire.RoomEvent{Kind: wire.RoomLeft, Room: "vip", Reason: wire.RoomReasonNotReadmitted}),
		}
	})
	r := &rec{}
	c := dial(t, rs.url(), r, nil)
	waitEvents[client.RoomLeft](t, r, 1)
	if l := eventsOf[client.RoomLeft](r); l[0] != (client.RoomLeft{Room: "vip", NotReadmitted: true}) {
		t.Fatalf("RoomLeft = %+v", l)
	}
	if p := eventsOf[client.Presence](r); len(p) != 1 || p[0] != (client.Presence{Room: "vip", User: "ann", Session: "s1", Joined: true}) {
		t.Fatalf("Presence = %+v", p)
	}
	if p := c.RoomPositions(); len(p) != 0 {
		t.Fatalf("positions after leaving = %+v", p)
	}
}

// TestRoomFramesWithoutFeature: room frames from a server that did not
// name the feature are a protocol violation, and History says the server
// keeps no room history.
func TestRoomFramesWithoutFeature(t *testing.T) {
	rs := startRawServer(t, rawOptions{after: func(int) [][]byte { return [][]byte{roomText(1, "lobby", 1, "x")} }})
	r := &rec{}
	c := dial(t, rs.url(), r, nil)
	ds := waitEvents[client.Disconnected](t, r, 1)
	if ds[0].Cause != tether.CauseProtocolViolation {
		t.Fatalf("disconnect = %+v, want a protocol violation", ds[0])
	}
	if len(r.messages()) != 0 {
		t.Fatalf("delivered %+v", r.messages())
	}
	waitUntil(t, waitTimeout, "connected", func() bool { return c.Status() == client.StatusConnected })
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := c.History(ctx, "lobby", 0, 10); !errors.Is(err, client.ErrNoRooms) {
		t.Fatalf("History from a server without rooms: %v, want ErrNoRooms", err)
	}
}

// TestClientHistory: a History call is answered, asked again on the next
// connection when its connection drops first, and maps refusals to errors.
func TestClientHistory(t *testing.T) {
	var asked atomic.Int32
	rs := startRawServer(t, rawOptions{features: wire.FeatureRooms, answer: func(f wire.Frame) [][]byte {
		if f.Type != wire.TypeHistory {
			return nil
		}
		if asked.Add(1) == 1 {
			return nil // this connection will drop before it answers
		}
		h := f.History
		res := &wire.HistoryResult{ID: h.ID, Status: wire.HistoryForbidden}
		if h.Room == "lobby" {
			res = &wire.HistoryResult{ID: h.ID, Epoch: "e", First: 2, Last: 9, Messages: []wire.HistoryMessage{
				{Offset: h.Since + 1, Text: true, Payload: []byte("h1")}, {Offset: h.Since + 2, Payload: []byte{7}}}}
		}
		return [][]byte{wire.AppendHistoryResult(nil, res)}
	}})
	r := &rec{}
	c := dial(t, rs.url(), r, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	done := make(chan error, 1)
	var h tether.RoomHistory
	go func() {
		var err error
		h, err = c.History(ctx, "lobby", 4, 2)
		done <- err
	}()
	waitUntil(t, waitTimeout, "the first ask", func() bool { return asked.Load() == 1 })
	c.ForceReconnect()
	if err := recv(t, done, waitTimeout, "History"); err != nil {
		t.Fatalf("History: %v", err)
	}
	if h.Epoch != "e" || h.First != 2 || h.Last != 9 || len(h.Messages) != 2 ||
		h.Messages[0].Type != tether.Text || string(h.Messages[0].Data) != "h1" || h.Messages[0].Room != "lobby" || h.Messages[0].Offset != 5 ||
		h.Messages[1].Type != tether.Binary || h.Messages[1].Offset != 6 {
		t.Fatalf("History = %+v", h)
	}
	if _, err := c.History(ctx, "vip", 0, 0); !errors.Is(err, client.ErrHistoryForbidden) {
		t.Fatalf("History of a room the session is not in: %v", err)
	}
}
