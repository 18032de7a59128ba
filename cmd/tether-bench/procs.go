package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// roleEnv names the role a re-executed copy of this program plays.
const roleEnv = "TETHER_BENCH_ROLE"

// selfCommand returns a command running this program in a role. In a test
// binary it is the test binary, whose TestMain dispatches on roleEnv.
func selfCommand(role string, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	return cmd, nil
}

// proc is a worker or proxy process spoken to in JSON lines.
type proc struct {
	name    string
	cmd     *exec.Cmd
	in      io.WriteCloser
	inMu    sync.Mutex
	replies chan event
	tick    atomic.Pointer[tick]
	exited  chan struct{}
	waitErr error
}

// startPiped starts cmd with pipes to its stdin and from its stdout, its
// stderr prefixed with name unless set, killed if this process dies; in
// its own process group if group (so that its children can be killed
// with it).
func startPiped(name string, cmd *exec.Cmd, group bool) (io.WriteCloser, io.ReadCloser, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if cmd.Stderr == nil {
		cmd.Stderr = prefixWriter(name)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: group}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", name, err)
	}
	return in, stdout, nil
}

// startProc starts cmd and reads its events; the first line may be read
// by the caller with next (the proxy's "ready").
func startProc(name string, cmd *exec.Cmd) (*proc, error) {
	p := &proc{name: name, cmd: cmd, replies: make(chan event, 16), exited: make(chan struct{})}
	in, stdout, err := startPiped(name, cmd, false)
	if err != nil {
		return nil, err
	}
	p.in = in
	go func() {
		_ = readLines(stdout, func(line []byte) {
			var ev event
			if err := json.Unmarshal(line, &ev); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %s\n", name, line)
				return
			}
			if ev.Ev == "tick" {
				if ev.Tick != nil {
					p.tick.Store(ev.Tick)
				}
				return
			}
			p.replies <- ev
		})
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// next waits for the process's next reply.
func (p *proc) next(timeout time.Duration) (event, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case ev := <-p.replies:
		if ev.Ev == "error" {
			return ev, fmt.Errorf("%s: %s", p.name, ev.Err)
		}
		return ev, nil
	case <-p.exited:
		select {
		case ev := <-p.replies:
			return ev, nil
		default:
		}
		return event{}, fmt.Errorf("%s exited: %v", p.name, p.waitErr)
	case <-t.C:
		return event{}, fmt.Errorf("%s: no reply within %v", p.name, timeout)
	}
}

// call sends a command and waits for its reply.
func (p *proc) call(cmd command, timeout time.Duration) (event, error) {
	b, _ := json.Marshal(cmd)
	p.inMu.Lock()
	_, err := p.in.Write(append(b, '\n'))
	p.inMu.Unlock()
	if err != nil {
		return event{}, fmt.Errorf("%s: %w", p.name, err)
	}
	ev, err := p.next(timeout)
	if err == nil && ev.Ev != cmd.Cmd {
		err = fmt.Errorf("%s: answered %q to %q", p.name, ev.Ev, cmd.Cmd)
	}
	return ev, err
}

// stop asks the process to quit, closes its stdin and kills it if it
// lingers.
func (p *proc) stop(timeout time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	_, _ = p.call(command{Cmd: "quit"}, timeout)
	p.in.Close()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// prefixWriter copies a child's stderr to ours, line by line, prefixed.
func prefixWriter(name string) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintf(os.Stderr, "  [%s] %s\n", name, sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return pw
}

// server is a server process the tool started.
type server struct {
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	addr string // host:port it listens on
	done chan struct{}
	err  error
}

// startServer starts a server command. If it prints "listening <addr>"
// on stdout before readiness, addr is taken from there; otherwise addr
// must be given and is polled until it accepts connections.
func startServer(ctx context.Context, name string, cmd *exec.Cmd, addr string) (*server, error) {
	s := &server{name: name, cmd: cmd, done: make(chan struct{})}
	in, stdout, err := startPiped(name, cmd, true)
	if err != nil {
		return nil, err
	}
	s.in = in
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "listening "); ok {
				select {
				case listening <- a:
				default:
				}
				continue
			}
			fmt.Fprintf(os.Stderr, "  [%s] %s\n", name, sc.Text())
		}
		s.err = cmd.Wait()
		close(s.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for s.addr == "" {
		select {
		case a := <-listening:
			s.addr = a
		case <-s.done:
			return nil, fmt.Errorf("%s exited: %v", name, s.err)
		case <-ctx.Done():
			s.stop()
			return nil, fmt.Errorf("%s: not listening: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
			if addr != "" && dialable(addr) {
				s.addr = addr
			}
		}
	}
	if err := checkLoopbackAddr(s.addr); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop ends the server: stdin closed, SIGTERM, SIGKILL after 10 s.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.in.Close()
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}
