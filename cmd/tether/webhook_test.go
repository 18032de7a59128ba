package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/internal/webhook"
)

const hookSecret = "webhook-secret-for-tests"

// backend is the application's backend: it verifies every request's
// signature and records the events it accepted, in order.
type backend struct {
	t       *testing.T
	failing atomic.Bool   // answer message events with 503
	failAll atomic.Bool   // answer every event with 503
	delay   atomic.Int64  // nanoseconds each request takes (a slow backend)
	hold    chan struct{} // message "hold" waits for it
	mu      sync.Mutex
	events  []webhook.Event // accepted, first delivery of each ID
	seen    map[string]bool
	tries   map[string]int // attempts per event ID
	badSig  int
	// readmit answers readmit events: the body for a room (200), or
	// none (404, a refusal) when the room is not in it.
	readmit map[string]string
	raw     map[string]string    // body of the first delivery of each event ID
	at      map[string]time.Time // when each accepted event was accepted
}

func newBackend(t *testing.T) (*backend, *httptest.Server) {
	b := &backend{t: t, seen: map[string]bool{}, tries: map[string]int{}, hold: make(chan struct{}), raw: map[string]string{}, at: map[string]time.Time{}}
	ts := httptest.NewServer(b)
	t.Cleanup(ts.Close)
	t.Cleanup(b.release)
	return b, ts
}

var releaseOnce sync.Map

func (b *backend) release() {
	if _, done := releaseOnce.LoadOrStore(b, true); !done {
		close(b.hold)
	}
}

