// Command memcheck measures how much server memory an idle Tether session
// costs, next to the floor it is built on: a bare gobwas/ws server with
// one goroutine per connection blocked in a read.
//
// # Usage
//
//	go run ./cmd/tether-bench/internal/memcheck -n 19000        # Tether server, default options
//	go run ./cmd/tether-bench/internal/memcheck -n 19000 -raw   # bare gobwas/ws server
//	go run ./cmd/tether-bench/internal/memcheck -n 19000 -memprofile heap.prof  # and where the heap goes
//
// # What it does
//
// The server runs in this process on 127.0.0.1, on an ephemeral port, and
// nothing else does: the clients run in child processes, copies of this
// program started with -clients K -url U -src A, each holding at most
// -per (9,500) connections so that neither side needs more than 20,000
// open files. Child i dials from source address 127.0.0.(2+i), so no
// source address runs out of ephemeral ports (on Linux with
// IP_BIND_ADDRESS_NO_PORT, so the port is picked at connect time). Tether children use the Go
// client (client.Dial); -raw children use a gobwas/ws Dialer and never
// read or write after the handshake. Children exit when their standard
// input, a pipe from this process, reaches EOF, so they end with it, and
// after -timeout in any case.
//
// The server's memory is sampled twice, each time after runtime.GC and
// debug.FreeOSMemory: once before any client connects, and once after all
// -n sessions are established and have idled for -idle (5 s). The report
// divides the difference by -n: resident set size (VmRSS from
// /proc/self/status), Go heap in use (runtime.MemStats.HeapInuse),
// goroutine stacks in use (StackInuse) and goroutines. Kernel socket
// buffers are not in the resident set and not counted.
//
// Every phase is bounded: connecting by -connect-timeout, the whole run by
// -timeout. All traffic stays on 127.0.0.0/8.
//
// # Results
//
// On the 2-core, 24 GiB development VM (Go 1.26, default server options,
// sessions idle 5 s; per session; BENCHMARKS.md has the history):
//
//	server                      sessions  RSS KB  heap KB  goroutines
//	tether, portable path          19000    7.78        —        1.00
//	tether, poller path            19000    2.35     2.12        0.00
//	raw gobwas/ws                  19000    5.84     1.07        1.00
//
// On Linux an idle Tether session holds no goroutine and no buffer: its
// Session, conn, ws.Conn, the poller's record of the socket, the memory
// store's record, an entry in the heartbeat wheel and the map entries
// that index them. On the portable path (other platforms, TLS,
// -tags tether_portable) a reader goroutine's stack (4 KB) is most of it.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gobwas "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/cmd/tether-bench/internal/loadtest"
)

var (
	flagN       = flag.Int("n", 5000, "idle sessions to hold on the server")
	flagRaw     = flag.Bool("raw", false, "measure a bare gobwas/ws server (goroutine per connection blocked in a read) instead of Tether")
	flagIdle    = flag.Duration("idle", 5*time.Second, "how long the sessions idle before the measurement")
	flagTimeout = flag.Duration("timeout", 4*time.Minute, "bound on the whole run, children included")
	flagConnect = flag.Duration("connect-timeout", 2*time.Minute, "bound on establishing all sessions")
	flagPer     = flag.Int("per", 9500, "most connections per client process")
	flagConc    = flag.Int("conc", 32, "concurrent dials per client process")
	flagProf    = flag.String("memprofile", "", "write the server's heap profile, taken at the measurement and sampling every allocation, to this file")
	flagUsers   = flag.Bool("users", false, "give each session a user of its own (as an app with sign-in does) instead of the anonymous user")

	// Child mode.
	flagClients = flag.Int("clients", 0, "child mode: hold this many client connections")
	flagURL     = flag.String("url", "", "child mode: server URL")
	flagSrc     = flag.String("src", "127.0.0.2", "child mode: source address to dial from")
)

var discard = slog.New(slog.DiscardHandler)

func main() {
	flag.Parse()
	if *flagClients > 0 {
		os.Exit(child())
	}
	if *flagProf != "" {
		// Every allocation sampled: a session's objects are a few hundred
		// bytes, far below the default rate's 512 KiB between samples.
		runtime.MemProfileRate = 1
	}
	if err := parent(); err != nil {
		fmt.Fprintln(os.Stderr, "memcheck:", err)
		os.Exit(1)
	}
}

// sample is the server process's memory at one moment.
type sample struct {
	rssKB      int64
	heapInuse  uint64
	stackInuse uint64
	goroutines int
}

// measure collects garbage, returns free memory to the OS and samples.
func measure() (sample, error) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, err := loadtest.RSS(0)
	return sample{rssKB: rss, heapInuse: ms.HeapInuse, stackInuse: ms.StackInuse, goroutines: runtime.NumGoroutine()}, err
}

