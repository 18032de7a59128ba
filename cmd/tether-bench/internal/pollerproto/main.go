//go:build linux

// Command pollerproto compares readiness-driven I/O layers for Core v2
// (issue 12, part 2) against the goroutine-per-connection gobwas/ws floor.
// Each prototype is an http.Handler on a standard net/http server: it
// upgrades with gobwas/ws, hijacks the connection, hands its fd to the
// poller and then echoes client messages, holding idle connections with
// no goroutine and no buffer. It is an evaluation tool, not library code:
// see docs/DESIGN.md, "I/O layer: the choice".
//
// # Usage (Linux)
//
//	go run ./cmd/tether-bench/internal/pollerproto -mode idle -server epoll -n 19000
//	go run ./cmd/tether-bench/internal/pollerproto -mode fanout -server nbio -n 2000 -msgs 2000 -rate 20
//
// -server is one of raw (gobwas/ws, goroutine per connection: the
// floor), epoll (hand-written on golang.org/x/sys/unix), nbio
// (lesismal/nbio Engine.AddConn), gnet (panjf2000/gnet/v2
// Client.EnrollContext), netpoll (cloudwego/netpoll NewFDConnection on a
// dup of the hijacked fd).
//
// The server runs in this process on 127.0.0.1; the clients run in child
// processes (copies of this program, at most -per connections each, child
// i dialling from 127.0.0.(2+i)), which end when their standard input, a
// pipe from this process, reaches EOF, and after -timeout in any case.
// Every client first sends one 5-byte message on each connection and
// waits for its echo, so the read and write paths of every connection
// have run once before anything is measured.
//
// idle: RSS, Go heap and stack and goroutines of this process, after
// runtime.GC and debug.FreeOSMemory, before any client and after all -n
// connections have idled -idle; the difference divided by -n.
//
// fanout: once all -n connections are up, this process writes -msgs
// messages of -size bytes at -rate per second, each one to every
// connection in turn from one goroutine (one precompiled frame per
// message, as tether-bench's rawserve does), and reports its own CPU time
// (getrusage, user+system) over that window divided by the deliveries,
// and the voluntary context switches. The clients count what they receive
// and the run fails unless every connection got every message.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tether-ws/tether/cmd/tether-bench/internal/loadtest"
)

var (
	flagMode    = flag.String("mode", "idle", "idle or fanout")
	flagServer  = flag.String("server", "epoll", "raw, epoll, nbio, gnet or netpoll")
	flagN       = flag.Int("n", 5000, "connections")
	flagPoll    = flag.Int("pollers", runtime.NumCPU(), "poller goroutines (epoll, nbio, gnet); netpoll picks its own")
	flagIdle    = flag.Duration("idle", 5*time.Second, "idle mode: how long the connections idle before the measurement")
	flagMsgs    = flag.Int("msgs", 2000, "fanout mode: messages")
	flagSize    = flag.Int("size", 100, "fanout mode: payload bytes")
	flagRate    = flag.Float64("rate", 20, "fanout mode: messages per second")
	flagTimeout = flag.Duration("timeout", 8*time.Minute, "bound on the whole run, children included")
	flagConnect = flag.Duration("connect-timeout", 2*time.Minute, "bound on establishing all connections")
	flagPer     = flag.Int("per", 9500, "most connections per client process")
	flagConc    = flag.Int("conc", 32, "concurrent dials per client process")

	// Child mode.
	flagClients = flag.Int("clients", 0, "child mode: hold this many connections")
	flagURL     = flag.String("url", "", "child mode: server URL")
	flagSrc     = flag.String("src", "127.0.0.2", "child mode: loopback source address")
)

func main() {
	flag.Parse()
	if *flagClients > 0 {
		os.Exit(child())
	}
	if err := parent(); err != nil {
		fmt.Fprintln(os.Stderr, "pollerproto:", err)
		os.Exit(1)
	}
}

func newBackend(name string, npoll int) (backend, error) {
	switch name {
	case "raw":
		return &rawBackend{}, nil
	case "epoll":
		return newEpollBackend(npoll)
	case "nbio":
		return newNbioBackend(npoll)
	case "gnet":
		return newGnetBackend(npoll)
	case "netpoll":
		return &netpollBackend{}, nil
	}
	return nil, fmt.Errorf("unknown -server %q", name)
}

type sample struct {
	rssKB      int64
	heapInuse  uint64
	stackInuse uint64
	goroutines int
}

func measure() (sample, error) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, err := loadtest.RSS(0)
	return sample{rssKB: rss, heapInuse: ms.HeapInuse, stackInuse: ms.StackInuse, goroutines: runtime.NumGoroutine()}, err
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

