package tether_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/internal/wire"
)

// Room streams: a room's messages survive the loss of a member's session.

// roomServer starts a server whose OnOpen joins every session to rooms,
// with a short grace window so that sessions really expire (long enough
// for a test to act within it on a loaded machine).
func roomServer(t *testing.T, rooms []string, mutate func(*tether.Options)) *testServer {
	t.Helper()
	return startServer(t, func(o *tether.Options) {
		o.GraceWindow = time.Second
		o.OnOpen = func(ctx context.Context, s *tether.Session, info tether.OpenInfo) {
			for _, r := range rooms {
				if err := s.Join(ctx, r); err != nil {
					t.Errorf("join %s: %v", r, err)
				}
			}
		}
		if mutate != nil {
			mutate(o)
		}
	})
}

// texts returns the payloads of a room's messages, in order.
func (r *clientRec) texts(room string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		if m.Room == room && m.Offset > 0 {
			out = append(out, string(m.Data))
		}
	}
	return out
}

func (r *clientRec) hasTexts(room string, n int) func() bool {
	return func() bool {
		k := 0
		for _, m := range r.msgs {
			if m.Room == room && m.Offset > 0 {
				k++
			}
		}
		return k >= n
	}
}

// awayPastGrace keeps c from reconnecting until its session expired on
// the server; the caller lets it back with ts.proxy.Refuse(false).
func awayPastGrace(t *testing.T, ts *testServer, c *client.Client, during func()) {
	t.Helper()
	id := c.SessionID()
	ts.proxy.Refuse(true)
	c.ForceReconnect()
	ts.hooks.waitFor(t, "disconnect of "+id, 5*time.Second, func() bool { return len(ts.hooks.disc[id]) > 0 })
	if during != nil {
		during() // within the grace window
	}
	ts.hooks.waitFor(t, "expiry of "+id, 5*time.Second, func() bool {
		return slices.Contains(ts.hooks.events[id], "close:expired")
	})
}

// waitMembers waits until room has n members: rooms are joined as a
// session opens, just after its client is connected.
func waitMembers(t *testing.T, ts *testServer, room string, n int) {
	t.Helper()
	ts.hooks.waitFor(t, fmt.Sprintf("%d in %s", n, room), 5*time.Second, func() bool { return len(ts.srv.RoomMembers(bg, room)) == n })
}

func broadcast(t *testing.T, srv *tether.Server, room string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if _, err := srv.Broadcast(bg, room, tether.Text, []byte(s)); err != nil {
			t.Fatalf("broadcast %q to %s: %v", s, room, err)
		}
	}
}

// recoveries returns what OnRoomRecovery reported for a session.
func (ts *testServer) recoveries(id string) []tether.RoomRecovery {
	ts.hooks.mu.Lock()
	defer ts.hooks.mu.Unlock()
	return slices.Clone(ts.hooks.recov[id])
}

// countEvents counts r's events of type E; r.mu held (as in waitFor).
func countEvents[E client.Event](r *clientRec) int {
	n := 0
	for _, e := range r.events {
		if _, ok := e.(E); ok {
			n++
		}
	}
	return n
}

func joinedEvents(r *clientRec, room string) []client.RoomJoined {
	var out []client.RoomJoined
	for _, j := range eventsOf[client.RoomJoined](r) {
		if j.Room == room {
			out = append(out, j)
		}
	}
	return out
}

