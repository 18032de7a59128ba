package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-ws/tether"
)

const quiet = 300 * time.Millisecond // how long "no notice" is watched for

func rec(id, owner string) *tether.Record {
	return &tether.Record{
		ID: id, UserID: "u-" + id, Owner: owner, Created: time.Now(),
		Rooms: []string{"lobby"}, MaxMessages: 1000, MaxBytes: 1 << 20,
	}
}

func create(t *testing.T, s *Store, r *tether.Record) {
	t.Helper()
	if err := s.Create(testCtx(t), r); err != nil {
		t.Fatalf("Create(%q): %v", r.ID, err)
	}
}

func TestNotifyReachesOnlyItsNode(t *testing.T) {
	p := newPrefix(t)
	a, b, c := open(t, Options{Prefix: p}), open(t, Options{Prefix: p}), open(t, Options{Prefix: p})
	ina, inb, inc := listen(a), listen(b), listen(c)
	ctx := testCtx(t)

	want := tether.Notice{Kind: tether.NoticeKick, Session: "s1", From: a.Node(), Reason: "bye ✓\nwith newline"}
	if err := a.Notify(ctx, b.Node(), want); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got, ok := inb.wait(t, 5*time.Second, kind(tether.NoticeKick))
	if !ok || got != want {
		t.Fatalf("B got %+v (%v), want %+v", got, ok, want)
	}
	want2 := tether.Notice{Kind: tether.NoticeReleased, Session: "s2", From: b.Node()}
	if err := b.Notify(ctx, c.Node(), want2); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if got, ok := inc.wait(t, 5*time.Second, kind(tether.NoticeReleased)); !ok || got != want2 {
		t.Fatalf("C got %+v (%v), want %+v", got, ok, want2)
	}
	time.Sleep(quiet)
	if n := ina.take(); len(n) != 0 {
		t.Fatalf("A got notices meant for others: %+v", n)
	}
	if n := inb.take(); len(n) != 0 {
		t.Fatalf("B got extra notices: %+v", n)
	}
	if n := inc.take(); len(n) != 0 {
		t.Fatalf("C got extra notices: %+v", n)
	}
}

