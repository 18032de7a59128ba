package client_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// TestCallbacksSerialInOrder: messages and events reach the application
// one at a time, in order, across reconnects, and a callback may Send.
func TestCallbacksSerialInOrder(t *testing.T) {
	ts := startServer(t, nil)
	var (
		cur      atomic.Pointer[client.Client]
		inflight atomic.Int32
		overlaps atomic.Int32
		sendErrs atomic.Int32
	)
	enter := func() {
		if inflight.Add(1) != 1 {
			overlaps.Add(1)
		}
		runtime.Gosched() // widen the window for a second callback
	}
	leave := func() { inflight.Add(-1) }
	send := func(p []byte) {
		if c := cur.Load(); c != nil {
			if err := c.Send(context.Background(), tether.Text, p); err != nil {
				sendErrs.Add(1)
			}
		}
	}
	r := &rec{}
	o := &client.Options{
		OnMessage: func(m tether.Message) {
			enter()
			defer leave()
			send(append([]byte("echo-"), m.Data...))
		},
		OnEvent: func(e client.Event) {
			enter()
			defer leave()
			if _, ok := e.(client.Resumed); ok {
				send([]byte("resumed"))
			}
		},
	}
	c := dial(t, ts.url(), r, o)
	cur.Store(c)
	id := c.SessionID()
	s := ts.session(t, c)

	const n = 300
	for i := 1; i <= n; i++ {
		if err := s.Send(bg, tether.Text, fmt.Appendf(nil, "s%d", i)); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			c.ForceReconnect()
		}
	}
	waitUntil(t, waitTimeout, fmt.Sprintf("%d messages", n), func() bool { return len(r.messages()) >= n })
	// Every echo, and a marker per resume, reaches the server.
	count := func() (echo, markers int) {
		for _, p := range ts.log.texts(id) {
			if p == "resumed" {
				markers++
			} else {
				echo++
			}
		}
		return
	}
	// The client may have read every message before a forced reconnect
	// took effect: its echoes can all reach the server before the
	// Resumed event is dispatched, after those messages.
	waitUntil(t, waitTimeout, "a resume", func() bool { return len(eventsOf[client.Resumed](r)) > 0 })
	waitUntil(t, waitTimeout, "every echo at the server", func() bool {
		echo, markers := count()
		return echo == n && markers == len(eventsOf[client.Resumed](r))
	})
	if k := overlaps.Load(); k != 0 {
		t.Fatalf("%d callbacks ran concurrently with another", k)
	}
	if k := sendErrs.Load(); k != 0 {
		t.Fatalf("%d Sends from callbacks failed", k)
	}
	for i, m := range r.messages() {
		if m.Seq != uint64(i+1) || string(m.Data) != fmt.Sprintf("s%d", i+1) {
			t.Fatalf("client message %d: seq %d %q", i, m.Seq, m.Data)
		}
	}
	if got := len(r.messages()); got != n {
		t.Fatalf("client got %d messages, want %d", got, n)
	}
	echo := 0
	for _, p := range ts.log.texts(id) {
		if p == "resumed" {
			continue
		}
		echo++
		if want := fmt.Sprintf("echo-s%d", echo); p != want {
			t.Fatalf("server echo %d = %q, want %q", echo, p, want)
		}
	}
	// Events came in a sensible order: each Disconnected is followed by
	// a Resumed before the next Disconnected.
	var seq []string
	for _, k := range kinds(r.allEvents()) {
		if k == "Disconnected" || k == "Resumed" {
			seq = append(seq, k)
		}
	}
	if s := strings.Join(seq, ","); strings.Contains(s, "Disconnected,Disconnected") || strings.Contains(s, "Resumed,Resumed") {
		t.Fatalf("events out of order: %s", describe(r.allEvents()))
	}
}

// TestCloseFromCallback: a callback may Close the client without deadlock.
func TestCloseFromCallback(t *testing.T) {
	ts := startServer(t, nil)
	var cur atomic.Pointer[client.Client]
	closed := make(chan error, 1)
	r := &rec{}
	c := dial(t, ts.url(), r, &client.Options{OnMessage: func(m tether.Message) {
		c := cur.Load()
		if err := c.Send(context.Background(), tether.Text, []byte("last words")); err != nil {
			closed <- err
			return
		}
		closed <- c.Close(context.Background())
	}})
	cur.Store(c)
	id := c.SessionID()
	if err := ts.session(t, c).Send(bg, tether.Text, []byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, closed, waitTimeout, "Close in OnMessage"); err != nil {
		t.Fatalf("Close in OnMessage = %v", err)
	}
	recv(t, c.Done(), waitTimeout, "Done")
	if got := ts.log.texts(id); len(got) != 1 || got[0] != "last words" {
		t.Fatalf("server got %q", got)
	}
}