// TestRoomRecoveredAfterSessionLost is the demo scenario: A is
// away past its grace window; B's messages sent before and after the
// expiry both reach A when it returns, once each, in order, and both
// sides are told nothing was lost.
func TestRoomRecoveredAfterSessionLost(t *testing.T) {
	ts := roomServer(t, []string{"lobby"}, nil)
	ra, rb := newClientRec(), newClientRec()
	a := dial(t, ts.url(), ra, nil)
	dial(t, ts.url(), rb, nil)
	waitMembers(t, ts, "lobby", 2)
	broadcast(t, ts.srv, "lobby", "g1")
	ra.waitFor(t, "g1", 5*time.Second, ra.hasTexts("lobby", 1))
	old := a.SessionID()

	awayPastGrace(t, ts, a, func() {
		broadcast(t, ts.srv, "lobby", "g2")
		if err := ts.srv.Send(bg, old, tether.Text, []byte("direct")); err != nil { // to the session alone: lost with it
			t.Fatal(err)
		}
	})
	broadcast(t, ts.srv, "lobby", "g4")
	ts.proxy.Refuse(false)

	ra.waitFor(t, "g2 and g4", 10*time.Second, ra.hasTexts("lobby", 3))
	if got := ra.texts("lobby"); !slices.Equal(got, []string{"g1", "g2", "g4"}) {
		t.Fatalf("A's lobby messages = %q, want g1 g2 g4 once each, in order", got)
	}
	if a.SessionID() == old {
		t.Fatal("the session was resumed; the test needs it lost")
	}
	js := joinedEvents(ra, "lobby")
	if len(js) != 2 {
		t.Fatalf("RoomJoined events = %+v, want the first join and the rejoin", js)
	}
	if j := js[1]; j.Recovered != 2 || j.Lost != 0 || j.Skipped != 0 || j.Position.Offset != 1 {
		t.Fatalf("rejoin = %+v, want 2 recovered after offset 1, nothing lost", j)
	}
	rec := ts.recoveries(a.SessionID())
	if len(rec) != 1 || rec[0] != (tether.RoomRecovery{Room: "lobby", Readmitted: true, Recovered: 2}) {
		t.Fatalf("OnRoomRecovery = %+v, want lobby readmitted with 2 recovered", rec)
	}
	// The session's own loss counts the message to the session alone; g2,
	// which was in its buffer too, is the room's to recover.
	lost := eventsOf[client.SessionLost](ra)
	if len(lost) != 1 || lost[0].ToClient != 1 || lost[0].InRooms != 1 || lost[0].Reason != tether.ReasonExpired {
		t.Fatalf("SessionLost = %+v, want 1 lost to the client and 1 in its rooms", lost)
	}
	ts.hooks.mu.Lock()
	prev := ts.hooks.opens[a.SessionID()].Previous
	ts.hooks.mu.Unlock()
	if prev == nil || prev.ToClient != 1 || prev.InRooms != 1 {
		t.Fatalf("OnOpen Previous = %+v, want ToClient 1, InRooms 1", prev)
	}
	rb.waitFor(t, "B's copies", 5*time.Second, rb.hasTexts("lobby", 3))
	if got := rb.texts("lobby"); !slices.Equal(got, []string{"g1", "g2", "g4"}) {
		t.Fatalf("B's lobby messages = %q", got)
	}
	for _, m := range ra.messages() {
		if m.Room == "lobby" && m.Offset == 0 {
			t.Fatalf("a lobby message without an offset: %+v", m)
		}
	}
}

