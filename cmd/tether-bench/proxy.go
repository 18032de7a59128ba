package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/tether-ws/tether/internal/faultproxy"
)

// The proxy role: internal/faultproxy instances between one worker's
// clients and the server, driven over stdin/stdout like a worker (see
// proto.go). A worker's clients are spread over the proxy's shards, so
// that a fault can hit a random fraction of them: a shard is the unit a
// fault picks. It runs in a process of its own because each proxied
// connection costs it two descriptors.

// proxySet is the shards of one proxy process.
type proxySet struct {
	mu     sync.Mutex
	shards []*faultproxy.Proxy
	holed  []bool // blackholed since the last heal
}

func newProxySet(target string, n int) (*proxySet, error) {
	ps := &proxySet{holed: make([]bool, n)}
	for range n {
		p, err := faultproxy.New(target)
		if err != nil {
			ps.close()
			return nil, err
		}
		ps.shards = append(ps.shards, p)
	}
	return ps, nil
}

func (ps *proxySet) addrs() []string {
	out := make([]string, len(ps.shards))
	for i, p := range ps.shards {
		out[i] = p.Addr()
	}
	return out
}

// pick returns a random fraction of the shards, at least one if frac > 0.
func (ps *proxySet) pick(frac float64) []int {
	n := len(ps.shards)
	k := min(n, int(math.Ceil(frac*float64(n))))
	if frac >= 1 {
		k = n
	}
	return rand.Perm(n)[:k]
}

func (ps *proxySet) apply(cmd command) ([]int, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	switch cmd.Cmd {
	case "cut":
		idx := ps.pick(cmd.Frac)
		var wg sync.WaitGroup
		for _, i := range idx {
			wg.Add(1)
			go func() { defer wg.Done(); ps.shards[i].CutAll() }()
		}
		wg.Wait()
		return idx, nil
	case "blackhole":
		idx := ps.pick(cmd.Frac)
		for _, i := range idx {
			ps.shards[i].Blackhole(true)
			ps.holed[i] = true
		}
		return idx, nil
	case "away":
		// The clients go away for a while: their connections are cut
		// and new ones refused until the heal, so that their sessions
		// expire if that is longer than the grace window.
		idx := ps.pick(cmd.Frac)
		var wg sync.WaitGroup
		for _, i := range idx {
			ps.shards[i].Refuse(true)
			wg.Add(1)
			go func() { defer wg.Done(); ps.shards[i].CutAll() }()
		}
		wg.Wait()
		return idx, nil
	case "delay":
		idx := ps.pick(cmd.Frac)
		for _, i := range idx {
			ps.shards[i].SetDelay(time.Duration(cmd.DelayMS) * time.Millisecond)
		}
		return idx, nil
	case "heal":
		// New connections work again; a blackholed connection stays
		// broken until a heartbeat finds it, as a real half-open link.
		for i, p := range ps.shards {
			p.Blackhole(false)
			p.SetDelay(0)
			p.Refuse(false)
			ps.holed[i] = false
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unknown proxy command %q", cmd.Cmd)
}

func (ps *proxySet) close() {
	for _, p := range ps.shards {
		_ = p.Close()
	}
}

func runProxy(args []string) int {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	target := fs.String("target", "", "server host:port (loopback)")
	shards := fs.Int("shards", 16, "proxies, each carrying an equal share of the clients")
	timeout := fs.Duration("timeout", 30*time.Minute, "exit after this long in any case")
	_ = fs.Parse(args)
	time.AfterFunc(*timeout, func() {
		fmt.Fprintln(os.Stderr, "tether-bench proxy: timed out")
		os.Exit(3)
	})
	out := json.NewEncoder(os.Stdout)
	ps, err := newProxySet(*target, max(1, *shards))
	if err != nil {
		_ = out.Encode(event{Ev: "error", Err: err.Error()})
		return 1
	}
	defer ps.close()
	_ = out.Encode(event{Ev: "ready", Addrs: ps.addrs()})
	_ = readLines(os.Stdin, func(line []byte) {
		var cmd command
		if err := json.Unmarshal(line, &cmd); err != nil {
			_ = out.Encode(event{Ev: "error", Err: err.Error()})
			return
		}
		if cmd.Cmd == "quit" {
			ps.close()
			_ = out.Encode(event{Ev: "quit"})
			os.Exit(0)
		}
		at := time.Now().UnixNano()
		idx, err := ps.apply(cmd)
		if err != nil {
			_ = out.Encode(event{Ev: "error", Err: err.Error()})
			return
		}
		_ = out.Encode(event{Ev: cmd.Cmd, At: at, Shards: idx})
	})
	return 0
}
