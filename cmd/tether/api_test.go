package main

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

const apiKey = "test-api-key-0123456789"

func apiServer(t *testing.T, extra ...string) *proc {
	p := start(t, procOpts{args: append([]string{"-jwt-secret", testSecret, "-api-key", apiKey}, extra...)})
	p.apiKey = apiKey
	return p
}

func TestAPIValidation(t *testing.T) {
	t.Parallel()
	p := apiServer(t, "-max-message-size", "1KiB", "-max-rooms-per-session", "2", "-rooms", `[{"pattern":"nohist*","history-messages":0}]`)
	c, _ := dial(t, p.wsURL(), hs(t, "alice", "lobby"))
	id := c.SessionID()
	waitUntil(t, "lobby", func() bool { return len(p.sessionIDs("?room=lobby")) == 1 })
	text := map[string]any{"type": "text", "text": "hi"}

	type tc struct {
		name, key, method, path string
		body                    any
		status                  int
		code                    string
	}
	cases := []tc{
		{"no key", "", "GET", "/api/sessions", nil, 401, "unauthorized"},
		{"wrong key", "wrong-key-wrong-key", "GET", "/api/sessions", nil, 401, "unauthorized"},
		{"wrong key, unknown route", "wrong-key-wrong-key", "GET", "/api/nope", nil, 401, "unauthorized"},
		{"unknown route", apiKey, "GET", "/api/nope", nil, 404, "not_found"},
		{"unknown nested route", apiKey, "POST", "/api/sessions/" + id + "/send/more", text, 404, "not_found"},
		{"bare /api", apiKey, "GET", "/api", nil, 404, "not_found"},
		{"wrong method", apiKey, "PUT", "/api/sessions/" + id + "/send", text, 405, "method_not_allowed"},
		{"wrong method list", apiKey, "POST", "/api/sessions", text, 405, "method_not_allowed"},
		{"wrong method rooms", apiKey, "DELETE", "/api/rooms", nil, 405, "method_not_allowed"},
		{"bad json", apiKey, "POST", "/api/sessions/" + id + "/send", `{"type":`, 400, "bad_json"},
		{"not json", apiKey, "POST", "/api/sessions/" + id + "/send", `hello`, 400, "bad_json"},
		{"json array", apiKey, "POST", "/api/sessions/" + id + "/send", `[1]`, 400, "bad_json"},
		{"trailing data", apiKey, "POST", "/api/sessions/" + id + "/send", `{"type":"text","text":"a"} {}`, 400, "bad_json"},
		{"empty body", apiKey, "POST", "/api/sessions/" + id + "/send", ``, 400, "bad_json"},
		{"unknown field", apiKey, "POST", "/api/sessions/" + id + "/send", `{"type":"text","text":"a","to":"b"}`, 400, "unknown_field"},
		{"wrong field type", apiKey, "POST", "/api/sessions/" + id + "/send", `{"type":"text","text":5}`, 400, "invalid_field"},
		{"no type", apiKey, "POST", "/api/sessions/" + id + "/send", `{"text":"a"}`, 400, "invalid_field"},
		{"bad type", apiKey, "POST", "/api/sessions/" + id + "/send", `{"type":"json","text":"a"}`, 400, "invalid_field"},
		{"text without text", apiKey, "POST", "/api/sessions/" + id + "/send", `{"type":"text"}`, 400, "invalid_field"},
		{"binary without data", apiKey, "POST", "/api/sessions/" + id + "/send", `{"type":"binary"}`, 400, "invalid_field"},
		{"binary with text", apiKey, "POST", "/api/sessions/" + id + "/send", `{"type":"binary","data":"AA==","text":"a"}`, 400, "invalid_field"},
		{"bad base64", apiKey, "POST", "/api/sessions/" + id + "/send", `{"type":"binary","data":"***"}`, 400, "invalid_field"},
		{"message too big", apiKey, "POST", "/api/sessions/" + id + "/send", map[string]any{"type": "text", "text": strings.Repeat("x", 1025)}, 413, "message_too_big"},
		{"body too big", apiKey, "POST", "/api/sessions/" + id + "/send", map[string]any{"type": "text", "text": strings.Repeat("x", 70_000)}, 413, "body_too_large"},
		{"unknown session send", apiKey, "POST", "/api/sessions/nope/send", text, 404, "session_not_found"},
		{"unknown session get", apiKey, "GET", "/api/sessions/nope", nil, 404, "session_not_found"},
		{"unknown session kick", apiKey, "DELETE", "/api/sessions/nope", nil, 404, "session_not_found"},
		{"unknown session join", apiKey, "POST", "/api/rooms/red/members", map[string]any{"session": "nope"}, 404, "session_not_found"},
		{"join without session", apiKey, "POST", "/api/rooms/red/members", `{}`, 400, "invalid_field"},
		{"unknown session leave", apiKey, "DELETE", "/api/rooms/lobby/members/nope", nil, 404, "session_not_found"},
		{"leave a room not in", apiKey, "DELETE", "/api/rooms/red/members/" + id, nil, 404, "not_member"},
		{"empty room without history broadcast", apiKey, "POST", "/api/rooms/nohistory/broadcast", text, 404, "room_not_found"},
		{"unknown room get", apiKey, "GET", "/api/rooms/nope", nil, 404, "room_not_found"},
		{"bad room name", apiKey, "POST", "/api/rooms/" + strings.Repeat("r", 129) + "/broadcast", text, 400, "invalid_room"},
		{"unknown user", apiKey, "POST", "/api/users/nobody/send", text, 404, "user_not_found"},
		{"bad limit", apiKey, "GET", "/api/sessions?limit=0", nil, 400, "invalid_parameter"},
		{"big limit", apiKey, "GET", "/api/sessions?limit=5000", nil, 400, "invalid_parameter"},
		{"bad cursor", apiKey, "GET", "/api/sessions?cursor=not-a-cursor!", nil, 400, "invalid_parameter"},
		{"unknown parameter", apiKey, "GET", "/api/sessions?rooms=a", nil, 400, "invalid_parameter"},
		{"kick reason too long", apiKey, "DELETE", "/api/sessions/" + id, map[string]any{"reason": strings.Repeat("r", 124)}, 400, "invalid_field"},
	}
	for _, tc := range cases {
		st, m := p.callKey(tc.key, tc.method, tc.path, tc.body)
		e, _ := m["error"].(map[string]any)
		if st != tc.status || errCode(m) != tc.code || e["message"] == "" {
			t.Errorf("%s: %s %s → %d %v, want %d %s", tc.name, tc.method, tc.path, st, m, tc.status, tc.code)
		}
	}

	// 405 says what is allowed.
	req, _ := http.NewRequest("PUT", p.url("/api/sessions/"+id), nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := openAPI.Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Allow") != "DELETE, GET" {
		t.Errorf("Allow = %q", resp.Header.Get("Allow"))
	}

	// The rooms limit: 409.
	for _, room := range []string{"red"} {
		if st, m := p.call("POST", "/api/rooms/"+room+"/members", map[string]any{"session": id}); st != 200 {
			t.Fatalf("join %s: %d %v", room, st, m)
		}
	}
	if st, m := p.call("POST", "/api/rooms/blue/members", map[string]any{"session": id}); st != 409 || errCode(m) != "too_many_rooms" {
		t.Errorf("third room: %d %v", st, m)
	}
	// Nothing invalid reached the client.
	if st, _ := p.call("GET", "/api/sessions/"+id, nil); st != 200 {
		t.Fatal("session gone")
	}
}