// TestRoomRecoveryTrimmed: what history no longer holds is reported
// exactly, and what it holds is delivered.
func TestRoomRecoveryTrimmed(t *testing.T) {
	ts := roomServer(t, []string{"lobby"}, func(o *tether.Options) {
		o.RoomHistory = tether.HistoryLimits{MaxMessages: 3}
	})
	ra := newClientRec()
	a := dial(t, ts.url(), ra, nil)
	waitMembers(t, ts, "lobby", 1)
	broadcast(t, ts.srv, "lobby", "p0")
	ra.waitFor(t, "p0", 5*time.Second, ra.hasTexts("lobby", 1))
	awayPastGrace(t, ts, a, nil)
	broadcast(t, ts.srv, "lobby", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8")
	ts.proxy.Refuse(false)
	ra.waitFor(t, "the kept three", 10*time.Second, ra.hasTexts("lobby", 4))
	time.Sleep(100 * time.Millisecond) // nothing else may follow
	if got := ra.texts("lobby"); !slices.Equal(got, []string{"p0", "p6", "p7", "p8"}) {
		t.Fatalf("lobby messages = %q, want p0 then the kept p6 p7 p8", got)
	}
	js := joinedEvents(ra, "lobby")
	want := client.RoomJoined{Room: "lobby", Position: tether.RoomPosition{Epoch: js[0].Position.Epoch, Offset: 6},
		Recovered: 3, Lost: 5, Reason: tether.RoomHistoryTrimmed}
	if len(js) != 2 || js[1] != want {
		t.Fatalf("rejoin = %+v, want %+v", js, want)
	}
	if rec := ts.recoveries(a.SessionID()); len(rec) != 1 || rec[0].Lost != 5 || rec[0].Reason != tether.RoomHistoryTrimmed {
		t.Fatalf("OnRoomRecovery = %+v, want 5 lost, history-trimmed", rec)
	}
}

// TestRoomRecoverySkipped: beyond the recovery limit the oldest missed
// messages are not replayed but counted, and History still reads them.
func TestRoomRecoverySkipped(t *testing.T) {
	ts := roomServer(t, []string{"lobby"}, func(o *tether.Options) { o.RoomRecoveryLimit = 4 })
	ra := newClientRec()
	a := dial(t, ts.url(), ra, nil)
	waitMembers(t, ts, "lobby", 1)
	broadcast(t, ts.srv, "lobby", "m0")
	ra.waitFor(t, "m0", 5*time.Second, ra.hasTexts("lobby", 1))
	awayPastGrace(t, ts, a, nil)
	for i := 1; i <= 10; i++ {
		broadcast(t, ts.srv, "lobby", fmt.Sprintf("m%d", i))
	}
	ts.proxy.Refuse(false)
	ra.waitFor(t, "the newest four", 10*time.Second, ra.hasTexts("lobby", 5))
	if got := ra.texts("lobby"); !slices.Equal(got, []string{"m0", "m7", "m8", "m9", "m10"}) {
		t.Fatalf("lobby messages = %q", got)
	}
	js := joinedEvents(ra, "lobby")
	if len(js) != 2 || js[1].Recovered != 4 || js[1].Skipped != 6 || js[1].Lost != 0 || js[1].Position.Offset != 7 {
		t.Fatalf("rejoin = %+v, want 4 recovered, 6 skipped after offset 1", js)
	}
	h, err := a.History(bg, "lobby", 1, 6)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	var got []string
	for _, m := range h.Messages {
		got = append(got, string(m.Data))
	}
	if !slices.Equal(got, []string{"m1", "m2", "m3", "m4", "m5", "m6"}) || h.First != 1 || h.Last != 11 {
		t.Fatalf("History(lobby, since 1, 6) = %q first %d last %d", got, h.First, h.Last)
	}
}

// TestRoomEpochChangedOnRestart: a memory-store server that restarts
// loses its rooms' history: the client is told the loss is unknown, and
// gets what the new server published before it returned.
func TestRoomEpochChangedOnRestart(t *testing.T) {
	ts := roomServer(t, []string{"lobby"}, nil)
	ra := newClientRec()
	a := dial(t, ts.url(), ra, nil)
	waitMembers(t, ts, "lobby", 1)
	broadcast(t, ts.srv, "lobby", "before")
	ra.waitFor(t, "before", 5*time.Second, ra.hasTexts("lobby", 1))
	ts.restartWith(false, func(srv *tether.Server) {
		broadcast(t, srv, "lobby", "while-away") // no member yet: kept in history
	})
	ra.waitFor(t, "the rejoin", 10*time.Second, func() bool { return countEvents[client.RoomJoined](ra) == 2 })
	ra.waitFor(t, "while-away", 5*time.Second, ra.hasTexts("lobby", 2))
	if got := ra.texts("lobby"); !slices.Equal(got, []string{"before", "while-away"}) {
		t.Fatalf("lobby messages = %q", got)
	}
	js := joinedEvents(ra, "lobby")
	if j := js[1]; j.Lost != -1 || j.Reason != tether.RoomEpochChanged || j.Recovered != 1 || j.Position.Epoch == js[0].Position.Epoch {
		t.Fatalf("rejoin after the restart = %+v (first join %+v), want an unknown loss, epoch-changed, 1 recovered", j, js[0])
	}
	if rec := ts.recoveries(a.SessionID()); len(rec) != 1 || rec[0].Lost != -1 || rec[0].Reason != tether.RoomEpochChanged {
		t.Fatalf("OnRoomRecovery = %+v", rec)
	}
}

// TestRoomRecoverySeveralRooms: each room is recovered on its own, in its
// own order, with its own counts.
func TestRoomRecoverySeveralRooms(t *testing.T) {
	ts := roomServer(t, []string{"r1", "r2", "r3"}, func(o *tether.Options) {
		o.Rooms = []tether.RoomOptions{{Pattern: "r3", History: tether.HistoryLimits{MaxMessages: 1}}}
	})
	ra := newClientRec()
	a := dial(t, ts.url(), ra, nil)
	ts.hooks.waitFor(t, "joins", 5*time.Second, func() bool { return len(ts.srv.RoomMembers(bg, "r3")) == 1 })
	awayPastGrace(t, ts, a, func() { broadcast(t, ts.srv, "r1", "a1") })
	broadcast(t, ts.srv, "r1", "a2", "a3")
	broadcast(t, ts.srv, "r2", "b1")
	broadcast(t, ts.srv, "r3", "c1", "c2", "c3")
	ts.proxy.Refuse(false)
	ra.waitFor(t, "r1", 10*time.Second, ra.hasTexts("r1", 3))
	ra.waitFor(t, "r2", 5*time.Second, ra.hasTexts("r2", 1))
	ra.waitFor(t, "r3", 5*time.Second, ra.hasTexts("r3", 1))
	for room, want := range map[string][]string{"r1": {"a1", "a2", "a3"}, "r2": {"b1"}, "r3": {"c3"}} {
		if got := ra.texts(room); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", room, got, want)
		}
	}
	// The hooks run after the replay is written: a client may hold every
	// message before OnRoomRecovery has run for each room.
	ts.hooks.waitFor(t, "the recoveries", 5*time.Second, func() bool { return len(ts.hooks.recov[a.SessionID()]) == 3 })
	got := map[string]tether.RoomRecovery{}
	for _, r := range ts.recoveries(a.SessionID()) {
		got[r.Room] = r
	}
	want := map[string]tether.RoomRecovery{
		"r1": {Room: "r1", Readmitted: true, Recovered: 3},
		"r2": {Room: "r2", Readmitted: true, Recovered: 1},
		"r3": {Room: "r3", Readmitted: true, Recovered: 1, Lost: 2, Reason: tether.RoomHistoryTrimmed},
	}
	if len(got) != 3 || got["r1"] != want["r1"] || got["r2"] != want["r2"] || got["r3"] != want["r3"] {
		t.Fatalf("recoveries = %+v, want %+v", got, want)
	}
}

