package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/storetest"
)

// The store on a real Redis Cluster, where a script or a MULTI touching
// keys of two slots fails with CROSSSLOT. These tests need a cluster:
// TETHER_REDIS_CLUSTER lists some of its nodes (host:port,host:port).
// Without it they skip; the single-Redis tests cover the rest.
func clusterClient(t *testing.T) *redis.ClusterClient {
	t.Helper()
	addrs := os.Getenv("TETHER_REDIS_CLUSTER")
	if addrs == "" {
		const msg = "set TETHER_REDIS_CLUSTER=host:port,... to run the tests against a Redis Cluster (scripts/redis-cluster.sh starts one)"
		if os.Getenv("TETHER_REQUIRE_ALL") == "1" {
			t.Fatalf("%s; TETHER_REQUIRE_ALL=1 makes this skip a failure", msg)
		}
		t.Skip("!!!!!!!!!! SKIP: " + msg)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ","), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis Cluster at %s not reachable: %v", addrs, err)
	}
	return c
}

// clusterPrefix returns a fresh prefix whose keys are deleted from every
// master at cleanup.
func clusterPrefix(t *testing.T, c *redis.ClusterClient) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := "tt:" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx := context.Background()
		_ = c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			iter := m.Scan(ctx, 0, p+":*", 1000).Iterator()
			for iter.Next(ctx) {
				m.Del(ctx, iter.Val())
			}
			return iter.Err()
		})
	})
	return p
}

func openOnCluster(t *testing.T, c *redis.ClusterClient, prefix string, o Options) *Store {
	t.Helper()
	o.Redis, o.Prefix = c, prefix
	return open(t, o)
}

func TestClusterConformance(t *testing.T) {
	c := clusterClient(t)
	storetest.Run(t, func(t *testing.T) tether.Store {
		return openOnCluster(t, c, clusterPrefix(t, c), Options{})
	})
}

