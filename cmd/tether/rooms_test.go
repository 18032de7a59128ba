package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/internal/webhook"
)

// Room streams in the binary: the history and presence API, broadcasts
// kept for absent members, a client returning after its session expired
// (exact counts, to the client and to the backend), readmission policies,
// presence webhooks and user streams.

// dialCuttable dials a client whose connections the test cuts and holds
// offline with the returned dialer.
func dialCuttable(t *testing.T, url, tok string) (*client.Client, *rec, *blockingDialer) {
	t.Helper()
	d := &blockingDialer{}
	r := &rec{}
	o := r.options(tok)
	o.NetDial = d.dial
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, url, o)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(bg, 2*time.Second)
		defer cancel()
		_ = c.Close(ctx)
		<-c.Done()
	})
	return c, r, d
}

// broadcast publishes a text through the API and returns the answer.
func (p *proc) broadcast(room, text string) map[string]any {
	p.t.Helper()
	st, m := p.call("POST", "/api/rooms/"+room+"/broadcast", map[string]any{"type": "text", "text": text})
	if st != 200 {
		p.t.Fatalf("broadcast %q to %s: %d %v", text, room, st, m)
	}
	return m
}

// roomTexts returns the texts a client received from a room, in order.
func (r *rec) roomTexts(room string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		if m.Room == room {
			out = append(out, string(m.Data))
		}
	}
	return out
}

// lastJoined returns the last RoomJoined event of a room.
func lastJoined(r *rec, room string) (client.RoomJoined, bool) {
	var j client.RoomJoined
	ok := false
	for _, e := range eventsOf[client.RoomJoined](r) {
		if e.Room == room {
			j, ok = e, true
		}
	}
	return j, ok
}

// awayPastGrace cuts a client off and waits until its session expired.
func awayPastGrace(t *testing.T, p *proc, d *blockingDialer, id string) {
	t.Helper()
	d.cut()
	waitUntil(t, "session expired", func() bool {
		st, _ := p.call("GET", "/api/sessions/"+id, nil)
		return st == 404
	})
}

// comeBack lets a client reconnect and waits for its new session.
func comeBack(t *testing.T, c *client.Client, r *rec, d *blockingDialer, old string) {
	t.Helper()
	d.blocked.Store(false)
	c.ForceReconnect()
	waitUntil(t, "a new session", func() bool {
		return c.SessionID() != old && c.Status() == client.StatusConnected && len(eventsOf[client.SessionLost](r)) == 1
	})
}

