package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// A client that gives up never drops what the application handed it:
// Failed.Unsent carries every message the server did not acknowledge, in
// order, and Err says why with a sentinel.

// queueOffline cuts c off (the proxy refuses) and queues n messages.
func queueOffline(t *testing.T, ts *testServer, c *client.Client, r *rec, n int) []string {
	t.Helper()
	ts.proxy.Refuse(true)
	ts.proxy.CutAll()
	waitUntil(t, waitTimeout, "reconnecting", func() bool { return c.Status() == client.StatusReconnecting })
	var texts []string
	for i := range n {
		s := fmt.Sprintf("q%d", i)
		if err := c.Send(bg, tether.Text, []byte(s)); err != nil {
			t.Fatalf("Send while offline: %v", err)
		}
		texts = append(texts, s)
	}
	return texts
}

// failedWith waits for the Failed event and checks its error and Unsent.
func failedWith(t *testing.T, r *rec, target error, unsent []string) client.Failed {
	t.Helper()
	f := waitEvents[client.Failed](t, r, 1)[0]
	if !errors.Is(f.Err, target) {
		t.Fatalf("Failed.Err = %v, want errors.Is %v", f.Err, target)
	}
	var got []string
	for _, m := range f.Unsent {
		got = append(got, string(m.Data))
	}
	if fmt.Sprint(got) != fmt.Sprint(unsent) {
		t.Fatalf("Failed.Unsent = %q, want %q", got, unsent)
	}
	return f
}

func TestGiveUpAuthRefused(t *testing.T) {
	var refuse atomic.Bool
	ts := startServer(t, func(o *tether.Options) {
		o.Authenticate = func(*http.Request) (string, error) {
			if refuse.Load() {
				return "", errors.New("token expired")
			}
			return "u", nil
		}
	})
	r := &rec{}
	c := dial(t, ts.url(), r, nil)
	want := queueOffline(t, ts, c, r, 5)
	refuse.Store(true)
	ts.proxy.Refuse(false)
	f := failedWith(t, r, client.ErrUnauthorized, want)
	var ce *tether.CloseError
	if !errors.As(f.Err, &ce) || ce.Code != tether.CloseUnauthorized {
		t.Fatalf("Failed.Err = %v, want the 4401 close error in its chain", f.Err)
	}
	if n := c.Pending(); n != 0 {
		t.Fatalf("Pending() = %d after the messages were handed back", n)
	}
	if err := c.Send(bg, tether.Text, []byte("late")); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Send after failing: %v", err)
	}
}

func TestGiveUpMaxAttempts(t *testing.T) {
	ts := startServer(t, nil)
	r := &rec{}
	// Two refused attempts can fail within a millisecond of the cut: the
	// first reconnect attempt waits at the gate until the messages are
	// queued, or the client could give up before the test sees it
	// reconnecting.
	gate := make(chan struct{})
	var gated atomic.Bool
	c := dial(t, ts.url(), r, &client.Options{MaxAttempts: 2, HeaderFunc: func(ctx context.Context) (http.Header, error) {
		if gated.Load() {
			select {
			case <-gate:
			case <-ctx.Done():
			}
		}
		return nil, nil
	}})
	gated.Store(true)
	want := queueOffline(t, ts, c, r, 3)
	close(gate)
	failedWith(t, r, client.ErrGaveUp, want)
}

func TestGiveUpMaxElapsed(t *testing.T) {
	ts := startServer(t, nil)
	r := &rec{}
	c := dial(t, ts.url(), r, &client.Options{MaxElapsed: 300 * time.Millisecond})
	want := queueOffline(t, ts, c, r, 2)
	failedWith(t, r, client.ErrGaveUp, want)
}

// TestGiveUpKickedWithUnprocessed: messages the server never processed
// (its handler had not returned when the session was ended) are handed
// back, acknowledged ones are not.
func TestGiveUpKickedWithUnprocessed(t *testing.T) {
	release := make(chan struct{})
	ts := startServer(t, func(o *tether.Options) {
		o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error {
			if string(m.Data) == "slow" {
				<-release
			}
			return nil
		}
	})
	r := &rec{}
	c := dial(t, ts.url(), r, nil)
	if err := c.Send(bg, tether.Text, []byte("fast")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, waitTimeout, "fast acknowledged", func() bool { return c.Pending() == 0 })
	for _, s := range []string{"slow", "after1", "after2"} {
		if err := c.Send(bg, tether.Text, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, waitTimeout, "the slow handler running", func() bool { return len(ts.log.messages(c.SessionID())) == 2 })
	s := ts.session(t, c)
	go func() {
		time.Sleep(50 * time.Millisecond)
		close(release)
	}()
	if err := s.Close(bg, "bye"); err != nil {
		t.Fatal(err)
	}
	failedWith(t, r, client.ErrKicked, []string{"slow", "after1", "after2"})
}
