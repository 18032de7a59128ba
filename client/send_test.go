package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// disconnect cuts c off and keeps it off until the returned func runs.
func disconnect(t *testing.T, ts *testServer, r *rec) (reconnect func()) {
	t.Helper()
	n := len(eventsOf[client.Disconnected](r))
	ts.proxy.Refuse(true)
	ts.proxy.CutAll()
	waitEvents[client.Disconnected](t, r, n+1)
	return func() { ts.proxy.Refuse(false) }
}

// TestSendWhileDisconnected: messages sent offline are queued and
// delivered exactly once, in order, after the resume.
func TestSendWhileDisconnected(t *testing.T) {
	ts := startServer(t, nil)
	r := &rec{}
	c := dial(t, ts.url(), r, nil)
	id := c.SessionID()
	reconnect := disconnect(t, ts, r)
	const n = 5
	for i := 1; i <= n; i++ {
		if err := c.Send(bg, tether.Text, fmt.Appendf(nil, "offline%d", i)); err != nil {
			t.Fatalf("send %d while disconnected: %v", i, err)
		}
	}
	if p := c.Pending(); p != n {
		t.Fatalf("pending = %d, want %d", p, n)
	}
	reconnect()
	rs := waitEvents[client.Resumed](t, r, 1)
	if rs[0].SessionID != id || rs[0].FromClient != n {
		t.Fatalf("resumed = %+v, want %d messages from the client", rs[0], n)
	}
	waitUntil(t, waitTimeout, "outbox acknowledged", func() bool { return c.Pending() == 0 })

	// Reconnect again: nothing may be delivered twice.
	c.ForceReconnect()
	waitEvents[client.Resumed](t, r, 2)
	if err := c.Send(bg, tether.Text, []byte("end")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, waitTimeout, "the end marker", func() bool {
		got := ts.log.texts(id)
		return len(got) > 0 && got[len(got)-1] == "end"
	})
	want := []string{"offline1", "offline2", "offline3", "offline4", "offline5", "end"}
	if got := ts.log.texts(id); !reflect.DeepEqual(got, want) {
		t.Fatalf("server got %q, want %q", got, want)
	}
	for i, m := range ts.log.messages(id) {
		if m.Seq != uint64(i+1) || m.Type != tether.Text {
			t.Fatalf("server message %d: seq %d type %v", i, m.Seq, m.Type)
		}
	}
}

