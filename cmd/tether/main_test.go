package main

// These tests build the tether binary once and run it as a process,
// driven over HTTP and WebSocket (the Go client).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/cmd/tether/internal/contract"
)

var binary string // built by TestMain

// stateHome is the XDG_STATE_HOME of every server the tests start (unless
// a test gives its own): development mode keeps its secret there, not in
// the home directory of whoever runs the tests.
var stateHome string

// raceBuild is set by race_test.go when the tests run with -race: the
// binary is then built with the race detector too.
var raceBuild bool

var bg = context.Background()

// waitTimeout bounds every wait; a passing test never waits this long.
const waitTimeout = 15 * time.Second

// openAPI is docs/openapi.yaml: every API call the tests make goes through
// openAPI.Client (or .Transport), and every webhook the test backends
// receive through openAPI.CheckWebhook, so that the server and its document
// cannot drift apart (see contract_test.go).
var openAPI *contract.Contract

func TestMain(m *testing.M) {
	var err error
	if openAPI, err = contract.Load(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "tether-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "tether")
	stateHome = filepath.Join(dir, "state")
	args := []string{"build", "-o", binary}
	if raceBuild {
		args = append(args, "-race")
	}
	if portableBuild {
		args = append(args, "-tags", "tether_portable")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot build tether:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		code = checkCoverage()
	}
	os.Exit(code)
}

// cleanEnv is the test's environment without TETHER_ variables, with
// XDG_STATE_HOME in the tests' directory; extra comes last (and wins).
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TETHER_") && !strings.HasPrefix(kv, "XDG_STATE_HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "XDG_STATE_HOME="+stateHome)
	return append(env, extra...)
}

// runOnce runs the binary to completion and returns its exit code,
// stdout and stderr.
func runOnce(t *testing.T, args []string, env ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = cleanEnv(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// proc is a running server.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string // host:port
	apiKey string

	mu    sync.Mutex
	lines []map[string]any // JSON log lines
	raw   []string
	cond  chan struct{} // closed and replaced on each log line

	exited chan struct{}
	code   int
}

type procOpts struct {
	args []string
	env  []string
	addr string // default 127.0.0.1:0
}

// start runs the server with JSON logs and waits until it listens.
func start(t *testing.T, o procOpts) *proc {
	t.Helper()
	addr := o.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	args := append([]string{"-addr", addr, "-log-format", "json", "-log-level", "debug"}, o.args...)
	cmd := exec.Command(binary, args...)
	cmd.Env = cleanEnv(o.env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, cond: make(chan struct{}), exited: make(chan struct{})}
	go p.read(stderr)
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			p.mu.Lock()
			n := len(p.raw)
			first := max(0, n-60)
			t.Logf("server log (last %d of %d lines):\n%s", n-first, n, strings.Join(p.raw[first:], "\n"))
			p.mu.Unlock()
		}
	})
	line := p.waitLog("listening", func(l map[string]any) bool { return l["msg"] == "tether: listening" })
	p.addr = line["addr"].(string)
	p.mu.Lock()
	for _, l := range p.lines {
		if k, ok := l["api_key"].(string); ok {
			p.apiKey = k
		}
	}
	p.mu.Unlock()
	return p
}

func (p *proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		_ = json.Unmarshal(sc.Bytes(), &m)
		p.mu.Lock()
		p.raw = append(p.raw, sc.Text())
		if m != nil {
			p.lines = append(p.lines, m)
		}
		close(p.cond)
		p.cond = make(chan struct{})
		p.mu.Unlock()
	}
	err := p.cmd.Wait()
	p.code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		p.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.code = -int(ws.Signal())
		}
	}
	close(p.exited)
}

// waitLog waits for a log line matching fn and returns it.
func (p *proc) waitLog(what string, fn func(map[string]any) bool) map[string]any {
	p.t.Helper()
	deadline := time.After(waitTimeout)
	seen := 0
	for {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			if fn(p.lines[seen]) {
				l := p.lines[seen]
				p.mu.Unlock()
				return l
			}
		}
		ch := p.cond
		p.mu.Unlock()
		select {
		case <-ch:
		case <-p.exited:
			p.mu.Lock()
			raw := strings.Join(p.raw, "\n")
			p.mu.Unlock()
			p.t.Fatalf("server exited (code %d) while waiting for log %q:\n%s", p.code, what, raw)
		case <-deadline:
			p.t.Fatalf("timed out waiting for log %q", what)
		}
	}
}