// blockingDialer lets a test cut a client's connections and keep it
// offline.
type blockingDialer struct {
	blocked atomic.Bool
	mu      sync.Mutex
	conns   []net.Conn
}

func (d *blockingDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.blocked.Load() {
		return nil, errors.New("test: offline")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
	}
	return c, err
}

func (d *blockingDialer) cut() {
	d.blocked.Store(true)
	d.mu.Lock()
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
	d.mu.Unlock()
}

func TestAPIHappyPaths(t *testing.T) {
	t.Parallel()
	p := apiServer(t, "-heartbeat-interval", "1s", "-heartbeat-timeout", "1s")
	a1, r1 := dial(t, p.wsURL(), hs(t, "alice", "lobby"))
	_, r2 := dial(t, p.wsURL(), hs(t, "alice", "lobby"))
	b, rb := dial(t, p.wsURL(), hs(t, "bob", "lobby"))
	waitUntil(t, "lobby", func() bool { return len(p.sessionIDs("?room=lobby")) == 3 })
	got := func(r *rec, want ...string) {
		t.Helper()
		waitUntil(t, "messages "+strings.Join(want, ","), func() bool { return len(r.texts()) >= len(want) })
		if g := r.texts(); strings.Join(g, "|") != strings.Join(want, "|") {
			t.Fatalf("got %q, want %q", g, want)
		}
	}

	// To one session, text and binary.
	if st, m := p.call("POST", "/api/sessions/"+a1.SessionID()+"/send", map[string]any{"type": "text", "text": "one"}); st != 200 || m["queued"] != 1.0 {
		t.Fatalf("send: %d %v", st, m)
	}
	if st, m := p.call("POST", "/api/sessions/"+a1.SessionID()+"/send", map[string]any{"type": "binary", "data": base64.StdEncoding.EncodeToString([]byte{0, 1, 2})}); st != 200 {
		t.Fatalf("send binary: %d %v", st, m)
	}
	got(r1, "one", "\x00\x01\x02")
	r1.mu.Lock()
	if r1.msgs[0].Type != tether.Text || r1.msgs[1].Type != tether.Binary {
		t.Fatalf("types %v %v", r1.msgs[0].Type, r1.msgs[1].Type)
	}
	r1.mu.Unlock()

	// To a user: every session of theirs.
	if st, m := p.call("POST", "/api/users/alice/send", map[string]any{"type": "text", "text": "two"}); st != 200 || m["queued"] != 2.0 {
		t.Fatalf("send to user: %d %v", st, m)
	}
	got(r1, "one", "\x00\x01\x02", "two")
	got(r2, "two")

	// To a room.
	if st, m := p.call("POST", "/api/rooms/lobby/broadcast", map[string]any{"type": "text", "text": "three"}); st != 200 || m["queued"] != 3.0 {
		t.Fatalf("broadcast: %d %v", st, m)
	}
	got(r2, "two", "three")
	got(rb, "three")

	// Join and leave.
	if st, m := p.call("POST", "/api/rooms/extra/members", map[string]any{"session": b.SessionID()}); st != 200 {
		t.Fatalf("join: %d %v", st, m)
	}
	st, rooms := p.call("GET", "/api/rooms", nil)
	if st != 200 || len(rooms["rooms"].([]any)) != 2 {
		t.Fatalf("rooms: %d %v", st, rooms)
	}
	extra := rooms["rooms"].([]any)[0].(map[string]any)
	if extra["name"] != "extra" || extra["size"] != 1.0 || extra["members"].([]any)[0] != b.SessionID() {
		t.Fatalf("room extra = %v", extra)
	}
	// GET /api/rooms/{room}/members is GET /api/rooms/{room}.
	if st, m := p.call("GET", "/api/rooms/extra/members", nil); st != 200 || m["name"] != "extra" || m["size"] != 1.0 {
		t.Fatalf("members of extra: %d %v", st, m)
	}
	if st, m := p.call("POST", "/api/rooms/extra/broadcast", map[string]any{"type": "text", "text": "four"}); st != 200 || m["queued"] != 1.0 {
		t.Fatalf("broadcast extra: %d %v", st, m)
	}
	got(rb, "three", "four")
	if st, m := p.call("DELETE", "/api/rooms/extra/members/"+b.SessionID(), nil); st != 200 || len(m["rooms"].([]any)) != 1 {
		t.Fatalf("leave: %d %v", st, m)
	}
	if st, _ := p.call("GET", "/api/rooms/extra", nil); st != 404 {
		t.Fatalf("empty room still listed: %d", st)
	}
	if st, m := p.call("GET", "/api/rooms/extra/members", nil); st != 404 || errCode(m) != "room_not_found" {
		t.Fatalf("members of an empty room: %d %v", st, m)
	}

	// Listing, filters and paging.
	all := p.sessionIDs("")
	if len(all) != 3 {
		t.Fatalf("sessions = %v", all)
	}
	if ids := p.sessionIDs("?user=alice"); len(ids) != 2 {
		t.Fatalf("alice's sessions = %v", ids)
	}
	if ids := p.sessionIDs("?user=alice&room=lobby"); len(ids) != 2 {
		t.Fatalf("alice's sessions in lobby = %v", ids)
	}
	_, page := p.call("GET", "/api/sessions?limit=2", nil)
	cur, _ := page["next_cursor"].(string)
	if len(page["sessions"].([]any)) != 2 || cur == "" {
		t.Fatalf("page 1 = %v", page)
	}
	_, page2 := p.call("GET", "/api/sessions?limit=2&cursor="+cur, nil)
	if len(page2["sessions"].([]any)) != 1 || page2["next_cursor"] != nil {
		t.Fatalf("page 2 = %v", page2)
	}
	seen := map[string]bool{}
	for _, s := range append(page["sessions"].([]any), page2["sessions"].([]any)...) {
		seen[s.(map[string]any)["id"].(string)] = true
	}
	if len(seen) != 3 {
		t.Fatalf("pages overlap: %v", seen)
	}
	_, s := p.call("GET", "/api/sessions/"+a1.SessionID(), nil)
	for _, k := range []string{"id", "user", "state", "disconnected_since", "pending", "rooms", "created", "meta"} {
		if _, ok := s[k]; !ok {
			t.Errorf("session lacks %q: %v", k, s)
		}
	}
	if s["state"] != "connected" || s["disconnected_since"] != nil || s["user"] != "alice" {
		t.Fatalf("session = %v", s)
	}

	// Kick: the client is told, with the reason, and stops.
	if st, m := p.call("DELETE", "/api/sessions/"+b.SessionID(), map[string]any{"reason": "bye now"}); st != 200 || m["closed"] != true {
		t.Fatalf("kick: %d %v", st, m)
	}
	waitUntil(t, "kicked", func() bool { return b.Status() == client.StatusFailed })
	var ce *tether.CloseError
	if !errors.As(b.Err(), &ce) || ce.Code != tether.CloseKicked || ce.Reason != "bye now" {
		t.Fatalf("kicked client: %v", b.Err())
	}
	waitUntil(t, "kicked session gone", func() bool { st, _ := p.call("GET", "/api/sessions/"+b.SessionID(), nil); return st == 404 })
	if st, m := p.call("POST", "/api/sessions/"+b.SessionID()+"/send", map[string]any{"type": "text", "text": "late"}); st != 404 {
		t.Fatalf("send to kicked: %d %v", st, m)
	}
}

