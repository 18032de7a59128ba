package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// TestHeaderFunc: a fresh token on every connection attempt, so a client
// whose token expires can still resume.
func TestHeaderFunc(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	ts := startServer(t, func(o *tether.Options) {
		o.Authenticate = func(r *http.Request) (string, error) {
			tok := r.Header.Get("X-Token")
			mu.Lock()
			seen = append(seen, tok)
			mu.Unlock()
			if tok == "" || r.Header.Get("X-Static") != "yes" {
				return "", errors.New("no token")
			}
			return "ann", nil
		}
	})
	var n atomic.Int32
	r := &rec{}
	c := dial(t, ts.url(), r, &client.Options{
		Header: http.Header{"X-Static": {"yes"}},
		HeaderFunc: func(ctx context.Context) (http.Header, error) {
			return http.Header{"X-Token": {fmt.Sprintf("t%d", n.Add(1))}}, nil
		},
	})
	c.ForceReconnect()
	waitEvents[client.Resumed](t, r, 1)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 2 || seen[0] != "t1" || seen[len(seen)-1] == "t1" {
		t.Fatalf("tokens seen by the server: %v; want a new one on each attempt", seen)
	}
}