func TestRoomHistoryAndPresenceAPI(t *testing.T) {
	t.Parallel()
	p := apiServer(t, "-rooms", `[{"pattern":"quiet.*","history-messages":0}]`)

	// A room nobody is in keeps what is broadcast to it.
	m := p.broadcast("news", "n1")
	epoch, _ := m["epoch"].(string)
	if m["offset"] != 1.0 || m["queued"] != 0.0 || m["members"] != 0.0 || m["stored"] != true || epoch == "" {
		t.Fatalf("broadcast to an empty room: %v", m)
	}
	for i := 2; i <= 5; i++ {
		if m := p.broadcast("news", fmt.Sprint("n", i)); m["offset"] != float64(i) || m["epoch"] != epoch {
			t.Fatalf("broadcast n%d: %v", i, m)
		}
	}
	if st, m := p.call("POST", "/api/rooms/news/broadcast", map[string]any{"type": "binary", "data": base64.StdEncoding.EncodeToString([]byte{0, 1, 2})}); st != 200 || m["offset"] != 6.0 {
		t.Fatalf("binary broadcast: %d %v", st, m)
	}
	// A room that keeps no history still refuses a broadcast nobody gets.
	if st, m := p.call("POST", "/api/rooms/quiet.1/broadcast", map[string]any{"type": "text", "text": "x"}); st != 404 || errCode(m) != "room_not_found" {
		t.Fatalf("broadcast to an empty room without history: %d %v", st, m)
	}

	// Read back, whole and in pages.
	type page struct {
		Room     string `json:"room"`
		Epoch    string `json:"epoch"`
		First    uint64 `json:"first"`
		Last     uint64 `json:"last"`
		Messages []struct {
			Offset uint64  `json:"offset"`
			Type   string  `json:"type"`
			Text   *string `json:"text"`
			Data   []byte  `json:"data"`
		} `json:"messages"`
		HasMore bool    `json:"has_more"`
		Next    *uint64 `json:"next"`
	}
	read := func(query string) page {
		t.Helper()
		st, m := p.call("GET", "/api/rooms/news/history"+query, nil)
		if st != 200 {
			t.Fatalf("history%s: %d %v", query, st, m)
		}
		b, _ := json.Marshal(m)
		var pg page
		if err := json.Unmarshal(b, &pg); err != nil {
			t.Fatal(err)
		}
		return pg
	}
	offsets := func(pg page) string {
		var s []string
		for _, m := range pg.Messages {
			s = append(s, fmt.Sprint(m.Offset))
		}
		return strings.Join(s, ",")
	}
	all := read("")
	if all.Room != "news" || all.Epoch != epoch || all.First != 1 || all.Last != 6 || offsets(all) != "1,2,3,4,5,6" || all.HasMore || all.Next != nil {
		t.Fatalf("whole history: %+v", all)
	}
	for i, m := range all.Messages[:5] {
		if m.Type != "text" || m.Text == nil || *m.Text != fmt.Sprint("n", i+1) || m.Data != nil {
			t.Errorf("message %d: %+v", i+1, m)
		}
	}
	if m := all.Messages[5]; m.Type != "binary" || m.Text != nil || string(m.Data) != "\x00\x01\x02" {
		t.Errorf("binary message: %+v", m)
	}
	var got []string
	since := "0"
	for range 10 {
		pg := read("?limit=2&epoch=" + epoch + "&since=" + since)
		got = append(got, offsets(pg))
		if !pg.HasMore {
			if pg.Next != nil {
				t.Fatalf("last page has next: %+v", pg)
			}
			break
		}
		if pg.Next == nil {
			t.Fatalf("has_more without next: %+v", pg)
		}
		since = fmt.Sprint(*pg.Next)
	}
	if strings.Join(got, "|") != "1,2|3,4|5,6" {
		t.Fatalf("pages %q", got)
	}
	if pg := read("?since=6"); len(pg.Messages) != 0 || pg.HasMore || pg.Last != 6 {
		t.Fatalf("after the end: %+v", pg)
	}
	if pg := read("?since=3&limit=1"); offsets(pg) != "4" || !pg.HasMore || *pg.Next != 4 {
		t.Fatalf("since=3&limit=1: %+v", pg)
	}
	// A room without a stream has an empty history.
	st, empty := p.call("GET", "/api/rooms/never/history", nil)
	if st != 200 || len(empty["messages"].([]any)) != 0 || empty["has_more"] != false || empty["first"].(float64) != empty["last"].(float64)+1 {
		t.Fatalf("history of a room never used: %d %v", st, empty)
	}
	// Paging across an epoch change is refused.
	st, m = p.call("GET", "/api/rooms/news/history?epoch=not-"+epoch, nil)
	if st != 409 || errCode(m) != "epoch_changed" || m["epoch"] != epoch {
		t.Fatalf("history with another epoch: %d %v", st, m)
	}

	// Validation.
	long := strings.Repeat("r", 129)
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/api/rooms/news/history?since=-1", 400, "invalid_parameter"},
		{"GET", "/api/rooms/news/history?since=x", 400, "invalid_parameter"},
		{"GET", "/api/rooms/news/history?since=", 400, "invalid_parameter"},
		{"GET", "/api/rooms/news/history?since=1&since=2", 400, "invalid_parameter"},
		{"GET", "/api/rooms/news/history?limit=0", 400, "invalid_parameter"},
		{"GET", "/api/rooms/news/history?limit=1001", 400, "invalid_parameter"},
		{"GET", "/api/rooms/news/history?limit=ten", 400, "invalid_parameter"},
		{"GET", "/api/rooms/news/history?cursor=3", 400, "invalid_parameter"},
		{"GET", "/api/rooms/" + long + "/history", 400, "invalid_room"},
		{"POST", "/api/rooms/news/history", 405, "method_not_allowed"},
		{"GET", "/api/rooms/news/presence?all=1", 400, "invalid_parameter"},
		{"GET", "/api/rooms/" + long + "/presence", 400, "invalid_room"},
		{"DELETE", "/api/rooms/news/presence", 405, "method_not_allowed"},
	} {
		if st, m := p.call(tc.method, tc.path, nil); st != tc.status || errCode(m) != tc.code {
			t.Errorf("%s %s: %d %v, want %d %s", tc.method, tc.path, st, m, tc.status, tc.code)
		}
	}
	if st, m := p.callKey("", "GET", "/api/rooms/news/history", nil); st != 401 {
		t.Errorf("history without the key: %d %v", st, m)
	}

	// Presence: who is in a room, sessions and users.
	a1, _ := dial(t, p.wsURL(), hs(t, "alice", "lobby"))
	a2, _ := dial(t, p.wsURL(), hs(t, "alice", "lobby"))
	b, rb := dial(t, p.wsURL(), hs(t, "bob", "lobby"))
	waitUntil(t, "lobby", func() bool { return len(p.sessionIDs("?room=lobby")) == 3 })
	st, pres := p.call("GET", "/api/rooms/lobby/presence", nil)
	ids := []string{a1.SessionID(), a2.SessionID(), b.SessionID()}
	sort.Strings(ids)
	want := fmt.Sprintf(`{"room":"lobby","sessions":[{"session":%q,"user":%q},{"session":%q,"user":%q},{"session":%q,"user":%q}],"users":["alice","bob"]}`,
		ids[0], userOf(ids[0], b.SessionID()), ids[1], userOf(ids[1], b.SessionID()), ids[2], userOf(ids[2], b.SessionID()))
	if j, _ := json.Marshal(pres); st != 200 || string(j) != want {
		t.Fatalf("presence: %d %s, want %s", st, j, want)
	}
	if st, m := p.call("GET", "/api/rooms/nobody/presence", nil); st != 200 || len(m["sessions"].([]any)) != 0 || len(m["users"].([]any)) != 0 {
		t.Fatalf("presence of an empty room: %d %v", st, m)
	}

	// A member joined through the API gets the room's next messages,
	// not its past (that is what the history call is for).
	if st, m := p.call("POST", "/api/rooms/news/members", map[string]any{"session": b.SessionID()}); st != 200 {
		t.Fatalf("join: %d %v", st, m)
	}
	if m := p.broadcast("news", "n7"); m["offset"] != 7.0 || m["queued"] != 1.0 || m["members"] != 1.0 {
		t.Fatalf("broadcast to a member: %v", m)
	}
	waitUntil(t, "n7", func() bool { return len(rb.roomTexts("news")) == 1 })
	if got := rb.roomTexts("news"); got[0] != "n7" {
		t.Fatalf("member got %q", got)
	}
	if mt := p.metrics(); mt[`tether_room_broadcasts_total{source="api"}`] != 7 {
		t.Errorf("room broadcasts: %v", mt[`tether_room_broadcasts_total{source="api"}`])
	}
}

