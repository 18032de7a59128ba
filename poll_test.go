package tether_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// TestIdleSessionsHoldNoGoroutine connects idle sessions and counts the
// server's goroutines by their stacks: on the poller path (Linux, no
// tether_portable tag) an idle session holds none; on the portable path
// each holds its reader. It then checks both paths still carry messages
// both ways on those connections.
func TestIdleSessionsHoldNoGoroutine(t *testing.T) {
	ts := startServer(t, nil)
	const n = 40
	recs := make([]*clientRec, n)
	clients := make([]*client.Client, n)
	for i := range clients {
		recs[i] = newClientRec()
		clients[i] = dial(t, ts.directURL(), recs[i], &client.Options{})
	}
	time.Sleep(200 * time.Millisecond) // the handshakes' goroutines end
	readers := serverReaders()
	t.Logf("poller path %v: %d reader goroutines for %d idle sessions", tether.PollerPath, readers, n)
	switch {
	case tether.PollerPath && readers != 0:
		t.Fatalf("%d reader goroutines for %d idle sessions on the poller path; want 0", readers, n)
	case !tether.PollerPath && readers < n:
		t.Fatalf("%d reader goroutines for %d sessions on the portable path; want one each", readers, n)
	}
	for i, c := range clients {
		if err := c.Send(bg, tether.Text, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		id := c.SessionID()
		ts.hooks.waitFor(t, "message", 5*time.Second, func() bool { return len(ts.hooks.msgs[id]) == 1 })
		if err := ts.srv.Send(bg, id, tether.Text, []byte("pong")); err != nil {
			t.Fatal(err)
		}
		recs[i].waitFor(t, "reply", 5*time.Second, func() bool { return len(recs[i].msgs) == 1 })
	}
}

// serverReaders counts goroutines reading a server connection.
func serverReaders() int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("tether.(*conn).readLoop")) {
			n++
		}
	}
	return n
}

// TestTLSConnectionsReadOnGoroutines checks that a TLS connection, which
// no poller can take over (its records are decrypted inside the
// *tls.Conn), takes the portable path on every build and still works.
func TestTLSConnectionsReadOnGoroutines(t *testing.T) {
	hooks := newHookLog()
	o := tether.Options{}
	hooks.install(&o)
	srv := tether.NewServer(&o)
	hs := httptest.NewTLSServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	})
	r := newClientRec()
	c := dial(t, "wss://"+hs.Listener.Addr().String(), r, &client.Options{TLSConfig: hs.Client().Transport.(*http.Transport).TLSClientConfig})
	time.Sleep(100 * time.Millisecond)
	if n := serverReaders(); n != 1 {
		t.Fatalf("%d reader goroutines for one TLS session; want 1 (the portable path)", n)
	}
	if err := c.Send(bg, tether.Text, []byte("over tls")); err != nil {
		t.Fatal(err)
	}
	id := c.SessionID()
	hooks.waitFor(t, "message", 5*time.Second, func() bool { return len(hooks.msgs[id]) == 1 })
	if err := srv.Send(bg, id, tether.Text, []byte("back")); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "reply", 5*time.Second, func() bool { return len(r.msgs) == 1 })
}
