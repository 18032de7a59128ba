//go:build unix

package php_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ws/tether/internal/webhook"
)

// The worked example of README.md, checked with the SDK's verifier
// (sdk/php), which webhook.php uses.
func TestSignatureWorkedExample(t *testing.T) {
	php := needPHP(t)
	const script = `require '../../sdk/php/autoload.php';
[, $header, $body, $secret, $now] = $argv;
$verifier = new Tether\Webhook\WebhookVerifier($secret, clock: fn () => (int) $now);
try {
	$verifier->checkSignature($header, $body);
	echo 'valid';
} catch (Tether\Webhook\InvalidSignatureException $e) {
	echo get_class($e), ': ', $e->getMessage();
}`
	const (
		body   = `{"type":"open","id":"evt_1","time":"2023-11-14T22:13:20Z","session":"s_1"}`
		header = "t=1700000000,v1=d178abd1882e10c4327d755cec9028e547245b62e70d17c4624923f776be48b6"
	)
	for _, tc := range []struct {
		name, header, body, secret, now, want string
	}{
		{"valid", header, body, "whsec_example", "1700000100", "valid"},
		{"valid, parts swapped", "v1=d178abd1882e10c4327d755cec9028e547245b62e70d17c4624923f776be48b6,t=1700000000", body, "whsec_example", "1699999800", "valid"},
		{"too old", header, body, "whsec_example", "1700000301", "ExpiredTimestampException"},
		{"in the future", header, body, "whsec_example", "1699999699", "ExpiredTimestampException"},
		{"wrong secret", header, body, "whsec_other", "1700000000", "mismatch"},
		{"body changed", header, strings.Replace(body, "s_1", "s_2", 1), "whsec_example", "1700000000", "mismatch"},
		{"timestamp changed", strings.Replace(header, "1700000000", "1700000001", 1), body, "whsec_example", "1700000000", "mismatch"},
		{"no v1", "t=1700000000", body, "whsec_example", "1700000000", "malformed"},
		{"empty", "", body, "whsec_example", "1700000000", "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(php, "-d", "display_errors=stderr", "-r", script, tc.header, tc.body, tc.secret, tc.now)
			cmd.Dir = exampleDir(t)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("php: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("tether_verify_signature: %q, want %q", out, tc.want)
			}
		})
	}
}

// fakeAPI stands for the tether binary's HTTP API.
type fakeAPI struct {
	srv  *httptest.Server
	mu   sync.Mutex
	down bool // answer 500
	// calls made with the right key: "POST /api/rooms/lobby/broadcast {...}"
	calls []string
}

const apiKey = "api-key-for-the-php-example-test"

