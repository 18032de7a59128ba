package main

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// metrics scrapes /metrics into "name{labels}" → value.
func (p *proc) metrics() map[string]float64 {
	p.t.Helper()
	resp, err := openAPI.Client(p.t).Get(p.url("/metrics"))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		p.t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

func TestMetricsMove(t *testing.T) {
	t.Parallel()
	p := apiServer(t, "-grace-window", "300ms", "-heartbeat-interval", "500ms", "-heartbeat-timeout", "500ms")
	m := p.metrics()
	for _, name := range []string{
		`tether_sessions{state="connected"}`, `tether_sessions{state="disconnected"}`,
		`tether_connects_total`, `tether_resumes_total`, `tether_expiries_total`,
		`tether_replayed_messages_total{direction="to_client"}`, `tether_replayed_messages_total{direction="from_client"}`,
		`tether_lost_messages_total{direction="to_client"}`, `tether_lost_messages_total{direction="from_client"}`,
		`tether_client_messages_total`, `tether_api_messages_total{target="session"}`, `tether_replay_buffer_messages`,
		`go_goroutines`,
	} {
		if _, ok := m[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	wait := func(name string, want float64) {
		t.Helper()
		waitUntil(t, fmt.Sprintf("%s = %v", name, want), func() bool { return p.metrics()[name] == want })
	}

	d := &blockingDialer{}
	r := &rec{}
	o := r.options(hs(t, "alice", "lobby"))
	o.NetDial = d.dial
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, p.wsURL(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close(ctx); <-c.Done() }()
	wait(`tether_connects_total`, 1)
	wait(`tether_sessions{state="connected"}`, 1)
	if err := c.Send(ctx, tether.Text, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	wait(`tether_client_messages_total`, 1)
	p.call("POST", "/api/sessions/"+c.SessionID()+"/send", map[string]any{"type": "text", "text": "x"})
	wait(`tether_api_messages_total{target="session"}`, 1)
	c.ForceReconnect()
	wait(`tether_resumes_total`, 1)
	wait(`tether_disconnects_total{cause="client-detached"}`, 1)

	// Away past the grace window with two messages waiting: expired, and
	// the loss is counted when the client comes back.
	d.cut()
	wait(`tether_sessions{state="disconnected"}`, 1)
	p.call("POST", "/api/sessions/"+c.SessionID()+"/send", map[string]any{"type": "text", "text": "lost1"})
	p.call("POST", "/api/sessions/"+c.SessionID()+"/send", map[string]any{"type": "text", "text": "lost2"})
	wait(`tether_replay_buffer_messages`, 2)
	wait(`tether_expiries_total`, 1)
	wait(`tether_session_closes_total{cause="expired"}`, 1)
	d.blocked.Store(false)
	c.ForceReconnect()
	waitUntil(t, "session lost", func() bool { return len(eventsOf[client.SessionLost](r)) == 1 })
	wait(`tether_lost_messages_total{direction="to_client"}`, 2)
	wait(`tether_connects_total`, 2)
}

// TestSIGTERMDrains: on SIGTERM every client is told to come back later
// (4001) and the process exits 0.
func TestSIGTERMDrains(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			p := apiServer(t, "-restart-jitter", "200ms", "-shutdown-timeout", "5s")
			var recs []*rec
			for i := range 3 {
				c, r := dial(t, p.wsURL(), hs(t, fmt.Sprint("user", i), "lobby"))
				recs = append(recs, r)
				p.call("POST", "/api/sessions/"+c.SessionID()+"/send", map[string]any{"type": "text", "text": "before"})
			}
			code, took := p.stop(sig)
			if code != 0 {
				t.Fatalf("exit code %d", code)
			}
			if took > 5*time.Second {
				t.Fatalf("exit took %v, beyond -shutdown-timeout", took)
			}
			for i, r := range recs {
				waitUntil(t, "disconnect", func() bool { return len(eventsOf[client.Disconnected](r)) > 0 })
				d := eventsOf[client.Disconnected](r)[0]
				if d.Code != tether.CloseServerRestart || d.Cause != tether.CauseServerRestart {
					t.Errorf("client %d: %+v", i, d)
				}
				if got := r.texts(); len(got) != 1 || got[0] != "before" {
					t.Errorf("client %d got %q before the drain", i, got)
				}
			}
			p.waitLog("shut down", func(l map[string]any) bool { return l["msg"] == "tether: shut down" })
		})
	}
}

// TestRestartLosesNothing: a client of a server that is restarted (SIGTERM,
// then a fresh process with a fresh memory store on the same address) is
// told honestly what happened: its session is lost because the server
// restarted, nothing was lost to it after the complete drain, and the
// messages it queued during the drain are carried into its new session
// and delivered.
func TestRestartLosesNothing(t *testing.T) {
	t.Parallel()
	addr := freePort(t)
	args := []string{"-jwt-secret", testSecret, "-api-key", apiKey, "-restart-jitter", "300ms"}
	a := start(t, procOpts{addr: addr, args: args})
	a.apiKey = apiKey
	c1, r1 := dial(t, a.wsURL(), hs(t, "alice", "lobby"))
	c2, r2 := dial(t, a.wsURL(), hs(t, "bob", "lobby"))
	old1, old2 := c1.SessionID(), c2.SessionID()
	waitUntil(t, "lobby", func() bool { return len(a.sessionIDs("?room=lobby")) == 2 })
	const queued = 20
	for i := range queued {
		for _, id := range []string{old1, old2} {
			if st, m := a.call("POST", "/api/sessions/"+id+"/send", map[string]any{"type": "text", "text": fmt.Sprint("api-", i)}); st != 200 {
				t.Fatalf("send: %d %v", st, m)
			}
		}
	}
	for i := range 3 {
		if err := c1.Send(bg, tether.Text, []byte(fmt.Sprint("early-", i))); err != nil {
			t.Fatal(err)
		}
	}

	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "drain", func() bool { return len(eventsOf[client.Disconnected](r1)) > 0 })
	// Sent while the server is away: queued, then carried.
	for i := range 3 {
		if err := c1.Send(bg, tether.Text, []byte(fmt.Sprint("late-", i))); err != nil {
			t.Fatal(err)
		}
	}
	<-a.exited
	if a.code != 0 {
		t.Fatalf("old server exit code %d", a.code)
	}

	b := start(t, procOpts{addr: addr, args: args})
	b.apiKey = apiKey
	for i, r := range []*rec{r1, r2} {
		waitUntil(t, "session lost", func() bool { return len(eventsOf[client.SessionLost](r)) == 1 })
		lost := eventsOf[client.SessionLost](r)[0]
		if lost.Reason != tether.ReasonRestarted || lost.ToClient != 0 || lost.FromClient != 0 || len(lost.Unsent) != 0 {
			t.Errorf("client %d: %+v", i, lost)
		}
	}
	if lost := eventsOf[client.SessionLost](r1)[0]; lost.SessionID != old1 || lost.Carried < 3 {
		t.Errorf("client 1: %+v", lost)
	}
	if c1.SessionID() == old1 || c2.SessionID() == old2 {
		t.Fatal("no new sessions")
	}
	// Every message both ways arrived exactly once: the API's before the
	// drain, c1's chat messages echoed by one server or the other.
	count := func(r *rec, sub string) int {
		n := 0
		for _, s := range r.texts() {
			if strings.Contains(s, `"text":"`+sub+`"`) || s == sub {
				n++
			}
		}
		return n
	}
	// c1's late messages are echoed by the new server to c1 (c2's new
	// session may not be in the room yet when they are broadcast).
	waitUntil(t, "late messages echoed", func() bool { return count(r1, "late-2") == 1 })
	for i, r := range []*rec{r1, r2} {
		for j := range queued {
			if n := count(r, fmt.Sprint("api-", j)); n != 1 {
				t.Errorf("client %d: api-%d received %d times", i, j, n)
			}
		}
		for _, s := range []string{"early-0", "early-1", "early-2", "late-0", "late-1", "late-2"} {
			if n := count(r, s); n != 1 && (r == r1 || strings.HasPrefix(s, "early")) {
				t.Errorf("client %d: %s received %d times: %q", i, s, n, r.texts())
			}
		}
	}
	// The new server knows the new session came from a restart.
	_, s := b.call("GET", "/api/sessions/"+c1.SessionID(), nil)
	if meta, _ := s["meta"].(map[string]any); meta["previous_session"] != old1 {
		t.Errorf("new session = %v", s)
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	p := apiServer(t)
	resp, err := openAPI.Client(t).Get(p.url("/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
}
