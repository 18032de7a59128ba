package standalone

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/internal/faultproxy"
)

const adminTestKey = "admin-test-key-0123456789"

var noAssets = fstest.MapFS{"demo/index.html": {Data: []byte("<h1>demo</h1>")}}

func newTestApp(t *testing.T, args []string, logw io.Writer) *App {
	t.Helper()
	if logw == nil {
		logw = io.Discard
	}
	c := mustParse(t, args, nil)
	a, err := New(c, NewLogger(c, logw), noAssets)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// do sends a request to h and returns the answer.
func do(h http.Handler, method, path string, body string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Host = "tether.test"
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([0-9a-f]+)">`)

// signIn signs in to h and returns the cookie header and the page's CSRF token.
func signIn(t *testing.T, h http.Handler, password string) (cookie, csrf string) {
	t.Helper()
	w := do(h, "POST", "/admin/login", "password="+url.QueryEscape(password),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://tether.test"})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin" {
		t.Fatalf("sign-in: %d %s", w.Code, w.Body)
	}
	ck := w.Result().Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Path != "/admin" {
		t.Fatalf("cookie %+v", ck)
	}
	cookie = ck[0].Name + "=" + ck[0].Value
	page := do(h, "GET", "/admin", "", map[string]string{"Cookie": cookie})
	m := csrfMeta.FindStringSubmatch(page.Body.String())
	if page.Code != 200 || m == nil {
		t.Fatalf("admin page: %d, no CSRF token", page.Code)
	}
	return cookie, m[1]
}

func TestAdminAuth(t *testing.T) {
	a := newTestApp(t, []string{"-anonymous", "-api-key", adminTestKey}, nil)
	h := a.Handler()

	// Not signed in: the page redirects to the sign-in form, the API 401s.
	if w := do(h, "GET", "/admin", "", nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/login" {
		t.Fatalf("GET /admin signed out: %d %v", w.Code, w.Header())
	}
	for _, p := range []string{"/admin/api/overview", "/admin/api/stream", "/admin/api/sessions", "/admin/api/sessions/x", "/admin/api/rooms"} {
		if w := do(h, "GET", p, "", nil); w.Code != http.StatusUnauthorized {
			t.Errorf("GET %s signed out: %d, want 401", p, w.Code)
		}
	}
	if w := do(h, "POST", "/admin/api/sessions/x/kick", "", nil); w.Code != http.StatusUnauthorized {
		t.Errorf("kick signed out: %d, want 401", w.Code)
	}
	if w := do(h, "GET", "/admin/login", "", nil); w.Code != 200 || !strings.Contains(w.Body.String(), `name="password"`) {
		t.Errorf("sign-in form: %d", w.Code)
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://tether.test"}
	if w := do(h, "POST", "/admin/login", "password=wrong", form); w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 {
		t.Errorf("wrong password: %d, cookies %v", w.Code, w.Result().Cookies())
	}
	// A sign-in form posted from another site is refused, right password or not.
	if w := do(h, "POST", "/admin/login", "password="+adminTestKey,
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.test"}); w.Code != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d, want 403", w.Code)
	}

	cookie, csrf := signIn(t, h, adminTestKey)
	if w := do(h, "GET", "/admin/api/overview", "", map[string]string{"Cookie": cookie}); w.Code != 200 {
		t.Fatalf("overview signed in: %d %s", w.Code, w.Body)
	}
	kick := func(hdr map[string]string) int {
		hdr["Cookie"] = cookie
		return do(h, "POST", "/admin/api/sessions/nope/kick", `{"reason":"x"}`, hdr).Code
	}
	for name, hdr := range map[string]map[string]string{
		"no token":          {},
		"wrong token":       {"X-CSRF-Token": strings.Repeat("0", 64)},
		"cross-site origin": {"X-CSRF-Token": csrf, "Origin": "http://evil.test"},
		"cross-site fetch":  {"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"},
	} {
		if code := kick(hdr); code != http.StatusForbidden {
			t.Errorf("kick with %s: %d, want 403", name, code)
		}
	}
	// The token passes: the session does not exist.
	if code := kick(map[string]string{"X-CSRF-Token": csrf, "Origin": "http://tether.test"}); code != http.StatusNotFound {
		t.Errorf("kick with the token: %d, want 404", code)
	}
	// Signing out ends the sign-in.
	if w := do(h, "POST", "/admin/logout", "", map[string]string{"Cookie": cookie, "X-CSRF-Token": csrf}); w.Code != 200 {
		t.Fatalf("sign out: %d", w.Code)
	}
	if w := do(h, "GET", "/admin/api/overview", "", map[string]string{"Cookie": cookie}); w.Code != http.StatusUnauthorized {
		t.Errorf("overview after sign-out: %d, want 401", w.Code)
	}
	// Wrong passwords are limited.
	limited := false
	for range adminFailuresPerMinute + 1 {
		if do(h, "POST", "/admin/login", "password=wrong", form).Code == http.StatusTooManyRequests {
			limited = true
		}
	}
	if !limited {
		t.Error("no 429 after many wrong passwords")
	}
}

func TestAdminAccessModes(t *testing.T) {
	// Not development mode, no credential: disabled.
	h := newTestApp(t, []string{"-anonymous"}, nil).Handler()
	if w := do(h, "GET", "/admin/", "", nil); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "admin_disabled") {
		t.Errorf("no credential: %d %s", w.Code, w.Body)
	}
	// -admin-password wins over the API key.
	h = newTestApp(t, []string{"-anonymous", "-api-key", adminTestKey, "-admin-password", "operator-password-1"}, nil).Handler()
	if w := do(h, "POST", "/admin/login", "password="+adminTestKey, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); w.Code != http.StatusUnauthorized {
		t.Errorf("API key with -admin-password set: %d, want 401", w.Code)
	}
	signIn(t, h, "operator-password-1")
	// -admin=false: no page.
	h = newTestApp(t, []string{"-anonymous", "-api-key", adminTestKey, "-admin=false"}, nil).Handler()
	if w := do(h, "GET", "/admin/api/overview", "", nil); w.Code != http.StatusNotFound {
		t.Errorf("-admin=false: %d, want 404", w.Code)
	}
	// Development mode with no key: open, but POSTs still need the token.
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	h = newTestApp(t, nil, nil).Handler()
	w := do(h, "GET", "/admin", "", nil)
	m := csrfMeta.FindStringSubmatch(w.Body.String())
	if w.Code != 200 || m == nil || len(w.Result().Cookies()) != 1 {
		t.Fatalf("development mode: %d", w.Code)
	}
	cookie := w.Result().Cookies()[0]
	ck := cookie.Name + "=" + cookie.Value
	if code := do(h, "POST", "/admin/api/sessions/nope/kick", "", map[string]string{"Cookie": ck}).Code; code != http.StatusForbidden {
		t.Errorf("development mode kick without token: %d, want 403", code)
	}
	if code := do(h, "POST", "/admin/api/sessions/nope/kick", "", map[string]string{"Cookie": ck, "X-CSRF-Token": m[1]}).Code; code != http.StatusNotFound {
		t.Errorf("development mode kick with token: %d, want 404", code)
	}
}

// syncBuffer is a log sink for assertions.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(sub string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

// TestAdminLive runs the binary's server behind a fault proxy with two
// clients, cuts them, and checks what the admin API, its stream, /metrics
// and the log say; then kicks one from the admin API.
func TestAdminLive(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef"
	logs := &syncBuffer{}
	a := newTestApp(t, []string{"-jwt-secret", secret, "-api-key", adminTestKey, "-restart-jitter", "50ms", "-shutdown-timeout", "5s"}, logs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	proxy, err := faultproxy.New(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	base := "http://" + ln.Addr().String()

	var clients []*client.Client
	ids := map[string]string{}
	for _, user := range []string{"alice", "bob"} {
		tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": user, "rooms": []string{"lobby"}, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
		c, err := client.Dial(context.Background(), "ws://"+proxy.Addr()+"/ws?token="+tok, &client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close(context.Background()) }()
		clients = append(clients, c)
		ids[user] = c.SessionID()
	}

	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.PostForm(base+"/admin/login", url.Values{"password": {adminTestKey}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfMeta.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no admin page after sign-in: %d", resp.StatusCode)
	}
	csrf := string(m[1])
	getJSON := func(path string, v any) {
		t.Helper()
		r, err := hc.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, r.StatusCode)
		}
		if err := json.NewDecoder(r.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}

	// The live stream: one snapshot now, one per second after.
	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	req, _ := http.NewRequestWithContext(sctx, "GET", base+"/admin/api/stream", nil)
	sr, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Body.Close()
	if ct := sr.Header.Get("Content-Type"); sr.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("stream: %d %s", sr.StatusCode, ct)
	}
	events := bufio.NewScanner(sr.Body)
	events.Buffer(nil, 1<<20)
	next := func() overviewAnswer {
		t.Helper()
		for events.Scan() {
			if d, ok := strings.CutPrefix(events.Text(), "data: "); ok {
				var o overviewAnswer
				if err := json.Unmarshal([]byte(d), &o); err != nil {
					t.Fatal(err)
				}
				return o
			}
		}
		t.Fatalf("stream ended: %v", events.Err())
		return overviewAnswer{}
	}
	until := func(what string, ok func(o overviewAnswer) bool) overviewAnswer {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			o := next()
			if ok(o) {
				return o
			}
			if time.Now().After(deadline) {
				t.Fatalf("no snapshot with %s; last %+v", what, o.Window)
			}
		}
	}
	until("two connected", func(o overviewAnswer) bool { return o.States.Connected == 2 })

	proxy.CutAll()
	o := until("two network losses and two resumes", func(o overviewAnswer) bool {
		return o.Window.Disconnects["network-lost"] == 2 && o.Window.Resumes == 2 && o.States.Connected == 2
	})
	if o.Total.Disconnects["network-lost"] != 2 || len(o.Window.Closes) != 0 {
		t.Errorf("totals %+v", o.Total)
	}
	var sumSeries int
	for _, p := range o.Series {
		sumSeries += p.Disconnects["network-lost"]
	}
	if sumSeries != 2 {
		t.Errorf("series counts %d network losses, want 2", sumSeries)
	}
	var hist int
	for _, b := range o.Window.Offline {
		hist += b.Count
	}
	if hist != 2 {
		t.Errorf("offline histogram counts %d resumes, want 2", hist)
	}
	// The same figures as /metrics.
	mr, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(mr.Body)
	mr.Body.Close()
	for _, line := range []string{`tether_disconnects_total{cause="network-lost"} 2`, `tether_resumes_total 2`} {
		if !strings.Contains(string(metricsText), line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}

	// Search and detail.
	var list struct {
		Sessions []sessionRow `json:"sessions"`
		Matched  int          `json:"matched"`
	}
	// Whole name, other case: a 22-character random ID holds "ali" in any case
	// often enough (about 1 run in 60) to make a shorter query flaky.
	getJSON("/admin/api/sessions?q=ALICE", &list)
	if list.Matched != 1 || list.Sessions[0].ID != ids["alice"] || list.Sessions[0].State != "connected" ||
		list.Sessions[0].LastCause != "network-lost" || fmt.Sprint(list.Sessions[0].Rooms) != "[lobby]" {
		t.Fatalf("search alice: %+v", list)
	}
	getJSON("/admin/api/sessions?q=lobby", &list)
	if list.Matched != 2 {
		t.Errorf("search by room: %d sessions, want 2", list.Matched)
	}
	var detail struct {
		User   string           `json:"user"`
		State  string           `json:"state"`
		Events []lifecycleEvent `json:"events"`
	}
	getJSON("/admin/api/sessions/"+ids["alice"], &detail)
	var kinds []string
	for _, e := range detail.Events {
		kinds = append(kinds, e.Kind+":"+e.Cause)
	}
	if detail.User != "alice" || fmt.Sprint(kinds) != "[open: disconnect:network-lost resume:]" {
		t.Fatalf("alice's detail: %+v", detail)
	}
	var rooms struct {
		Rooms []roomRow `json:"rooms"`
	}
	getJSON("/admin/api/rooms", &rooms)
	if len(rooms.Rooms) != 1 || rooms.Rooms[0].Room != "lobby" || rooms.Rooms[0].Members != 2 {
		t.Errorf("rooms: %+v", rooms)
	}

	// Kick alice from the admin API.
	kreq, _ := http.NewRequest("POST", base+"/admin/api/sessions/"+ids["alice"]+"/kick", strings.NewReader(`{"reason":"spam"}`))
	kreq.Header.Set("X-CSRF-Token", csrf)
	kr, err := hc.Do(kreq)
	if err != nil {
		t.Fatal(err)
	}
	kr.Body.Close()
	if kr.StatusCode != 200 {
		t.Fatalf("kick: %d", kr.StatusCode)
	}
	<-clients[0].Done()
	until("alice kicked", func(o overviewAnswer) bool { return o.Window.Closes["kicked"] == 1 && o.States.Connected == 1 })
	getJSON("/admin/api/sessions?state=closed&q=alice", &list)
	if list.Matched != 1 || list.Sessions[0].State != "closed" || list.Sessions[0].LastCause != "kicked" {
		t.Errorf("ended sessions: %+v", list)
	}
	getJSON("/admin/api/sessions/"+ids["alice"], &detail)
	if last := detail.Events[len(detail.Events)-1]; detail.State != "closed" || last.Kind != "close" || last.Reason != "spam" {
		t.Errorf("alice after the kick: %+v", detail)
	}

	// The log: one info line per disconnect, resume and end; the
	// library's own lines for them are at debug (not shown at info).
	for msg, n := range map[string]int{`msg="tether: disconnected"`: 2, `msg="tether: resumed"`: 2, `msg="tether: session ended"`: 1} {
		if got := logs.lines(msg); len(got) != n {
			t.Errorf("%d lines %s, want %d: %q", len(got), msg, n, got)
		}
	}
	if l := logs.lines(`msg="tether: resumed"`); len(l) > 0 && (!strings.Contains(l[0], "level=INFO") || !strings.Contains(l[0], "offline=") || !strings.Contains(l[0], "replayed_to_client=")) {
		t.Errorf("resume line %q", l[0])
	}
	if l := logs.lines(`msg="tether: session ended"`); len(l) > 0 && (!strings.Contains(l[0], "cause=kicked") || !strings.Contains(l[0], "reason=spam")) {
		t.Errorf("end line %q", l[0])
	}
	if l := logs.lines(`msg="tether: session closed"`); len(l) != 0 {
		t.Errorf("the library's close line is still at info: %q", l)
	}

	// A shutdown ends the stream.
	cancel()
	for events.Scan() {
	}
}

// TestSessionLogLevels: -log-sessions moves the lines to debug or off,
// and the library's own lifecycle lines still exist (at debug).
func TestSessionLogLevels(t *testing.T) {
	for _, tc := range []struct {
		setting, level string
		want           int
	}{{"info", "info", 1}, {"debug", "info", 0}, {"debug", "debug", 1}, {"off", "debug", 0}} {
		logs := &syncBuffer{}
		a := newTestApp(t, []string{"-anonymous", "-log-sessions", tc.setting, "-log-level", tc.level}, logs)
		srv := httptest.NewServer(a.Handler())
		c, err := client.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", &client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-c.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := a.Server().Shutdown(ctx); err != nil && err != tether.ErrServerClosed {
			t.Fatal(err)
		}
		cancel()
		srv.Close()
		if got := logs.lines(`msg="tether: session ended"`); len(got) != tc.want {
			t.Errorf("-log-sessions %s -log-level %s: %d end lines, want %d", tc.setting, tc.level, len(got), tc.want)
		}
		lib := logs.lines(`msg="tether: session closed"`)
		if tc.level == "debug" && (len(lib) != 1 || !strings.Contains(lib[0], "level=DEBUG")) {
			t.Errorf("-log-level debug: the library's close line %q, want one at DEBUG", lib)
		}
	}
}

// TestAdminNodesRedis: two servers sharing Redis each see the other's
// session counts on their admin page; a stopped server leaves the list.
func TestAdminNodesRedis(t *testing.T) {
	addr := os.Getenv("TETHER_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		if os.Getenv("TETHER_REQUIRE_ALL") == "1" {
			t.Fatal(err)
		}
		t.Skip("!!!!!!!!!! SKIP: Redis not reachable at " + addr + ": " + err.Error())
	}
	prefix := "ta" + randomHex(5)
	defer rdb.Del(context.Background(), prefix+":admin:nodes")
	count := func(n int) func() stateCounts {
		return func() stateCounts { return stateCounts{Connected: n, Updated: time.Now().UTC()} }
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := newNodeBoard(rdb, prefix, "a", count(1), log)
	b := newNodeBoard(rdb, prefix, "b", count(2), log)
	var got []stateCounts
	for ctx.Err() == nil {
		got = a.read(ctx, stateCounts{Node: "a", Connected: 1})
		if len(got) == 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(got) != 2 || got[1].Node != "b" || got[1].Connected != 2 {
		t.Fatalf("a sees %+v", got)
	}
	b.close()
	if got = a.read(ctx, stateCounts{Node: "a"}); len(got) != 1 {
		t.Errorf("after b stopped, a sees %+v", got)
	}
	a.close()
	if n, _ := rdb.HLen(ctx, prefix+":admin:nodes").Result(); n != 0 {
		t.Errorf("%d entries left in Redis", n)
	}
}