func verify(r *http.Request, body []byte) bool {
	var ts, sig string
	for _, part := range strings.Split(r.Header.Get("Tether-Signature"), ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(n, 0)).Abs() > 5*time.Minute {
		return false
	}
	m := hmac.New(sha256.New, []byte(hookSecret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(sig), []byte(want))
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if msg := openAPI.CheckWebhook(r, body); msg != "" {
		b.t.Errorf("contract: %s", msg)
	}
	if !verify(r, body) {
		b.mu.Lock()
		b.badSig++
		b.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev webhook.Event
	if err := json.Unmarshal(body, &ev); err != nil || r.Header.Get("Tether-Idempotency-Key") != ev.ID {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	b.tries[ev.ID]++
	if _, ok := b.raw[ev.ID]; !ok {
		b.raw[ev.ID] = string(body)
	}
	b.mu.Unlock()
	if d := time.Duration(b.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	if b.failAll.Load() {
		http.Error(w, "backend down", http.StatusServiceUnavailable)
		return
	}
	if ev.Type == "readmit" {
		b.mu.Lock()
		answer, ok := b.readmit[*ev.Room]
		if !b.seen[ev.ID] {
			b.seen[ev.ID] = true
			b.events = append(b.events, ev)
		}
		b.mu.Unlock()
		if !ok {
			http.Error(w, "no such room", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
		return
	}
	if ev.Type == "message" {
		switch {
		case b.failing.Load():
			http.Error(w, "backend down", http.StatusServiceUnavailable)
			return
		case ev.Message.Text == "reject":
			http.Error(w, "not allowed", http.StatusUnprocessableEntity)
			return
		case ev.Message.Text == "hold":
			<-b.hold
		}
	}
	b.mu.Lock()
	if !b.seen[ev.ID] {
		b.seen[ev.ID] = true
		b.events = append(b.events, ev)
		b.at[ev.ID] = time.Now()
	}
	b.mu.Unlock()
	if ev.Type == "message" && ev.Message.Text != "" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(webhook.Reply{Messages: []webhook.Message{{Type: "text", Text: "echo: " + ev.Message.Text}}})
	}
}

// of returns the accepted events of a session, as "type" or
// "type:detail".
func (b *backend) of(session string) []webhook.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []webhook.Event
	for _, e := range b.events {
		if e.Session == session {
			out = append(out, e)
		}
	}
	return out
}

func (b *backend) triesOf(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tries[id]
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	b, ts := newBackend(t)
	p := apiServer(t, "-webhook-url", ts.URL+"/hook", "-webhook-secret", hookSecret, "-webhook-timeout", "2s")
	c, r := dial(t, p.wsURL(), hs(t, "alice", "lobby"))
	id := c.SessionID()
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()

	// A message goes to the backend, whose reply goes to the client.
	if err := c.Send(ctx, tether.Text, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "reply", func() bool { return len(r.texts()) == 1 })
	if got := r.texts()[0]; got != "echo: hello" {
		t.Fatalf("reply = %q", got)
	}

	// The backend fails: the message is not acknowledged to the client
	// until the backend took it.
	b.failing.Store(true)
	if err := c.Send(ctx, tether.Text, []byte("while down")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "retries", func() bool { return b.triesOf(id+":message:2") >= 3 })
	if n := c.Pending(); n != 1 {
		t.Fatalf("client has %d unacknowledged messages while the backend is down, want 1", n)
	}
	b.failing.Store(false)
	waitUntil(t, "acknowledged after recovery", func() bool { return c.Pending() == 0 })
	if len(b.of(id)) != 3 {
		t.Fatalf("backend accepted %d events after recovery", len(b.of(id)))
	}
	waitUntil(t, "second reply", func() bool { return len(r.texts()) == 2 })

	// A refusal (4xx) is final: the message is acknowledged, no reply.
	if err := c.Send(ctx, tether.Text, []byte("reject")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "rejected message acknowledged", func() bool { return c.Pending() == 0 && b.triesOf(id+":message:3") == 1 })

	// Disconnect and resume.
	c.ForceReconnect()
	waitUntil(t, "resumed", func() bool { return len(eventsOf[client.Resumed](r)) == 1 })
	if err := c.Send(ctx, tether.Text, []byte("after")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "third reply", func() bool { return len(r.texts()) == 3 })
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "close event", func() bool { evs := b.of(id); return len(evs) > 0 && evs[len(evs)-1].Type == "close" })

	var got []string
	for _, e := range b.of(id) {
		got = append(got, strings.TrimPrefix(e.ID, id+":"))
		if e.User != "alice" || e.Session != id {
			t.Errorf("event %+v", e)
		}
	}
	want := "open message:1 message:2 disconnect:1 resume:1 message:4 close"
	if strings.Join(got, " ") != want {
		t.Fatalf("backend saw %q, want %q", strings.Join(got, " "), want)
	}
	evs := b.of(id)
	if evs[1].Message.Text != "hello" || evs[1].Message.Seq != 1 || evs[1].Message.Type != "text" {
		t.Errorf("message event %+v", evs[1].Message)
	}
	if evs[3].Cause != "client-detached" || evs[6].Cause != "client-closed" {
		t.Errorf("causes: disconnect %q, close %q", evs[3].Cause, evs[6].Cause)
	}
	if _, ok := evs[4].Counts["replayed_to_client"]; !ok {
		t.Errorf("resume counts %v", evs[4].Counts)
	}
	if _, ok := evs[6].Counts["unacked"]; !ok {
		t.Errorf("close counts %v", evs[6].Counts)
	}
	b.mu.Lock()
	if b.badSig != 0 {
		t.Errorf("%d requests with a bad signature", b.badSig)
	}
	b.mu.Unlock()

	// The backend has answered the last event; the server counts it an
	// instant later.
	waitUntil(t, "7 webhooks counted as delivered", func() bool { return p.metrics()[`tether_webhook_delivered_total`] >= 7 })
	m := p.metrics()
	if m[`tether_webhook_attempts_total{event="message",result="retry"}`] < 3 ||
		m[`tether_webhook_attempts_total{event="message",result="rejected"}`] != 1 ||
		m[`tether_webhook_delivered_total`] < 7 {
		t.Errorf("webhook metrics: %v", m)
	}
}

// TestWebhookKickWhileBusy: a session kicked while its message is with
// the backend is closed for the API at once (409), and the backend is
// told the reason.
func TestWebhookKickWhileBusy(t *testing.T) {
	t.Parallel()
	b, ts := newBackend(t)
	p := apiServer(t, "-webhook-url", ts.URL+"/hook", "-webhook-secret", hookSecret)
	c, _ := dial(t, p.wsURL(), hs(t, "bob"))
	id := c.SessionID()
	if err := c.Send(bg, tether.Text, []byte("hold")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "backend busy", func() bool { return b.triesOf(id+":message:1") == 1 })
	if st, m := p.call("DELETE", "/api/sessions/"+id, map[string]any{"reason": "maintenance"}); st != 200 {
		t.Fatalf("kick: %d %v", st, m)
	}
	if st, m := p.call("POST", "/api/sessions/"+id+"/send", map[string]any{"type": "text", "text": "x"}); st != 409 || errCode(m) != "session_closed" {
		t.Fatalf("send to a closed session: %d %v", st, m)
	}
	if st, m := p.call("DELETE", "/api/sessions/"+id, nil); st != 409 || errCode(m) != "session_closed" {
		t.Fatalf("kick again: %d %v", st, m)
	}
	b.release()
	waitUntil(t, "close event", func() bool { evs := b.of(id); return len(evs) > 0 && evs[len(evs)-1].Type == "close" })
	evs := b.of(id)
	last := evs[len(evs)-1]
	if last.Cause != "kicked" || last.Reason != "maintenance" || last.ID != id+":close" {
		t.Fatalf("close event %+v", last)
	}
}
