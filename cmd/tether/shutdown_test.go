package main

// Shutdown with clients of every kind: the binary is stopped with
// SIGTERM while cooperative clients (the Go client), scripted ones that
// answer the drain late or never (raw frames), and a slow or failing
// webhook backend are in play.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gobwas "github.com/gobwas/ws"
	"github.com/redis/go-redis/v9"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/internal/wire"
	"github.com/tether-ws/tether/internal/ws"
)

// rawPeer is a scripted client speaking frame by frame, for what the Go
// client never does: answer the GoAway late, or not at all.
type rawPeer struct {
	t  *testing.T
	ws *ws.Conn
	w  *wire.Welcome

	// Behaviour, set before run.
	answerGoAway time.Duration    // delay before answering the GoAway; < 0: never
	pong         bool             // answer Pings
	ack          bool             // acknowledge the server's messages
	ignored      func(p *rawPeer) // run once when it answered a Ping after ignoring the GoAway

	mu         sync.Mutex
	recv       uint64 // highest server seq received
	sent       uint64 // client messages sent
	acked      uint64 // highest ack from the server
	goAway     bool   // a non-final GoAway arrived
	final      bool   // the final GoAway arrived
	finalSeq   uint64
	finalAck   uint64 // the server's ack when the final GoAway arrived
	ignoredRun bool
	code       uint16 // close code; 0: cut without a close frame
	closedAt   time.Time
	done       chan struct{}
}

// rawDial opens a WebSocket with a token; it returns the connection and
// the server's answer to the upgrade.
func rawDial(t *testing.T, url, token string) (*ws.Conn, error) {
	t.Helper()
	d := gobwas.Dialer{Protocols: []string{wire.Subprotocol}}
	if token != "" {
		d.Header = gobwas.HandshakeHeaderHTTP(http.Header{"Authorization": {"Bearer " + token}})
	}
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	nc, br, _, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	var pre []byte
	if br != nil {
		p, _ := br.Peek(br.Buffered())
		pre = append(pre, p...)
		gobwas.PutReader(br)
	}
	c := ws.NewConn(nc, true, 1<<20, pre)
	t.Cleanup(func() { c.Close() })
	return c, nil
}

var errStop = errors.New("stop")

// next returns the next frame, or the connection's end (a *ws.CloseError
// for a close frame).
func next(c *ws.Conn, d time.Duration) (wire.Frame, error) {
	_ = c.NetConn().SetReadDeadline(time.Now().Add(d))
	var f wire.Frame
	err := c.ReadMessage(func(op byte, p []byte) error {
		var err error
		f, err = wire.Decode(append([]byte(nil), p...))
		if err != nil {
			return err
		}
		return errStop
	})
	if errors.Is(err, errStop) {
		return f, nil
	}
	return f, err
}

// newRawPeer opens a new session.
func newRawPeer(t *testing.T, url, token string) *rawPeer {
	t.Helper()
	c, err := rawDial(t, url, token)
	if err != nil {
		t.Fatal(err)
	}
	p := &rawPeer{t: t, ws: c, done: make(chan struct{})}
	p.write(wire.AppendHello(nil, &wire.Hello{Window: 100}))
	for p.w == nil {
		f, err := next(c, 5*time.Second)
		if err != nil {
			t.Fatalf("waiting for the Welcome: %v", err)
		}
		if f.Type == wire.TypeWelcome {
			p.w = f.Welcome
		}
	}
	return p
}

func (p *rawPeer) write(frame []byte) {
	_ = p.ws.Write(p.ws.AppendFrame(nil, ws.OpBinary, frame, nil), time.Second)
}

// send sends a text message with the next seq.
func (p *rawPeer) send(text string) {
	p.mu.Lock()
	p.sent++
	seq := p.sent
	p.mu.Unlock()
	p.write(append(wire.AppendMessageHeader(nil, true, seq), text...))
}

// ackValue is what the peer acknowledges of the server's messages.
func (p *rawPeer) ackValue() uint64 {
	if p.ack {
		return p.recv
	}
	return 0
}

