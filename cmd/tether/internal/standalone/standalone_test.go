package standalone

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func mustParse(t testing.TB, args, env []string) *Config {
	t.Helper()
	c, err := Parse(args, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, nil, nil)
	if c.Addr != ":8080" || c.MaxMessageSize != 64<<10 || c.RateLimit != 100 || c.ShutdownTimeout != 30*time.Second ||
		c.GraceWindow != 2*time.Minute || c.ReplayBufferBytes != 1<<20 || c.ReplayBufferMessages != 4096 || !c.Demo {
		t.Fatalf("defaults: %+v", c)
	}
	if !c.DevMode() {
		t.Fatal("no auth configured should be development mode")
	}
	for _, args := range [][]string{{"-anonymous"}, {"-jwt-secret", "s"}} {
		if mustParse(t, args, nil).DevMode() {
			t.Errorf("%v: still development mode", args)
		}
	}
}

func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(file, []byte(`{"max-sessions": 1, "max-sessions-per-user": 2, "max-rooms-per-session": 3, "anonymous": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, []string{"-max-sessions", "10"},
		[]string{"TETHER_CONFIG=" + file, "TETHER_MAX_SESSIONS=20", "TETHER_MAX_SESSIONS_PER_USER=30", "TETHER_NOT_A_SETTING=1", "HOME=/"})
	if c.MaxSessions != 10 || c.MaxSessionsPerUser != 30 || c.MaxRoomsPerSession != 3 || !c.Anonymous || c.MaxMessageSize != 64<<10 {
		t.Fatalf("config: %+v", c)
	}
	want := map[string]string{"max-sessions": "flag", "max-sessions-per-user": "env", "max-rooms-per-session": "file", "rate-limit": "default", "config": "env"}
	for k, v := range want {
		if c.Sources[k] != v {
			t.Errorf("source of %s = %q, want %q", k, c.Sources[k], v)
		}
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "TETHER_NOT_A_SETTING") {
		t.Errorf("warnings %q", c.Warnings)
	}
}

func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		args, env []string
		setting   string
	}{
		{[]string{"-rate-limit", "x"}, nil, "rate-limit"},
		{nil, []string{"TETHER_MAX_MESSAGE_SIZE=-5"}, "max-message-size"},
		{nil, []string{"TETHER_HEARTBEAT_TIMEOUT=-1s"}, "heartbeat-timeout"},
		{[]string{"-jwt-audience", "a"}, nil, "jwt-audience"},
		{[]string{"-log-level", "loud"}, nil, "log-level"},
		{[]string{"-addr", "nope"}, nil, "addr"},
		{[]string{"-webhook-max-in-flight", "0"}, nil, "webhook-max-in-flight"},
	} {
		_, err := Parse(tc.args, tc.env, io.Discard)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Setting != tc.setting || !strings.Contains(err.Error(), "-"+tc.setting) {
			t.Errorf("%v %v: %v, want an error naming -%s", tc.args, tc.env, err, tc.setting)
		}
	}
	var out strings.Builder
	if _, err := Parse([]string{"-help"}, nil, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	c := &Config{}
	c.flagSet().VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "env "+EnvName(f.Name)+", default ") {
			t.Errorf("help lacks %s", f.Name)
		}
	})
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]int{"10": 10, "64KiB": 64 << 10, "1mib": 1 << 20, "2 GiB": 2 << 30, "3k": 3 << 10, "7B": 7} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "1.5MiB", "-1", "1TiB", "10 KB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
	if formatSize(64<<10) != "64KiB" || formatSize(1000) != "1000" {
		t.Error("formatSize")
	}
	if bodyLimit(64<<10) != 128<<10 || bodyLimit(3<<20) <= 4<<20 {
		t.Errorf("bodyLimit: %d %d", bodyLimit(64<<10), bodyLimit(3<<20))
	}
}

func TestAuthenticate(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	c := mustParse(t, []string{"-jwt-secret", string(secret), "-jwt-audience", "chat", "-jwt-issuer", "me", "-max-rooms-per-session", "2"}, nil)
	a, err := newAuthenticator(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(cl jwt.MapClaims) string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, cl).SignedString(secret)
		return s
	}
	now := time.Now()
	good := jwt.MapClaims{"sub": "u", "aud": "chat", "iss": "me", "exp": now.Add(time.Minute).Unix(), "rooms": []string{"a"}}
	req := func(tok string) *http.Request {
		r := withIdentity(httptest.NewRequest("GET", "/ws?token="+tok, nil))
		return r
	}
	r := req(sign(good))
	if u, err := a.authenticate(r); err != nil || u != "u" || identityOf(r).rooms[0] != "a" {
		t.Fatalf("good token: %q %v", u, err)
	}
	// Leeway: just expired is still fine.
	late := jwt.MapClaims{"sub": "u", "aud": "chat", "iss": "me", "exp": now.Add(-5 * time.Second).Unix()}
	if _, err := a.authenticate(req(sign(late))); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	for name, cl := range map[string]jwt.MapClaims{
		"expired":      {"sub": "u", "aud": "chat", "iss": "me", "exp": now.Add(-time.Hour).Unix()},
		"audience":     {"sub": "u", "aud": "other", "iss": "me"},
		"issuer":       {"sub": "u", "aud": "chat", "iss": "you"},
		"not yet":      {"sub": "u", "aud": "chat", "iss": "me", "nbf": now.Add(time.Hour).Unix()},
		"no sub":       {"aud": "chat", "iss": "me"},
		"many rooms":   {"sub": "u", "aud": "chat", "iss": "me", "rooms": []string{"a", "b", "c"}},
		"invalid room": {"sub": "u", "aud": "chat", "iss": "me", "rooms": []string{""}},
	} {
		_, err := a.authenticate(req(sign(cl)))
		forbidden := errors.Is(err, tether.ErrForbidden)
		if err == nil || forbidden != strings.Contains(name, "room") || len(err.Error()) > 123 {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The Authorization header wins over the query.
	hr := withIdentity(httptest.NewRequest("GET", "/ws?token=junk", nil))
	hr.Header.Set("Authorization", "Bearer "+sign(good))
	if _, err := a.authenticate(hr); err != nil {
		t.Fatal(err)
	}
	// No token: refused unless anonymous.
	if _, err := a.authenticate(req("")); err == nil {
		t.Fatal("no token accepted")
	}
	anon, _ := newAuthenticator(mustParse(t, []string{"-anonymous"}, nil), nil)
	ar := withIdentity(httptest.NewRequest("GET", "/ws?room=x&room=y", nil))
	if u, err := anon.authenticate(ar); err != nil || u != "" || strings.Join(identityOf(ar).rooms, ",") != "x,y" {
		t.Fatalf("anonymous: %q %v %v", u, err, identityOf(ar))
	}
	// Development mode: a guest cookie stands for a token.
	dev, _ := newAuthenticator(mustParse(t, nil, nil), []byte("dev"))
	gr := withIdentity(httptest.NewRequest("GET", "/ws", nil))
	gr.AddCookie(&http.Cookie{Name: guestCookie, Value: "guest-abcdefghijkl"})
	if u, err := dev.authenticate(gr); err != nil || u != "guest-abcdefghijkl" {
		t.Fatalf("guest cookie: %q %v", u, err)
	}
	gr.Header.Set("Cookie", guestCookie+"=admin")
	if _, err := dev.authenticate(gr); err == nil {
		t.Fatal("malformed guest cookie accepted")
	}
}

func TestLimiter(t *testing.T) {
	l := newIPLimiter(1, 2)
	now := time.Now()
	for i, want := range []bool{true, true, false} {
		if _, ok := l.allow("a", now); ok != want {
			t.Fatalf("request %d: %v", i, ok)
		}
	}
	if _, ok := l.allow("b", now); !ok {
		t.Fatal("another address is limited")
	}
	if _, ok := l.allow("a", now.Add(time.Second)); !ok {
		t.Fatal("no refill")
	}
}

// TestServeAndShutdown runs the server in process: a client connects,
// the context ends, the client is drained with 4001, Serve returns nil
// and nothing is left running (goleak).
func TestServeAndShutdown(t *testing.T) {
	c := mustParse(t, []string{"-anonymous", "-api-key", "k0123456789abcdef", "-restart-jitter", "50ms", "-shutdown-timeout", "5s"}, nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	assets := fstest.MapFS{"demo/index.html": {Data: []byte("<h1>demo</h1>")}, "demo/app.js": {Data: []byte("1")}, "dist/index.js": {Data: []byte("2")}}
	a, err := New(c, log, assets)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	for path, want := range map[string]int{"/": 200, "/app.js": 200, "/dist/index.js": 200, "/demo/app.js": 200, "/nope": 404, "/demo/": 404, "/healthz": 200, "/readyz": 200, "/metrics": 200} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	drained := make(chan tether.CloseCode, 1)
	cl, err := client.Dial(context.Background(), "ws://"+ln.Addr().String()+"/ws", &client.Options{
		MaxAttempts: 1,
		OnEvent: func(e client.Event) {
			if d, ok := e.(client.Disconnected); ok {
				select {
				case drained <- d.Code:
				default:
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code := <-drained; code != tether.CloseServerRestart {
		t.Fatalf("client closed with %d, want 4001", code)
	}
	// After the shutdown: not ready, still alive.
	for path, want := range map[string]int{"/readyz": http.StatusServiceUnavailable, "/healthz": http.StatusOK} {
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("%s after the drain: %d, want %d", path, rec.Code, want)
		}
	}
	<-cl.Done()
}

func TestRoomSettings(t *testing.T) {
	c := mustParse(t, []string{"-jwt-secret", "s"}, nil)
	if c.RoomHistoryMessages != 1000 || c.RoomHistoryBytes != 1<<20 || c.RoomHistoryAge != 10*time.Minute ||
		c.RoomRecoveryLimit != 1000 || c.UserStreams || c.ReadmitPolicy != readmitClaims || c.Rooms != nil {
		t.Fatalf("room defaults: %+v", c)
	}
	if h := c.RoomHistory(); h != (tether.HistoryLimits{MaxMessages: 1000, MaxBytes: 1 << 20, MaxAge: 10 * time.Minute}) {
		t.Fatalf("history limits %+v", h)
	}
	c = mustParse(t, []string{"-webhook-url", "http://127.0.0.1:1/", "-webhook-secret", "x", "-room-history-messages", "0"}, nil)
	if c.ReadmitPolicy != readmitWebhook || c.RoomHistory().MaxMessages != -1 {
		t.Fatalf("auto with a webhook: %q, %+v", c.ReadmitPolicy, c.RoomHistory())
	}

	// -rooms in the config file is an array of objects; omitted bounds
	// are the global ones.
	file := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(file, []byte(`{"room-history-age": "1m", "rooms": [
		{"pattern": "chat.*", "history-messages": 5, "history-bytes": "2MiB", "presence": true},
		{"pattern": "ticker.*", "history-messages": 0, "history-bytes": 70000, "history-age": "5s"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c = mustParse(t, []string{"-config", file, "-readmit", "all"}, nil)
	want := []tether.RoomOptions{
		{Pattern: "chat.*", History: tether.HistoryLimits{MaxMessages: 5, MaxBytes: 2 << 20, MaxAge: time.Minute}, Presence: true},
		{Pattern: "ticker.*", History: tether.HistoryLimits{MaxMessages: -1, MaxBytes: 70000, MaxAge: 5 * time.Second}},
	}
	if got := c.RoomOptions(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("room options %+v, want %+v", got, want)
	}
	if !c.keepsHistory("chat.1") || c.keepsHistory("ticker.x") || !c.keepsHistory("other") {
		t.Error("keepsHistory")
	}
	if c.ReadmitPolicy != readmitAll || len(c.Warnings) == 0 || !strings.Contains(strings.Join(c.Warnings, " "), "-readmit all") {
		t.Errorf("readmit all: %q, warnings %q", c.ReadmitPolicy, c.Warnings)
	}
	// The same from the environment, as JSON text; String round-trips.
	env := "TETHER_ROOMS=" + roomsVar{&c.Rooms}.String()
	c2 := mustParse(t, nil, []string{env, "TETHER_ROOM_HISTORY_AGE=1m"})
	if got := c2.RoomOptions(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("from %s: %+v", env, got)
	}

	for _, tc := range []struct {
		args    []string
		setting string
		says    string
	}{
		{[]string{"-room-history-messages", "-1"}, "room-history-messages", "0 (keep no history) or more"},
		{[]string{"-room-history-bytes", "1KiB"}, "room-history-bytes", "-max-message-size"},
		{[]string{"-room-history-age", "0s"}, "room-history-age", "positive"},
		{[]string{"-room-recovery-limit", "0"}, "room-recovery-limit", "at least 1"},
		{[]string{"-readmit", "some"}, "readmit", "claims, webhook or all"},
		{[]string{"-readmit", "webhook"}, "readmit", "-webhook-url"},
		{[]string{"-rooms", `{"pattern":"a"}`}, "rooms", "JSON array"},
		{[]string{"-rooms", `[{"pattern":"a["}]`}, "rooms", "bad pattern"},
		{[]string{"-rooms", `[{"history-messages":3}]`}, "rooms", `"pattern" is required`},
		{[]string{"-rooms", `[{"pattern":"a","presense":true}]`}, "rooms", "presense"},
		{[]string{"-rooms", `[{"pattern":"a","history-bytes":"lots"}]`}, "rooms", "history-bytes"},
		{[]string{"-rooms", `[{"pattern":"a","history-age":"3"}]`}, "rooms", "history-age"},
		{[]string{"-rooms", `[{"pattern":"a","history-messages":-2}]`}, "rooms", "history-messages"},
		{[]string{"-rooms", `[{"pattern":"a","history-bytes":100}]`}, "rooms", "-max-message-size"},
		{[]string{"-rooms", `[{"pattern":"a"}] []`}, "rooms", "after the JSON array"},
	} {
		_, err := Parse(append([]string{"-jwt-secret", "s"}, tc.args...), nil, io.Discard)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Setting != tc.setting || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%q: %v, want an error naming -%s that says %q", tc.args, err, tc.setting, tc.says)
		}
	}
}