// TestOutboxFullWhileDisconnected: with nowhere to drain, a full outbox
// fails Send at once with ErrOutboxFull; the queued messages survive.
func TestOutboxFullWhileDisconnected(t *testing.T) {
	ts := startServer(t, nil)
	r := &rec{}
	c := dial(t, ts.url(), r, &client.Options{MaxOutbox: 3, MaxOutboxBytes: 1000})
	id := c.SessionID()
	reconnect := disconnect(t, ts, r)
	for i := 1; i <= 3; i++ {
		if err := c.Send(bg, tether.Binary, []byte{byte(i)}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	start := time.Now()
	err := c.Send(ctx, tether.Binary, []byte{4})
	if !errors.Is(err, client.ErrOutboxFull) {
		t.Fatalf("send beyond MaxOutbox = %v, want ErrOutboxFull", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Send took %v to fail; it must not wait while disconnected", took)
	}
	reconnect()
	waitUntil(t, waitTimeout, "outbox drained", func() bool { return c.Pending() == 0 })
	msgs := ts.log.messages(id)
	if len(msgs) != 3 {
		t.Fatalf("server got %d messages, want 3", len(msgs))
	}
	for i, m := range msgs {
		if !bytes.Equal(m.Data, []byte{byte(i + 1)}) {
			t.Fatalf("message %d = %v", i, m.Data)
		}
	}

	// The byte bound works the same way.
	reconnect = disconnect(t, ts, r)
	if err := c.Send(bg, tether.Binary, make([]byte, 600)); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(bg, tether.Binary, make([]byte, 600)); !errors.Is(err, client.ErrOutboxFull) {
		t.Fatalf("send beyond MaxOutboxBytes = %v, want ErrOutboxFull", err)
	}
	reconnect()
	waitUntil(t, waitTimeout, "outbox drained", func() bool { return c.Pending() == 0 })
}

// TestOutboxFullWhileConnected: while the server is slow to process, a
// full outbox makes Send wait: until ctx ends, or until there is room.
func TestOutboxFullWhileConnected(t *testing.T) {
	block := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(block) }) }
	ts := startServer(t, func(o *tether.Options) {
		o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error { <-block; return nil }
	})
	t.Cleanup(unblock) // before the server's cleanup, which waits for hooks
	r := &rec{}
	c := dial(t, ts.url(), r, &client.Options{MaxOutbox: 2})
	id := c.SessionID()
	for i := 1; i <= 2; i++ {
		if err := c.Send(bg, tether.Text, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Send(ctx, tether.Text, []byte("m3"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send into a full outbox = %v, want DeadlineExceeded", err)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("Send returned after %v, before ctx ended", took)
	}
	if p := c.Pending(); p != 2 {
		t.Fatalf("pending = %d, want 2", p)
	}

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(bg, waitTimeout)
		defer cancel()
		done <- c.Send(ctx, tether.Text, []byte("m3"))
	}()
	unblock()
	if err := recv(t, done, 2*waitTimeout, "Send to return"); err != nil {
		t.Fatalf("send once the server caught up = %v", err)
	}
	waitUntil(t, waitTimeout, "3 messages", func() bool { return len(ts.log.messages(id)) == 3 })
	if got := ts.log.texts(id); !reflect.DeepEqual(got, []string{"m1", "m2", "m3"}) {
		t.Fatalf("server got %q", got)
	}
}

// TestSendBlockedThenStopped: a Send waiting for room in a full outbox
// looks again as soon as the client stops (ErrClosed) or loses its
// connection (ErrOutboxFull), instead of waiting for its ctx (forever
// with context.Background).
func TestSendBlockedThenStopped(t *testing.T) {
	block := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(block) }) }
	ts := startServer(t, func(o *tether.Options) {
		o.OnMessage = func(ctx context.Context, s *tether.Session, m tether.Message) error { <-block; return nil }
	})
	t.Cleanup(unblock)
	for _, how := range []string{"Close", "kicked", "disconnected"} {
		t.Run(how, func(t *testing.T) {
			r := &rec{}
			c := dial(t, ts.url(), r, &client.Options{MaxOutbox: 1})
			if err := c.Send(bg, tether.Text, []byte("m1")); err != nil {
				t.Fatal(err)
			}
			started := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(bg, 3*time.Second)
				defer cancel()
				close(started)
				done <- c.Send(ctx, tether.Text, []byte("m2"))
			}()
			<-started
			// Let Send reach its wait. This is not synchronisation: if it
			// has not got there yet, it must fail with ErrClosed anyway.
			time.Sleep(50 * time.Millisecond)
			select {
			case err := <-done:
				t.Fatalf("Send into a full outbox returned %v at once", err)
			default:
			}
			want := client.ErrClosed
			switch how {
			case "Close":
				ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
				defer cancel()
				_ = c.Close(ctx) // m1 is stuck in the server's hook
			case "kicked":
				_ = ts.session(t, c).Close(bg, "bye")
			case "disconnected":
				want = client.ErrOutboxFull
				ts.proxy.Refuse(true)
				defer ts.proxy.Refuse(false)
				ts.proxy.CutAll()
			}
			start := time.Now()
			err := recv(t, done, 2*waitTimeout, "Send to return")
			if !errors.Is(err, want) {
				t.Fatalf("blocked Send returned %v after %v, want %v", err, time.Since(start), want)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("blocked Send took %v to notice", took)
			}
			// m1 will never be acknowledged: do not let cleanup wait for it.
			ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
			defer cancel()
			_ = c.Close(ctx)
		})
	}
}