func userOf(id, bob string) string {
	if id == bob {
		return "bob"
	}
	return "alice"
}

// TestRoomRecoveryAfterExpiry is the scenario: a client is away
// past its grace window while messages are broadcast to its rooms before
// and after its session expires. When it comes back (a new session), it
// gets every message history still holds, once and in order, and both it
// and the backend are told exactly what is gone, room by room.
func TestRoomRecoveryAfterExpiry(t *testing.T) {
	t.Parallel()
	b, ts := newBackend(t)
	p := apiServer(t, "-webhook-url", ts.URL+"/hook", "-webhook-secret", hookSecret, "-grace-window", "1s",
		"-rooms", `[{"pattern":"small","history-messages":3}]`)
	_, rb := dial(t, p.wsURL(), hs(t, "bob", "big", "small"))
	a, ra, d := dialCuttable(t, p.wsURL(), hs(t, "alice", "big", "small"))
	old := a.SessionID()
	waitUntil(t, "members", func() bool { return len(p.sessionIDs("?room=small")) == 2 && len(p.sessionIDs("?room=big")) == 2 })

	p.broadcast("big", "big1")
	p.broadcast("small", "small1")
	waitUntil(t, "first messages", func() bool { return len(ra.texts()) == 2 })
	awayPastGraceBroadcasting(t, p, d, old, func() { // before the expiry
		p.broadcast("big", "big2")
		p.broadcast("small", "small2")
	})
	for i := 3; i <= 6; i++ { // after it
		p.broadcast("big", fmt.Sprint("big", i))
		p.broadcast("small", fmt.Sprint("small", i))
	}
	comeBack(t, a, ra, d, old)
	id := a.SessionID()
	waitUntil(t, "recovery", func() bool { return len(ra.roomTexts("big")) >= 6 && len(ra.roomTexts("small")) >= 4 })
	time.Sleep(200 * time.Millisecond) // anything more would be a duplicate

	if got := strings.Join(ra.roomTexts("big"), ","); got != "big1,big2,big3,big4,big5,big6" {
		t.Errorf("big: got %s", got)
	}
	if got := strings.Join(ra.roomTexts("small"), ","); got != "small1,small4,small5,small6" {
		t.Errorf("small: got %s", got)
	}
	for _, room := range []string{"big", "small"} {
		if got := strings.Join(rb.roomTexts(room), ","); got != fmt.Sprintf("%[1]s1,%[1]s2,%[1]s3,%[1]s4,%[1]s5,%[1]s6", room) {
			t.Errorf("bob's %s: %s", room, got)
		}
	}
	if l := eventsOf[client.SessionLost](ra)[0]; l.Reason != tether.ReasonExpired {
		t.Errorf("session lost: %+v", l)
	}
	if j, _ := lastJoined(ra, "big"); j.Recovered != 5 || j.Lost != 0 || j.Skipped != 0 {
		t.Errorf("client told for big: %+v", j)
	}
	if j, _ := lastJoined(ra, "small"); j.Recovered != 3 || j.Lost != 2 || j.Skipped != 0 || j.Reason != tether.RoomHistoryTrimmed {
		t.Errorf("client told for small: %+v", j)
	}

	// The backend is told the same, room by room, with stable IDs; the
	// session's own loss does not count the room messages again.
	recov := waitRecoveries(t, b, id, 2)
	if open := b.of(id)[0]; open.Type != "open" || open.Reason != "expired" || open.Counts["lost_to_client"] != 0 || open.Counts["in_rooms"] != 2 {
		t.Errorf("open event %+v", open)
	}
	checkRecovery(t, recov["big"], id, "big", true, 5, 0, ptr(int64(0)), "none")
	checkRecovery(t, recov["small"], id, "small", true, 3, 0, ptr(int64(2)), "history-trimmed")

	m := p.metrics()
	for k, want := range map[string]float64{
		`tether_room_recovered_messages_total`:                          8,
		`tether_room_lost_messages_total{reason="history-trimmed"}`:     2,
		`tether_room_recoveries_total{outcome="complete"}`:              1,
		`tether_room_recoveries_total{outcome="lost"}`:                  1,
		`tether_room_recoveries_total{outcome="lost_unknown"}`:          0,
		`tether_room_unknown_losses_total{reason="epoch-changed"}`:      0,
		`tether_room_skipped_messages_total`:                            0,
		`tether_room_broadcasts_total{source="api"}`:                    12,
		`tether_room_recoveries_total{outcome="not_readmitted"}`:        0,
		`tether_room_readmissions_total{policy="webhook",result="yes"}`: 0,
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
}

// awayPastGraceBroadcasting cuts a client off, runs during() while its
// session waits for it, then waits until the session expired.
func awayPastGraceBroadcasting(t *testing.T, p *proc, d *blockingDialer, id string, during func()) {
	t.Helper()
	d.cut()
	waitUntil(t, "disconnected", func() bool {
		_, s := p.call("GET", "/api/sessions/"+id, nil)
		return s["state"] == "disconnected"
	})
	during()
	awayPastGrace(t, p, d, id)
}

func ptr[T any](v T) *T { return &v }

// waitRecoveries waits for n room_recovery events of a session and
// returns them by room.
func waitRecoveries(t *testing.T, b *backend, id string, n int) map[string]webhook.Event {
	t.Helper()
	out := map[string]webhook.Event{}
	waitUntil(t, fmt.Sprintf("%d room_recovery webhooks", n), func() bool {
		clear(out)
		for _, e := range b.of(id) {
			if e.Type == "room_recovery" {
				out[*e.Room] = e
			}
		}
		return len(out) >= n
	})
	if len(out) != n {
		t.Errorf("room_recovery webhooks for %d rooms, want %d: %v", len(out), n, out)
	}
	return out
}

func checkRecovery(t *testing.T, e webhook.Event, id, room string, readmitted bool, recovered, skipped int, lost *int64, reason string) {
	t.Helper()
	r := e.Recovery
	if e.ID != id+":room_recovery:"+room || e.User != "alice" || r == nil || r.Readmitted != readmitted ||
		r.Recovered != recovered || r.Skipped != skipped || (r.Lost == nil) != (lost == nil) ||
		(lost != nil && *r.Lost != *lost) || e.Reason != reason {
		j, _ := json.Marshal(e)
		t.Errorf("room_recovery of %s: %s; want readmitted %v, recovered %d, skipped %d, lost %v, reason %s",
			room, j, readmitted, recovered, skipped, lost, reason)
	}
}

// TestReadmitPolicies: a returning client presents rooms it was put in
// through the API; which it gets back depends on -readmit. The rooms of
// its token it gets back whatever the policy.
func TestReadmitPolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy string
		back   []string // rooms the new session is in
	}{
		{"webhook", []string{"lobby", "red"}},
		{"claims", []string{"lobby"}},
		{"all", []string{"blue", "green", "lobby", "red"}},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			b, ts := newBackend(t)
			// red: yes; blue: no; green: an answer that is not one (no);
			// any other room: 404 (no).
			b.readmit = map[string]string{"red": `{"readmit": true}`, "blue": `{"readmit": false}`, "green": `OK`}
			args := []string{"-webhook-url", ts.URL + "/hook", "-webhook-secret", hookSecret, "-grace-window", "1s"}
			if tc.policy != "webhook" {
				args = append(args, "-readmit", tc.policy)
			}
			p := apiServer(t, args...)
			a, ra, d := dialCuttable(t, p.wsURL(), hs(t, "alice", "lobby"))
			old := a.SessionID()
			waitUntil(t, "lobby joined", func() bool { _, ok := lastJoined(ra, "lobby"); return ok })
			api := []string{"blue", "green", "red"}
			for _, room := range api {
				if st, m := p.call("POST", "/api/rooms/"+room+"/members", map[string]any{"session": old}); st != 200 {
					t.Fatalf("join %s: %d %v", room, st, m)
				}
				p.broadcast(room, room+"1")
			}
			waitUntil(t, "first messages", func() bool { return len(ra.texts()) == 3 })
			awayPastGrace(t, p, d, old)
			for _, room := range append(api, "lobby") {
				p.broadcast(room, room+"2")
			}
			comeBack(t, a, ra, d, old)
			id := a.SessionID()

			recov := waitRecoveries(t, b, id, 4)
			for _, room := range append(api, "lobby") {
				in := slices.Contains(tc.back, room)
				want := []string{room + "1"}
				if in {
					want = append(want, room+"2")
					checkRecovery(t, recov[room], id, room, true, 1, 0, ptr(int64(0)), "none")
				} else {
					checkRecovery(t, recov[room], id, room, false, 0, 0, ptr(int64(0)), "not-readmitted")
				}
				if room == "lobby" {
					want = want[1:] // lobby's first message was never sent
				}
				waitUntil(t, room+" messages", func() bool { return len(ra.roomTexts(room)) >= len(want) })
				if got := ra.roomTexts(room); !slices.Equal(got, want) {
					t.Errorf("%s: got %q, want %q", room, got, want)
				}
				var left bool
				for _, e := range eventsOf[client.RoomLeft](ra) {
					left = left || (e.Room == room && e.NotReadmitted)
				}
				if left == in {
					t.Errorf("%s: told it left: %v, want %v", room, left, !in)
				}
			}
			_, s := p.call("GET", "/api/sessions/"+id, nil)
			var rooms []string
			for _, r := range s["rooms"].([]any) {
				rooms = append(rooms, r.(string))
			}
			sort.Strings(rooms)
			if !slices.Equal(rooms, tc.back) {
				t.Errorf("new session in %q, want %q", rooms, tc.back)
			}

			// The backend was asked about the API's rooms only, with
			// the webhook policy only, after the session's open event.
			var asked []string
			var sawOpen bool
			for _, e := range b.of(id) {
				switch e.Type {
				case "open":
					sawOpen = true
				case "readmit":
					if !sawOpen {
						t.Errorf("readmit before open")
					}
					if e.ID != id+":readmit:"+*e.Room || e.User != "alice" {
						t.Errorf("readmit event %+v", e)
					}
					asked = append(asked, *e.Room)
				}
			}
			sort.Strings(asked)
			m := p.metrics()
			if tc.policy == "webhook" {
				if !slices.Equal(asked, api) {
					t.Errorf("backend asked about %q, want %q", asked, api)
				}
				for result, n := range map[string]float64{"yes": 1, "no": 1, "error": 1} {
					if k := `tether_room_readmissions_total{policy="webhook",result="` + result + `"}`; m[k] != n {
						t.Errorf("%s = %v, want %v", k, m[k], n)
					}
				}
			} else if len(asked) != 0 {
				t.Errorf("backend asked about %q with -readmit %s", asked, tc.policy)
			}
			if k := `tether_room_recoveries_total{outcome="not_readmitted"}`; m[k] != float64(4-len(tc.back)) {
				t.Errorf("%s = %v", k, m[k])
			}
		})
	}
}