// signal sends sig and waits for the process to exit; it returns the
// exit code and how long the exit took.
func (p *proc) stop(sig os.Signal) (int, time.Duration) {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(45 * time.Second):
		p.t.Fatal("server did not exit after", sig)
	}
	return p.code, time.Since(start)
}

func (p *proc) url(path string) string { return "http://" + p.addr + path }
func (p *proc) wsURL() string          { return "ws://" + p.addr + "/ws" }

// call makes an API request with the server's API key and returns the
// status and the decoded JSON answer.
func (p *proc) call(method, path string, body any) (int, map[string]any) {
	p.t.Helper()
	return p.callKey(p.apiKey, method, path, body)
}

func (p *proc) callKey(key, method, path string, body any) (int, map[string]any) {
	p.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, p.url(path), rd)
	if err != nil {
		p.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := openAPI.Client(p.t).Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		p.t.Fatalf("%s %s: %d, not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

// errCode returns the error code of an error answer.
func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// rec records what a client receives.
type rec struct {
	mu     sync.Mutex
	msgs   []tether.Message
	events []client.Event
}

func (r *rec) options(token string) *client.Options {
	o := &client.Options{
		InitialDelay: 50 * time.Millisecond, MaxDelay: 500 * time.Millisecond,
		OnMessage: func(m tether.Message) {
			r.mu.Lock()
			r.msgs = append(r.msgs, m)
			r.mu.Unlock()
		},
		OnEvent: func(e client.Event) {
			r.mu.Lock()
			r.events = append(r.events, e)
			r.mu.Unlock()
		},
	}
	if token != "" {
		o.Header = http.Header{"Authorization": {"Bearer " + token}}
	}
	return o
}

func (r *rec) texts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		out = append(out, string(m.Data))
	}
	return out
}

func eventsOf[T client.Event](r *rec) []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []T
	for _, e := range r.events {
		if v, ok := e.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// dial connects a client with a token (empty: none) and closes it at
// the end of the test.
func dial(t *testing.T, url, token string) (*client.Client, *rec) {
	t.Helper()
	r := &rec{}
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, url, r.options(token))
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(bg, 2*time.Second)
		defer cancel()
		_ = c.Close(ctx)
		<-c.Done()
	})
	return c, r
}

// dialErr dials and expects a refusal; it returns the error.
func dialErr(t *testing.T, url string, opts *client.Options) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	if opts == nil {
		opts = (&rec{}).options("")
	}
	c, err := client.Dial(ctx, url, opts)
	if err == nil {
		_ = c.Close(ctx)
		<-c.Done()
		t.Fatalf("dial %s succeeded; want a refusal", url)
	}
	return err
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// token signs claims for user sub with key (HS256 for []byte, else the
// method given).
func token(t *testing.T, method jwt.SigningMethod, key any, sub string, rooms []string, exp time.Duration) string {
	t.Helper()
	c := jwt.MapClaims{"sub": sub, "exp": time.Now().Add(exp).Unix()}
	if rooms != nil {
		c["rooms"] = rooms
	}
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const testSecret = "0123456789abcdef0123456789abcdef"

func hs(t *testing.T, sub string, rooms ...string) string {
	return token(t, jwt.SigningMethodHS256, []byte(testSecret), sub, rooms, time.Hour)
}

// freePort returns an address nothing listens on (for restarts).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// sessionIDs lists the IDs GET /api/sessions returns with the query.
func (p *proc) sessionIDs(query string) []string {
	p.t.Helper()
	st, m := p.call("GET", "/api/sessions"+query, nil)
	if st != 200 {
		p.t.Fatalf("list sessions: %d %v", st, m)
	}
	var ids []string
	for _, s := range m["sessions"].([]any) {
		ids = append(ids, s.(map[string]any)["id"].(string))
	}
	return ids
}