func TestClusterKeySlots(t *testing.T) {
	c := clusterClient(t)
	s := openOnCluster(t, c, clusterPrefix(t, c), Options{})
	ctx := testCtx(t)
	for _, id := range oddIDs {
		for _, k := range append(s.sessionKeys(id), s.streamKeys(id)...) {
			got, err := c.ClusterKeySlot(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			if int(got) != slot(k) {
				t.Fatalf("CLUSTER KEYSLOT %q = %d, the test's CRC16 says %d", k, got, slot(k))
			}
		}
	}
}

// TestClusterNodes runs the cross-node paths on a cluster: wakes, notices,
// adoption of a dead node's sessions, orphans, fencing, indexes.
func TestClusterNodes(t *testing.T) {
	c := clusterClient(t)
	p := clusterPrefix(t, c)
	const live = 400 * time.Millisecond
	a := openOnCluster(t, c, p, Options{Liveness: live})
	b := openOnCluster(t, c, p, Options{Liveness: live})
	dead := openOnCluster(t, c, p, Options{Liveness: live})
	inb := listen(b)
	ctx := testCtx(t)

	create(t, a, rec("woken", b.Node()))
	if _, err := a.Append(ctx, "woken", tether.Message{Type: tether.Text, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if n, ok := inb.wait(t, 5*time.Second, kind(tether.NoticeWake)); !ok || n.Seq != 1 || n.Session != "woken" {
		t.Fatalf("wake: %+v, %v", n, ok)
	}
	if err := a.Notify(ctx, b.Node(), tether.Notice{Kind: tether.NoticeKick, Session: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := inb.wait(t, 5*time.Second, kind(tether.NoticeKick)); !ok {
		t.Fatal("no notice")
	}

	for i := range 20 {
		r := rec(fmt.Sprintf("d%d", i), dead.Node())
		r.Rooms = []string{"lobby", fmt.Sprintf("room%d", i%3)}
		create(t, dead, r)
	}
	create(t, a, rec("released", a.Node()))
	r, _ := a.Load(ctx, "released")
	r.Detached = time.Now()
	if err := a.Save(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx, "released", r.Lease); err != nil {
		t.Fatal(err)
	}
	_ = dead.Stop()
	eventually(t, live+2*time.Second, "dead node lapses", func() bool {
		ok, err := a.Alive(ctx, dead.Node())
		return err == nil && !ok
	})
	by := adoptAll(t, 4, a, b)
	if len(by) != 21 {
		t.Fatalf("adopted %d sessions, want 21: %v", len(by), by)
	}
	for id, nodes := range by {
		if len(nodes) != 1 {
			t.Fatalf("%s adopted by %v", id, nodes)
		}
	}

	ra, _ := a.Claim(ctx, "d0", a.Node())
	rb, _ := b.Claim(ctx, "d0", b.Node())
	if err := a.SaveIn(ctx, "d0", ra.Lease, 1); err != tether.ErrFenced {
		t.Fatalf("stale SaveIn: %v", err)
	}
	if err := b.SaveIn(ctx, "d0", rb.Lease, 1); err != nil {
		t.Fatal(err)
	}
	if ids, err := a.RoomMembers(ctx, "lobby"); err != nil || len(ids) != 22 {
		t.Fatalf("lobby: %d members, %v", len(ids), err)
	}
	if err := join(ctx, a, "d0", "extra"); err != nil {
		t.Fatal(err)
	}
	sizes, err := a.RoomSizes(ctx)
	if err != nil || sizes["lobby"] != 22 || sizes["extra"] != 1 || sizes["room0"] != 7 {
		t.Fatalf("sizes %v, %v", sizes, err)
	}
	for id := range by {
		if err := a.Close(ctx, id, 0, &tether.Tombstone{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if sizes, err := a.RoomSizes(ctx); err != nil || sizes["extra"] != 0 || sizes["lobby"] != 1 {
		t.Fatalf("sizes after closing: %v, %v", sizes, err)
	}
}

// TestClusterRoomStreams: publishes from two nodes to rooms of odd names,
// each one script in the room's slot; members in many slots, owned by
// another node, get the messages through AppendRoomEach (woken), and
// one that lags through AppendRoom after a gap; History reads it all.
func TestClusterRoomStreams(t *testing.T) {
	c := clusterClient(t)
	p := clusterPrefix(t, c)
	a := openOnCluster(t, c, p, Options{})
	b := openOnCluster(t, c, p, Options{})
	inb := listen(b)
	ctx := testCtx(t)
	for _, room := range oddIDs {
		var ids []string
		for i := range 4 {
			id := fmt.Sprintf("%s-%d", room, i)
			create(t, a, rec(id, b.Node()))
			if _, _, err := a.JoinRoom(ctx, id, room, 0, tether.RoomPosition{}, nil); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		var epoch string
		for i := range 3 {
			src := []*Store{a, b}[i%2]
			pos, err := src.Publish(ctx, room, tether.Message{Type: tether.Text, Data: fmt.Appendf(nil, "m%d", i+1)}, tether.HistoryLimits{MaxMessages: 10})
			if err != nil || pos.Offset != uint64(i+1) || (epoch != "" && pos.Epoch != epoch) {
				t.Fatalf("room %q: publish %d: %+v, %v", room, i+1, pos, err)
			}
			epoch = pos.Epoch
			m := tether.Message{Type: tether.Text, Data: fmt.Appendf(nil, "m%d", i+1), Offset: pos.Offset}
			members := ids
			if i == 1 {
				members = ids[1:] // ids[0] misses offset 2
			}
			seqs, errs := a.AppendRoomEach(ctx, members, room, epoch, m)
			for j, err := range errs {
				switch {
				case i == 2 && j == 0:
					var gap *tether.RoomGapError
					if !errors.As(err, &gap) || gap.Cursor.Offset != 1 {
						t.Fatalf("room %q: the lagging member got %v, want a gap at 1", room, err)
					}
				case err != nil || seqs[j] == 0:
					t.Fatalf("room %q: AppendRoomEach to %s: %d, %v", room, members[j], seqs[j], err)
				}
			}
		}
		_, hist, err := a.History(ctx, room, 1, 10, nil)
		if err != nil || len(hist) != 2 || hist[0].Offset != 2 {
			t.Fatalf("room %q: History: %+v, %v", room, hist, err)
		}
		if _, err := a.AppendRoom(ctx, ids[0], room, epoch, hist...); err != nil {
			t.Fatalf("room %q: filling the gap: %v", room, err)
		}
		for _, id := range ids {
			got, err := a.Read(ctx, id, 0, 1<<20, nil)
			if err != nil || len(got) != 3 || got[2].Offset != 3 || got[2].Room != room || string(got[2].Data) != "m3" {
				t.Fatalf("%s: %+v, %v", id, got, err)
			}
		}
	}
	for range len(oddIDs) * 11 { // per room: 4 + 3 + 3 appends, and the fill
		if _, ok := inb.wait(t, 5*time.Second, kind(tether.NoticeWake)); !ok {
			t.Fatal("a wake is missing")
		}
	}
}

// TestClusterAppendEachMixed is TestAppendEachMixed on a cluster, where
// the appends are a pipeline of one script call each.
func TestClusterAppendEachMixed(t *testing.T) {
	c := clusterClient(t)
	p := clusterPrefix(t, c)
	checkAppendEachMixed(t, openOnCluster(t, c, p, Options{Node: "owner", Liveness: quietLiveness}), openOnCluster(t, c, p, Options{Liveness: quietLiveness}), 300)
}