// TestPresenceWebhooks: rooms whose -rooms entry has presence on tell
// their members and the backend who enters and leaves; a resume is
// neither; other rooms say nothing.
func TestPresenceWebhooks(t *testing.T) {
	t.Parallel()
	b, ts := newBackend(t)
	p := apiServer(t, "-webhook-url", ts.URL+"/hook", "-webhook-secret", hookSecret,
		"-rooms", `[{"pattern":"chat.*","presence":true}]`)
	a, ra := dial(t, p.wsURL(), hs(t, "alice", "chat.1", "lobby"))
	// Alice is in first (sessions join their token's rooms as they open).
	waitUntil(t, "alice in chat.1", func() bool { return len(p.sessionIDs("?room=chat.1")) == 1 })
	c, _ := dial(t, p.wsURL(), hs(t, "bob", "chat.1", "lobby"))
	presence := func() []string {
		var out []string
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.events {
			if e.Type == "presence" {
				out = append(out, fmt.Sprintf("%s %s %s %s", e.User, e.Presence, *e.Room, strings.TrimPrefix(e.ID, e.Session+":")))
			}
		}
		return out
	}
	waitUntil(t, "bob's arrival told", func() bool { return len(eventsOf[client.Presence](ra)) >= 1 && len(presence()) >= 2 })
	// A resume is not a leave and a join.
	a.ForceReconnect()
	waitUntil(t, "resumed", func() bool { return len(eventsOf[client.Resumed](ra)) == 1 })
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "bob's departure told", func() bool { return len(eventsOf[client.Presence](ra)) >= 2 && len(presence()) >= 3 })
	time.Sleep(200 * time.Millisecond) // anything more would be wrong
	// (Events of different sessions may reach the backend in any order.)
	want := []string{"alice join chat.1 presence:1", "bob join chat.1 presence:1", "bob leave chat.1 presence:2"}
	if got := presence(); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Errorf("presence webhooks %q, want %q", got, want)
	}
	evs := eventsOf[client.Presence](ra)
	if len(evs) != 2 || evs[0] != (client.Presence{Room: "chat.1", User: "bob", Session: c.SessionID(), Joined: true}) ||
		evs[1] != (client.Presence{Room: "chat.1", User: "bob", Session: c.SessionID(), Joined: false}) {
		t.Errorf("alice was told %+v", evs)
	}
	m := p.metrics()
	if m[`tether_presence_changes_total{change="join"}`] != 2 || m[`tether_presence_changes_total{change="leave"}`] != 1 {
		t.Errorf("presence metrics: %v %v", m[`tether_presence_changes_total{change="join"}`], m[`tether_presence_changes_total{change="leave"}`])
	}
}