// TestRoomReadmit: a room that OnOpen does not join again is recovered
// only if Readmit says so; otherwise the client is told it left.
func TestRoomReadmit(t *testing.T) {
	for _, readmit := range []bool{false, true} {
		t.Run(fmt.Sprint("readmit=", readmit), func(t *testing.T) {
			ts := roomServer(t, []string{"lobby"}, func(o *tether.Options) {
				open := o.OnOpen
				o.OnOpen = func(ctx context.Context, s *tether.Session, info tether.OpenInfo) {
					open(ctx, s, info)
					if info.Previous == nil {
						_ = s.Join(ctx, "vip") // only the first time
					}
				}
				o.Readmit = func(ctx context.Context, s *tether.Session, room string) bool { return readmit && room == "vip" }
			})
			ra := newClientRec()
			a := dial(t, ts.url(), ra, nil)
			ts.hooks.waitFor(t, "vip", 5*time.Second, func() bool { return len(ts.srv.RoomMembers(bg, "vip")) == 1 })
			awayPastGrace(t, ts, a, nil)
			broadcast(t, ts.srv, "vip", "v1")
			ts.proxy.Refuse(false)
			if readmit {
				ra.waitFor(t, "v1", 10*time.Second, ra.hasTexts("vip", 1))
				// The hook may run just after the client has the message.
				id := a.SessionID()
				ts.hooks.waitFor(t, "recoveries", 5*time.Second, func() bool { return len(ts.hooks.recov[id]) >= 2 })
				if rec := ts.recoveries(id); len(rec) != 2 {
					t.Fatalf("recoveries = %+v, want lobby and vip", rec)
				}
				return
			}
			ra.waitFor(t, "RoomLeft", 10*time.Second, hasEvent[client.RoomLeft](ra))
			if l := eventsOf[client.RoomLeft](ra); len(l) != 1 || l[0] != (client.RoomLeft{Room: "vip", NotReadmitted: true}) {
				t.Fatalf("RoomLeft = %+v", l)
			}
			if _, ok := a.RoomPositions()["vip"]; ok {
				t.Fatal("the client still has a position in a room it left")
			}
			if len(ra.texts("vip")) != 0 {
				t.Fatalf("vip messages reached a client not readmitted: %q", ra.texts("vip"))
			}
			ts.hooks.waitFor(t, "recoveries", 5*time.Second, func() bool { return len(ts.hooks.recov[a.SessionID()]) == 2 })
			for _, r := range ts.recoveries(a.SessionID()) {
				if r.Room == "vip" && r != (tether.RoomRecovery{Room: "vip"}) {
					t.Fatalf("vip recovery = %+v, want not readmitted", r)
				}
			}
		})
	}
}

