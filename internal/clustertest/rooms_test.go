package clustertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// Room streams across servers: every member of a room gets the room's
// messages once each, in the room's offset order (the same for every
// member), whichever servers publish them and whatever happens to the
// members' connections, servers and sessions.

// roomMsg is a room message as a client received it.
type roomMsg struct {
	offset uint64
	data   string
}

// roomRec records what a client received of each room, and its events.
type roomRec struct {
	mu     sync.Mutex
	rooms  map[string][]roomMsg
	plain  []string
	events []client.Event
}

func (r *roomRec) options(o *client.Options) *client.Options {
	if o == nil {
		o = &client.Options{}
	}
	o.OnMessage = func(m tether.Message) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if m.Offset == 0 {
			r.plain = append(r.plain, string(m.Data))
			return
		}
		if r.rooms == nil {
			r.rooms = map[string][]roomMsg{}
		}
		r.rooms[m.Room] = append(r.rooms[m.Room], roomMsg{m.Offset, string(m.Data)})
	}
	o.OnEvent = func(e client.Event) {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
	}
	if o.InitialDelay == 0 {
		o.InitialDelay = 20 * time.Millisecond
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = 200 * time.Millisecond
	}
	return o
}

func (r *roomRec) room(name string) []roomMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.rooms[name])
}

func roomEvents[E client.Event](r *roomRec) []E {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []E
	for _, e := range r.events {
		if v, ok := e.(E); ok {
			out = append(out, v)
		}
	}
	return out
}

func (c *cluster) dialRoom(r *roomRec, o *client.Options) *client.Client {
	c.t.Helper()
	return c.dialWith(r.options(o))
}

// waitMembers waits until the room has n members.
func (c *cluster) waitMembers(room string, n int) {
	c.t.Helper()
	waitUntil(c.t, 10*time.Second, fmt.Sprintf("%d members in %q", n, room), func() bool {
		ids, _ := c.nodes[len(c.nodes)-1].srv.RoomMemberIDs(bg, room)
		return len(ids) == n
	})
}

// history reads a room's whole history from Redis, through a live node.
func (c *cluster) history(nd *node, room string) (tether.RoomState, []roomMsg) {
	c.t.Helper()
	st, msgs, err := nd.store.History(bg, room, 0, 1<<20, nil)
	if err != nil {
		c.t.Fatalf("History(%q): %v", room, err)
	}
	out := make([]roomMsg, len(msgs))
	for i, m := range msgs {
		out[i] = roomMsg{m.Offset, string(m.Data)}
	}
	return st, out
}

// broadcaster publishes to a room from one node, each payload naming the
// node and its index, and records what was published.
type broadcaster struct {
	mu   sync.Mutex
	pubs map[string]uint64 // payload → offset, for the Broadcasts that returned nil
	errs []error
}

func (b *broadcaster) run(nd *node, room, tag string, n int, pause time.Duration, stop <-chan struct{}) {
	for i := 1; i <= n; i++ {
		select {
		case <-stop:
			return
		default:
		}
		p := fmt.Sprintf("%s-%d", tag, i)
		pub, err := nd.srv.Broadcast(bg, room, tether.Text, []byte(p))
		b.mu.Lock()
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s: broadcast %s: %w", nd.name, p, err))
		} else {
			if b.pubs == nil {
				b.pubs = map[string]uint64{}
			}
			b.pubs[p] = pub.Offset
		}
		b.mu.Unlock()
		time.Sleep(pause)
	}
}

// checkRoom compares every member's messages of room with the room's
// history: offsets from `from` to the last, once each, in order, each
// with the history's payload; and every Broadcast that returned nil is
// there, at the offset it was given.
func checkRoom(t *testing.T, room string, hist []roomMsg, from uint64, b *broadcaster, recs []*roomRec) {
	t.Helper()
	if len(hist) == 0 || hist[0].offset > from {
		t.Fatalf("history of %q starts at %v, the test needs it from %d", room, hist[:min(1, len(hist))], from)
	}
	want := hist[from-hist[0].offset:]
	at := map[string]uint64{}
	for _, m := range want {
		at[m.data] = m.offset
	}
	b.mu.Lock()
	for p, off := range b.pubs {
		if at[p] != off {
			t.Errorf("broadcast %s got offset %d, history holds it at %d", p, off, at[p])
		}
	}
	b.mu.Unlock()
	for i, r := range recs {
		got := r.room(room)
		if !slices.Equal(got, want) {
			t.Errorf("member %d: %s", i, diffRoom(got, want))
		}
	}
}