func TestNoticeOrder(t *testing.T) {
	p := newPrefix(t)
	a, b := open(t, Options{Prefix: p}), open(t, Options{Prefix: p})
	inb := listen(b)
	ctx := testCtx(t)
	const n = 200
	for i := range n {
		if err := a.Notify(ctx, b.Node(), tether.Notice{Kind: tether.NoticeWake, Session: "s", Seq: uint64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		got, ok := inb.wait(t, 5*time.Second, kind(tether.NoticeWake))
		if !ok || got.Seq != uint64(i) {
			t.Fatalf("notice %d: got %+v (%v)", i, got, ok)
		}
	}
}

func TestAppendWakesRemoteOwner(t *testing.T) {
	p := newPrefix(t)
	a, b := open(t, Options{Prefix: p}), open(t, Options{Prefix: p})
	ina, inb := listen(a), listen(b)
	ctx := testCtx(t)
	create(t, a, rec("owned-by-b", b.Node()))
	create(t, a, rec("owned-by-a", a.Node()))
	create(t, a, rec("unowned", ""))

	msg := tether.Message{Type: tether.Text, Data: []byte("hi")}
	if _, err := a.Append(ctx, "owned-by-b", msg, msg); err != nil {
		t.Fatal(err)
	}
	got, ok := inb.wait(t, 5*time.Second, kind(tether.NoticeWake))
	want := tether.Notice{Kind: tether.NoticeWake, Session: "owned-by-b", From: a.Node(), Seq: 2}
	if !ok || got != want {
		t.Fatalf("B got %+v (%v), want %+v", got, ok, want)
	}

	// The owner appending, an empty append, and appends to a session
	// owned by the appender or by nobody wake nobody.
	for _, c := range []struct {
		s  *Store
		id string
		n  int
	}{{b, "owned-by-b", 1}, {a, "owned-by-b", 0}, {a, "owned-by-a", 1}, {b, "unowned", 1}} {
		msgs := slices.Repeat([]tether.Message{msg}, c.n)
		if _, err := c.s.Append(ctx, c.id, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	// A failed append wakes nobody either.
	full := rec("full", b.Node())
	full.MaxMessages = 1
	create(t, a, full)
	if _, err := a.Append(ctx, "full", msg, msg); !errors.Is(err, tether.ErrOverflow) {
		t.Fatalf("Append over the bound: %v", err)
	}
	time.Sleep(quiet)
	if n := ina.take(); len(n) != 0 {
		t.Fatalf("A got %+v", n)
	}
	if n := inb.take(); len(n) != 0 {
		t.Fatalf("B got %+v", n)
	}

	// After the session moves to A, B's appends wake A.
	if _, err := a.Claim(ctx, "owned-by-b", a.Node()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, "owned-by-b", msg); err != nil {
		t.Fatal(err)
	}
	got, ok = ina.wait(t, 5*time.Second, kind(tether.NoticeWake))
	want = tether.Notice{Kind: tether.NoticeWake, Session: "owned-by-b", From: b.Node(), Seq: 4}
	if !ok || got != want {
		t.Fatalf("A got %+v (%v), want %+v", got, ok, want)
	}
}

func TestAliveUntilStopped(t *testing.T) {
	p := newPrefix(t)
	const live = 400 * time.Millisecond
	a := open(t, Options{Prefix: p, Liveness: live})
	b := open(t, Options{Prefix: p, Liveness: live})
	ctx := testCtx(t)
	// Alive through several renewals.
	for range 4 {
		if ok, err := b.Alive(ctx, a.Node()); err != nil || !ok {
			t.Fatalf("Alive(a) = %v, %v", ok, err)
		}
		time.Sleep(live / 2)
	}
	if ok, _ := b.Alive(ctx, "never-was"); ok {
		t.Fatal("Alive of an unknown node")
	}
	stopped := time.Now()
	_ = a.Stop()
	if ok, _ := b.Alive(ctx, a.Node()); !ok {
		t.Fatal("a node is dead right after Stop: Stop must not delete its liveness")
	}
	eventually(t, live+time.Second, "Alive false after Stop", func() bool {
		ok, err := b.Alive(ctx, a.Node())
		return err == nil && !ok
	})
	if d := time.Since(stopped); d < live/2 {
		t.Fatalf("dead %v after Stop, want about %v", d, live)
	}
}

func TestExplicitNodeName(t *testing.T) {
	p := newPrefix(t)
	a := open(t, Options{Prefix: p, Node: "web-1", Liveness: 300 * time.Millisecond})
	if a.Node() != "web-1" {
		t.Fatalf("Node() = %q", a.Node())
	}
	// A second live node of that name waits.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := New(ctx, &Options{Redis: newClient(t, redisAddr()), Prefix: p, Node: "web-1", Liveness: 300 * time.Millisecond}); err == nil {
		t.Fatal("two live nodes named web-1")
	}
	// A restart under that name waits for the old one to lapse, and its
	// predecessor's sessions become orphans for the others.
	create(t, a, rec("left-behind", "web-1"))
	_ = a.Stop()
	b := open(t, Options{Prefix: p, Node: "web-1", Liveness: 300 * time.Millisecond})
	other := open(t, Options{Prefix: p})
	recs, err := other.Adopt(testCtx(t), 10)
	if err != nil || len(recs) != 1 || recs[0].ID != "left-behind" {
		t.Fatalf("Adopt after a restart under the same name: %v, %v", recs, err)
	}
	_ = b
}

func TestFencingAcrossNodes(t *testing.T) {
	p := newPrefix(t)
	a, b := open(t, Options{Prefix: p}), open(t, Options{Prefix: p})
	ctx := testCtx(t)
	create(t, a, rec("s", a.Node()))
	ra, err := a.Claim(ctx, "s", a.Node())
	if err != nil || ra.Lease != 2 || ra.Owner != a.Node() {
		t.Fatalf("A's claim: %+v, %v", ra, err)
	}
	rb, err := b.Claim(ctx, "s", b.Node())
	if err != nil || rb.Lease != 3 || rb.Owner != b.Node() {
		t.Fatalf("B's claim: %+v, %v", rb, err)
	}
	if err := a.SaveIn(ctx, "s", ra.Lease, 5); !errors.Is(err, tether.ErrFenced) {
		t.Fatalf("A's SaveIn after B's claim: %v, want ErrFenced", err)
	}
	ra.In = 9
	if err := a.Save(ctx, ra); !errors.Is(err, tether.ErrFenced) {
		t.Fatalf("A's Save after B's claim: %v, want ErrFenced", err)
	}
	if err := a.Release(ctx, "s", ra.Lease); !errors.Is(err, tether.ErrFenced) {
		t.Fatalf("A's Release after B's claim: %v, want ErrFenced", err)
	}
	if err := a.Close(ctx, "s", ra.Lease, nil); !errors.Is(err, tether.ErrFenced) {
		t.Fatalf("A's Close after B's claim: %v, want ErrFenced", err)
	}
	if err := b.SaveIn(ctx, "s", rb.Lease, 7); err != nil {
		t.Fatalf("B's SaveIn: %v", err)
	}
	got, err := a.Load(ctx, "s")
	if err != nil || got.In != 7 || got.Owner != b.Node() || got.Lease != 3 {
		t.Fatalf("Load: %+v, %v", got, err)
	}
	// Ownership sets follow the claims.
	c := newClient(t, redisAddr())
	if ok, _ := c.SIsMember(ctx, a.ownedKey(a.Node()), "s").Result(); ok {
		t.Fatal("s still listed as A's")
	}
	if ok, _ := c.SIsMember(ctx, a.ownedKey(b.Node()), "s").Result(); !ok {
		t.Fatal("s not listed as B's")
	}
}

// adoptAll runs Adopt on the stores concurrently, max at a time, until
// nothing is left to adopt, and returns who adopted what.
func adoptAll(t *testing.T, max int, stores ...*Store) map[string][]string {
	t.Helper()
	ctx := testCtx(t)
	var mu sync.Mutex
	by := make(map[string][]string) // session → adopters
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			idle := 0
			for idle < 3 {
				recs, err := s.Adopt(ctx, max)
				if err != nil {
					t.Errorf("Adopt: %v", err)
					return
				}
				if len(recs) == 0 {
					idle++
					continue
				}
				idle = 0
				mu.Lock()
				for _, r := range recs {
					if r.Owner != s.Node() {
						t.Errorf("adopted %s with owner %q, want %q", r.ID, r.Owner, s.Node())
					}
					by[r.ID] = append(by[r.ID], s.Node())
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return by
}

func TestAdoptDeadNodeExactlyOnce(t *testing.T) {
	p := newPrefix(t)
	const live = 300 * time.Millisecond
	a := open(t, Options{Prefix: p, Liveness: live})
	b := open(t, Options{Prefix: p, Liveness: live})
	dead := open(t, Options{Prefix: p, Liveness: live})
	ctx := testCtx(t)

	const n = 60
	var ids []string
	for i := range n {
		r := rec(fmt.Sprintf("s%02d", i), dead.Node())
		if i%2 == 0 {
			r.Detached = time.Now() // half were disconnected when it died
		}
		create(t, dead, r)
		ids = append(ids, r.ID)
	}
	// One it released while connected (no orphan), one it lost to a's
	// claim: neither is the dead node's any more.
	create(t, dead, rec("released", dead.Node()))
	if err := dead.Release(ctx, "released", 1); err != nil {
		t.Fatal(err)
	}
	create(t, dead, rec("taken", dead.Node()))
	if _, err := a.Claim(ctx, "taken", a.Node()); err != nil {
		t.Fatal(err)
	}

	// Nothing to adopt while it lives.
	if recs, err := a.Adopt(ctx, 100); err != nil || len(recs) != 0 {
		t.Fatalf("Adopt while the owner lives: %d records, %v", len(recs), err)
	}
	_ = dead.Stop() // dies without releasing anything
	eventually(t, live+2*time.Second, "dead node's liveness lapses", func() bool {
		ok, err := a.Alive(ctx, dead.Node())
		return err == nil && !ok
	})

	by := adoptAll(t, 7, a, b)
	for _, id := range ids {
		if len(by[id]) != 1 {
			t.Errorf("%s adopted by %v, want exactly one node", id, by[id])
		}
	}
	if len(by) != n {
		t.Errorf("adopted %d sessions, want %d: %v", len(by), n, by)
	}
	for _, id := range ids {
		r, err := a.Load(ctx, id)
		if err != nil || r.Lease != 2 || r.Owner != by[id][0] {
			t.Fatalf("Load(%s) after adoption: %+v, %v", id, r, err)
		}
	}
	c := newClient(t, redisAddr())
	if n, _ := c.Exists(ctx, a.ownedKey(dead.Node())).Result(); n != 0 {
		t.Error("the dead node's ownership set is still there")
	}
	if ok, _ := c.SIsMember(ctx, a.nodesKey(), dead.Node()).Result(); ok {
		t.Error("the dead node is still registered")
	}
	if n, _ := c.SCard(ctx, a.orphansKey()).Result(); n != 0 {
		t.Errorf("%d orphans left", n)
	}
	if r, _ := a.Load(ctx, "taken"); r.Owner != a.Node() || r.Lease != 2 {
		t.Errorf("a session claimed away from the dead node was adopted: %+v", r)
	}
}

func TestReleasedDisconnectedIsAdoptable(t *testing.T) {
	p := newPrefix(t)
	a, b, c := open(t, Options{Prefix: p}), open(t, Options{Prefix: p}), open(t, Options{Prefix: p})
	ctx := testCtx(t)

	for _, id := range []string{"away", "here", "resumed"} {
		create(t, a, rec(id, a.Node()))
	}
	for _, id := range []string{"away", "resumed"} {
		r, _ := a.Load(ctx, id)
		r.Detached = time.Now()
		if err := a.Save(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"away", "here", "resumed"} {
		if err := a.Release(ctx, id, 1); err != nil {
			t.Fatalf("Release(%s): %v", id, err)
		}
	}
	// "resumed" found a live owner before anyone adopted it.
	if _, err := c.Claim(ctx, "resumed", c.Node()); err != nil {
		t.Fatal(err)
	}
	recs, err := b.Adopt(ctx, 10)
	if err != nil || len(recs) != 1 || recs[0].ID != "away" || recs[0].Owner != b.Node() || recs[0].Lease != 2 {
		t.Fatalf("Adopt: %+v, %v; want only \"away\"", recs, err)
	}
	if recs, err := a.Adopt(ctx, 10); err != nil || len(recs) != 0 {
		t.Fatalf("second Adopt: %+v, %v", recs, err)
	}
	if r, _ := a.Load(ctx, "resumed"); r.Owner != c.Node() {
		t.Fatalf("resumed session's owner = %q", r.Owner)
	}
	if r, _ := a.Load(ctx, "here"); r.Owner != "" {
		t.Fatalf("released connected session's owner = %q", r.Owner)
	}
}

func TestAdoptZero(t *testing.T) {
	p := newPrefix(t)
	a := open(t, Options{Prefix: p})
	create(t, a, rec("x", a.Node()))
	r, _ := a.Load(testCtx(t), "x")
	r.Detached = time.Now()
	_ = a.Save(testCtx(t), r)
	_ = a.Release(testCtx(t), "x", 1)
	if recs, err := a.Adopt(testCtx(t), 0); err != nil || len(recs) != 0 {
		t.Fatalf("Adopt(0) = %v, %v", recs, err)
	}
	if recs, err := a.Adopt(testCtx(t), 1); err != nil || len(recs) != 1 {
		t.Fatalf("Adopt(1) = %v, %v", recs, err)
	}
}

// The server keeps the node name it read at start. After the store
// renamed itself, that name must still work for its claims and notices.
func TestOldNameIsAnAlias(t *testing.T) {
	p := newPrefix(t)
	a := open(t, Options{Prefix: p, Liveness: 300 * time.Millisecond})
	in := listen(a)
	old := a.Node()
	c := newClient(t, redisAddr())
	ctx := testCtx(t)
	c.Del(ctx, a.aliveKey(old)) // as if Redis forgot it
	if _, ok := in.wait(t, 3*time.Second, kind(tether.NoticeLost)); !ok {
		t.Fatal("no Lost after the liveness key vanished")
	}
	eventually(t, 3*time.Second, "a new name", func() bool { return a.Node() != old })
	create(t, a, rec("s", old))
	r, err := a.Claim(ctx, "s", old)
	if err != nil || r.Owner != a.Node() {
		t.Fatalf("Claim under the old name: %+v, %v", r, err)
	}
	eventually(t, 3*time.Second, "notice to the old name", func() bool {
		_ = a.Notify(ctx, old, tether.Notice{Kind: tether.NoticeReleased, Session: "s"})
		_, ok := in.wait(t, 200*time.Millisecond, kind(tether.NoticeReleased))
		return ok
	})
}

// Between Lost and its new name, a node takes no sessions.
func TestLostNodeTakesNothing(t *testing.T) {
	p := newPrefix(t)
	a := open(t, Options{Prefix: p})
	ctx := testCtx(t)
	orphanS(t, a)
	a.down.Store(true) // as the liveness loop does on Lost
	defer a.down.Store(false)
	takesNothing(t, a, "a lost node")
	// Other nodes' sessions are still its business to store.
	if err := a.Create(ctx, rec("u", "elsewhere")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Claim(ctx, "s", "elsewhere"); err != nil {
		t.Fatal(err)
	}
}

// A stopped node (it renews its liveness no more) takes no sessions
// either: not an orphan another node just swept from it, which would then
// belong to a node everyone takes for dead.
func TestStoppedNodeTakesNothing(t *testing.T) {
	p := newPrefix(t)
	a := open(t, Options{Prefix: p})
	orphanS(t, a)
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	takesNothing(t, a, "a stopped node")
	b := open(t, Options{Prefix: p})
	if recs, err := b.Adopt(testCtx(t), 10); err != nil || len(recs) != 1 {
		t.Fatalf("Adopt by a live node: %v, %v", recs, err)
	}
}

// orphanS makes session "s", disconnected and released: an orphan.
func orphanS(t *testing.T, a *Store) {
	t.Helper()
	ctx := testCtx(t)
	create(t, a, rec("s", ""))
	r, _ := a.Load(ctx, "s")
	r.Detached = time.Now()
	_ = a.Save(ctx, r)
	_ = a.Release(ctx, "s", 1)
}

// takesNothing checks that a creates, claims and adopts nothing for itself.
func takesNothing(t *testing.T, a *Store, who string) {
	t.Helper()
	ctx := testCtx(t)
	if err := a.Create(ctx, rec("t", a.Node())); !errors.Is(err, ErrNodeLost) {
		t.Fatalf("Create for %s: %v", who, err)
	}
	if _, err := a.Claim(ctx, "s", a.Node()); !errors.Is(err, ErrNodeLost) {
		t.Fatalf("Claim for %s: %v", who, err)
	}
	if recs, err := a.Adopt(ctx, 10); err != nil || len(recs) != 0 {
		t.Fatalf("Adopt by %s: %v, %v", who, recs, err)
	}
}