// TestAPIDisconnectedSession: a session whose client is away is listed
// as disconnected, with the messages waiting for it, and gets them when
// it resumes.
func TestAPIDisconnectedSession(t *testing.T) {
	t.Parallel()
	p := apiServer(t, "-heartbeat-interval", "500ms", "-heartbeat-timeout", "500ms")
	d := &blockingDialer{}
	r := &rec{}
	o := r.options(hs(t, "carol"))
	o.NetDial = d.dial
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, p.wsURL(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close(ctx); <-c.Done() }()
	id := c.SessionID()
	d.cut()
	var s map[string]any
	waitUntil(t, "disconnected", func() bool { _, s = p.call("GET", "/api/sessions/"+id, nil); return s["state"] == "disconnected" })
	if s["disconnected_since"] == nil {
		t.Fatalf("session = %v", s)
	}
	for _, text := range []string{"a", "b"} {
		if st, m := p.call("POST", "/api/sessions/"+id+"/send", map[string]any{"type": "text", "text": text}); st != 200 {
			t.Fatalf("send while away: %d %v", st, m)
		}
	}
	if _, s = p.call("GET", "/api/sessions/"+id, nil); s["pending"] != 2.0 {
		t.Fatalf("pending = %v", s["pending"])
	}
	if ids := p.sessionIDs("?user=carol"); len(ids) != 1 {
		t.Fatalf("disconnected session not listed: %v", ids)
	}
	d.blocked.Store(false)
	c.ForceReconnect()
	waitUntil(t, "replay", func() bool { return len(r.texts()) == 2 })
	waitUntil(t, "acknowledged", func() bool {
		_, s = p.call("GET", "/api/sessions/"+id, nil)
		return s["state"] == "connected" && s["pending"] == 0.0
	})
	if rs := eventsOf[client.Resumed](r); len(rs) != 1 || rs[0].ToClient != 2 {
		t.Fatalf("resumed = %+v", rs)
	}
}

