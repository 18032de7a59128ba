package tether_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// chaosRun drives K clients sending N numbered messages each way through
// a proxy that cuts, blackholes and truncates connections at random, then
// returns every violation of exactly-once in-order delivery it found.
func chaosRun(t *testing.T, seed uint64, k, n int, settle time.Duration, mutate func(*tether.Options)) []string {
	ts := startServer(t, func(o *tether.Options) {
		o.GraceWindow = 30 * time.Second
		if mutate != nil {
			mutate(o)
		}
	})
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	recs := make([]*clientRec, k)
	cs := make([]*client.Client, k)
	ids := make([]string, k)
	for i := range cs {
		recs[i] = newClientRec()
		cs[i] = dial(t, ts.url(), recs[i], &client.Options{MaxOutbox: 64, InitialDelay: 5 * time.Millisecond, MaxDelay: 100 * time.Millisecond})
		ids[i] = cs[i].SessionID()
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var problems []string
	report := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for i := range cs {
		pace := time.Duration(rng.IntN(1500)) * time.Microsecond
		wg.Add(2)
		go func() { // client → server
			defer wg.Done()
			for j := 1; j <= n; j++ {
				err := cs[i].Send(bg, tether.Text, fmt.Appendf(nil, "%d", j))
				for tries := 0; errors.Is(err, client.ErrOutboxFull) && tries < 2000; tries++ {
					time.Sleep(5 * time.Millisecond) // offline and full: wait for the resume
					err = cs[i].Send(bg, tether.Text, fmt.Appendf(nil, "%d", j))
				}
				if err != nil {
					report("client %d send %d: %v", i, j, err)
					return
				}
				time.Sleep(pace)
			}
		}()
		go func() { // server → client
			defer wg.Done()
			s := ts.srv.Session(ids[i])
			for j := 1; j <= n; j++ {
				if err := s.Send(bg, tether.Binary, fmt.Appendf(nil, "%d", j)); err != nil {
					report("server send %d to %d: %v", j, i, err)
					return
				}
				time.Sleep(pace)
			}
		}()
	}
	stop := make(chan struct{})
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		for {
			select {
			case <-stop:
				ts.proxy.Blackhole(false)
				ts.proxy.Refuse(false)
				return
			case <-time.After(time.Duration(20+rng.IntN(120)) * time.Millisecond):
			}
			switch rng.IntN(7) {
			case 0, 1:
				ts.proxy.CutAll()
			case 2:
				ts.proxy.CutAfter(-1, 1+rng.IntN(40)) // mid-frame, server → client
			case 3:
				ts.proxy.CutAfter(1+rng.IntN(40), -1) // mid-frame, client → server
			case 4:
				ts.proxy.Refuse(true)
				time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
				ts.proxy.Refuse(false)
			case 5:
				ts.proxy.Blackhole(true)
				time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
				ts.proxy.Blackhole(false)
			case 6:
				cs[rng.IntN(k)].ForceReconnect()
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-chaosDone
	// Let everything settle: every message delivered both ways.
	deadline := time.Now().Add(settle)
	for i := range cs {
		for time.Now().Before(deadline) {
			recs[i].mu.Lock()
			got := len(recs[i].msgs)
			recs[i].mu.Unlock()
			ts.hooks.mu.Lock()
			sgot := len(ts.hooks.msgs[ids[i]])
			ts.hooks.mu.Unlock()
			if got >= n && sgot >= n && cs[i].Pending() == 0 {
				break
			}
			if st := cs[i].Status(); st == client.StatusFailed || st == client.StatusClosed {
				report("client %d stopped: %v", i, cs[i].Err())
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(200 * time.Millisecond) // late duplicates would show up here
	for i := range cs {
		if cs[i].SessionID() != ids[i] {
			recs[i].mu.Lock()
			evs := describe(recs[i].events)
			recs[i].mu.Unlock()
			report("client %d: session lost: %s", i, evs)
		}
		recs[i].mu.Lock()
		var got []string
		for _, m := range recs[i].msgs {
			got = append(got, string(m.Data))
		}
		recs[i].mu.Unlock()
		if v := checkSequence(got, n); v != "" {
			report("client %d received: %s", i, v)
		}
		ts.hooks.mu.Lock()
		got = got[:0]
		for _, m := range ts.hooks.msgs[ids[i]] {
			got = append(got, string(m.Data))
		}
		ts.hooks.mu.Unlock()
		if v := checkSequence(got, n); v != "" {
			report("server from client %d: %s", i, v)
		}
	}
	return problems
}

// checkSequence describes how got differs from "1".."n", or returns "".
func checkSequence(got []string, n int) string {
	seen := make(map[int]int)
	var dups, reordered int
	last := 0
	for _, s := range got {
		v, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Sprintf("garbage %q", s)
		}
		seen[v]++
		if seen[v] > 1 {
			dups++
		}
		if v < last {
			reordered++
		}
		last = v
	}
	lost := 0
	for i := 1; i <= n; i++ {
		if seen[i] == 0 {
			lost++
		}
	}
	if lost == 0 && dups == 0 && reordered == 0 && len(got) == n {
		return ""
	}
	return fmt.Sprintf("%d messages: %d lost, %d duplicated, %d out of order", len(got), lost, dups, reordered)
}

func TestChaosExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run skipped in -short mode")
	}
	seeds := uint64(3)
	if v, err := strconv.Atoi(os.Getenv("TETHER_CHAOS_SEEDS")); err == nil && v > 0 {
		seeds = uint64(v)
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			if p := chaosRun(t, seed, 6, 300, 30*time.Second, nil); len(p) > 0 {
				t.Fatalf("violations:\n%s", strings.Join(p, "\n"))
			}
		})
	}
}

// TestChaosCatchesBrokenReplay proves the chaos check is not vacuous: with
// replay or dedupe switched off on the server, it must find violations.
func TestChaosCatchesBrokenGuarantees(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run skipped in -short mode")
	}
	for name, breakIt := range map[string]func(*tether.Options){
		"no-replay": tether.BreakReplay,
		"no-dedupe": tether.BreakDedupe,
	} {
		t.Run(name, func(t *testing.T) {
			p := chaosRun(t, 7, 6, 300, 3*time.Second, breakIt)
			if len(p) == 0 {
				t.Fatalf("with %s the chaos check found nothing wrong", name)
			}
			t.Logf("with %s the chaos check found:\n%s", name, strings.Join(p, "\n"))
		})
	}
}
