package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-ws/tether/internal/webhook"
)

func TestNewValidates(t *testing.T) {
	good := webhook.Config{URL: "https://app.example/hooks/tether", Secret: []byte("s")}
	for _, tc := range []struct {
		name  string
		edit  func(*webhook.Config)
		field string
	}{
		{"no URL", func(c *webhook.Config) { c.URL = "" }, "URL"},
		{"relative URL", func(c *webhook.Config) { c.URL = "/hooks" }, "URL"},
		{"no host", func(c *webhook.Config) { c.URL = "http:///hooks" }, "URL"},
		{"ftp URL", func(c *webhook.Config) { c.URL = "ftp://app.example/x" }, "URL"},
		{"bad URL", func(c *webhook.Config) { c.URL = "http://a b/%zz" }, "URL"},
		{"no secret", func(c *webhook.Config) { c.Secret = nil }, "Secret"},
		{"negative timeout", func(c *webhook.Config) { c.Timeout = -1 }, "Timeout"},
		{"negative in flight", func(c *webhook.Config) { c.MaxInFlight = -1 }, "MaxInFlight"},
		{"negative queue", func(c *webhook.Config) { c.MaxQueue = -1 }, "MaxQueue"},
		{"negative retry time", func(c *webhook.Config) { c.MaxRetryTime = -time.Second }, "MaxRetryTime"},
		{"backoffs crossed", func(c *webhook.Config) { c.InitialBackoff, c.MaxBackoff = time.Second, time.Millisecond }, "MaxBackoff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			d, err := webhook.New(cfg)
			if err == nil {
				d.Close(context.Background())
				t.Fatalf("New accepted %+v", cfg)
			}
			if !strings.Contains(err.Error(), "Config."+tc.field) {
				t.Errorf("error %q does not name Config.%s", err, tc.field)
			}
		})
	}
	for _, u := range []string{"http://127.0.0.1:8080/hook", "https://app.example/hooks/tether?x=1"} {
		cfg := good
		cfg.URL = u
		d, err := webhook.New(cfg)
		if err != nil {
			t.Errorf("New(%q): %v", u, err)
			continue
		}
		if err := d.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}
}

// TestSignatureVector pins the worked example of examples/php/README.md,
// computed there with openssl.
func TestSignatureVector(t *testing.T) {
	body := []byte(`{"type":"open","id":"evt_1","time":"2023-11-14T22:13:20Z","session":"s_1"}`)
	const header = "t=1700000000,v1=d178abd1882e10c4327d755cec9028e547245b62e70d17c4624923f776be48b6"
	if err := verifySignature([]byte("whsec_example"), header, body, time.Unix(1700000100, 0)); err != nil {
		t.Fatal(err)
	}
	if err := verifySignature([]byte("whsec_example"), header, body, time.Unix(1700000000+301, 0)); err == nil {
		t.Fatal("a 301s old timestamp was accepted")
	}
	if err := verifySignature([]byte("whsec_other"), header, body, time.Unix(1700000000, 0)); err == nil {
		t.Fatal("the wrong secret was accepted")
	}
}