// TestSendValidation: bad text and oversized messages are refused before
// they are queued; the size limit is the server's, from the Welcome.
func TestSendValidation(t *testing.T) {
	const limit = 1024
	ts := startServer(t, func(o *tether.Options) { o.MaxMessageSize = limit })
	r := &rec{}
	c := dial(t, ts.url(), r, nil)
	id := c.SessionID()
	if err := c.Send(bg, tether.Text, []byte{'o', 'k', 0xff, 0xfe}); !errors.Is(err, tether.ErrInvalidUTF8) {
		t.Fatalf("invalid UTF-8 text = %v, want ErrInvalidUTF8", err)
	}
	for _, typ := range []tether.MessageType{tether.Text, tether.Binary} {
		if err := c.Send(bg, typ, bytes.Repeat([]byte("x"), limit+1)); !errors.Is(err, client.ErrTooBig) {
			t.Fatalf("%v message of %d bytes = %v, want ErrTooBig", typ, limit+1, err)
		}
	}
	if err := c.Send(bg, tether.MessageType(9), []byte("x")); err == nil {
		t.Fatal("Send accepted message type 9")
	}
	if p := c.Pending(); p != 0 {
		t.Fatalf("refused messages were queued: pending %d", p)
	}
	// Binary payloads need not be UTF-8; exactly the limit is fine.
	if err := c.Send(bg, tether.Binary, []byte{0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(bg, tether.Text, bytes.Repeat([]byte("é"), limit/2)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, waitTimeout, "2 messages", func() bool { return len(ts.log.messages(id)) == 2 })
	msgs := ts.log.messages(id)
	if !bytes.Equal(msgs[0].Data, []byte{0xff, 0xfe}) || msgs[0].Type != tether.Binary || len(msgs[1].Data) != limit || msgs[1].Type != tether.Text {
		t.Fatalf("server got %+v", msgs)
	}
	if c.Status() != client.StatusConnected {
		t.Fatalf("status = %v", c.Status())
	}
}

// TestDelayedAckKeepsServerBufferBounded: with acks delayed for as long
// as the test lasts and no heartbeat to carry them, the client still acks
// once 64 KiB are unacknowledged, so a server whose replay buffer holds
// 200 KiB never overflows while it sends 320 KiB, one message at a time.
func TestDelayedAckKeepsServerBufferBounded(t *testing.T) {
	ts := startServer(t, func(o *tether.Options) {
		o.HeartbeatInterval = time.Minute
		o.MaxReplayBytes = 200 << 10
	})
	r := &rec{}
	c := dial(t, ts.url(), r, &client.Options{AckDelay: time.Hour})
	s := ts.session(t, c)
	payload := make([]byte, 8<<10)
	const n = 40
	for i := 1; i <= n; i++ {
		if err := s.Send(bg, tether.Binary, payload); err != nil {
			t.Fatalf("send %d (%d KiB sent): %v", i, i*8, err)
		}
		waitUntil(t, waitTimeout, fmt.Sprintf("message %d", i), func() bool { return len(r.messages()) == i })
	}
	if lost := eventsOf[client.SessionLost](r); len(lost) != 0 {
		t.Fatalf("session lost: %+v", lost)
	}
	if p := s.Pending(); p > 8 {
		t.Fatalf("the server holds %d unacknowledged messages, want at most 8 (64 KiB)", p)
	}
}

// TestClientAcksAtHalfTheServerWindow: the client's ack waits for its
// delay until half the server's window (its replay bound, from the
// Welcome) is unacknowledged, then goes at once: neither an ack per
// message nor a server buffer that fills while the client waits.
func TestClientAcksAtHalfTheServerWindow(t *testing.T) {
	ts := startServer(t, func(o *tether.Options) {
		o.HeartbeatInterval = time.Minute
		o.MaxReplayMessages = 8
	})
	r := &rec{}
	c := dial(t, ts.url(), r, &client.Options{AckDelay: time.Hour})
	s := ts.session(t, c)
	// The client's first write confirms the Welcome with an ack of what it
	// processed by then: let it go before the server sends anything.
	if err := c.Send(bg, tether.Text, []byte("first")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, waitTimeout, "the client's first message", func() bool { return len(ts.log.messages(s.ID())) == 1 })
	send := func(i int) {
		t.Helper()
		if err := s.Send(bg, tether.Text, []byte("m")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		waitUntil(t, waitTimeout, fmt.Sprintf("message %d", i), func() bool { return len(r.messages()) == i })
	}
	for i := 1; i <= 3; i++ {
		send(i)
	}
	// An ack sent early would be here by now; its absence cannot be
	// waited for otherwise.
	time.Sleep(100 * time.Millisecond)
	if p := s.Pending(); p != 3 {
		t.Fatalf("%d messages unacknowledged after 3 of a window of 8, want 3: the client acked before half the window", p)
	}
	send(4)
	waitUntil(t, waitTimeout, "the ack at half the window", func() bool { return s.Pending() == 0 })
}