// run reads and answers frames until the connection ends.
func (p *rawPeer) run() {
	go func() {
		defer close(p.done)
		for {
			f, err := next(p.ws, time.Minute)
			if err != nil {
				p.mu.Lock()
				var ce *ws.CloseError
				if errors.As(err, &ce) {
					p.code = ce.Code
					_ = p.ws.EchoClose(ce)
				}
				p.closedAt = time.Now()
				p.mu.Unlock()
				p.ws.Close()
				return
			}
			p.mu.Lock()
			switch f.Type {
			case wire.TypeBinary, wire.TypeText:
				p.recv = f.Seq
				if p.ack {
					p.write(wire.AppendSeqFrame(nil, wire.TypeAck, p.recv))
				}
			case wire.TypeAck, wire.TypePing:
				p.acked = max(p.acked, f.Seq)
				if f.Type == wire.TypePing && p.pong {
					p.write(wire.AppendSeqFrame(nil, wire.TypePong, p.ackValue()))
					if p.goAway && p.answerGoAway < 0 && !p.ignoredRun && p.ignored != nil {
						p.ignoredRun = true
						go p.ignored(p)
					}
				}
			case wire.TypeGoAway:
				if f.GoAway.Flags&wire.GoAwayFinal != 0 {
					p.final, p.finalSeq, p.finalAck = true, f.GoAway.LastSeq, p.acked
				} else if !p.goAway {
					p.goAway = true
					if p.answerGoAway >= 0 {
						time.AfterFunc(p.answerGoAway, func() {
							p.mu.Lock()
							a := p.ackValue()
							p.mu.Unlock()
							p.write(wire.AppendGoAway(nil, &wire.GoAway{LastSeq: a}))
						})
					}
				}
			}
			p.mu.Unlock()
		}
	}()
}

// ended waits until the connection ended and returns the close code,
// whether a final GoAway came first and when it ended.
func (p *rawPeer) ended() (code uint16, final bool, at time.Time) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(waitTimeout):
		p.t.Fatal("raw client: the connection did not end")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.code, p.final, p.closedAt
}

// timedClient is a Go client whose first disconnection time is kept.
type timedClient struct {
	c            *client.Client
	r            *rec
	mu           sync.Mutex
	disconnected time.Time
}

func dialTimed(t *testing.T, url, tok string) *timedClient {
	t.Helper()
	tc := &timedClient{r: &rec{}}
	o := tc.r.options(tok)
	inner := o.OnEvent
	o.OnEvent = func(e client.Event) {
		if _, ok := e.(client.Disconnected); ok {
			tc.mu.Lock()
			if tc.disconnected.IsZero() {
				tc.disconnected = time.Now()
			}
			tc.mu.Unlock()
		}
		inner(e)
	}
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(bg, 2*time.Second)
		defer cancel()
		_ = c.Close(ctx)
		<-c.Done()
	})
	tc.c = c
	return tc
}

func (tc *timedClient) disconnectedAt() time.Time {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.disconnected
}

// acceptedAt says when the backend accepted an event.
func (b *backend) acceptedAt(id string) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.at[id]
	return at, ok
}

// textsOf returns the message texts the backend accepted from a user, in
// order, over all its sessions.
func (b *backend) textsOf(user string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.events {
		if e.Type == "message" && e.User == user {
			out = append(out, e.Message.Text)
		}
	}
	return out
}