type kid struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func parent() error {
	n := *flagN
	if n <= 0 || *flagPer <= 0 {
		return errors.New("-n and -per must be positive")
	}
	if *flagMode != "idle" && *flagMode != "fanout" {
		return fmt.Errorf("unknown -mode %q", *flagMode)
	}
	kids := (n + *flagPer - 1) / *flagPer
	if kids > 250 {
		return fmt.Errorf("-n %d needs %d client processes; at most 250 source addresses", n, kids)
	}
	deadline := time.Now().Add(*flagTimeout)
	stopAll := time.AfterFunc(*flagTimeout+30*time.Second, func() {
		fmt.Fprintln(os.Stderr, "pollerproto: timed out")
		os.Exit(2)
	})
	defer stopAll.Stop()

	be, err := newBackend(*flagServer, *flagPoll)
	if err != nil {
		return err
	}
	defer be.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	hs := &http.Server{Handler: be, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	url := "ws://" + ln.Addr().String() + "/"

	before, err := measure()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var children []*kid
	defer func() {
		for _, k := range children {
			k.stdin.Close()
		}
		for _, k := range children {
			done := make(chan struct{})
			go func() { _ = k.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = k.cmd.Process.Kill()
				<-done
			}
		}
	}()
	perMsg := 0
	if *flagMode == "fanout" {
		perMsg = *flagMsgs
	}
	for i := range kids {
		k := n / kids
		if i < n%kids {
			k++
		}
		cmd := exec.Command(exe, "-clients", strconv.Itoa(k), "-url", url,
			"-src", fmt.Sprintf("127.0.0.%d", 2+i), "-msgs", strconv.Itoa(perMsg),
			"-conc", strconv.Itoa(*flagConc), "-timeout", time.Until(deadline).String())
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		kd := &kid{cmd: cmd, stdin: stdin, lines: make(chan string, 4)}
		children = append(children, kd)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				kd.lines <- sc.Text()
			}
			close(kd.lines)
		}()
	}
	connectBy := time.NewTimer(*flagConnect)
	defer connectBy.Stop()
	start := time.Now()
	for _, k := range children {
		select {
		case line := <-k.lines:
			if !strings.HasPrefix(line, "ready ") {
				return fmt.Errorf("client process: %q", line)
			}
		case <-connectBy.C:
			return fmt.Errorf("connections not established within %v (server holds %d of %d)", *flagConnect, be.count(), n)
		}
	}
	for be.count() < n {
		select {
		case <-connectBy.C:
			return fmt.Errorf("server holds %d of %d connections after %v", be.count(), n, *flagConnect)
		case <-time.After(50 * time.Millisecond):
		}
	}
	fmt.Fprintf(os.Stderr, "pollerproto: %d %s connections in %v\n", n, *flagServer, time.Since(start).Round(time.Millisecond))
	if *flagMode == "idle" {
		return idle(be, before)
	}
	return fanout(be, children)
}

func idle(be backend, before sample) error {
	n := *flagN
	time.Sleep(*flagIdle)
	if c := be.count(); c != n {
		return fmt.Errorf("server holds %d connections after idling, want %d", c, n)
	}
	after, err := measure()
	if err != nil {
		return err
	}
	fn := float64(n)
	fmt.Printf("idle server=%-8s n=%d RSS0=%.1fMiB RSS=%.1fMiB RSS_KB/conn=%.2f heap_KB/conn=%.2f stack_KB/conn=%.2f goroutines/conn=%.3f goroutines=%d load=%s\n",
		*flagServer, n, float64(before.rssKB)/1024, float64(after.rssKB)/1024,
		float64(after.rssKB-before.rssKB)/fn,
		(float64(after.heapInuse)-float64(before.heapInuse))/1024/fn,
		(float64(after.stackInuse)-float64(before.stackInuse))/1024/fn,
		float64(after.goroutines-before.goroutines)/fn, after.goroutines, loadavg())
	return nil
}

type usage struct {
	cpu  time.Duration
	nvcs int64
}

func rusage() usage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return usage{
		cpu:  time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		nvcs: ru.Nvcsw,
	}
}

func fanout(be backend, children []*kid) error {
	peers := be.peers()
	payload := make([]byte, *flagSize)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	interval := time.Duration(float64(time.Second) / *flagRate)
	load0 := loadavg()
	u0 := rusage()
	t0 := time.Now()
	var deliveries, failed int
	for i := range *flagMsgs {
		if d := time.Until(t0.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		copy(payload, strconv.Itoa(i))
		frame := serverFrame(opText, payload)
		for _, p := range peers {
			if p.write(frame) == nil {
				deliveries++
			} else {
				failed++
			}
		}
	}
	wall := time.Since(t0)
	u1 := rusage()
	// Every client must have received every message.
	want := *flagMsgs
	var got, short int
	for _, k := range children {
		select {
		case line := <-k.lines:
			var rcv, conns, low int
			if _, err := fmt.Sscanf(line, "received %d on %d min %d", &rcv, &conns, &low); err != nil {
				return fmt.Errorf("client process: %q", line)
			}
			got += rcv
			if low < want {
				short++
			}
		case <-time.After(2 * time.Minute):
			return errors.New("client process did not report what it received")
		}
	}
	cpu := u1.cpu - u0.cpu
	fmt.Printf("fanout server=%-8s n=%d msgs=%d size=%d rate=%g wall=%v cpu=%v deliveries=%d failed=%d received=%d cpu_us/delivery=%.3f vol_ctxsw=%d load=%s..%s\n",
		*flagServer, len(peers), *flagMsgs, *flagSize, *flagRate, wall.Round(time.Millisecond), cpu.Round(time.Millisecond),
		deliveries, failed, got, float64(cpu.Microseconds())/float64(max(deliveries, 1)), u1.nvcs-u0.nvcs, load0, loadavg())
	if got != len(peers)*want || short > 0 {
		return fmt.Errorf("clients received %d messages, want %d", got, len(peers)*want)
	}
	return nil
}