func newFakeAPI(t *testing.T) *fakeAPI {
	a := &fakeAPI{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+apiKey {
			t.Errorf("API call %s %s with Authorization %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"code":"unauthorized","message":"wrong API key"}}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		down := a.down
		if !down {
			a.calls = append(a.calls, r.Method+" "+r.URL.EscapedPath()+" "+string(body))
		}
		a.mu.Unlock()
		switch {
		case down:
			w.WriteHeader(500)
			io.WriteString(w, `{"error":{"code":"internal","message":"down for the test"}}`)
		case strings.HasSuffix(r.URL.Path, "/broadcast"):
			io.WriteString(w, `{"room":"lobby","queued":2,"members":2,"sessions":2}`)
		default:
			io.WriteString(w, `{}`)
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeAPI) setDown(down bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.down = down
}

func (a *fakeAPI) takeCalls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls
	a.calls = nil
	return c
}

func messageEvent(id, session, text string) []byte {
	b, _ := json.Marshal(webhook.Event{
		Type: "message", ID: id, Time: time.Now().UTC(), Session: session,
		Message: &webhook.Message{Seq: 1, Type: "text", Text: text},
	})
	return b
}

// The PHP backend alone, with signed requests made here and a fake
// tether API: signature checks, idempotency, the bot's answers.
func TestBackend(t *testing.T) {
	php := needPHP(t)
	api := newFakeAPI(t)
	b := startBackend(t, php, api.srv.URL, apiKey)
	hook := b.url("/webhook")
	now := time.Now()

	t.Run("bad signatures are refused", func(t *testing.T) {
		body := messageEvent("k-bad", "s1", "/echo nope")
		for name, sig := range map[string]string{
			"none":          "",
			"wrong secret":  sign("not-the-secret", now, body),
			"old":           sign(hookSecret, now.Add(-6*time.Minute), body),
			"future":        sign(hookSecret, now.Add(6*time.Minute), body),
			"other body":    sign(hookSecret, now, messageEvent("k-bad", "s1", "/echo other")),
			"uppercase hex": strings.ToUpper(sign(hookSecret, now, body)),
			"garbage":       "t=abc,v1=xyz",
		} {
			if st, _ := post(t, hook, "k-bad", "message", sig, body); st != 401 {
				t.Errorf("%s signature: status %d, want 401", name, st)
			}
		}
		for _, e := range b.log() {
			if e.Key == "k-bad" && (e.Signature != "invalid" || e.Status != 401) {
				t.Errorf("log entry %+v for a bad signature", e)
			}
		}
		if c := api.takeCalls(); len(c) != 0 {
			t.Errorf("API called for refused requests: %v", c)
		}
	})

	t.Run("echo and idempotency", func(t *testing.T) {
		body := messageEvent("k-echo", "s1", "/echo hello")
		const want = `{"messages":[{"type":"text","text":"hello"}]}`
		for i := range 3 { // the first delivery and two repeats, signed anew each time
			st, answer := post(t, hook, "k-echo", "message", sign(hookSecret, time.Now(), body), body)
			if st != 200 || strings.TrimSpace(string(answer)) != want {
				t.Errorf("delivery %d: %d %s, want 200 %s", i+1, st, answer, want)
			}
		}
		log := b.log()
		if n := len(handled(log, "k-echo")); n != 1 {
			t.Errorf("k-echo handled %d times, want once", n)
		}
		dups := 0
		for _, e := range log {
			if e.Key == "k-echo" && e.Duplicate {
				dups++
			}
		}
		if dups != 2 {
			t.Errorf("%d repeats logged, want 2", dups)
		}
	})

	t.Run("broadcast through the API, once", func(t *testing.T) {
		body := messageEvent("k-hello", "s1", "hello all")
		for range 2 {
			if st, answer := post(t, hook, "k-hello", "message", sign(hookSecret, time.Now(), body), body); st != 200 {
				t.Fatalf("status %d %s", st, answer)
			}
		}
		want := []string{`POST /api/rooms/lobby/broadcast {"type":"text","text":"hello all"}`}
		if c := api.takeCalls(); !slices.Equal(c, want) {
			t.Errorf("API calls %q, want %q", c, want)
		}
	})

	t.Run("join through the API", func(t *testing.T) {
		body := messageEvent("k-join", "s/1", "/join support desk")
		st, answer := post(t, hook, "k-join", "message", sign(hookSecret, time.Now(), body), body)
		if st != 200 || !strings.Contains(string(answer), `"joined support desk"`) {
			t.Errorf("status %d %s", st, answer)
		}
		want := []string{`POST /api/rooms/support%20desk/members {"session":"s/1"}`}
		if c := api.takeCalls(); !slices.Equal(c, want) {
			t.Errorf("API calls %q, want %q", c, want)
		}
	})

	t.Run("API down: 503, then done on the retry", func(t *testing.T) {
		body := messageEvent("k-down", "s1", "are you there")
		api.setDown(true)
		if st, answer := post(t, hook, "k-down", "message", sign(hookSecret, time.Now(), body), body); st != 503 {
			t.Errorf("with the API down: %d %s, want 503", st, answer)
		}
		api.setDown(false)
		if st, answer := post(t, hook, "k-down", "message", sign(hookSecret, time.Now(), body), body); st != 200 {
			t.Errorf("retry: %d %s, want 200", st, answer)
		}
		if c := api.takeCalls(); len(c) != 1 || !strings.Contains(c[0], "are you there") {
			t.Errorf("API calls %q, want the broadcast once", c)
		}
		if n := len(handled(b.log(), "k-down")); n != 1 {
			t.Errorf("k-down handled %d times", n)
		}
	})

	// Package webhook, which the tether binary uses, against this backend.
	t.Run("webhook.Dispatcher", func(t *testing.T) {
		d, err := webhook.New(webhook.Config{URL: hook, Secret: []byte(hookSecret), InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		open := &webhook.Event{Type: "open", Session: "go-1", Meta: map[string]string{"k": "v"}}
		d.Notify(open)
		reply, err := d.Deliver(ctx, &webhook.Event{Type: "message", Session: "go-1", Message: &webhook.Message{Seq: 1, Type: "text", Text: "/echo from Go"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(reply.Messages) != 1 || reply.Messages[0].Type != "text" || reply.Messages[0].Text != "from Go" {
			t.Errorf("reply %+v", reply)
		}
		closeEv := &webhook.Event{Type: "close", Session: "go-1", Cause: "client-closed", Counts: map[string]int64{"unacked": 0}}
		d.Notify(closeEv)
		if err := d.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if s := d.Stats(); s.Delivered != 3 || s.Failures != 0 {
			t.Errorf("stats %+v", s)
		}
		var types []string
		for _, e := range b.log() {
			if e.Event.Session == "go-1" && e.Signature == "valid" {
				types = append(types, e.Type)
			}
		}
		if want := []string{"open", "message", "close"}; !slices.Equal(types, want) {
			t.Errorf("backend saw %v, want %v", types, want)
		}

		// The wrong secret is a permanent refusal.
		d2, err := webhook.New(webhook.Config{URL: hook, Secret: []byte("wrong")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = d2.Deliver(ctx, &webhook.Event{Type: "open", Session: "go-2"})
		if !errors.Is(err, webhook.ErrRejected) || !strings.Contains(err.Error(), "401") {
			t.Errorf("wrong secret: %v, want ErrRejected 401", err)
		}
		if err := d2.Close(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("not POST", func(t *testing.T) {
		resp, err := http.Get(hook)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 {
			t.Errorf("GET /webhook: %d", resp.StatusCode)
		}
	})
}
