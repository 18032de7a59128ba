package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tether-ws/tether/cmd/tether-bench/internal/loadtest"
)

// fleet is the worker processes (and, for chaos, their proxies) holding
// one scenario's clients.
type fleet struct {
	workers []*proc
	proxies []*proc
	sizes   []int
}

// fleetSpec says how to build a fleet.
type fleetSpec struct {
	n       int
	chaos   bool // a proxy process per worker
	shards  int  // proxies per proxy process
	per     int  // most clients per worker
	conc    int  // concurrent dials per worker
	timeout time.Duration
}

// srcAddrs hands out source addresses 127.0.0.2–127.0.0.254, one per
// worker, round robin over the whole run.
type srcAddrs struct {
	mu   sync.Mutex
	next int
}

func (s *srcAddrs) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := fmt.Sprintf("127.0.0.%d", 2+s.next%253)
	s.next++
	return a
}

// startFleet starts the workers for t and connects spec.n clients.
func (r *runner) startFleet(ctx context.Context, t *target, spec fleetSpec) (*fleet, error) {
	per := min(max(1, spec.per), maxPerWorker)
	k := (spec.n + per - 1) / per
	f := &fleet{}
	for i := range k {
		size := spec.n / k
		if i < spec.n%k {
			size++
		}
		f.sizes = append(f.sizes, size)
	}
	ok := false
	defer func() {
		if !ok {
			f.stop()
		}
	}()
	urls := make([][]string, k)
	for i := range k {
		urls[i] = []string{t.clientURL(t.addr)}
		if !spec.chaos {
			continue
		}
		cmd, err := selfCommand("proxy", "-target", t.addr, "-shards", strconv.Itoa(max(1, spec.shards)), "-timeout", spec.timeout.String())
		if err != nil {
			return nil, err
		}
		p, err := startProc(fmt.Sprintf("proxy %d", i), cmd)
		if err != nil {
			return nil, err
		}
		f.proxies = append(f.proxies, p)
		ev, err := p.next(30 * time.Second)
		if err != nil {
			return nil, err
		}
		urls[i] = nil
		for _, a := range ev.Addrs {
			urls[i] = append(urls[i], t.clientURL(a))
		}
	}
	for i := range k {
		cmd, err := r.workerCommand(t.kind, spec.timeout)
		if err != nil {
			return nil, err
		}
		w, err := startProc(fmt.Sprintf("%s worker %d", t.name, i), cmd)
		if err != nil {
			return nil, err
		}
		f.workers = append(f.workers, w)
	}
	cidBase := r.nextCIDs(k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i, w := range f.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.call(command{
				Cmd: "start", Kind: t.kind, URLs: urls[i], N: f.sizes[i],
				CIDBase: cidBase + uint64(i)*1_000_000, Src: r.src.get(), Conc: spec.conc,
				Channel: centrifugoChannel,
			}, 4*time.Minute)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ok = true
	return f, nil
}

// workerCommand returns the command of a worker for clients of kind.
func (r *runner) workerCommand(kind string, timeout time.Duration) (*exec.Cmd, error) {
	if kind == "socketio" {
		return exec.Command(r.cfg.node, filepath.Join(r.cfg.socketioDir, "worker.mjs"), strconv.Itoa(int(timeout.Seconds()))), nil
	}
	return selfCommand("worker", timeout.String())
}

// all sends cmd to every worker at once and returns their replies.
func (f *fleet) all(cmd command, timeout time.Duration) ([]event, error) {
	return callAll(f.workers, cmd, timeout)
}

// chaos sends cmd to every proxy at once.
func (f *fleet) chaos(cmd command) ([]event, error) {
	return callAll(f.proxies, cmd, 30*time.Second)
}

func callAll(ps []*proc, cmd command, timeout time.Duration) ([]event, error) {
	evs := make([]event, len(ps))
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs[i], errs[i] = p.call(cmd, timeout)
		}()
	}
	wg.Wait()
	return evs, errors.Join(errs...)
}

// ticks sums the workers' latest ticks.
func (f *fleet) ticks() tick {
	var t tick
	for _, w := range f.workers {
		if p := w.tick.Load(); p != nil {
			t.Clients += p.Clients
			t.Connected += p.Connected
			t.Sent += p.Sent
			t.Recv += p.Recv
			t.Disconnects += p.Disconnects
			t.Resumed += p.Resumed
			t.SessionLost += p.SessionLost
			t.Failed += p.Failed
		}
	}
	return t
}

// reports collects every worker's report.
func (f *fleet) reports() ([]*workerReport, error) {
	evs, err := f.all(command{Cmd: "report"}, time.Minute)
	out := make([]*workerReport, 0, len(evs))
	for _, ev := range evs {
		if ev.Report != nil {
			out = append(out, ev.Report)
		}
	}
	return out, err
}

func (f *fleet) stop() {
	var wg sync.WaitGroup
	for _, p := range append(append([]*proc(nil), f.workers...), f.proxies...) {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop(20 * time.Second) }()
	}
	wg.Wait()
}

// progress prints one line per second to w until stop is called.
func (r *runner) progress(label string, t *target, f *fleet) (stop func()) {
	if r.cfg.quiet {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		pid := t.pid()
		lastCPU, _ := procCPU(pid)
		lastAt := time.Now()
		var lastRecv uint64
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for range 100_000 {
			select {
			case <-done:
				return
			case <-tk.C:
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%-24s %5.0fs", label, time.Since(start).Seconds())
			if f != nil {
				s := f.ticks()
				fmt.Fprintf(&b, " | clients %d up %d | sent %d recv %d (%+.0f/s) | disc %d resumed %d lost %d failed %d",
					s.Clients, s.Connected, s.Sent, s.Recv, float64(s.Recv-lastRecv)/time.Since(lastAt).Seconds(),
					s.Disconnects, s.Resumed, s.SessionLost, s.Failed)
				lastRecv = s.Recv
			}
			if pid > 0 {
				cpu, err1 := procCPU(pid)
				rss, err2 := loadtest.RSS(pid)
				if err1 == nil && err2 == nil {
					fmt.Fprintf(&b, " | server cpu %3.0f%% rss %.0f MiB", 100*(cpu-lastCPU).Seconds()/time.Since(lastAt).Seconds(), float64(rss)/1024)
					lastCPU = cpu
				}
			}
			lastAt = time.Now()
			fmt.Fprintln(r.logw, b.String())
		}
	}()
	return func() { close(done); wg.Wait() }
}