// diffRoom describes how a member's messages differ from the room's.
func diffRoom(got, want []roomMsg) string {
	seen := map[uint64]int{}
	dups, reordered := 0, 0
	var last uint64
	for _, m := range got {
		if seen[m.offset]++; seen[m.offset] > 1 {
			dups++
		}
		if m.offset < last {
			reordered++
		}
		last = m.offset
	}
	lost := 0
	for _, m := range want {
		if seen[m.offset] == 0 {
			lost++
		}
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("%d messages, want %d: %d lost, %d duplicated, %d out of order; first difference at %d: %v, want %v",
				len(got), len(want), lost, dups, reordered, i, got[i], want[i])
		}
	}
	return fmt.Sprintf("%d messages, want %d: %d lost, %d duplicated, %d out of order", len(got), len(want), lost, dups, reordered)
}

// TestRoomConcurrentBroadcasts: every node broadcasts to one room at the
// same time, from two goroutines each, while the members (spread over the
// nodes) have their connections cut and resume on random nodes. Every
// member ends with every message of the room once, in the room's offset
// order, the same for all.
func TestRoomConcurrentBroadcasts(t *testing.T) {
	c := startCluster(t, 3, nil)
	const members, each = 9, 100
	const total = 3 * 2 * each
	recs := make([]*roomRec, members)
	for i := range recs {
		c.route(i % 3)
		recs[i] = &roomRec{}
		c.dialRoom(recs[i], nil)
	}
	c.waitMembers("all", members)
	rng := rand.New(rand.NewPCG(5, 6))
	var rngMu sync.Mutex
	c.lb.setTarget(func() string {
		rngMu.Lock()
		defer rngMu.Unlock()
		return c.nodes[rng.IntN(3)].http.Listener.Addr().String()
	})
	b := &broadcaster{}
	var wg sync.WaitGroup
	for i, nd := range c.nodes {
		for g := range 2 {
			wg.Go(func() { b.run(nd, "all", fmt.Sprintf("n%dg%d", i, g), each, 2*time.Millisecond, nil) })
		}
	}
	// Cut every connection a quarter of the way, those of node 1 half
	// way, and every one again at three quarters: members resume on
	// random nodes while the broadcasts race.
	for k, cut := range []func(){c.lb.cutAll, func() { c.lb.cutTo(c.nodes[1].http.Listener.Addr().String()) }, c.lb.cutAll} {
		waitUntil(t, 20*time.Second, fmt.Sprintf("cut %d", k), func() bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			return len(b.pubs)+len(b.errs) >= (k+1)*total/4
		})
		cut()
	}
	wg.Wait()
	for _, err := range b.errs {
		t.Error(err)
	}
	st, hist := c.history(c.nodes[0], "all")
	if st.Last != total || len(hist) != total {
		t.Fatalf("the room's stream: %+v with %d kept; want %d messages", st, len(hist), total)
	}
	for i, r := range recs {
		waitUntil(t, 20*time.Second, fmt.Sprintf("member %d has %d messages", i, total), func() bool { return len(r.room("all")) >= total })
	}
	time.Sleep(300 * time.Millisecond) // anything more would be a duplicate
	checkRoom(t, "all", hist, 1, b, recs)
	resumes := 0
	for i, r := range recs {
		if n := len(roomEvents[client.SessionLost](r)); n != 0 {
			t.Errorf("member %d lost its session %d times", i, n)
		}
		n := len(roomEvents[client.Resumed](r))
		if n == 0 {
			t.Errorf("member %d never resumed: the cuts missed it", i)
		}
		resumes += n
	}
	t.Logf("%d messages, %d resumes", total, resumes)
}