func (p *proc) status(path string) int {
	p.t.Helper()
	resp, err := openAPI.Client(p.t).Get(p.url(path))
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestShutdownMixedClients: a client that ignores the drain costs only
// itself. With -shutdown-timeout 4s, three cooperative clients with
// messages still at the (slow) backend, one that answers the GoAway late,
// one that never does (it answers Pings, acknowledges nothing and keeps
// sending) and one that is silent: the cooperative and the late one get
// their final GoAway and their sessions end, and their close events
// reach the backend, before the stubborn and the silent ones are cut at
// the drain's deadline; what the stubborn one sent after the GoAway is
// not taken. During the drain the
// node is not ready but alive, the API refuses changes, and a client
// arriving is upgraded and told to come back later. Every event reaches
// the backend, the process exits 0 within the timeout, and after a
// restart the cooperative clients are told that nothing was lost and
// each of their messages reached the backend exactly once.
func TestShutdownMixedClients(t *testing.T) {
	t.Parallel()
	b, hooks := newBackend(t)
	b.delay.Store(int64(80 * time.Millisecond)) // a slow backend
	addr := freePort(t)
	args := []string{"-jwt-secret", testSecret, "-api-key", apiKey, "-restart-jitter", "200ms", "-shutdown-timeout", "4s",
		"-webhook-url", hooks.URL + "/hook", "-webhook-secret", hookSecret}
	p := start(t, procOpts{addr: addr, args: args})
	p.apiKey = apiKey

	var coop []*timedClient
	for i := range 3 {
		coop = append(coop, dialTimed(t, p.wsURL(), hs(t, fmt.Sprint("coop", i))))
	}
	late := newRawPeer(t, p.wsURL(), hs(t, "late"))
	late.pong, late.ack, late.answerGoAway = true, true, 300*time.Millisecond
	late.run()
	stub := newRawPeer(t, p.wsURL(), hs(t, "stubborn"))
	stub.pong, stub.ack, stub.answerGoAway = true, false, -1
	stub.ignored = func(p *rawPeer) {
		for i := range 5 {
			p.send(fmt.Sprint("ignored-", i))
			time.Sleep(20 * time.Millisecond)
		}
	}
	stub.run()
	stub.send("before")
	silent := newRawPeer(t, p.wsURL(), hs(t, "silent")) // reads, never writes: a dead link
	silent.answerGoAway = -1
	silent.run()

	ids := map[string]string{"late": late.w.SessionID, "stubborn": stub.w.SessionID, "silent": silent.w.SessionID}
	for i, tc := range coop {
		ids[fmt.Sprint("coop", i)] = tc.c.SessionID()
	}
	// A message from the API waits in every session: the stubborn client
	// never acknowledges it.
	for user, id := range ids {
		if st, m := p.call("POST", "/api/sessions/"+id+"/send", map[string]any{"type": "text", "text": "from-api"}); st != 200 {
			t.Fatalf("send to %s: %d %v", user, st, m)
		}
	}
	waitUntil(t, "the stubborn client's first message at the backend", func() bool { return len(b.textsOf("stubborn")) == 1 })
	waitUntil(t, "the API messages", func() bool {
		late.mu.Lock()
		stub.mu.Lock()
		ok := late.recv >= 1 && stub.recv >= 1
		stub.mu.Unlock()
		late.mu.Unlock()
		for _, tc := range coop {
			ok = ok && slices.Contains(tc.r.texts(), "from-api")
		}
		return ok
	})
	// The cooperative clients' last messages are still on their way to
	// the backend when the signal comes: the drain waits for them.
	const burst = 4
	for i, tc := range coop {
		for j := range burst {
			if err := tc.c.Send(bg, tether.Text, []byte(fmt.Sprintf("coop%d-%d", i, j))); err != nil {
				t.Fatal(err)
			}
		}
	}

	sigAt := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// During the drain (the stubborn client holds it until its deadline).
	waitUntil(t, "/readyz 503", func() bool { return p.status("/readyz") == http.StatusServiceUnavailable })
	if st := p.status("/healthz"); st != http.StatusOK {
		t.Errorf("/healthz during the drain: %d, want 200 (alive)", st)
	}
	if st, m := p.call("POST", "/api/sessions/"+ids["stubborn"]+"/send", map[string]any{"type": "text", "text": "x"}); st != 503 || errCode(m) != "shutting_down" {
		t.Errorf("API send during the drain: %d %v, want 503 shutting_down", st, m)
	}
	if st, _ := p.call("GET", "/api/sessions/"+ids["stubborn"], nil); st != 200 {
		t.Errorf("API read during the drain: %d, want 200", st)
	}
	if c, err := rawDial(t, p.wsURL(), hs(t, "newcomer")); err != nil {
		t.Errorf("a client arriving during the drain: %v, want an upgrade", err)
	} else if _, err := next(c, 5*time.Second); !isClose(err, 4001) {
		t.Errorf("a client arriving during the drain: %v, want close 4001", err)
	}

	select {
	case <-p.exited:
	case <-time.After(waitTimeout):
		t.Fatal("the server did not exit")
	}
	took := time.Since(sigAt)
	if p.code != 0 {
		t.Errorf("exit code %d, want 0: every event was delivered", p.code)
	}
	if took > 4*time.Second+time.Second {
		t.Errorf("exit took %v; -shutdown-timeout is 4s", took)
	}
	p.waitLog("shut down", func(l map[string]any) bool { return l["msg"] == "tether: shut down" })

	// The stubborn client: cut without a final GoAway, at the drain's
	// deadline (half the timeout), after everybody else was done.
	code, final, cutAt := stub.ended()
	if code != uint16(tether.CloseServerRestart) || final {
		t.Errorf("stubborn client: close %d, final GoAway %v; want 4001 without one", code, final)
	}
	if d := cutAt.Sub(sigAt); d < time.Second {
		t.Errorf("stubborn client cut %v after the signal; its deadline is 2s", d)
	}
	// The silent one: fenced after a while (it does not hold the others
	// any longer), cut at the same deadline.
	code, final, silentAt := silent.ended()
	if code != uint16(tether.CloseServerRestart) || final || silentAt.Sub(sigAt) < time.Second {
		t.Errorf("silent client: close %d, final GoAway %v, %v after the signal; want 4001 without one at the deadline", code, final, silentAt.Sub(sigAt))
	}
	if got := b.textsOf("stubborn"); len(got) != 1 {
		t.Errorf("the backend got the stubborn client's %q; what it sent after the GoAway must not be taken", got)
	}
	// The late one answered in time: a complete drain.
	code, final, lateAt := late.ended()
	if code != uint16(tether.CloseServerRestart) || !final || late.finalAck != 0 || late.finalSeq != 1 {
		t.Errorf("late client: close %d, final %v (ack %d, last seq %d); want 4001 after a final GoAway for seq 1", code, final, late.finalAck, late.finalSeq)
	}
	if !lateAt.Before(cutAt) {
		t.Errorf("the late client was held until the stubborn one was cut")
	}
	for i, tc := range coop {
		d := eventsOf[client.Disconnected](tc.r)
		if len(d) == 0 || d[0].Code != tether.CloseServerRestart {
			t.Errorf("coop%d: disconnects %+v, want 4001", i, d)
			continue
		}
		if at := tc.disconnectedAt(); !at.Before(cutAt) {
			t.Errorf("coop%d drained %v after the signal, not before the stubborn client was cut (%v)", i, at.Sub(sigAt), cutAt.Sub(sigAt))
		}
	}
	// Every session's close event reached the backend; the cooperative
	// ones' before the stubborn client was cut.
	for user, id := range ids {
		evs := b.of(id)
		if len(evs) == 0 || evs[len(evs)-1].Type != "close" || evs[len(evs)-1].Cause != "server-shutdown" {
			t.Errorf("%s: the backend's last event %+v, want close (server-shutdown)", user, evs[len(evs)-1:])
			continue
		}
		if at, _ := b.acceptedAt(id + ":close"); user != "stubborn" && user != "silent" && !at.Before(cutAt) {
			t.Errorf("%s: close event accepted %v after the signal, after the stubborn client was cut (%v)", user, at.Sub(sigAt), cutAt.Sub(sigAt))
		}
	}

	// A new process on the same address: the cooperative clients are
	// told their sessions were lost to a restart with nothing lost, and
	// each message they sent reached the backend once.
	p2 := start(t, procOpts{addr: addr, args: args})
	p2.apiKey = apiKey
	for i, tc := range coop {
		waitUntil(t, "session lost", func() bool { return len(eventsOf[client.SessionLost](tc.r)) == 1 })
		lost := eventsOf[client.SessionLost](tc.r)[0]
		if lost.Reason != tether.ReasonRestarted || lost.ToClient != 0 || lost.FromClient != 0 {
			t.Errorf("coop%d: %+v, want a restart that lost nothing", i, lost)
		}
		var want []string
		for j := range burst {
			want = append(want, fmt.Sprintf("coop%d-%d", i, j))
		}
		user := fmt.Sprint("coop", i)
		waitUntil(t, "every message at the backend", func() bool { return len(b.textsOf(user)) >= burst })
		if got := b.textsOf(user); !slices.Equal(got, want) {
			t.Errorf("coop%d: the backend got %q, want %q", i, got, want)
		}
	}
}

func isClose(err error, code uint16) bool {
	var ce *ws.CloseError
	return errors.As(err, &ce) && ce.Code == code
}

// logLines returns the server's log lines with msg.
func (p *proc) logLines(msg string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, l := range p.lines {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// TestShutdownBackendFailing: the binary stopped while the webhook
// backend fails. A client message the backend never accepted is never
// acknowledged: its session ends with 4005 a quarter of the timeout into
// the shutdown, and after the restart the client either sends it again
// (Redis: the old session's tombstone says it was not processed) or
// hands it back to its application as lost (the memory store: nothing
// survives the restart, so its fate is unknown). The session events the
// backend never took are given up at the deadline, each named in the
// log, and the process exits 1.
func TestShutdownBackendFailing(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			b, hooks := newBackend(t)
			addr := freePort(t)
			args := []string{"-jwt-secret", testSecret, "-api-key", apiKey, "-restart-jitter", "100ms", "-shutdown-timeout", "2s",
				"-webhook-url", hooks.URL + "/hook", "-webhook-secret", hookSecret, "-webhook-timeout", "1s"}
			if store == "redis" {
				raddr := needRedis(t)
				args = append(args, "-redis-addr", raddr, "-redis-prefix", redisPrefix(t, raddr), "-node-liveness", "1s")
			}
			p := start(t, procOpts{addr: addr, args: args})
			alice := dialTimed(t, p.wsURL(), hs(t, "alice"))
			bob := dialTimed(t, p.wsURL(), hs(t, "bob"))
			aliceID, bobID := alice.c.SessionID(), bob.c.SessionID()
			waitUntil(t, "open events", func() bool { return len(b.of(aliceID)) == 1 && len(b.of(bobID)) == 1 })

			b.failing.Store(true)
			if err := alice.c.Send(bg, tether.Text, []byte("stuck")); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the message retried", func() bool { return b.triesOf(aliceID+":message:1") >= 2 })
			b.failAll.Store(true) // everything fails from now on, until the process is gone
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.exited:
			case <-time.After(waitTimeout):
				t.Fatal("the server did not exit")
			}
			if p.code != 1 {
				t.Errorf("exit code %d, want 1: events were given up", p.code)
			}
			if d := eventsOf[client.Disconnected](alice.r); len(d) == 0 || d[0].Code != tether.CloseServerError {
				t.Errorf("alice: disconnects %+v, want 4005 (the backend never took her message)", d)
			}
			if d := eventsOf[client.Disconnected](bob.r); len(d) == 0 || d[0].Code != tether.CloseServerRestart {
				t.Errorf("bob: disconnects %+v, want 4001", d)
			}
			if n := alice.c.Pending(); n != 1 {
				t.Errorf("alice has %d unacknowledged messages, want 1: the message was never accepted", n)
			}
			// The log says exactly what the backend never got: the last
			// event of each session.
			lines := p.logLines("tether: shut down, with losses: webhook events given up")
			if len(lines) != 1 {
				t.Fatalf("%d loss summaries in the log, want 1", len(lines))
			}
			var got []string
			for _, id := range lines[0]["events"].([]any) {
				got = append(got, id.(string))
			}
			bobLast := bobID + ":close"
			if store == "redis" {
				// Bob's session lives on in Redis: the backend is told he
				// disconnected, not that his session ended.
				bobLast = bobID + ":disconnect:"
			}
			if len(got) != 2 || !slices.Contains(got, aliceID+":close") ||
				!slices.ContainsFunc(got, func(id string) bool { return strings.HasPrefix(id, bobLast) }) {
				t.Errorf("events given up: %q, want %s:close and %s…", got, aliceID, bobLast)
			}
			if n := lines[0]["given_up"]; n != float64(2) {
				t.Errorf("given_up = %v, want 2", n)
			}
			for _, l := range p.logLines("webhook: event given up") {
				if l["session"] != aliceID && l["session"] != bobID {
					t.Errorf("given up: %v", l)
				}
			}

			// The backend works again; a new process on the same address.
			b.failAll.Store(false)
			b.failing.Store(false)
			start(t, procOpts{addr: addr, args: args})
			waitUntil(t, "alice's new session", func() bool { return len(eventsOf[client.SessionLost](alice.r)) == 1 })
			lost := eventsOf[client.SessionLost](alice.r)[0]
			resent := func() bool { return slices.Contains(b.textsOf("alice"), "stuck") }
			handedBack := slices.ContainsFunc(lost.Unsent, func(m tether.Message) bool { return string(m.Data) == "stuck" })
			switch store {
			case "memory":
				if lost.Reason != tether.ReasonRestarted || !handedBack || lost.FromClient != 1 {
					t.Errorf("alice: %+v, want the message handed back (fate unknown after a restart)", lost)
				}
				// Never both: what the client hands back, it does not send.
				time.Sleep(200 * time.Millisecond)
				if resent() {
					t.Error("the message was handed back and sent again")
				}
			case "redis":
				if lost.Reason != tether.ReasonServerError || handedBack || lost.Carried != 1 {
					t.Errorf("alice: %+v, want the message carried into the new session", lost)
				}
				waitUntil(t, "the message sent again", resent)
			}
		})
	}
}