func parent() error {
	n := *flagN
	if n <= 0 || *flagPer <= 0 {
		return errors.New("-n and -per must be positive")
	}
	kids := (n + *flagPer - 1) / *flagPer
	if kids > 250 {
		return fmt.Errorf("-n %d needs %d client processes; at most 250 source addresses", n, kids)
	}
	deadline := time.Now().Add(*flagTimeout)
	stopAll := time.AfterFunc(*flagTimeout+30*time.Second, func() {
		fmt.Fprintln(os.Stderr, "memcheck: timed out")
		os.Exit(2)
	})
	defer stopAll.Stop()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	kind := "tether"
	var count func() int
	var handler http.Handler
	if *flagRaw {
		kind = "raw gobwas/ws"
		rs := &rawServer{}
		handler, count = rs, rs.count
	} else {
		o := &tether.Options{Logger: discard}
		if *flagUsers {
			var n atomic.Int64
			o.Authenticate = func(*http.Request) (string, error) { return "user-" + strconv.FormatInt(n.Add(1), 10), nil }
		}
		srv := tether.NewServer(o)
		handler, count = srv, srv.Len
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	url := "ws://" + ln.Addr().String() + "/"

	before, err := measure()
	if err != nil {
		return err
	}

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	type kid struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
	}
	var children []kid
	defer func() {
		// Closing stdin ends each child; kill any that lingers.
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
	ready := make(chan string, kids)
	start := time.Now()
	for i := range kids {
		k := n / kids
		if i < n%kids {
			k++
		}
		remaining := time.Until(deadline)
		cmd := exec.Command(exe, "-clients", strconv.Itoa(k), "-url", url,
			"-src", fmt.Sprintf("127.0.0.%d", 2+i), "-raw="+strconv.FormatBool(*flagRaw),
			"-conc", strconv.Itoa(*flagConc), "-timeout", remaining.String())
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
		children = append(children, kid{cmd, stdin})
		go func() {
			sc := bufio.NewScanner(stdout)
			line := "exited before connecting"
			if sc.Scan() {
				line = sc.Text()
			}
			ready <- line
			_, _ = io.Copy(io.Discard, stdout)
		}()
	}
	connectBy := time.NewTimer(*flagConnect)
	defer connectBy.Stop()
	for range kids {
		select {
		case line := <-ready:
			if !strings.HasPrefix(line, "ready ") {
				return fmt.Errorf("client process: %s", line)
			}
		case <-connectBy.C:
			return fmt.Errorf("sessions not established within %v (server holds %d of %d)", *flagConnect, count(), n)
		}
	}
	for count() < n {
		select {
		case <-connectBy.C:
			return fmt.Errorf("server holds %d of %d sessions after %v", count(), n, *flagConnect)
		case <-time.After(50 * time.Millisecond):
		}
	}
	connected := time.Since(start)
	fmt.Fprintf(os.Stderr, "memcheck: %d %s sessions established in %v; idling %v\n", n, kind, connected.Round(time.Millisecond), *flagIdle)
	time.Sleep(*flagIdle)
	if c := count(); c != n {
		return fmt.Errorf("server holds %d sessions after idling, want %d", c, n)
	}
	after, err := measure()
	if err != nil {
		return err
	}
	if *flagProf != "" {
		if err := writeHeapProfile(*flagProf); err != nil {
			return err
		}
	}
	fn := float64(n)
	fmt.Printf("%-14s %8s %9s %9s %12s %13s %14s %16s\n", "server", "sessions", "RSS0 MiB", "RSS MiB", "RSS KB/sess", "heap KB/sess", "stack KB/sess", "goroutines/sess")
	fmt.Printf("%-14s %8d %9.1f %9.1f %12.2f %13.2f %14.2f %16.2f\n", kind, n,
		float64(before.rssKB)/1024, float64(after.rssKB)/1024,
		float64(after.rssKB-before.rssKB)/fn,
		(float64(after.heapInuse)-float64(before.heapInuse))/1024/fn,
		(float64(after.stackInuse)-float64(before.stackInuse))/1024/fn,
		float64(after.goroutines-before.goroutines)/fn)
	return nil
}

func writeHeapProfile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// rawServer upgrades with gobwas/ws and reads each connection on its own
// goroutine until it fails: no session layer at all.
type rawServer struct{ n atomic.Int64 }

func (rs *rawServer) count() int { return int(rs.n.Load()) }

func (rs *rawServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, _, _, err := gobwas.HTTPUpgrader{}.Upgrade(r, w)
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return
	}
	rs.n.Add(1)
	go func() {
		defer rs.n.Add(-1)
		defer conn.Close()
		for {
			if _, _, err := wsutil.ReadClientData(conn); err != nil {
				return
			}
		}
	}()
}

// child holds -clients connections to -url until stdin reaches EOF. It
// prints "ready K" once all are up, or the first error.
func child() int {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	time.AfterFunc(*flagTimeout, func() {
		fmt.Fprintln(os.Stderr, "memcheck client: timed out")
		os.Exit(3)
	})
	src := net.ParseIP(*flagSrc)
	if src == nil || !src.IsLoopback() {
		fmt.Println("fail: -src must be a loopback address")
		return 1
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second, Control: loadtest.BindNoPort}
	var (
		mu      sync.Mutex
		held    []any // clients or connections, kept reachable
		firstEr error
		next    atomic.Int64
		wg      sync.WaitGroup
	)
	total := int64(*flagClients)
	for range *flagConc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= total {
				h, err := dialOne(d)
				mu.Lock()
				if err != nil {
					if firstEr == nil {
						firstEr = err
					}
					mu.Unlock()
					return
				}
				held = append(held, h)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstEr != nil {
		fmt.Printf("fail: after %d connections: %v\n", len(held), firstEr)
		return 1
	}
	fmt.Printf("ready %d\n", len(held))
	select {} // until stdin's EOF or the timeout exits the process
}

func dialOne(d *net.Dialer) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if *flagRaw {
		conn, br, _, err := gobwas.Dialer{NetDial: d.DialContext}.Dial(ctx, *flagURL)
		if err != nil {
			return nil, err
		}
		if br != nil {
			gobwas.PutReader(br)
		}
		return conn, nil
	}
	return client.Dial(ctx, *flagURL, &client.Options{NetDial: d.DialContext, Logger: discard, MaxAttempts: 3})
}