// TestRoomNodeDies: a node dies (its Redis connection dropped mid-call,
// as with kill -9) while every node broadcasts to a room; its members
// resume on the other nodes, which keep broadcasting. Every member ends
// with every message of the room once, in order: nothing the dead node
// published, half fanned out or not, and nothing published while its
// members were away, is lost or repeated.
func TestRoomNodeDies(t *testing.T) {
	c := startCluster(t, 3, func(o *tether.Options) {
		o.RoomHistory = tether.HistoryLimits{MaxMessages: 1 << 20} // the test reads the whole room from history
	})
	const members = 9
	recs := make([]*roomRec, members)
	for i := range recs {
		c.route(i % 3)
		recs[i] = &roomRec{}
		c.dialRoom(recs[i], nil)
	}
	c.waitMembers("all", members)
	c.lb.setTarget(func() string { return c.nodes[1+rand.IntN(2)].http.Listener.Addr().String() })
	b := &broadcaster{}
	stop0, stop := make(chan struct{}), make(chan struct{})
	var wg0, wg sync.WaitGroup
	wg0.Go(func() { b.run(c.nodes[0], "all", "n0", 1000, 2*time.Millisecond, stop0) })
	for i := 1; i <= 2; i++ {
		wg.Go(func() { b.run(c.nodes[i], "all", fmt.Sprintf("n%d", i), 1000, 5*time.Millisecond, stop) })
	}
	waitUntil(t, 10*time.Second, "node 0's members get broadcasts", func() bool { return len(recs[0].room("all")) >= 20 })
	// Node 0 dies: its connections drop, its liveness lapses, and its
	// Redis client closes under its broadcaster, mid-fan-out perhaps.
	c.kill(c.nodes[0])
	_ = c.nodes[0].rdb.Close()
	close(stop0)
	wg0.Wait()
	// The others broadcast on while node 0's members are away and until
	// they are back.
	for _, i := range []int{0, 3, 6} {
		waitUntil(t, 20*time.Second, fmt.Sprintf("member %d resumes elsewhere", i), func() bool {
			return len(roomEvents[client.Resumed](recs[i])) >= 1
		})
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	b.mu.Lock()
	errs := b.errs
	b.mu.Unlock()
	for _, err := range errs {
		if !errors.Is(err, context.Canceled) && !isNode0(err) {
			t.Error(err)
		}
	}
	st, hist := c.history(c.nodes[1], "all")
	if int(st.Last) != len(hist) || st.First != 1 {
		t.Fatalf("the room's stream: %+v with %d kept; want all kept", st, len(hist))
	}
	for i, r := range recs {
		waitUntil(t, 20*time.Second, fmt.Sprintf("member %d has %d messages", i, st.Last), func() bool { return len(r.room("all")) >= len(hist) })
	}
	time.Sleep(300 * time.Millisecond)
	checkRoom(t, "all", hist, 1, b, recs)
	for i, r := range recs {
		if n := len(roomEvents[client.SessionLost](r)); n != 0 {
			t.Errorf("member %d lost its session %d times", i, n)
		}
	}
}

// isNode0 reports whether err is a broadcast of the dead node's.
func isNode0(err error) bool { return strings.HasPrefix(err.Error(), "node0:") }

// TestRoomSessionExpires: a member's network goes away for longer than
// the grace window while the other nodes keep broadcasting; its session
// expires on its node. It comes back through another node, in a new
// session presenting its position in the room, and the application
// (OnOpen) joins it to the room again: it gets every message it missed,
// once, in order, before the newer ones, and is told that nothing of the
// room is lost.
func TestRoomSessionExpires(t *testing.T) {
	var mu sync.Mutex
	recovered := map[string][]tether.RoomRecovery{}
	c := startCluster(t, 3, func(o *tether.Options) {
		o.GraceWindow = time.Second
		o.RoomHistory = tether.HistoryLimits{MaxMessages: 1 << 20}
		o.MaxReplayMessages = 1 << 16
		o.RoomRecoveryLimit = 1 << 15
		o.OnRoomRecovery = func(_ context.Context, s *tether.Session, r tether.RoomRecovery) {
			mu.Lock()
			recovered[s.ID()] = append(recovered[s.ID()], r)
			mu.Unlock()
		}
	})
	var gone atomic.Bool // the member's network is down
	victim := &roomRec{}
	c.route(0)
	vc := c.dialRoom(victim, &client.Options{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if gone.Load() {
			return nil, errors.New("no network")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}})
	old := vc.SessionID()
	recs := []*roomRec{victim}
	for i := 1; i <= 2; i++ {
		c.route(i)
		r := &roomRec{}
		c.dialRoom(r, nil)
		recs = append(recs, r)
	}
	c.waitMembers("all", 3)
	b := &broadcaster{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 1; i <= 2; i++ {
		wg.Go(func() { b.run(c.nodes[i], "all", fmt.Sprintf("n%d", i), 5000, 10*time.Millisecond, stop) })
	}
	waitUntil(t, 10*time.Second, "the member gets broadcasts", func() bool { return len(victim.room("all")) >= 10 })
	gone.Store(true)
	c.lb.cutTo(c.nodes[0].http.Listener.Addr().String())
	waitUntil(t, 10*time.Second, "the member's session expires", func() bool {
		c.rec.mu.Lock()
		defer c.rec.mu.Unlock()
		cl, ok := c.rec.closes[old]
		return ok && cl.Cause == tether.CauseExpired
	})
	missedFrom := len(victim.room("all"))
	c.route(1)
	gone.Store(false)
	waitUntil(t, 10*time.Second, "the member back in a new session", func() bool { return len(roomEvents[client.SessionLost](victim)) == 1 })
	if id := vc.SessionID(); id == old || c.nodes[1].srv.Session(id) == nil {
		t.Fatalf("the member's new session %s (the old one was %s) is not on node 1", id, old)
	}
	// The recovery, then live messages, then stop.
	waitUntil(t, 10*time.Second, "back in the room", func() bool { return len(roomEvents[client.RoomJoined](victim)) == 2 })
	back := roomEvents[client.RoomJoined](victim)[1]
	waitUntil(t, 10*time.Second, "live messages after the recovery", func() bool {
		return uint64(len(victim.room("all"))) >= back.Position.Offset+uint64(back.Recovered)+20
	})
	close(stop)
	wg.Wait()
	for _, err := range b.errs {
		t.Error(err)
	}
	st, hist := c.history(c.nodes[2], "all")
	if st.First != 1 || int(st.Last) != len(hist) {
		t.Fatalf("the room's stream: %+v with %d kept; want all kept", st, len(hist))
	}
	for i, r := range recs {
		waitUntil(t, 20*time.Second, fmt.Sprintf("member %d has %d messages", i, len(hist)), func() bool { return len(r.room("all")) >= len(hist) })
	}
	time.Sleep(300 * time.Millisecond)
	checkRoom(t, "all", hist, 1, b, recs)

	lost := roomEvents[client.SessionLost](victim)[0]
	if joins := roomEvents[client.RoomJoined](victim); len(joins) != 2 {
		t.Fatalf("the member was told of %d joins, want 2 (first, and back): %+v", len(joins), joins)
	}
	t.Logf("session lost: %+v; rejoined: %+v; room messages before the loss %d, after %d",
		lost.Loss, back, missedFrom, len(hist))
	if lost.Reason != tether.ReasonExpired || lost.SessionID != old {
		t.Errorf("SessionLost = %+v, want the old session, expired", lost.Loss)
	}
	if back.Room != "all" || back.Lost != 0 || back.Skipped != 0 || back.Reason != 0 || back.Recovered <= 0 {
		t.Errorf("back in the room: %+v; want messages recovered, none lost or skipped", back)
	}
	// The recovery starts right after the last message the member had.
	if back.Position.Offset != uint64(missedFrom) || back.Position.Epoch != st.Epoch {
		t.Errorf("back in the room at %+v; the member had offsets up to %d of epoch %q", back.Position, missedFrom, st.Epoch)
	}
	mu.Lock()
	rs := recovered[vc.SessionID()]
	mu.Unlock()
	if len(rs) != 1 || rs[0].Room != "all" || !rs[0].Readmitted || rs[0].Lost != 0 || rs[0].Recovered != back.Recovered {
		t.Errorf("OnRoomRecovery saw %+v; want the room readmitted with %d recovered and nothing lost", rs, back.Recovered)
	}
}