// TestRoomConcurrentBroadcastOrder: broadcasts racing from many
// goroutines reach every member in one order, the room's, exactly once.
func TestRoomConcurrentBroadcastOrder(t *testing.T) {
	ts := roomServer(t, []string{"lobby"}, nil)
	const members, writers, each = 4, 8, 40
	recs := make([]*clientRec, members)
	for i := range recs {
		recs[i] = newClientRec()
		dial(t, ts.url(), recs[i], nil)
	}
	ts.hooks.waitFor(t, "joins", 5*time.Second, func() bool { return len(ts.srv.RoomMembers(bg, "lobby")) == members })
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := ts.srv.Broadcast(bg, "lobby", tether.Text, fmt.Appendf(nil, "w%d-%d", w, i)); err != nil {
					t.Errorf("broadcast: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	var first []string
	for i, r := range recs {
		r.waitFor(t, "every broadcast", 10*time.Second, r.hasTexts("lobby", writers*each))
		r.mu.Lock()
		var offs []uint64
		var got []string
		for _, m := range r.msgs {
			offs = append(offs, m.Offset)
			got = append(got, string(m.Data))
		}
		r.mu.Unlock()
		for j, o := range offs {
			if o != uint64(j+1) {
				t.Fatalf("member %d: offsets %v, want 1..%d in order", i, offs, writers*each)
			}
		}
		if i == 0 {
			first = got
		} else if !slices.Equal(got, first) {
			t.Fatalf("member %d saw another order than member 0", i)
		}
	}
}

// TestUserStream: messages to a user wait in the user's stream while it
// has no session, and reach its next one.
func TestUserStream(t *testing.T) {
	ts := roomServer(t, nil, func(o *tether.Options) {
		o.UserStreams = true
		o.Authenticate = func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil }
	})
	ra := newClientRec()
	a := dial(t, ts.url(), ra, &client.Options{Header: http.Header{"X-User": {"bob"}}})
	if _, err := ts.srv.SendToUser(bg, "bob", tether.Text, []byte("u1")); err != nil {
		t.Fatal(err)
	}
	ra.waitFor(t, "u1", 5*time.Second, ra.hasTexts("", 1))
	awayPastGrace(t, ts, a, nil)
	if n, err := ts.srv.SendToUser(bg, "bob", tether.Text, []byte("u2")); err != nil || n != 0 {
		t.Fatalf("SendToUser without a session = %d, %v; want 0 sessions, no error", n, err)
	}
	ts.proxy.Refuse(false)
	ra.waitFor(t, "u2", 10*time.Second, ra.hasTexts("", 2))
	if got := ra.texts(""); !slices.Equal(got, []string{"u1", "u2"}) {
		t.Fatalf("user stream = %q", got)
	}
	if rooms := ts.srv.Session(a.SessionID()).Rooms(bg); len(rooms) != 0 {
		t.Fatalf("Rooms() shows the user's stream: %q", rooms)
	}
	if names := ts.srv.RoomNames(bg); len(names) != 0 {
		t.Fatalf("RoomNames() shows the user's stream: %v", names)
	}
}

// presenceServer is a roomServer whose sessions join rooms, with presence
// on in those matching pattern, and whose clients sign in with as.
func presenceServer(t *testing.T, rooms []string, pattern string, store tether.Store) *testServer {
	t.Helper()
	return roomServer(t, rooms, func(o *tether.Options) {
		o.Store = store
		o.Rooms = []tether.RoomOptions{{Pattern: pattern, Presence: true}}
		o.Authenticate = func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil }
	})
}