// redisPrefix returns a key prefix of its own for a test, whose keys
// are deleted at its end.
func redisPrefix(t *testing.T, addr string) string {
	prefix := "tt" + randomHex(5)
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		iter := c.Scan(bg, 0, prefix+"*", 1000).Iterator()
		for iter.Next(bg) {
			c.Del(bg, iter.Val())
		}
	})
	return prefix
}

// TestShutdownIgnoredGoAway: a client that reads the GoAway and ignores
// it (it answers the Ping that follows, acknowledges what it gets and
// keeps sending) holds nobody: with -shutdown-timeout 16s (a silent
// client would hold the others 2s), everybody is drained and the process
// exits within a second or so. The stubborn client gets its final
// GoAway, whose Ack covers its message sent before the drain and none of
// those it sent after: they were not taken.
func TestShutdownIgnoredGoAway(t *testing.T) {
	t.Parallel()
	b, hooks := newBackend(t)
	p := apiServer(t, "-restart-jitter", "100ms", "-shutdown-timeout", "16s",
		"-webhook-url", hooks.URL+"/hook", "-webhook-secret", hookSecret)
	var coop []*timedClient
	for i := range 2 {
		coop = append(coop, dialTimed(t, p.wsURL(), hs(t, fmt.Sprint("coop", i))))
	}
	stub := newRawPeer(t, p.wsURL(), hs(t, "stubborn"))
	stub.pong, stub.ack, stub.answerGoAway = true, true, -1
	stub.ignored = func(p *rawPeer) {
		for i := range 5 {
			p.send(fmt.Sprint("ignored-", i))
			time.Sleep(10 * time.Millisecond)
		}
	}
	stub.run()
	stub.send("before")
	waitUntil(t, "the message at the backend", func() bool { return len(b.textsOf("stubborn")) == 1 })
	waitUntil(t, "its acknowledgement", func() bool {
		stub.mu.Lock()
		defer stub.mu.Unlock()
		return stub.acked == 1
	})

	sigAt := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(waitTimeout):
		t.Fatal("the server did not exit")
	}
	if took := time.Since(sigAt); took > 1500*time.Millisecond || p.code != 0 {
		t.Errorf("exit %d after %v; want 0 well within the 2s a silent client would cost", p.code, took)
	}
	code, final, _ := stub.ended()
	if code != uint16(tether.CloseServerRestart) || !final || stub.finalAck != 1 {
		t.Errorf("stubborn client: close %d, final GoAway %v with ack %d; want 4001 after a final GoAway acknowledging 1", code, final, stub.finalAck)
	}
	if got := b.textsOf("stubborn"); len(got) != 1 {
		t.Errorf("the backend got %q from the stubborn client, want only its message from before the drain", got)
	}
	for i, tc := range coop {
		if d := eventsOf[client.Disconnected](tc.r); len(d) == 0 || d[0].Code != tether.CloseServerRestart {
			t.Errorf("coop%d: disconnects %+v, want 4001", i, d)
		}
	}
}

