package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// slow is a backoff under which any retry would show in the timing.
var slow = client.Options{InitialDelay: time.Second, MaxDelay: time.Second}

// dialErr dials url with o under a ctx of timeout and returns how long
// it took and the error; a Dial that succeeds fails the test.
func dialErr(t *testing.T, timeout time.Duration, url string, o client.Options) (time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, timeout)
	defer cancel()
	start := time.Now()
	c, err := client.Dial(ctx, url, (&rec{}).options(&o))
	took := time.Since(start)
	if err == nil {
		closeClient(t, c)
		t.Fatalf("Dial %s succeeded", url)
	}
	if c != nil {
		t.Fatal("Dial returned a client with its error")
	}
	return took, err
}

// TestDialRefusedByAuthenticate: a 44xx refusal is final; Dial returns it
// at once with the server's reason, without retrying.
func TestDialRefusedByAuthenticate(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code tether.CloseCode
	}{
		{errors.New("bad token"), tether.CloseUnauthorized},
		{tether.ErrForbidden, tether.CloseForbidden},
	} {
		t.Run(tc.code.String(), func(t *testing.T) {
			var calls atomic.Int32
			ts := startServer(t, func(o *tether.Options) {
				o.Authenticate = func(r *http.Request) (string, error) {
					calls.Add(1)
					return "", tc.err
				}
			})
			took, err := dialErr(t, waitTimeout, ts.directURL(), slow)
			if took > 2*time.Second {
				t.Fatalf("Dial took %v: it retried a refusal", took)
			}
			if !strings.Contains(err.Error(), tc.err.Error()) || tether.CloseStatus(err) != tc.code {
				t.Fatalf("Dial error = %v, want close %d with reason %q", err, tc.code, tc.err)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Dial error = %v: it waited for ctx", err)
			}
			if n := calls.Load(); n != 1 {
				t.Fatalf("Authenticate ran %d times, want once", n)
			}
		})
	}
}

// TestDialHTTPError: an HTTP 4xx answer to the upgrade is final.
func TestDialHTTPError(t *testing.T) {
	var hits atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.NotFound(w, r)
	}))
	defer hs.Close()
	took, err := dialErr(t, waitTimeout, wsURL(hs.URL)+"/nowhere", slow)
	if took > 2*time.Second || hits.Load() != 1 {
		t.Fatalf("Dial took %v and %d requests: it retried a 404", took, hits.Load())
	}
	if !strings.Contains(err.Error(), "404") {
		t.Fatalf("Dial error = %v, want it to mention HTTP 404", err)
	}
}

// TestDialContextDeadline: against a closed port Dial retries until ctx
// ends, then returns ctx's error.
func TestDialContextDeadline(t *testing.T) {
	addr := freeAddr(t)
	var dc dialCounter
	took, err := dialErr(t, 300*time.Millisecond, "ws://"+addr, client.Options{NetDial: dc.dial, InitialDelay: 20 * time.Millisecond, MaxDelay: 100 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial error = %v, want DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Fatalf("Dial error = %v, want it to name the address", err)
	}
	if took < 250*time.Millisecond || took > 3*time.Second {
		t.Fatalf("Dial took %v with a 300ms ctx", took)
	}
	if dc.n.Load() < 2 {
		t.Fatalf("%d connection attempts in 300ms: no retry", dc.n.Load())
	}
}

// TestContextDuringHandshake: a server that accepts the upgrade but never
// answers the Hello must hold neither Dial past its ctx nor Close past
// its ctx.
func TestContextDuringHandshake(t *testing.T) {
	never := func(int) bool { return true }
	t.Run("Dial", func(t *testing.T) {
		rs := startRawServer(t, rawOptions{silent: never})
		took, err := dialErr(t, 300*time.Millisecond, rs.url(), client.Options{DialTimeout: 5 * time.Second})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial error = %v, want DeadlineExceeded", err)
		}
		if took > 2*time.Second {
			t.Fatalf("Dial with a 300ms ctx took %v", took)
		}
	})
	t.Run("Close", func(t *testing.T) {
		// The first connection breaks the protocol; the reconnect hangs.
		rs := startRawServer(t, rawOptions{
			silent: func(n int) bool { return n > 1 },
			after:  func(int) [][]byte { return [][]byte{{0x7f}} },
		})
		r := &rec{}
		c := dial(t, rs.url(), r, &client.Options{DialTimeout: 5 * time.Second})
		waitUntil(t, waitTimeout, "the reconnect's Hello", func() bool { return rs.conns.Load() >= 2 })
		ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := c.Close(ctx); err != nil {
			t.Fatalf("Close = %v, want nil (nothing was pending)", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("Close with a 300ms ctx took %v", took)
		}
	})
}