// TestLimits: the per-user session limit closes with 4429; a replay
// buffer overflow answers the API call 503 and tells the client what it
// lost.
func TestLimits(t *testing.T) {
	t.Parallel()
	p := apiServer(t, "-max-sessions-per-user", "1", "-replay-buffer-messages", "2",
		"-heartbeat-interval", "500ms", "-heartbeat-timeout", "500ms")
	dial(t, p.wsURL(), hs(t, "dave"))
	if code := tether.CloseStatus(dialErr(t, p.wsURL(), (&rec{}).options(hs(t, "dave")))); code != tether.ClosePolicy {
		t.Fatalf("second session of a user: code %d, want 4429", code)
	}

	d := &blockingDialer{}
	r := &rec{}
	o := r.options(hs(t, "erin", "lobby"))
	o.NetDial = d.dial
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, p.wsURL(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close(ctx); <-c.Done() }()
	id := c.SessionID()
	// The session joins its token's rooms as it opens, just after the
	// client is told it is connected.
	waitUntil(t, "lobby joined", func() bool { st, _ := p.call("GET", "/api/rooms/lobby", nil); return st == 200 })
	if st, v := p.call("GET", "/api/rooms/lobby", nil); st != 200 || v["size"] != 1.0 || v["members"].([]any)[0] != id {
		t.Fatalf("room: %d %v", st, v)
	}
	// The room's joined event is in the replay buffer until the client
	// acknowledges it (within its ack delay).
	waitUntil(t, "joined event acknowledged", func() bool { _, s := p.call("GET", "/api/sessions/"+id, nil); return s["pending"] == 0.0 })
	d.cut()
	waitUntil(t, "disconnected", func() bool { _, s := p.call("GET", "/api/sessions/"+id, nil); return s["state"] == "disconnected" })
	for i := range 2 {
		if st, m := p.call("POST", "/api/sessions/"+id+"/send", map[string]any{"type": "text", "text": "m"}); st != 200 {
			t.Fatalf("send %d: %d %v", i, st, m)
		}
	}
	if st, m := p.call("POST", "/api/sessions/"+id+"/send", map[string]any{"type": "text", "text": "m"}); st != 503 || errCode(m) != "overflow" {
		t.Fatalf("overflowing send: %d %v", st, m)
	}
	d.blocked.Store(false)
	c.ForceReconnect()
	waitUntil(t, "loss reported", func() bool { return len(eventsOf[client.SessionLost](r)) == 1 })
	if l := eventsOf[client.SessionLost](r)[0]; l.Reason != tether.ReasonOverflow || l.ToClient != 2 {
		t.Fatalf("lost = %+v", l)
	}
}
