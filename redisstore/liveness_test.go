package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/internal/faultproxy"
)

// proxied returns a client that reaches Redis through a fault proxy, with
// timeouts short enough for a test.
func proxied(t *testing.T) (*redis.Client, *faultproxy.Proxy) {
	t.Helper()
	newClient(t, redisAddr()) // fails loudly without Redis
	p, err := faultproxy.New(redisAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	c := redis.NewClient(&redis.Options{
		Addr:                  p.Addr(),
		DialTimeout:           200 * time.Millisecond,
		ReadTimeout:           200 * time.Millisecond,
		WriteTimeout:          200 * time.Millisecond,
		PoolTimeout:           200 * time.Millisecond,
		MaxRetries:            -1,
		DialerRetries:         1,
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c, p
}

func TestLostWhenRedisUnreachable(t *testing.T) {
	for _, c := range []struct {
		name         string
		break_, heal func(*faultproxy.Proxy)
	}{
		{"blackhole", func(p *faultproxy.Proxy) { p.Blackhole(true) }, func(p *faultproxy.Proxy) { p.Blackhole(false) }},
		{"refused", func(p *faultproxy.Proxy) { p.Refuse(true); p.CutAll() }, func(p *faultproxy.Proxy) { p.Refuse(false) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Short, but long enough for go-redis to get a connection
			// back after an outage without losing the new name too.
			const live = 800 * time.Millisecond
			prefix := newPrefix(t)
			client, proxy := proxied(t)
			s := open(t, Options{Redis: client, Prefix: prefix, Liveness: live})
			peer := open(t, Options{Prefix: prefix, Liveness: live})
			in := listen(s)
			ctx := testCtx(t)
			old := s.Node()

			c.break_(proxy)
			broke := time.Now()
			if _, ok := in.wait(t, live+2*time.Second, kind(tether.NoticeLost)); !ok {
				t.Fatal("no Lost notice while Redis is unreachable")
			}
			if d := time.Since(broke); d > live+time.Second {
				t.Errorf("Lost came %v after the break, Liveness is %v", d, live)
			}
			time.Sleep(live)
			if n := in.take(); len(n) != 0 {
				t.Fatalf("more notices while unreachable: %+v (Lost comes once)", n)
			}
			if ok, _ := peer.Alive(ctx, old); ok {
				t.Fatal("the lost node is still alive to others")
			}

			c.heal(proxy)
			eventually(t, 5*time.Second, "a new node name", func() bool { return s.Node() != old })
			if ok, err := peer.Alive(ctx, s.Node()); err != nil || !ok {
				t.Fatalf("Alive(new name) = %v, %v", ok, err)
			}
			// Notices reach the new name.
			eventually(t, 5*time.Second, "notice to the new name", func() bool {
				_ = peer.Notify(ctx, s.Node(), tether.Notice{Kind: tether.NoticeKick, Session: "x"})
				_, ok := in.wait(t, 200*time.Millisecond, kind(tether.NoticeKick))
				return ok
			})
			// And it stays alive.
			time.Sleep(2 * live)
			if ok, _ := peer.Alive(ctx, s.Node()); !ok {
				t.Fatal("the re-registered node died")
			}
			if n := in.take(); len(n) != 0 {
				for _, x := range n {
					if x.Kind == tether.NoticeLost {
						t.Fatalf("Lost again after re-registering: %+v", n)
					}
				}
			}
		})
	}
}

// If Redis loses everything, the node's liveness key goes too: the node
// reports Lost at once and the epoch changes.
func TestRedisForgetsEverything(t *testing.T) {
	prefix := newPrefix(t)
	s := open(t, Options{Prefix: prefix, Liveness: 400 * time.Millisecond})
	in := listen(s)
	ctx := testCtx(t)
	e1, err := s.Epoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	create(t, s, rec("s", s.Node()))
	old := s.Node()
	deleteKeys(t, newClient(t, redisAddr()), prefix)
	if _, ok := in.wait(t, 2*time.Second, kind(tether.NoticeLost)); !ok {
		t.Fatal("no Lost after Redis lost the liveness key")
	}
	e2, err := s.Epoch(ctx)
	if err != nil || e2 == e1 || e2 == "" {
		t.Fatalf("epoch %q then %q (%v): want a new one", e1, e2, err)
	}
	eventually(t, 3*time.Second, "a new node name", func() bool { return s.Node() != old })
}

func TestStopEndsEverything(t *testing.T) {
	// goleak checks the goroutines at the end of the package; this checks
	// that Stop is prompt and may be repeated, even with Redis gone.
	client, proxy := proxied(t)
	s := open(t, Options{Redis: client, Prefix: newPrefix(t), Liveness: 300 * time.Millisecond})
	listen(s)
	proxy.Blackhole(true)
	time.Sleep(400 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		_ = s.Stop()
		_ = s.Stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Stop hangs while Redis is unreachable")
	}
	_ = context.Background()
}