// TestUserStreams: with -user-streams, a message sent to a user who has
// no session waits in the user's stream for the user's next session.
func TestUserStreams(t *testing.T) {
	t.Parallel()
	p := apiServer(t, "-user-streams", "-grace-window", "1s")
	send := func(user, text string) map[string]any {
		t.Helper()
		st, m := p.call("POST", "/api/users/"+user+"/send", map[string]any{"type": "text", "text": text})
		if st != 200 {
			t.Fatalf("send to %s: %d %v", user, st, m)
		}
		return m
	}
	if m := send("nobody", "x"); m["queued"] != 0.0 || m["sessions"] != 0.0 || m["stored"] != true {
		t.Fatalf("send to a user without a session: %v", m)
	}
	a, ra, d := dialCuttable(t, p.wsURL(), hs(t, "alice"))
	old := a.SessionID()
	waitUntil(t, "the user's stream joined", func() bool { _, ok := lastJoined(ra, ""); return ok })
	if m := send("alice", "u1"); m["queued"] != 1.0 || m["sessions"] != 1.0 {
		t.Fatalf("send to a connected user: %v", m)
	}
	waitUntil(t, "u1", func() bool { return len(ra.roomTexts("")) == 1 })
	awayPastGrace(t, p, d, old)
	if m := send("alice", "u2"); m["queued"] != 0.0 || m["sessions"] != 0.0 || m["stored"] != true {
		t.Fatalf("send to an absent user: %v", m)
	}
	comeBack(t, a, ra, d, old)
	waitUntil(t, "u2", func() bool { return len(ra.roomTexts("")) >= 2 })
	time.Sleep(200 * time.Millisecond)
	if got := ra.roomTexts(""); !slices.Equal(got, []string{"u1", "u2"}) {
		t.Errorf("alice got %q", got)
	}
	if j, _ := lastJoined(ra, ""); j.Recovered != 1 || j.Lost != 0 {
		t.Errorf("alice told %+v", j)
	}
}

