package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Idle sessions hold neither a queue nor a goroutine.
func TestIdleSessionsFreed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	d, err := New(Config{URL: srv.URL, Secret: []byte("k"), MaxInFlight: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	const sessions = 200
	for s := range sessions {
		for range 3 {
			d.Notify(&Event{Type: "open", Session: fmt.Sprint(s)})
		}
	}
	d.mu.Lock()
	n := len(d.sessions)
	d.mu.Unlock()
	if n == 0 {
		t.Fatal("no session queue right after Notify: the test proves nothing")
	}
	d.wg.Wait() // every session goroutine has exited
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.sessions) != 0 || d.queued != 0 {
		t.Errorf("%d session queues and %d events left after delivery", len(d.sessions), d.queued)
	}
	if got := d.delivered.Load(); got != 3*sessions {
		t.Errorf("%d delivered, want %d", got, 3*sessions)
	}
}

func TestBackoffBounds(t *testing.T) {
	d := &Dispatcher{initBackoff: 100 * time.Millisecond, maxBackoff: 10 * time.Second}
	for attempt, ceil := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		7: 6400 * time.Millisecond, 8: 10 * time.Second, 100: 10 * time.Second, 1 << 30: 10 * time.Second,
	} {
		var top time.Duration
		for range 2000 {
			b := d.backoff(attempt)
			if b < 0 || b > ceil {
				t.Fatalf("backoff(%d) = %v, outside [0, %v]", attempt, b, ceil)
			}
			top = max(top, b)
		}
		if top < ceil/2 { // full jitter spans the whole range
			t.Errorf("backoff(%d) never above %v in 2000 draws; ceiling %v", attempt, top, ceil)
		}
	}
}

func TestRetryAfterParsing(t *testing.T) {
	d := &Dispatcher{maxBackoff: 10 * time.Second}
	for h, want := range map[string]time.Duration{
		"":                     0,
		"0":                    0,
		"-3":                   0,
		"2":                    2 * time.Second,
		" 3 ":                  3 * time.Second,
		"3600":                 10 * time.Second,
		"99999999999999999999": 0, // unparseable: ignored
		"soon":                 0,
		time.Now().Add(time.Hour).UTC().Format(http.TimeFormat): 10 * time.Second,
		"Mon, 01 Jan 2001 00:00:00 GMT":                         0,
	} {
		if got := d.retryAfter(h); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", h, got, want)
		}
	}
}