// TestShutdownMessageHeldByBackend: a client message whose webhook the
// backend holds (no answer) when the signal comes: a quarter of
// -shutdown-timeout later the server stops waiting, the message is never
// acknowledged and its session ends with 4005, and its close event still
// reaches the backend: nothing is given up, the exit code is 0. After
// the restart (memory store) the client hands the message back as lost.
func TestShutdownMessageHeldByBackend(t *testing.T) {
	t.Parallel()
	b, hooks := newBackend(t)
	addr := freePort(t)
	args := []string{"-jwt-secret", testSecret, "-api-key", apiKey, "-restart-jitter", "100ms", "-shutdown-timeout", "2s",
		"-webhook-url", hooks.URL + "/hook", "-webhook-secret", hookSecret, "-webhook-timeout", "10s"}
	p := start(t, procOpts{addr: addr, args: args})
	alice := dialTimed(t, p.wsURL(), hs(t, "alice"))
	bob := dialTimed(t, p.wsURL(), hs(t, "bob"))
	aliceID := alice.c.SessionID()
	if err := alice.c.Send(bg, tether.Text, []byte("hold")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the backend holding the message", func() bool { return b.triesOf(aliceID+":message:1") == 1 })
	sigAt := time.Now()
	if code, _ := p.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d, want 0: every event was delivered", code)
	}
	d := eventsOf[client.Disconnected](alice.r)
	if len(d) == 0 || d[0].Code != tether.CloseServerError {
		t.Fatalf("alice: disconnects %+v, want 4005", d)
	}
	if at := alice.disconnectedAt().Sub(sigAt); at < 300*time.Millisecond {
		t.Errorf("alice's session ended %v after the signal; the server waits for the backend until T/4 (500ms)", at)
	}
	if d := eventsOf[client.Disconnected](bob.r); len(d) == 0 || d[0].Code != tether.CloseServerRestart {
		t.Errorf("bob: disconnects %+v, want 4001", d)
	}
	if n := alice.c.Pending(); n != 1 {
		t.Errorf("alice has %d unacknowledged messages, want 1", n)
	}
	evs := b.of(aliceID)
	if last := evs[len(evs)-1]; last.Type != "close" || last.Cause != "server-error" {
		t.Errorf("alice's last event at the backend: %+v, want close (server-error)", last)
	}
	if l := p.logLines("tether: shut down"); len(l) != 1 {
		t.Errorf("%d clean shut-down lines in the log", len(l))
	}

	start(t, procOpts{addr: addr, args: args})
	waitUntil(t, "alice's new session", func() bool { return len(eventsOf[client.SessionLost](alice.r)) == 1 })
	lost := eventsOf[client.SessionLost](alice.r)[0]
	if lost.Reason != tether.ReasonRestarted || len(lost.Unsent) != 1 || string(lost.Unsent[0].Data) != "hold" {
		t.Errorf("alice: %+v, want the message handed back", lost)
	}
}
