//go:build unix

package php_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// buildTether builds the tether binary from the module root (../..).
//
// The binary (cmd/tether, cmd/tether/internal/standalone) is written by another part
// of the project. While it does not exist or does not build, this test
// SKIPs with a message saying so; under TETHER_REQUIRE_ALL=1 (CI, see
// .ci/run) the same condition is a FAILURE, so a broken binary cannot
// pass CI unnoticed.
func buildTether(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "tether")); err != nil {
		skipOrFail(t, "SKIP: ./cmd/tether does not exist: the PHP end-to-end test needs the tether binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		skipOrFail(t, "SKIP: no go command in PATH to build ./cmd/tether")
	}
	bin := filepath.Join(t.TempDir(), "tether")
	build := exec.Command(goBin, "build", "-o", bin, "./cmd/tether")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		skipOrFail(t, fmt.Sprintf("SKIP: ./cmd/tether does not build (%v):\n%s", err, out))
	}
	// The flags this test and README.md rely on.
	help, _ := exec.Command(bin, "-h").CombinedOutput()
	for _, f := range []string{"addr", "webhook-url", "webhook-secret", "api-key", "anonymous"} {
		if !strings.Contains(string(help), "-"+f+" ") && !strings.Contains(string(help), "-"+f+"\n") {
			skipOrFail(t, fmt.Sprintf("SKIP: the tether binary has no -%s flag; -h says:\n%s", f, help))
		}
	}
	return bin
}

// inbox collects a client's messages.
type inbox chan string

// next returns the next message, failing the test after timeout.
func (in inbox) next(t *testing.T, who string, timeout time.Duration) string {
	t.Helper()
	select {
	case m := <-in:
		return m
	case <-time.After(timeout):
		t.Fatalf("%s: no message within %v", who, timeout)
		return ""
	}
}

func dial(t *testing.T, url string) (*client.Client, inbox) {
	t.Helper()
	in := make(inbox, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, &client.Options{
		OnMessage: func(m tether.Message) { in <- string(m.Data) },
	})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c, in
}

func send(t *testing.T, c *client.Client, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Send(ctx, tether.Text, []byte(text)); err != nil {
		t.Fatalf("send %q: %v", text, err)
	}
}

// waitLog waits until the backend's log satisfies cond.
func (b *phpBackend) waitLog(what string, cond func([]logEntry) bool) []logEntry {
	b.t.Helper()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		log := b.log()
		if cond(log) {
			return log
		}
		select {
		case <-deadline:
			b.t.Fatalf("backend log: no %s within 20s; log:\n%+v", what, log)
		case <-tick.C:
		}
	}
}

// waitOutput waits until p's output contains s.
func (p *proc) waitOutput(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for !strings.Contains(p.out.String(), s) {
		select {
		case <-p.out.changed:
		case <-p.exited:
			t.Fatalf("%s exited while waiting for %q", p.name, s)
		case <-deadline:
			t.Fatalf("%s: no %q in its output within %v", p.name, s, timeout)
		}
	}
}

// messageKeys returns the idempotency keys of the message events with text.
func messageKeys(log []logEntry, text string) map[string]bool {
	keys := map[string]bool{}
	for _, e := range log {
		if e.Type == "message" && e.Event.Message != nil && e.Event.Message.Text == text {
			keys[e.Key] = true
		}
	}
	return keys
}

// TestEndToEnd runs the tether binary with the PHP backend as its
// webhook, and two Go clients in the room "lobby".
func TestEndToEnd(t *testing.T) {
	php := needPHP(t)
	bin := buildTether(t)

	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	b := startBackend(t, php, base, apiKey)
	srv := startProc(t, "tether", cleanEnv(), t.TempDir(), bin,
		"-addr", fmt.Sprintf("127.0.0.1:%d", port),
		"-webhook-url", b.url("/webhook"),
		"-webhook-secret", hookSecret,
		"-api-key", apiKey,
		"-anonymous",
	)
	waitHTTP(t, srv, base+"/healthz")

	ws := fmt.Sprintf("ws://127.0.0.1:%d/ws?room=lobby", port)
	c1, in1 := dial(t, ws)
	c2, in2 := dial(t, ws)
	const wait = 20 * time.Second

	// "/echo hi" is answered to the sender, through the webhook's Reply.
	send(t, c1, "/echo hi")
	if m := in1.next(t, "client 1", wait); m != "hi" {
		t.Fatalf("client 1 got %q, want the echo \"hi\"", m)
	}
	// Other text is broadcast to the lobby through the HTTP API: both get it.
	send(t, c1, "hello all")
	if m := in1.next(t, "client 1", wait); m != "hello all" {
		t.Fatalf("client 1 got %q, want the broadcast", m)
	}
	if m := in2.next(t, "client 2", wait); m != "hello all" {
		t.Fatalf("client 2 got %q, want the broadcast (and not the echo meant for client 1)", m)
	}

	// The backend saw both sessions open and the messages, all signed.
	// (It logs a request once it is done with it, after the broadcast:
	// wait for that before killing it below.)
	log := b.waitLog("open events for both clients and both messages", func(log []logEntry) bool {
		opened := map[string]bool{}
		for _, e := range log {
			if e.Type == "open" && e.Signature == "valid" && e.Status == 200 {
				opened[e.Event.Session] = true
			}
		}
		return opened[c1.SessionID()] && opened[c2.SessionID()] &&
			len(messageKeys(log, "/echo hi")) > 0 && len(messageKeys(log, "hello all")) > 0
	})
	for _, text := range []string{"/echo hi", "hello all"} {
		keys := messageKeys(log, text)
		if len(keys) != 1 {
			t.Errorf("message %q: keys %v, want one event", text, keys)
		}
		for k := range keys {
			if h := handled(log, k); len(h) != 1 || h[0].Event.Session != c1.SessionID() {
				t.Errorf("message %q handled %d times: %+v", text, len(h), h)
			}
		}
	}
	for _, e := range log {
		if e.Signature != "valid" {
			t.Errorf("a request with an invalid signature: %+v", e)
		}
	}

	// The backend goes down; a message sent meanwhile waits in tether,
	// which retries, and is handled once the backend is back.
	b.p.kill()
	send(t, c1, "/echo after restart")
	srv.waitOutput(t, "delivery failed, will retry", wait)
	b.start() // same port, same state directory
	if m := in1.next(t, "client 1", 30*time.Second); m != "after restart" {
		t.Fatalf("client 1 got %q, want \"after restart\"", m)
	}
	// Everything before a sentinel: the echo came exactly once.
	send(t, c1, "/echo sentinel")
	for {
		m := in1.next(t, "client 1", wait)
		if m == "sentinel" {
			break
		}
		t.Errorf("client 1 got %q before the sentinel: a repeat", m)
	}
	log = b.log()
	keys := messageKeys(log, "/echo after restart")
	if len(keys) != 1 {
		t.Fatalf("\"/echo after restart\" arrived under keys %v, want one", keys)
	}
	for k := range keys {
		if h := handled(log, k); len(h) != 1 {
			t.Errorf("\"/echo after restart\" (key %s) handled %d times, want exactly once", k, len(h))
		}
	}
}
