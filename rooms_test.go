package tether_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

// recordingStore remembers the payload arrays appended, to prove that a
// broadcast shares one copy among its members.
type recordingStore struct {
	tether.Store
	mu    sync.Mutex
	datas map[*byte]int
}

func (r *recordingStore) Append(ctx context.Context, id string, msgs ...tether.Message) (uint64, error) {
	r.record(msgs)
	return r.Store.Append(ctx, id, msgs...)
}

func (r *recordingStore) AppendRoom(ctx context.Context, id, room, epoch string, msgs ...tether.Message) (uint64, error) {
	r.record(msgs)
	return r.Store.AppendRoom(ctx, id, room, epoch, msgs...)
}

func (r *recordingStore) record(msgs []tether.Message) {
	r.mu.Lock()
	for _, m := range msgs {
		if len(m.Data) > 0 {
			r.datas[unsafe.SliceData(m.Data)]++
		}
	}
	r.mu.Unlock()
}

func TestRoomsBroadcast(t *testing.T) {
	rs := &recordingStore{Store: tether.NewMemoryStore(nil), datas: map[*byte]int{}}
	ts := startServer(t, func(o *tether.Options) {
		o.Store = rs
		o.MaxRoomsPerSession = 2
		o.OnOpen = func(ctx context.Context, s *tether.Session, info tether.OpenInfo) {
			if err := s.Join(ctx, "lobby"); err != nil {
				t.Errorf("join: %v", err)
			}
		}
	})
	const n = 4
	recs := make([]*clientRec, n)
	cs := make([]*client.Client, n)
	for i := range cs {
		recs[i] = newClientRec()
		cs[i] = dial(t, ts.url(), recs[i], nil)
	}
	for _, c := range cs {
		id := c.SessionID()
		ts.hooks.waitFor(t, "open", 5*time.Second, func() bool { return len(ts.hooks.events[id]) > 0 })
	}
	ts.hooks.waitFor(t, "joins", 5*time.Second, func() bool { return len(ts.srv.RoomMembers(bg, "lobby")) == n })
	// One member is away while the room talks; it gets everything on resume.
	ts.proxy.Refuse(true)
	away := cs[0]
	// Only cut the first client: reconnect it through a refused proxy.
	awayID := away.SessionID()
	away.ForceReconnect()
	ts.hooks.waitFor(t, "away", 5*time.Second, func() bool { return len(ts.hooks.disc[awayID]) == 1 })
	for i := 1; i <= 10; i++ {
		got, err := ts.srv.Broadcast(bg, "lobby", tether.Text, fmt.Appendf(nil, "b%d", i))
		if err != nil || got.Members != n {
			t.Fatalf("broadcast %d: queued for %d, err %v", i, got.Members, err)
		}
	}
	ts.proxy.Refuse(false)
	for i, r := range recs {
		r.waitFor(t, "10 broadcasts", 10*time.Second, func() bool { return len(r.msgs) == 10 })
		for j, m := range r.messages() {
			if string(m.Data) != fmt.Sprintf("b%d", j+1) {
				t.Fatalf("client %d message %d = %q", i, j, m.Data)
			}
		}
	}
	if got := away.SessionID(); got != awayID {
		t.Fatal("away client lost its session")
	}
	if rooms := ts.srv.Session(awayID).Rooms(bg); len(rooms) != 1 || rooms[0] != "lobby" {
		t.Fatalf("rooms after resume = %v", rooms)
	}
	rs.mu.Lock()
	shared := 0
	for _, k := range rs.datas {
		if k == n {
			shared++
		}
	}
	rs.mu.Unlock()
	if shared != 10 {
		t.Fatalf("%d of 10 broadcasts shared one payload among %d members", shared, n)
	}
	s := ts.srv.Session(cs[1].SessionID())
	if err := s.Join(bg, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Join(bg, "c"); !errors.Is(err, tether.ErrTooManyRooms) {
		t.Fatalf("third room: %v", err)
	}
	if err := s.Join(bg, ""); !errors.Is(err, tether.ErrRoomName) {
		t.Fatalf("empty room: %v", err)
	}
	s.Leave(bg, "lobby")
	if got, _ := ts.srv.Broadcast(bg, "lobby", tether.Text, []byte("x")); got.Members != n-1 {
		t.Fatalf("after leave, broadcast reached %d", got.Members)
	}
	// A session that ends leaves its rooms.
	if err := cs[2].Close(bg); err != nil {
		t.Fatal(err)
	}
	ts.hooks.waitFor(t, "close", 5*time.Second, func() bool { _, ok := ts.hooks.closes[cs[2].SessionID()]; return ok })
	if got := len(ts.srv.RoomMembers(bg, "lobby")); got != n-2 {
		t.Fatalf("lobby has %d members", got)
	}
	if names := ts.srv.RoomNames(bg); names["lobby"] != n-2 || names["b"] != 1 {
		t.Fatalf("rooms = %v", names)
	}
}

func TestUsers(t *testing.T) {
	ts := startServer(t, func(o *tether.Options) {
		o.MaxSessionsPerUser = 2
		o.Authenticate = func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil }
	})
	hdr := func(u string) *client.Options { return &client.Options{Header: http.Header{"X-User": {u}}} }
	ra, rb, rc := newClientRec(), newClientRec(), newClientRec()
	dial(t, ts.url(), ra, hdr("ann"))
	dial(t, ts.url(), rb, hdr("ann"))
	dial(t, ts.url(), rc, hdr("bob"))
	if _, err := client.Dial(bg, ts.url(), newClientRec().options(hdr("ann"))); tether.CloseStatus(err) != tether.ClosePolicy {
		t.Fatalf("third session for ann: %v", err)
	}
	n, err := ts.srv.SendToUser(bg, "ann", tether.Text, []byte("hi ann"))
	if err != nil || n != 2 {
		t.Fatalf("send to user: %d, %v", n, err)
	}
	for _, r := range []*clientRec{ra, rb} {
		r.waitFor(t, "user message", 5*time.Second, func() bool { return len(r.msgs) == 1 })
	}
	time.Sleep(100 * time.Millisecond)
	if len(rc.messages()) != 0 {
		t.Fatal("bob got ann's message")
	}
}

func TestRateLimitLosesNothing(t *testing.T) {
	ts := startServer(t, func(o *tether.Options) {
		o.RateLimit = 50
		o.RateBurst = 10
	})
	r := newClientRec()
	c := dial(t, ts.url(), r, nil)
	id := c.SessionID()
	for i := 1; i <= 60; i++ {
		if err := c.Send(bg, tether.Text, fmt.Appendf(nil, "%d", i)); err != nil && !errors.Is(err, client.ErrOutboxFull) {
			t.Fatal(err)
		}
	}
	ts.hooks.waitFor(t, "60 messages", 15*time.Second, func() bool { return len(ts.hooks.msgs[id]) == 60 })
	var got []string
	for _, m := range ts.hooks.msgs[id] {
		got = append(got, string(m.Data))
	}
	if v := checkSequence(got, 60); v != "" {
		t.Fatal(v)
	}
	r.waitFor(t, "rate limited disconnect", 5*time.Second, func() bool {
		for _, e := range r.events {
			if d, ok := e.(client.Disconnected); ok && d.Code == tether.CloseRateLimited && d.Cause == tether.CauseRateLimited {
				return true
			}
		}
		return false
	})
	if c.SessionID() != id {
		t.Fatal("rate limiting lost the session")
	}
}