// as signs a client in as user u, for presenceServer.
func as(u string) *client.Options { return &client.Options{Header: http.Header{"X-User": {u}}} }

// TestRoomPresence: members learn who enters and leaves, per user (a
// second session of a present user is no news), and Presence lists them.
func TestRoomPresence(t *testing.T) {
	ts := presenceServer(t, []string{"chat", "quiet"}, "ch*", nil)
	ra := newClientRec()
	dial(t, ts.url(), ra, as("alice"))
	// Rooms are joined as a session opens, after its client is connected:
	// alice must be in chat before bob comes, to see him come.
	ts.hooks.waitFor(t, "alice in chat", 5*time.Second, func() bool { return len(ts.srv.RoomMembers(bg, "chat")) == 1 })
	b1 := dial(t, ts.url(), newClientRec(), as("bob"))
	ra.waitFor(t, "bob joins", 5*time.Second, hasEvent[client.Presence](ra))
	b2 := dial(t, ts.url(), newClientRec(), as("bob"))
	ts.hooks.waitFor(t, "3 in chat", 5*time.Second, func() bool { return len(ts.srv.RoomMembers(bg, "chat")) == 3 })
	ps, err := ts.srv.Presence(bg, "chat")
	if err != nil || len(ps) != 3 {
		t.Fatalf("Presence = %+v, %v", ps, err)
	}
	for _, c := range []*client.Client{b1, b2} {
		if err := c.Close(bg); err != nil {
			t.Fatal(err)
		}
	}
	ra.waitFor(t, "bob leaves", 5*time.Second, func() bool { return countEvents[client.Presence](ra) >= 2 })
	time.Sleep(100 * time.Millisecond)
	got := eventsOf[client.Presence](ra)
	if len(got) != 2 || got[0].User != "bob" || !got[0].Joined || got[1].User != "bob" || got[1].Joined || got[0].Room != "chat" {
		t.Fatalf("alice saw %+v, want bob joining once and leaving once, in chat only", got)
	}
	ts.hooks.mu.Lock()
	hooks := slices.Clone(ts.hooks.pres)
	ts.hooks.mu.Unlock()
	n := 0
	for _, p := range hooks {
		if p.User == "bob" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("OnPresence for bob: %+v, want a join and a leave", hooks)
	}
}