// TestRoomRecoveryAfterRestart: the memory store loses the rooms'
// history with the process; a client that comes back is told that an
// unknown number of messages may be gone (lost: null in the webhook).
func TestRoomRecoveryAfterRestart(t *testing.T) {
	t.Parallel()
	b, ts := newBackend(t)
	addr := freePort(t)
	args := []string{"-jwt-secret", testSecret, "-api-key", apiKey, "-restart-jitter", "100ms",
		"-webhook-url", ts.URL + "/hook", "-webhook-secret", hookSecret}
	p1 := start(t, procOpts{addr: addr, args: args})
	p1.apiKey = apiKey
	a, ra := dial(t, p1.wsURL(), hs(t, "alice", "lobby"))
	old := a.SessionID()
	waitUntil(t, "lobby joined", func() bool { _, ok := lastJoined(ra, "lobby"); return ok })
	p1.broadcast("lobby", "l1")
	waitUntil(t, "l1", func() bool { return len(ra.texts()) == 1 })
	if code, _ := p1.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	p2 := start(t, procOpts{addr: addr, args: args})
	p2.apiKey = apiKey
	waitUntil(t, "a new session", func() bool { return a.SessionID() != old && len(eventsOf[client.SessionLost](ra)) == 1 })
	id := a.SessionID()
	recov := waitRecoveries(t, b, id, 1)
	checkRecovery(t, recov["lobby"], id, "lobby", true, 0, 0, nil, "epoch-changed")
	if j, _ := lastJoined(ra, "lobby"); j.Lost != -1 || j.Reason != tether.RoomEpochChanged {
		t.Errorf("client told %+v", j)
	}
	// lost is null on the wire, not absent.
	b.mu.Lock()
	raw := b.raw[id+":room_recovery:lobby"]
	b.mu.Unlock()
	if !strings.Contains(raw, `"lost":null`) {
		t.Errorf("room_recovery body %s", raw)
	}
	m := p2.metrics()
	if m[`tether_room_recoveries_total{outcome="lost_unknown"}`] != 1 || m[`tether_room_unknown_losses_total{reason="epoch-changed"}`] != 1 {
		t.Errorf("metrics: %v %v", m[`tether_room_recoveries_total{outcome="lost_unknown"}`], m[`tether_room_unknown_losses_total{reason="epoch-changed"}`])
	}
	// The new process's lobby goes on, for the returning client too.
	p2.broadcast("lobby", "l2")
	waitUntil(t, "l2", func() bool { return len(ra.texts()) == 2 })
}
