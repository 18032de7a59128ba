package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-ws/tether/internal/webhook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testSecret = []byte("whsec_test-secret")

// verifySignature checks a Tether-Signature header the way a receiver
// would, written from the wire format's description and independent of
// the package's code.
func verifySignature(secret []byte, header string, body []byte, now time.Time) error {
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("malformed part %q", part)
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return fmt.Errorf("missing t or v1 in %q", header)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("bad timestamp %q", ts)
	}
	if age := now.Sub(time.Unix(sec, 0)); age > 5*time.Minute || age < -5*time.Minute {
		return fmt.Errorf("timestamp %s is %v away from now", ts, age)
	}
	mac := hmac.New(sha256.New, secret)
	io.WriteString(mac, ts+".")
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		if s != strings.ToLower(s) {
			return fmt.Errorf("signature %q is not lowercase hex", s)
		}
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no v1 signature matches")
}

// logBuffer collects log output, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// testLogger returns a debug logger whose output is shown if t fails.
func testLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dispatcher log:\n%s", lb)
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// verdict is what the test backend does with one request.
type verdict struct {
	status  int
	body    string
	header  map[string]string
	process bool // take the event in even though status is not 2xx (the answer is lost)
	hang    bool // never answer: wait for the client to give up
}

// attempt is one request as the backend saw it.
type attempt struct {
	key, typ, session string
	body              []byte
	at                time.Time
	status            int
}

// backend is an httptest server that verifies every request, dedupes on
// the idempotency key, and answers as decide says. n counts the requests
// for the event's key, from 1. A request for a key already taken in is
// answered 200 without asking decide.
type backend struct {
	t      *testing.T
	srv    *httptest.Server
	decide func(ev *webhook.Event, n int) verdict

	mu        sync.Mutex
	attempts  []attempt
	perKey    map[string]int
	taken     map[string]bool
	processed []webhook.Event // first taking-in of each key, in order
	active    int
	maxActive int
	bell      chan struct{} // rung after each change
	stop      chan struct{} // releases hung handlers at the end
}

func newBackend(t *testing.T, decide func(ev *webhook.Event, n int) verdict) *backend {
	b := &backend{
		t: t, decide: decide,
		perKey: map[string]int{}, taken: map[string]bool{},
		bell: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(func() {
		close(b.stop)
		b.srv.Close()
	})
	return b
}

func (b *backend) ring() {
	select {
	case b.bell <- struct{}{}:
	default:
	}
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		b.t.Errorf("backend: read body: %v", err)
		return
	}
	if r.Method != http.MethodPost {
		b.t.Errorf("backend: method %s, want POST", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		b.t.Errorf("backend: Content-Type %q", ct)
	}
	if err := verifySignature(testSecret, r.Header.Get("Tether-Signature"), body, time.Now()); err != nil {
		b.t.Logf("backend: bad signature: %v", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev webhook.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		b.t.Errorf("backend: body is not an Event: %v: %s", err, body)
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	if k := r.Header.Get("Tether-Idempotency-Key"); k != ev.ID || k == "" {
		b.t.Errorf("backend: Tether-Idempotency-Key %q, body id %q", k, ev.ID)
	}
	if h := r.Header.Get("Tether-Event"); h != ev.Type {
		b.t.Errorf("backend: Tether-Event %q, body type %q", h, ev.Type)
	}

	b.mu.Lock()
	b.perKey[ev.ID]++
	n := b.perKey[ev.ID]
	idx := len(b.attempts)
	b.attempts = append(b.attempts, attempt{key: ev.ID, typ: ev.Type, session: ev.Session, body: body, at: time.Now()})
	b.active++
	b.maxActive = max(b.maxActive, b.active)
	dup := b.taken[ev.ID]
	b.mu.Unlock()
	b.ring()

	v := verdict{status: http.StatusOK}
	if !dup {
		v = b.decide(&ev, n)
	}
	if v.process || (v.status >= 200 && v.status < 300 && !v.hang) {
		b.mu.Lock()
		if !b.taken[ev.ID] {
			b.taken[ev.ID] = true
			b.processed = append(b.processed, ev)
		}
		b.mu.Unlock()
	}
	if v.hang {
		select {
		case <-r.Context().Done():
		case <-b.stop:
		}
	} else {
		for k, val := range v.header {
			w.Header().Set(k, val)
		}
		w.WriteHeader(v.status)
		io.WriteString(w, v.body)
	}
	b.mu.Lock()
	b.attempts[idx].status = v.status
	if v.hang {
		b.attempts[idx].status = 0
	}
	b.active--
	b.mu.Unlock()
	b.ring()
}

// snapshot returns copies of what the backend saw.
func (b *backend) snapshot() (attempts []attempt, processed []webhook.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]attempt(nil), b.attempts...), append([]webhook.Event(nil), b.processed...)
}

// waitFor waits until cond holds, re-checking whenever the backend sees
// a change; it fails the test after timeout.
func (b *backend) waitFor(timeout time.Duration, what string, cond func() bool) {
	b.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-b.bell:
		case <-deadline.C:
			b.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

func (b *backend) config(t *testing.T) webhook.Config {
	log, _ := testLogger(t)
	return webhook.Config{
		URL:            b.srv.URL + "/tether/webhook",
		Secret:         testSecret,
		Timeout:        2 * time.Second,
		InitialBackoff: time.Millisecond,
		MaxBackoff:     5 * time.Millisecond,
		Logger:         log,
		OnAttempt:      func(*webhook.Event, int, error) { b.ring() },
	}
}

func mustNew(t *testing.T, cfg webhook.Config) *webhook.Dispatcher {
	t.Helper()
	d, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ok() verdict { return verdict{status: http.StatusOK} }