// (a) Every request is signed as documented, carries the headers, and
// its body is the Event.
func TestSignedRequests(t *testing.T) {
	b := newBackend(t, func(*webhook.Event, int) verdict { return ok() })
	d := mustNew(t, b.config(t))
	ctx := context.Background()
	at := time.Date(2025, 1, 2, 3, 4, 5, 678e6, time.UTC)
	events := []*webhook.Event{
		{Type: "open", Session: "s1", User: "alice", Meta: map[string]string{"room": "lobby"}, Time: at,
			Counts: map[string]int64{"lost_to_client": -1}, Reason: "restarted"},
		{Type: "message", Session: "s1", User: "alice", Message: &webhook.Message{Seq: 1, Type: "text", Text: "héllo \"x\"\n"}},
		{Type: "message", Session: "s1", User: "alice", Message: &webhook.Message{Seq: 2, Type: "binary", Data: []byte{0, 1, 2, 255}}},
		{Type: "disconnect", Session: "s1", Cause: "network-lost", Error: "EOF"},
		{Type: "resume", Session: "s1", Counts: map[string]int64{"replayed_to_client": 3, "replayed_from_client": 1}},
		{Type: "close", Session: "s1", Cause: "client-closed", Counts: map[string]int64{"unacked": 2}},
	}
	for _, ev := range events {
		if _, err := d.Deliver(ctx, ev); err != nil {
			t.Fatalf("Deliver %s: %v", ev.Type, err)
		}
		if ev.ID == "" || ev.Time.IsZero() {
			t.Errorf("Deliver left ID %q, Time %v empty", ev.ID, ev.Time)
		}
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	attempts, got := b.snapshot()
	if len(attempts) != len(events) {
		t.Fatalf("%d requests, want %d", len(attempts), len(events))
	}
	for i, ev := range events {
		if !reflect.DeepEqual(got[i], *ev) {
			t.Errorf("event %d: backend got\n%+v\nwant\n%+v", i, got[i], *ev)
		}
	}
	if !got[0].Time.Equal(at) {
		t.Errorf("time %v, want %v", got[0].Time, at)
	}
	ids := map[string]bool{}
	for _, e := range got {
		ids[e.ID] = true
	}
	if len(ids) != len(events) {
		t.Errorf("%d distinct IDs for %d events", len(ids), len(events))
	}
	if s := d.Stats(); s.Delivered != uint64(len(events)) || s.Failures != 0 || s.Retries != 0 || s.Queued != 0 {
		t.Errorf("stats %+v", s)
	}

	// The same backend refuses a dispatcher with another secret: the
	// verification above is not vacuous.
	cfg := b.config(t)
	cfg.Secret = []byte("not the secret")
	d2 := mustNew(t, cfg)
	_, err := d2.Deliver(ctx, &webhook.Event{Type: "open", Session: "s2"})
	if !errors.Is(err, webhook.ErrRejected) || !strings.Contains(err.Error(), "401") {
		t.Errorf("Deliver with the wrong secret: %v, want ErrRejected 401", err)
	}
	if err := d2.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// (b) An event that fails with a 500, then a timeout, then a 429 with
// Retry-After is delivered once, every attempt carrying the same key and
// body, and the Retry-After delay is honoured.
func TestRetriesUntilAccepted(t *testing.T) {
	for _, mode := range []string{"Deliver", "Notify"} {
		t.Run(mode, func(t *testing.T) {
			b := newBackend(t, func(ev *webhook.Event, n int) verdict {
				switch n {
				case 1:
					return verdict{status: 500, body: "oops"}
				case 2:
					return verdict{hang: true}
				case 3:
					return verdict{status: 429, header: map[string]string{"Retry-After": "1"}}
				}
				return verdict{status: 204}
			})
			cfg := b.config(t)
			cfg.Timeout = 200 * time.Millisecond
			cfg.MaxBackoff = 3 * time.Second // above Retry-After: the header must be obeyed
			var mu sync.Mutex
			var statuses []int
			var errs []error
			cfg.OnAttempt = func(ev *webhook.Event, status int, err error) {
				mu.Lock()
				defer mu.Unlock()
				statuses = append(statuses, status)
				errs = append(errs, err)
			}
			d := mustNew(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ev := &webhook.Event{Type: "message", Session: "s1", Message: &webhook.Message{Seq: 1, Type: "text", Text: "hi"}}
			if mode == "Deliver" {
				if _, err := d.Deliver(ctx, ev); err != nil {
					t.Fatal(err)
				}
			} else {
				d.Notify(ev)
			}
			if err := d.Close(ctx); err != nil {
				t.Fatal(err)
			}
			attempts, processed := b.snapshot()
			if len(attempts) != 4 {
				t.Fatalf("%d attempts, want 4", len(attempts))
			}
			for i, a := range attempts {
				if a.key != ev.ID || !bytes.Equal(a.body, attempts[0].body) {
					t.Errorf("attempt %d: key %q body %s; first: key %q body %s", i, a.key, a.body, ev.ID, attempts[0].body)
				}
			}
			if len(processed) != 1 || processed[0].ID != ev.ID {
				t.Errorf("processed %+v, want the event once", processed)
			}
			if gap := attempts[3].at.Sub(attempts[2].at); gap < 950*time.Millisecond {
				t.Errorf("retried %v after a 429 with Retry-After: 1", gap)
			}
			if s := d.Stats(); s.Delivered != 1 || s.Retries != 3 || s.Failures != 0 {
				t.Errorf("stats %+v", s)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(statuses, []int{500, 0, 429, 204}) {
				t.Errorf("OnAttempt statuses %v, want [500 0 429 204]", statuses)
			}
			if errs[0] == nil || errs[1] == nil || errs[2] == nil || errs[3] != nil {
				t.Errorf("OnAttempt errors %v", errs)
			}
		})
	}
}

// A Retry-After beyond MaxBackoff is capped.
func TestRetryAfterCapped(t *testing.T) {
	b := newBackend(t, func(ev *webhook.Event, n int) verdict {
		if n == 1 {
			return verdict{status: 503, header: map[string]string{"Retry-After": "3600"}}
		}
		return ok()
	})
	cfg := b.config(t)
	cfg.MaxBackoff = 20 * time.Millisecond
	d := mustNew(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := d.Deliver(ctx, &webhook.Event{Type: "open", Session: "s"}); err != nil {
		t.Fatalf("Deliver after a Retry-After of an hour, MaxBackoff 20ms: %v", err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// Which statuses are retried and which are a permanent refusal.
func TestStatusClasses(t *testing.T) {
	for _, tc := range []struct {
		status int
		retry  bool
	}{
		{408, true}, {429, true}, {500, true}, {502, true}, {503, true}, {504, true},
		{400, false}, {401, false}, {403, false}, {404, false}, {409, false}, {410, false}, {422, false}, {302, false},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			b := newBackend(t, func(ev *webhook.Event, n int) verdict {
				if n == 1 {
					return verdict{status: tc.status, header: map[string]string{"Location": "/elsewhere"}}
				}
				return ok()
			})
			d := mustNew(t, b.config(t))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := d.Deliver(ctx, &webhook.Event{Type: "open", Session: "s"})
			if tc.retry && err != nil {
				t.Errorf("Deliver: %v, want success after a retry", err)
			}
			if !tc.retry && !errors.Is(err, webhook.ErrRejected) {
				t.Errorf("Deliver: %v, want ErrRejected", err)
			}
			if err := d.Close(ctx); err != nil {
				t.Fatal(err)
			}
			attempts, _ := b.snapshot()
			want := 1
			if tc.retry {
				want = 2
			}
			if len(attempts) != want {
				t.Errorf("%d attempts, want %d", len(attempts), want)
			}
		})
	}
}

// (c) 20 sessions × 50 events, with random failures (some after the
// backend took the event in, so the answer is lost), reach the backend in
// order per session; a session whose events always fail holds back none
// of the others.
func TestOrderPerSessionAndNoCrossBlocking(t *testing.T) {
	const sessions, perSession = 20, 50
	var stuckAttempts atomic.Int64
	b := newBackend(t, func(ev *webhook.Event, n int) verdict {
		if ev.Session == "stuck" {
			stuckAttempts.Add(1)
			return verdict{status: 503, body: "down for maintenance"}
		}
		switch r := rand.Float64(); {
		case r < 0.2:
			return verdict{status: 500}
		case r < 0.3:
			return verdict{status: 502, process: true} // taken in, answer lost
		case r < 0.35:
			return verdict{status: 429}
		}
		return ok()
	})
	cfg := b.config(t)
	cfg.MaxInFlight = 4
	d := mustNew(t, cfg)

	// The stuck session's events are queued first.
	for i := range 5 {
		d.Notify(&webhook.Event{Type: "message", Session: "stuck", Message: &webhook.Message{Seq: uint64(i + 1), Type: "text", Text: "x"}})
	}
	var wg sync.WaitGroup
	for s := range sessions {
		wg.Go(func() {
			for i := range perSession {
				d.Notify(&webhook.Event{
					Type: "message", Session: fmt.Sprintf("s%02d", s),
					Message: &webhook.Message{Seq: uint64(i + 1), Type: "text", Text: fmt.Sprint(i + 1)},
				})
			}
		})
	}
	wg.Wait()
	// The stuck session's attempts ring the bell all along.
	b.waitFor(20*time.Second, "every event of the healthy sessions", func() bool {
		s := d.Stats()
		return s.Delivered == sessions*perSession && s.Queued == 5
	})
	// The stuck session was failing all along, and still is.
	if n := stuckAttempts.Load(); n < 2 {
		t.Errorf("the stuck session was attempted %d times", n)
	}
	if s := d.Stats(); s.Queued != 5 || s.Delivered != sessions*perSession {
		t.Errorf("stats %+v: want the 5 stuck events queued, %d delivered", s, sessions*perSession)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := d.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with the stuck session: %v, want DeadlineExceeded", err)
	}
	if s := d.Stats(); s.Failures != 5 || s.Queued != 0 {
		t.Errorf("stats after Close %+v: want the 5 stuck events given up", s)
	}
	// Close names exactly what it gave up: the stuck session's 5 events.
	var ce *webhook.CloseError
	if !errors.As(err, &ce) || len(ce.Lost) != 5 {
		t.Fatalf("Close: %#v, want a CloseError naming the 5 stuck events", err)
	}
	for _, l := range ce.Lost {
		if l.Session != "stuck" || l.Type != "message" || l.ID == "" {
			t.Errorf("given up: %+v, want a message of session stuck", l)
		}
	}

	attempts, processed := b.snapshot()
	seqs := map[string][]uint64{}
	for _, ev := range processed {
		seqs[ev.Session] = append(seqs[ev.Session], ev.Message.Seq)
	}
	for s := range sessions {
		got := seqs[fmt.Sprintf("s%02d", s)]
		if len(got) != perSession {
			t.Errorf("session s%02d: %d events, want %d", s, len(got), perSession)
			continue
		}
		for i, q := range got {
			if q != uint64(i+1) {
				t.Errorf("session s%02d: order %v", s, got)
				break
			}
		}
	}
	if _, ok := seqs["stuck"]; ok {
		t.Error("the stuck session's events were taken in")
	}
	retried := 0
	for _, a := range attempts {
		if a.status != 200 && a.session != "stuck" {
			retried++
		}
	}
	if retried == 0 {
		t.Error("no healthy request failed: the test did not exercise retries")
	}
}

// (d) MaxInFlight bounds concurrent requests over all sessions.
func TestMaxInFlight(t *testing.T) {
	const limit = 3
	var d *webhook.Dispatcher
	var overStats atomic.Int64
	b := newBackend(t, func(ev *webhook.Event, n int) verdict {
		if s := d.Stats(); s.InFlight > limit {
			overStats.Store(int64(s.InFlight))
		}
		time.Sleep(2 * time.Millisecond) // the backend's work: gives requests time to overlap
		if n == 1 && rand.IntN(4) == 0 {
			return verdict{status: 500}
		}
		return ok()
	})
	cfg := b.config(t)
	cfg.MaxInFlight = limit
	d = mustNew(t, cfg)
	for s := range 30 {
		for i := range 4 {
			d.Notify(&webhook.Event{Type: "message", Session: fmt.Sprint(s), Message: &webhook.Message{Seq: uint64(i + 1), Type: "text"}})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	maxActive := b.maxActive
	b.mu.Unlock()
	if maxActive > limit {
		t.Errorf("%d requests in flight at once, limit %d", maxActive, limit)
	}
	if maxActive < limit {
		t.Errorf("at most %d requests at once: the test did not reach the limit %d", maxActive, limit)
	}
	if n := overStats.Load(); n != 0 {
		t.Errorf("Stats.InFlight reached %d", n)
	}
	if s := d.Stats(); s.Delivered != 120 || s.InFlight != 0 {
		t.Errorf("stats %+v", s)
	}
}

// (e) A 400 is a permanent refusal: Deliver returns ErrRejected with the
// status and body, Notify counts a failure; neither retries.
func TestRejected(t *testing.T) {
	b := newBackend(t, func(ev *webhook.Event, n int) verdict {
		return verdict{status: 400, body: `{"error":"unknown session kind"}`}
	})
	cfg := b.config(t)
	log, logs := testLogger(t)
	cfg.Logger = log
	d := mustNew(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	_, err := d.Deliver(ctx, &webhook.Event{Type: "open", Session: "a"})
	if !errors.Is(err, webhook.ErrRejected) {
		t.Fatalf("Deliver: %v, want ErrRejected", err)
	}
	if !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "unknown session kind") {
		t.Errorf("error %q lacks the status or the body", err)
	}
	d.Notify(&webhook.Event{Type: "close", Session: "b"})
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	attempts, _ := b.snapshot()
	if len(attempts) != 2 {
		t.Errorf("%d attempts for 2 rejected events: retried", len(attempts))
	}
	if s := d.Stats(); s.Failures != 2 || s.Retries != 0 || s.Delivered != 0 {
		t.Errorf("stats %+v", s)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "rejected") {
		t.Errorf("rejection not logged as an error:\n%s", logs)
	}
}

// (f) Deliver returns the Reply in a 2xx body.
func TestReply(t *testing.T) {
	bodies := map[string]string{
		"reply":   `{"messages":[{"seq":9,"type":"text","text":"hi"},{"type":"binary","data":"AAEC"},{"type":"bogus","text":"dropped"}]}`,
		"empty":   ``,
		"garbage": `OK`,
	}
	b := newBackend(t, func(ev *webhook.Event, n int) verdict {
		return verdict{status: 200, body: bodies[ev.Message.Text]}
	})
	d := mustNew(t, b.config(t))
	ctx := context.Background()
	deliver := func(kind string) *webhook.Reply {
		t.Helper()
		r, err := d.Deliver(ctx, &webhook.Event{Type: "message", Session: "s", Message: &webhook.Message{Seq: 1, Type: "text", Text: kind}})
		if err != nil {
			t.Fatalf("Deliver %s: %v", kind, err)
		}
		if r == nil {
			t.Fatalf("Deliver %s: nil Reply", kind)
		}
		return r
	}
	want := []webhook.Message{{Type: "text", Text: "hi"}, {Type: "binary", Data: []byte{0, 1, 2}}}
	if r := deliver("reply"); !reflect.DeepEqual(r.Messages, want) {
		t.Errorf("reply %+v, want %+v", r.Messages, want)
	}
	for _, kind := range []string{"empty", "garbage"} {
		if r := deliver(kind); len(r.Messages) != 0 {
			t.Errorf("%s body: reply %+v, want none", kind, r.Messages)
		}
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The Reply JSON documented for backends decodes as a Reply.
	var r webhook.Reply
	if err := json.Unmarshal([]byte(bodies["reply"]), &r); err != nil || len(r.Messages) != 3 {
		t.Errorf("Reply JSON: %v %+v", err, r)
	}
}

// TestReplyBody: the body of the answer to an awaited event that is not
// a message is handed to the caller, as it is.
func TestReplyBody(t *testing.T) {
	b := newBackend(t, func(ev *webhook.Event, n int) verdict {
		return verdict{status: 200, body: `{"readmit":` + *ev.Room + `}`}
	})
	d := mustNew(t, b.config(t))
	ctx := context.Background()
	for _, v := range []string{"true", "false"} {
		r, err := d.Deliver(ctx, &webhook.Event{Type: "readmit", Session: "s", Room: &v})
		if err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		if got := string(r.Body); got != `{"readmit":`+v+`}` || len(r.Messages) != 0 {
			t.Errorf("reply %q %+v", got, r.Messages)
		}
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// (g) A notified event is given up after MaxRetryTime, with an error
// logged and a failure counted.
func TestMaxRetryTime(t *testing.T) {
	b := newBackend(t, func(ev *webhook.Event, n int) verdict { return verdict{status: 500} })
	cfg := b.config(t)
	log, logs := testLogger(t)
	cfg.Logger = log
	cfg.MaxRetryTime = 150 * time.Millisecond
	cfg.MaxBackoff = 20 * time.Millisecond
	d := mustNew(t, cfg)
	start := time.Now()
	d.Notify(&webhook.Event{Type: "open", Session: "s"})
	d.Notify(&webhook.Event{Type: "close", Session: "s"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil { // returns once both are given up
		t.Fatalf("Close: %v", err)
	}
	elapsed := time.Since(start)
	if elapsed < 300*time.Millisecond {
		t.Errorf("both events given up after %v; MaxRetryTime is 150ms each", elapsed)
	}
	s := d.Stats()
	if s.Failures != 2 || s.Delivered != 0 || s.Retries < 4 {
		t.Errorf("stats %+v", s)
	}
	if n := strings.Count(logs.String(), "given up"); n != 2 || !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("%d give-ups logged, want 2 errors:\n%s", n, logs)
	}
}

// (h) Close delivers what is queued, then refuses new events; nothing is
// left running.
func TestCloseDrains(t *testing.T) {
	b := newBackend(t, func(ev *webhook.Event, n int) verdict {
		time.Sleep(time.Millisecond) // a slow backend: Close has something to wait for
		if n == 1 && rand.IntN(3) == 0 {
			return verdict{status: 503}
		}
		return ok()
	})
	cfg := b.config(t)
	log, logs := testLogger(t)
	cfg.Logger = log
	d := mustNew(t, cfg)
	for s := range 5 {
		for i := range 10 {
			d.Notify(&webhook.Event{Type: "message", Session: fmt.Sprint(s), Message: &webhook.Message{Seq: uint64(i + 1), Type: "text"}})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, p := b.snapshot(); len(p) != 50 {
		t.Errorf("%d events delivered by Close, want 50", len(p))
	}
	if s := d.Stats(); s.Delivered != 50 || s.Queued != 0 || s.Failures != 0 {
		t.Errorf("stats %+v", s)
	}

	d.Notify(&webhook.Event{Type: "open", Session: "late"})
	if s := d.Stats(); s.Failures != 1 || s.Queued != 0 {
		t.Errorf("Notify after Close: stats %+v, want one failure", s)
	}
	if !strings.Contains(logs.String(), "dispatcher closed") {
		t.Errorf("Notify after Close not logged:\n%s", logs)
	}
	if _, err := d.Deliver(ctx, &webhook.Event{Type: "open", Session: "late"}); !errors.Is(err, webhook.ErrClosed) {
		t.Errorf("Deliver after Close: %v, want ErrClosed", err)
	}
	// A second Close names the event notified after the first.
	var ce *webhook.CloseError
	if err := d.Close(ctx); !errors.As(err, &ce) || !errors.Is(err, webhook.ErrClosed) || len(ce.Lost) != 1 || ce.Lost[0].Session != "late" || ce.Lost[0].Type != "open" {
		t.Errorf("second Close: %v, want the late event named", err)
	}
	b.srv.Close()
	goleak.VerifyNone(t)
}

// Close bounded by its ctx: a backend that never answers does not keep
// it, or any goroutine, waiting.
func TestCloseBounded(t *testing.T) {
	b := newBackend(t, func(ev *webhook.Event, n int) verdict { return verdict{hang: true} })
	cfg := b.config(t)
	cfg.Timeout = time.Minute
	d := mustNew(t, cfg)
	d.Notify(&webhook.Event{Type: "open", Session: "a"})
	errc := make(chan error, 1)
	go func() {
		_, err := d.Deliver(context.Background(), &webhook.Event{Type: "open", Session: "b"})
		errc <- err
	}()
	b.waitFor(5*time.Second, "both requests", func() bool {
		a, _ := b.snapshot()
		return len(a) == 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want DeadlineExceeded", err)
	}
	if err := <-errc; !errors.Is(err, webhook.ErrClosed) {
		t.Errorf("Deliver cut by Close: %v, want ErrClosed", err)
	}
	if s := d.Stats(); s.Failures != 2 || s.Queued != 0 || s.InFlight != 0 {
		t.Errorf("stats %+v", s)
	}
	b.srv.Close()
	goleak.VerifyNone(t)
}

// Deliver's ctx bounds its retries; the event is not attempted after.
func TestDeliverContext(t *testing.T) {
	b := newBackend(t, func(ev *webhook.Event, n int) verdict { return verdict{status: 500} })
	d := mustNew(t, b.config(t))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := d.Deliver(ctx, &webhook.Event{Type: "message", Session: "s"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Deliver: %v, want DeadlineExceeded", err)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a, _ := b.snapshot(); len(a) < 2 {
		t.Errorf("%d attempts within 100ms at 1-5ms backoff: not retried", len(a))
	}
	if s := d.Stats(); s.Failures != 1 {
		t.Errorf("stats %+v", s)
	}
}

// A full session queue: Notify drops the oldest waiting non-message
// event; Deliver waits for room.
func TestQueueFull(t *testing.T) {
	release := make(chan struct{})
	b := newBackend(t, func(ev *webhook.Event, n int) verdict {
		if ev.Type == "open" {
			<-release
		}
		return ok()
	})
	cfg := b.config(t)
	cfg.MaxQueue = 3
	d := mustNew(t, cfg)
	d.Notify(&webhook.Event{Type: "open", Session: "s"}) // in flight, blocked
	b.waitFor(5*time.Second, "the first request", func() bool {
		a, _ := b.snapshot()
		return len(a) == 1
	})
	msg := func(seq uint64) *webhook.Event {
		return &webhook.Event{Type: "message", Session: "s", Message: &webhook.Message{Seq: seq, Type: "text"}}
	}
	d.Notify(msg(1))
	d.Notify(&webhook.Event{Type: "disconnect", Session: "s"})
	d.Notify(msg(2)) // full: the disconnect goes
	if s := d.Stats(); s.Queued != 3 || s.Failures != 1 {
		t.Errorf("stats %+v, want 3 queued and the disconnect dropped", s)
	}
	d.Notify(msg(3)) // full of messages: the new event goes
	if s := d.Stats(); s.Queued != 3 || s.Failures != 2 {
		t.Errorf("stats %+v, want 3 queued and message 3 dropped", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	_, err := d.Deliver(ctx, msg(4))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Deliver into a full queue: %v, want to wait until its ctx ends", err)
	}
	if s := d.Stats(); s.Queued != 3 {
		t.Errorf("stats %+v after a Deliver waited for room: want 3 queued, it never got in", s)
	}
	done := make(chan error, 1)
	go func() {
		_, err := d.Deliver(context.Background(), msg(5))
		done <- err
	}()
	close(release)
	if err := <-done; err != nil {
		t.Errorf("Deliver once there is room: %v", err)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, p := b.snapshot()
	var got []string
	for _, ev := range p {
		s := ev.Type
		if ev.Message != nil {
			s += fmt.Sprint(ev.Message.Seq)
		}
		got = append(got, s)
	}
	if want := []string{"open", "message1", "message2", "message5"}; !slices.Equal(got, want) {
		t.Errorf("backend got %v, want %v", got, want)
	}
	if s := d.Stats(); s.Failures != 3 || s.Delivered != 4 {
		t.Errorf("stats %+v", s)
	}
}
