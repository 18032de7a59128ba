package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// devToken fetches a guest token from a server in development mode.
func devToken(t *testing.T, base string) string {
	t.Helper()
	resp, err := openAPI.Client(t).Get(base + "/demo/token")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/demo/token: %d %v %v", resp.StatusCode, m, err)
	}
	return m["token"].(string)
}

// TestDevSecretSurvivesRestart: in development mode the secret that signs
// guest tokens is kept in the user's state directory, said so at start,
// so that a client's token is still good after a restart: the client
// comes back to the new process (a new session) instead of being refused
// with 4401.
func TestDevSecretSurvivesRestart(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	addr := freePort(t)
	o := procOpts{addr: addr, env: []string{"XDG_STATE_HOME=" + state}, args: []string{"-api-key", apiKey, "-restart-jitter", "100ms"}}
	a := start(t, o)
	path := filepath.Join(state, "tether", "dev-secret")
	l := a.waitLog("development mode", func(l map[string]any) bool {
		return l["level"] == "WARN" && strings.Contains(l["msg"].(string), "DEVELOPMENT MODE") && l["dev_secret"] != nil
	})
	if l["dev_secret"] != path || !strings.Contains(l["msg"].(string), "for development only") {
		t.Errorf("start-up warning %v: want it to name %s, for development only", l, path)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("development secret file: %v, %v; want mode 0600", fi, err)
	}
	secret, _ := os.ReadFile(path)

	c, r := dial(t, a.wsURL(), devToken(t, "http://"+a.addr))
	old := c.SessionID()
	if code, _ := a.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	b := start(t, o)
	waitUntil(t, "a new session on the new process", func() bool { return len(eventsOf[client.SessionLost](r)) == 1 })
	if lost := eventsOf[client.SessionLost](r)[0]; lost.SessionID != old || lost.Reason != tether.ReasonRestarted {
		t.Errorf("session lost: %+v", lost)
	}
	if f := eventsOf[client.Failed](r); len(f) != 0 {
		t.Fatalf("the client gave up: %v", f[0].Err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(secret) {
		t.Error("the development secret changed across the restart")
	}
	// A token of the new process is good too, and so is the old one
	// for a new connection.
	dial(t, b.wsURL(), devToken(t, "http://"+b.addr))
}

// TestReadmeThreeNodes runs the three-node example of README.md's
// "Several servers" as it is written there: the first block in a shell
// (from the repository's root), then, once the nodes answer, the second.
// Clients on two nodes, with a guest token from the first (the nodes
// share the development secret through Redis), get the broadcast made
// through the third.
func TestReadmeThreeNodes(t *testing.T) {
	needRedis(t)
	// The example's ports are fixed: one run at a time on this machine.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "tether-readme-three-nodes.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	nodes := []string{"127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8083"}
	for _, a := range nodes {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("the README's example needs %s free: %v", a, err)
		}
		ln.Close()
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	section = section[strings.Index(section, "## Several servers"):]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) != 2 {
		t.Fatalf("%d sh blocks in README's Several servers, want 2", len(blocks))
	}
	start, try := blocks[0][1], blocks[1][1]
	for _, v := range regexp.MustCompile(`\$\{?([A-Z_]+)`).FindAllStringSubmatch(start+try, -1) {
		if !strings.Contains(start, "export "+v[1]+"=") {
			t.Errorf("the example uses $%s without defining it", v[1])
		}
	}

	sh := exec.Command("bash")
	sh.Dir = "../.."
	sh.Env = cleanEnv()
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs safeBuffer
	sh.Stderr = &logs
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = sh.Wait(); close(exited) }()
	defer func() {
		_ = syscall.Kill(-sh.Process.Pid, syscall.SIGTERM) // the shell and the three nodes
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-sh.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("the nodes' log:\n%s", logs.String())
		}
	}()
	out := bufio.NewReader(stdout)
	if _, err := io.WriteString(stdin, start+"\necho \"key=$TETHER_API_KEY\"\n"); err != nil {
		t.Fatal(err)
	}
	line, err := out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "key=") || len(line) < 10 {
		t.Fatalf("the API key: %q %v", line, err)
	}
	key := strings.TrimSpace(strings.TrimPrefix(line, "key="))

	// The build may take a while; then the nodes answer.
	deadline := time.Now().Add(3 * time.Minute)
	for _, a := range nodes {
		for {
			resp, err := openAPI.Client(t).Get("http://" + a + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s never answered: %v", a, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if n := strings.Count(logs.String(), `dev_secret="Redis key tether:dev-secret"`); n != 3 {
		t.Errorf("%d nodes said their development secret is in Redis, want 3", n)
	}

	// A guest token from node a is good on node b.
	tok := devToken(t, "http://"+nodes[0])
	ca, ra := dial(t, "ws://"+nodes[0]+"/ws", tok)
	cb, rb := dial(t, "ws://"+nodes[1]+"/ws", tok)
	defer func() {
		// Before the nodes stop: their sessions end, rather than wait in
		// Redis for a node to expire them.
		for _, c := range []*client.Client{ca, cb} {
			ctx, cancel := context.WithTimeout(bg, 5*time.Second)
			_ = c.Close(ctx)
			cancel()
		}
	}()
	c := &proc{t: t, addr: nodes[2], apiKey: key}
	waitUntil(t, "both sessions in the lobby", func() bool {
		// (A run interrupted earlier may have left sessions there.)
		st, m := c.call("GET", "/api/rooms/lobby", nil)
		members, _ := m["members"].([]any)
		return st == 200 && slices.Contains(members, any(ca.SessionID())) && slices.Contains(members, any(cb.SessionID()))
	})

	if _, err := io.WriteString(stdin, try+"\necho\n"); err != nil {
		t.Fatal(err)
	}
	line, err = out.ReadString('\n')
	var ans struct {
		Stored bool
		Queued int
	}
	if err != nil || json.Unmarshal([]byte(line), &ans) != nil || !ans.Stored || ans.Queued < 2 {
		t.Fatalf("the broadcast answered %q %v", line, err)
	}
	for i, r := range []*rec{ra, rb} {
		waitUntil(t, fmt.Sprint("client ", i, " gets the broadcast"), func() bool {
			got := r.texts()
			return len(got) > 0 && got[len(got)-1] == "hello from c"
		})
	}
}

// safeBuffer is a bytes.Buffer for a writer and readers on other goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
