package clustertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

var bg = context.Background()

// checkSequence describes how got differs from prefix1..prefixN in order.
func checkSequence(got []string, prefix string, n int) string {
	seen := map[int]int{}
	dups, reordered, last := 0, 0, 0
	for _, s := range got {
		v, err := strconv.Atoi(strings.TrimPrefix(s, prefix))
		if err != nil || !strings.HasPrefix(s, prefix) {
			continue
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
	if lost+dups+reordered == 0 {
		return ""
	}
	return fmt.Sprintf("%d lost, %d duplicated, %d out of order", lost, dups, reordered)
}

// TestResumeOnAnotherNode: a client connected to node 0 loses its
// connection, messages are sent to it from node 2 and by it while it is
// away, and it comes back through node 1: the session moves, and every
// message arrives once, in order, both ways.
func TestResumeOnAnotherNode(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.route(0)
	r := &clientRec{}
	cl := c.dial(r, nil)
	id := cl.SessionID()
	for i := 1; i <= 5; i++ {
		if err := c.nodes[2].srv.Send(bg, id, tether.Text, fmt.Appendf(nil, "s%d", i)); err != nil {
			t.Fatalf("send from node 2: %v", err)
		}
		if err := cl.Send(bg, tether.Text, fmt.Appendf(nil, "c%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 5*time.Second, "first messages", func() bool { return len(r.received()) == 5 && len(c.rec.messages(id)) == 5 })
	c.lb.setTarget(func() string { return "127.0.0.1:1" }) // nowhere, for now
	c.lb.cutAll()
	waitUntil(t, 5*time.Second, "disconnect on node 0", func() bool {
		st, _ := c.nodes[0].srv.Session(id).State()
		return st == tether.StateDisconnected
	})
	for i := 6; i <= 10; i++ {
		if err := c.nodes[2].srv.Send(bg, id, tether.Text, fmt.Appendf(nil, "s%d", i)); err != nil {
			t.Fatalf("send from node 2 while away: %v", err)
		}
		if err := cl.Send(bg, tether.Text, fmt.Appendf(nil, "c%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	c.route(1)
	waitUntil(t, 10*time.Second, "resume on node 1", func() bool { return count[client.Resumed](r) == 1 })
	if cl.SessionID() != id {
		t.Fatalf("session changed: %s → %s", id, cl.SessionID())
	}
	waitUntil(t, 10*time.Second, "all messages", func() bool { return len(r.received()) >= 10 && len(c.rec.messages(id)) >= 10 })
	time.Sleep(200 * time.Millisecond)
	if v := checkSequence(r.received(), "s", 10); v != "" || len(r.received()) != 10 {
		t.Fatalf("client received %q: %s", r.received(), v)
	}
	if v := checkSequence(c.rec.messages(id), "c", 10); v != "" || len(c.rec.messages(id)) != 10 {
		t.Fatalf("servers received %q: %s", c.rec.messages(id), v)
	}
	if s := c.nodes[1].srv.Session(id); s == nil {
		t.Fatal("node 1 does not hold the session")
	}
	if s := c.nodes[0].srv.Session(id); s != nil {
		t.Fatal("node 0 still holds the session")
	}
	info, err := c.nodes[2].srv.Info(bg, id)
	if err != nil || info.Node != "node1" || info.State != tether.StateConnected {
		t.Fatalf("info from node 2: %+v, %v", info, err)
	}
	c.rec.mu.Lock()
	evs := append([]string(nil), c.rec.events[id]...)
	c.rec.mu.Unlock()
	if len(evs) < 3 || evs[0] != "node0:open" || evs[len(evs)-1] != "node1:resume" {
		t.Fatalf("hooks across nodes = %v", evs)
	}
}

// TestRoomsAndKickAcrossNodes: a room and a user's sessions span nodes,
// and any node lists them; a kick reaches the node that holds the session.
func TestRoomsAndKickAcrossNodes(t *testing.T) {
	c := startCluster(t, 3, func(o *tether.Options) {
		o.Authenticate = func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil }
	})
	var rs []*clientRec
	var cs []*client.Client
	for i := range 3 {
		c.route(i)
		r := &clientRec{}
		cs = append(cs, c.dial(r, &client.Options{Header: http.Header{"X-User": {"alice"}}}))
		rs = append(rs, r)
	}
	waitUntil(t, 5*time.Second, "members", func() bool {
		ids, _ := c.nodes[0].srv.RoomMemberIDs(bg, "all")
		return len(ids) == 3
	})
	for i, nd := range c.nodes {
		if ids, err := nd.srv.UserSessionIDs(bg, "alice"); err != nil || len(ids) != 3 {
			t.Fatalf("node %d lists alice's sessions as %v, %v; want all 3", i, ids, err)
		}
	}
	pub, err := c.nodes[0].srv.Broadcast(bg, "all", tether.Text, []byte("hello"))
	if err != nil || pub.Members != 3 {
		t.Fatalf("broadcast: %d, %v", pub.Members, err)
	}
	for i, r := range rs {
		waitUntil(t, 5*time.Second, fmt.Sprint("broadcast on client ", i), func() bool { return len(r.received()) == 1 })
	}
	victim := cs[2].SessionID()
	if err := c.nodes[0].srv.Kick(bg, victim, "bye"); err != nil {
		t.Fatalf("kick from node 0: %v", err)
	}
	waitUntil(t, 5*time.Second, "kicked", func() bool { return cs[2].Status() == client.StatusFailed })
	if code := tether.CloseStatus(cs[2].Err()); code != tether.CloseKicked {
		t.Fatalf("kicked client: %v", cs[2].Err())
	}
	waitUntil(t, 5*time.Second, "close hook", func() bool {
		c.rec.mu.Lock()
		defer c.rec.mu.Unlock()
		cl, ok := c.rec.closes[victim]
		return ok && cl.Cause == tether.CauseKicked && cl.Reason == "bye"
	})
	if err := c.nodes[1].srv.Send(bg, victim, tether.Text, []byte("late")); !errors.Is(err, tether.ErrSessionClosed) {
		t.Fatalf("send to a kicked session: %v", err)
	}
}

// TestNodeDies: a node vanishes without releasing anything. Its clients
// resume on the other nodes once its liveness lapses; the session of a
// client that never returns is adopted by a surviving node and expires
// there, with its close hook, once.
func TestNodeDies(t *testing.T) {
	c := startCluster(t, 3, func(o *tether.Options) { o.GraceWindow = 3 * time.Second })
	c.route(0)
	r1, r2 := &clientRec{}, &clientRec{}
	c1 := c.dial(r1, nil)
	var gone atomic.Bool // c2's network never comes back
	c2 := c.dial(r2, &client.Options{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if gone.Load() {
			return nil, errors.New("no network")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}})
	id1, id2 := c1.SessionID(), c2.SessionID()
	for i := 1; i <= 3; i++ {
		if err := c1.Send(bg, tether.Text, fmt.Appendf(nil, "c%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 5*time.Second, "acked", func() bool { return c1.Pending() == 0 })
	c.route(1)
	gone.Store(true)
	c.kill(c.nodes[0])
	for i := 1; i <= 3; i++ {
		if err := c.nodes[2].srv.Send(bg, id1, tether.Text, fmt.Appendf(nil, "s%d", i)); err != nil {
			t.Fatalf("send while the owner is dead: %v", err)
		}
		if err := c1.Send(bg, tether.Text, fmt.Appendf(nil, "c%d", i+3)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 15*time.Second, "resume after the owner died", func() bool { return count[client.Resumed](r1) == 1 })
	if c1.SessionID() != id1 {
		t.Fatal("session lost")
	}
	waitUntil(t, 10*time.Second, fmt.Sprintf("messages (client has %q)", r1.received()), func() bool {
		if len(r1.received()) >= 3 && len(c.rec.messages(id1)) >= 6 {
			return true
		}
		t.Logf("client %q servers %q pending %d", r1.received(), c.rec.messages(id1), c1.Pending())
		time.Sleep(time.Second)
		return false
	})
	if v := checkSequence(c.rec.messages(id1), "c", 6); v != "" {
		t.Fatalf("servers received %q: %s", c.rec.messages(id1), v)
	}
	if v := checkSequence(r1.received(), "s", 3); v != "" {
		t.Fatalf("client received %q: %s", r1.received(), v)
	}
	// c2 gave up: its session is an orphan, adopted and expired once.
	waitUntil(t, 20*time.Second, "orphan expired", func() bool {
		c.rec.mu.Lock()
		defer c.rec.mu.Unlock()
		_, ok := c.rec.closes[id2]
		return ok
	})
	time.Sleep(500 * time.Millisecond)
	c.rec.mu.Lock()
	closes := 0
	for _, e := range c.rec.events[id2] {
		if strings.Contains(e, ":close:") {
			closes++
			if !strings.HasSuffix(e, "close:expired") || strings.HasPrefix(e, "node0") {
				t.Errorf("orphan closed as %s", e)
			}
		}
	}
	c.rec.mu.Unlock()
	if closes != 1 {
		t.Fatalf("orphan closed %d times: %v", closes, c.rec.events[id2])
	}
}

// TestClusterChaos: clients reconnect to random nodes while connections
// are cut at random and both sides send; messages to each client come
// from random nodes. Every message arrives once, in order.
func TestClusterChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run skipped in -short mode")
	}
	c := startCluster(t, 3, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	var rngMu sync.Mutex
	c.lb.setTarget(func() string {
		rngMu.Lock()
		defer rngMu.Unlock()
		return c.nodes[rng.IntN(3)].http.Listener.Addr().String()
	})
	const k, n = 6, 200
	rs := make([]*clientRec, k)
	cs := make([]*client.Client, k)
	ids := make([]string, k)
	for i := range cs {
		rs[i] = &clientRec{}
		cs[i] = c.dial(rs[i], &client.Options{MaxOutbox: 64})
		ids[i] = cs[i].SessionID()
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*k)
	for i := range cs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 1; j <= n; j++ {
				err := cs[i].Send(bg, tether.Text, fmt.Appendf(nil, "c%d", j))
				for tries := 0; errors.Is(err, client.ErrOutboxFull) && tries < 2000; tries++ {
					time.Sleep(5 * time.Millisecond)
					err = cs[i].Send(bg, tether.Text, fmt.Appendf(nil, "c%d", j))
				}
				if err != nil {
					errs <- fmt.Errorf("client %d send %d: %w", i, j, err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		go func() {
			defer wg.Done()
			for j := 1; j <= n; j++ {
				nd := c.nodes[(i+j)%3]
				if err := nd.srv.Send(bg, ids[i], tether.Text, fmt.Appendf(nil, "s%d", j)); err != nil {
					errs <- fmt.Errorf("send %d to client %d from %s: %w", j, i, nd.name, err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	stop := make(chan struct{})
	chaos := make(chan struct{})
	go func() {
		defer close(chaos)
		rng := rand.New(rand.NewPCG(3, 4)) // this goroutine's own
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(50+rng.IntN(150)) * time.Millisecond):
			}
			switch rng.IntN(3) {
			case 0:
				c.lb.cutAll()
			case 1:
				cs[rng.IntN(k)].ForceReconnect()
			case 2:
				c.lb.cutTo(c.nodes[rng.IntN(3)].http.Listener.Addr().String())
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-chaos
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range cs {
		waitUntil(t, 30*time.Second, fmt.Sprint("client ", i, " settles"), func() bool {
			return len(rs[i].received()) >= n && len(c.rec.messages(ids[i])) >= n && cs[i].Pending() == 0
		})
	}
	time.Sleep(300 * time.Millisecond)
	for i := range cs {
		if cs[i].SessionID() != ids[i] {
			t.Errorf("client %d lost its session", i)
		}
		if v := checkSequence(rs[i].received(), "s", n); v != "" || len(rs[i].received()) != n {
			t.Errorf("client %d received %d: %s", i, len(rs[i].received()), v)
		}
		if v := checkSequence(c.rec.messages(ids[i]), "c", n); v != "" || len(c.rec.messages(ids[i])) != n {
			t.Errorf("servers got %d from client %d: %s", len(c.rec.messages(ids[i])), i, v)
		}
	}
}