// TestRoomPresenceConcurrent: two sessions of a user entering a presence
// room at once are one entry, and leaving at once one departure: the
// members see each once per round, never twice and never not at all. The
// store pauses after each join and close, so that both sessions have
// joined (or closed) before either announces.
func TestRoomPresenceConcurrent(t *testing.T) {
	ts := presenceServer(t, []string{"chat"}, "chat", pausingStore{tether.NewMemoryStore(nil), 30 * time.Millisecond})
	ra := newClientRec()
	dial(t, ts.url(), ra, as("alice"))
	ts.hooks.waitFor(t, "alice in chat", 5*time.Second, func() bool { return len(ts.srv.RoomMembers(bg, "chat")) == 1 })
	const rounds = 5
	for round := range rounds {
		b1 := dial(t, ts.url(), newClientRec(), as("bob"))
		b2 := dial(t, ts.url(), newClientRec(), as("bob"))
		ts.hooks.waitFor(t, "3 in chat", 5*time.Second, func() bool { return len(ts.srv.RoomMembers(bg, "chat")) == 3 })
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, c := range []*client.Client{b1, b2} {
			wg.Go(func() { errs <- c.Close(bg) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		ra.waitFor(t, fmt.Sprintf("round %d: bob joins and leaves", round), 5*time.Second, func() bool {
			return countEvents[client.Presence](ra) >= 2*(round+1)
		})
	}
	time.Sleep(100 * time.Millisecond)
	got := eventsOf[client.Presence](ra)
	ok := len(got) == 2*rounds
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].User == "bob" && got[i].Joined == (i%2 == 0)
	}
	if !ok {
		t.Fatalf("alice saw %+v, want bob joining and leaving once in each of %d rounds", got, rounds)
	}
}

// TestRoomPresenceAfterRestart: the members of a presence room who come
// back to a restarted server with new sessions are not announced (nor was
// their going), but a user who leaves after that is.
func TestRoomPresenceAfterRestart(t *testing.T) {
	ts := presenceServer(t, []string{"chat"}, "chat", nil)
	ra, rb := newClientRec(), newClientRec()
	dial(t, ts.url(), ra, as("alice"))
	ts.hooks.waitFor(t, "alice in chat", 5*time.Second, func() bool { return len(ts.srv.RoomMembers(bg, "chat")) == 1 })
	b := dial(t, ts.url(), rb, as("bob"))
	ra.waitFor(t, "bob joins", 5*time.Second, hasEvent[client.Presence](ra))
	ts.restart(false)
	for _, r := range []*clientRec{ra, rb} {
		r.waitFor(t, "session lost", 10*time.Second, hasEvent[client.SessionLost](r))
	}
	ts.hooks.waitFor(t, "both back in chat", 5*time.Second, func() bool { return len(ts.srv.RoomMembers(bg, "chat")) == 2 })
	if err := b.Close(bg); err != nil {
		t.Fatal(err)
	}
	ra.waitFor(t, "bob leaves", 5*time.Second, func() bool { return countEvents[client.Presence](ra) >= 2 })
	time.Sleep(100 * time.Millisecond)
	got := eventsOf[client.Presence](ra)
	if len(got) != 2 || got[0].User != "bob" || !got[0].Joined || got[1].User != "bob" || got[1].Joined {
		t.Fatalf("alice saw %+v, want bob joining before the restart and leaving after it, nothing else", got)
	}
	if got := eventsOf[client.Presence](rb); len(got) != 0 {
		t.Fatalf("bob saw %+v, want nothing (alice was there before him, and came back with him)", got)
	}
}

// pausingStore pauses after each JoinRoom and Close.
type pausingStore struct {
	tether.Store
	pause time.Duration
}

func (p pausingStore) JoinRoom(ctx context.Context, id, room string, max int, at tether.RoomPosition, ev *tether.Message) (uint64, bool, error) {
	seq, joined, err := p.Store.JoinRoom(ctx, id, room, max, at, ev)
	time.Sleep(p.pause)
	return seq, joined, err
}

func (p pausingStore) Close(ctx context.Context, id string, lease uint64, t *tether.Tombstone) error {
	err := p.Store.Close(ctx, id, lease, t)
	time.Sleep(p.pause)
	return err
}

// TestRoomHistoryAPI: a room without members keeps what is published to
// it; History pages; a client reads only rooms it is in.
func TestRoomHistoryAPI(t *testing.T) {
	ts := roomServer(t, []string{"lobby"}, nil)
	pub, err := ts.srv.Broadcast(bg, "empty", tether.Text, []byte("e1"))
	if err != nil || pub.Offset != 1 || pub.Members != 0 || pub.Epoch == "" {
		t.Fatalf("Broadcast to a room without members = %+v, %v", pub, err)
	}
	h, err := ts.srv.History(bg, "empty", 0, 0)
	if err != nil || len(h.Messages) != 1 || string(h.Messages[0].Data) != "e1" || h.Epoch != pub.Epoch {
		t.Fatalf("History(empty) = %+v, %v", h, err)
	}
	for i := range 5 {
		broadcast(t, ts.srv, "lobby", fmt.Sprint("h", i))
	}
	var pages [][]uint64
	since := uint64(0)
	for {
		h, err := ts.srv.History(bg, "lobby", since, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Messages) == 0 {
			break
		}
		var offs []uint64
		for _, m := range h.Messages {
			offs = append(offs, m.Offset)
		}
		pages = append(pages, offs)
		since = offs[len(offs)-1]
	}
	if fmt.Sprint(pages) != "[[1 2] [3 4] [5]]" {
		t.Fatalf("pages = %v", pages)
	}
	if _, err := ts.srv.History(bg, "", 0, 1); !errors.Is(err, tether.ErrRoomName) {
		t.Fatalf("History of an invalid name: %v", err)
	}

	ra := newClientRec()
	a := dial(t, ts.url(), ra, nil)
	ts.hooks.waitFor(t, "join", 5*time.Second, func() bool { return len(ts.srv.RoomMembers(bg, "lobby")) == 1 })
	ch, err := a.History(bg, "lobby", 3, 0)
	if err != nil || len(ch.Messages) != 2 || string(ch.Messages[0].Data) != "h3" || ch.Messages[1].Offset != 5 || ch.Messages[0].Room != "lobby" {
		t.Fatalf("client History(lobby, since 3) = %+v, %v", ch, err)
	}
	if _, err := a.History(bg, "empty", 0, 0); !errors.Is(err, client.ErrHistoryForbidden) {
		t.Fatalf("client History of a room it is not in: %v, want ErrHistoryForbidden", err)
	}
}

// TestRoomOldClient: a client that does not speak room streams gets a
// room's messages as plain messages and no room event, numbered without
// gaps; one that does gets the joined event first, then room frames.
func TestRoomOldClient(t *testing.T) {
	ts := roomServer(t, []string{"lobby"}, nil)
	for _, features := range []uint64{0, wire.FeatureRooms} {
		rc, err := rawDial(t, ts.directURL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		w := rc.hello(&wire.Hello{Window: 100, Features: features})
		if w.Features != features {
			t.Fatalf("Welcome.Features = %d for a Hello with %d", w.Features, features)
		}
		ts.hooks.waitFor(t, "join", 5*time.Second, func() bool { return len(ts.hooks.events[w.SessionID]) > 0 })
		time.Sleep(50 * time.Millisecond) // the join has run
		broadcast(t, ts.srv, "lobby", "x")
		var got []wire.Type
		for len(got) < 1+int(features) {
			f, err := rc.next(5 * time.Second)
			if err != nil {
				t.Fatalf("features %d: %v (got %v)", features, err, got)
			}
			switch f.Type {
			case wire.TypeAck, wire.TypePing:
				continue
			}
			if f.Seq != uint64(len(got)+1) {
				t.Fatalf("features %d: frame %s has seq %d, want %d", features, f.Type, f.Seq, len(got)+1)
			}
			got = append(got, f.Type)
		}
		want := []wire.Type{wire.TypeText}
		if features != 0 {
			want = []wire.Type{wire.TypeRoomEvent, wire.TypeRoomText}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("features %d: frames %v, want %v", features, got, want)
		}
	}
}
