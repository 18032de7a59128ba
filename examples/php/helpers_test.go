//go:build unix

package php_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-ws/tether/internal/webhook"
)

// requireAll is set by CI (TETHER_REQUIRE_ALL=1): a test that would skip
// for want of PHP or of the tether binary fails instead.
var requireAll = os.Getenv("TETHER_REQUIRE_ALL") == "1"

// skipOrFail skips with a loud message, or fails under TETHER_REQUIRE_ALL=1.
func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if requireAll {
		t.Fatalf("%s\n(TETHER_REQUIRE_ALL=1 makes this a failure)", msg)
	}
	t.Skip(msg)
}

// needPHP returns the php binary, or skips (fails under TETHER_REQUIRE_ALL=1).
func needPHP(t *testing.T) string {
	t.Helper()
	php, err := exec.LookPath("php")
	if err != nil {
		skipOrFail(t, "SKIP: php not installed (apt-get install -y php-cli)")
	}
	return php
}

// exampleDir is this directory, absolute: php -S serves from it.
func exampleDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// freePort returns a TCP port on 127.0.0.1 nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// cleanEnv is the test's environment without TETHER_ variables, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TETHER_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// syncBuffer collects a process's output; changed is rung on each write.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a child process, killed (with its process group) at cleanup.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

func startProc(t *testing.T, name string, env []string, dir string, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	out := newSyncBuffer()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- %s output:\n%s", name, out)
		}
	})
	return p
}

// stop ends the process group: SIGTERM, then SIGKILL after 5s.
func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// kill ends the process group at once, as a crash would.
func (p *proc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// waitHTTP waits until GET url answers 200, failing if p exits first.
func waitHTTP(t *testing.T, p *proc, url string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before %s answered:\n%s", p.name, url, p.out)
		case <-deadline:
			t.Fatalf("%s: %s did not answer 200 within 15s (last error %v):\n%s", p.name, url, err, p.out)
		case <-tick.C:
		}
	}
}

// phpBackend is the example backend under php -S.
type phpBackend struct {
	t        *testing.T
	php      string
	port     int
	env      []string
	stateDir string
	p        *proc
}

const hookSecret = "whsec_php-example-test"

// startBackend starts php -S with router.php on a free port. apiURL and
// apiKey are the tether API it calls.
func startBackend(t *testing.T, php, apiURL, apiKey string) *phpBackend {
	t.Helper()
	b := &phpBackend{t: t, php: php, port: freePort(t), stateDir: t.TempDir()}
	b.env = cleanEnv(
		"TETHER_WEBHOOK_SECRET="+hookSecret,
		"TETHER_API_URL="+apiURL,
		"TETHER_API_KEY="+apiKey,
		"TETHER_EXAMPLE_STATE_DIR="+b.stateDir,
	)
	b.start()
	return b
}

func (b *phpBackend) start() {
	b.t.Helper()
	b.p = startProc(b.t, "php -S", b.env, exampleDir(b.t), b.php, "-S", fmt.Sprintf("127.0.0.1:%d", b.port), "router.php")
	waitHTTP(b.t, b.p, b.url("/healthz"))
}

func (b *phpBackend) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", b.port, path)
}

// logEntry is one line of the backend's events.log.
type logEntry struct {
	Key       string          `json:"key"`
	Type      string          `json:"type"`
	Signature string          `json:"signature"`
	Duplicate bool            `json:"duplicate"`
	Status    int             `json:"status"`
	Problem   *string         `json:"problem"`
	Event     webhook.Event   `json:"event"`
	Response  json.RawMessage `json:"response"`
}

// log reads events.log.
func (b *phpBackend) log() []logEntry {
	b.t.Helper()
	f, err := os.Open(filepath.Join(b.stateDir, "events.log"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	var out []logEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e logEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			b.t.Fatalf("events.log line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		b.t.Fatal(err)
	}
	return out
}

// handled returns the log entries of key that did the work (not repeats).
func handled(log []logEntry, key string) []logEntry {
	var out []logEntry
	for _, e := range log {
		if e.Key == key && e.Signature == "valid" && !e.Duplicate && e.Status < 300 {
			out = append(out, e)
		}
	}
	return out
}

// sign computes a Tether-Signature header, independently of package webhook.
func sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// post sends body to the backend's /webhook as tether would, signature
// header as given ("" for none); it returns the status and answer.
func post(t *testing.T, url, key, typ, signature string, body []byte) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Tether-Event", typ)
	req.Header.Set("Tether-Idempotency-Key", key)
	if signature != "" {
		req.Header.Set("Tether-Signature", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, buf.Bytes()
}
