// Package clustertest runs several Tether servers in one process on one
// Redis, behind a balancer that sends each new connection to the node the
// test chooses, and checks that sessions move between them without loss.
package clustertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/redisstore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go-redis keeps a pool reaper per client until it is closed; the
		// tests close every client, but the reaper exits asynchronously.
		goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
	)
}

func redisAddr() string {
	if a := os.Getenv("TETHER_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// needRedis fails (never skips) when Redis is not reachable: the cluster
// guarantees are only proven against the real thing.
func needRedis(t testing.TB) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: redisAddr()})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis is not reachable at %s (%v): start it with `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no` or set TETHER_REDIS_ADDR", redisAddr(), err)
	}
}

// testLogger discards logs unless TETHER_TEST_LOG=1.
func testLogger(name string) *slog.Logger {
	if os.Getenv("TETHER_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func randomPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "ct" + hex.EncodeToString(b[:])
}

// recorder keeps what the servers' hooks saw, across nodes, by session.
type recorder struct {
	mu     sync.Mutex
	msgs   map[string][]string // session → client messages, in order
	events map[string][]string // session → "node:hook" in order
	closes map[string]tether.Closure
}

func newRecorder() *recorder {
	return &recorder{msgs: map[string][]string{}, events: map[string][]string{}, closes: map[string]tether.Closure{}}
}

func (r *recorder) add(id, ev string) {
	r.mu.Lock()
	r.events[id] = append(r.events[id], ev)
	r.mu.Unlock()
}

func (r *recorder) messages(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs[id]...)
}

type node struct {
	name  string
	store *redisstore.Store
	rdb   redis.UniversalClient
	srv   *tether.Server
	http  *httptest.Server
}

type cluster struct {
	t      testing.TB
	prefix string
	nodes  []*node
	rec    *recorder
	lb     *balancer
	mutate func(*tether.Options)
}

// startCluster starts n nodes sharing one Redis prefix, and a balancer in
// front of them.
func startCluster(t testing.TB, n int, mutate func(*tether.Options)) *cluster {
	t.Helper()
	needRedis(t)
	c := &cluster{t: t, prefix: randomPrefix(), rec: newRecorder(), mutate: mutate}
	for i := range n {
		c.nodes = append(c.nodes, c.startNode(fmt.Sprintf("node%d", i)))
	}
	c.lb = newBalancer(t, func() string { return c.nodes[0].http.Listener.Addr().String() })
	t.Cleanup(c.stop)
	return c
}

func (c *cluster) startNode(name string) *node {
	t := c.t
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{redisAddr()}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := redisstore.New(ctx, &redisstore.Options{
		Redis: rdb, Prefix: c.prefix, Node: name, Liveness: time.Second,
		Logger: testLogger(name),
	})
	if err != nil {
		t.Fatalf("redisstore: %v", err)
	}
	nd := &node{name: name, store: st, rdb: rdb}
	rec := c.rec
	o := tether.Options{
		Store:             st,
		HeartbeatInterval: 300 * time.Millisecond,
		HeartbeatTimeout:  700 * time.Millisecond,
		GraceWindow:       10 * time.Second,
		RestartJitter:     50 * time.Millisecond,
		Logger:            testLogger(name),
		OnOpen: func(ctx context.Context, s *tether.Session, info tether.OpenInfo) {
			rec.add(s.ID(), name+":open")
			_ = s.Join(ctx, "all")
		},
		OnMessage: func(ctx context.Context, s *tether.Session, m tether.Message) error {
			rec.mu.Lock()
			rec.msgs[s.ID()] = append(rec.msgs[s.ID()], string(m.Data))
			rec.mu.Unlock()
			return nil
		},
		OnDisconnect: func(ctx context.Context, s *tether.Session, d tether.Disconnect) {
			rec.add(s.ID(), name+":disconnect:"+d.Cause.String())
		},
		OnResume: func(ctx context.Context, s *tether.Session, r tether.Resume) {
			rec.add(s.ID(), name+":resume")
		},
		OnClose: func(ctx context.Context, s *tether.Session, cl tether.Closure) {
			rec.add(s.ID(), name+":close:"+cl.Cause.String())
			rec.mu.Lock()
			rec.closes[s.ID()] = cl
			rec.mu.Unlock()
		},
	}
	if c.mutate != nil {
		c.mutate(&o)
	}
	nd.srv = tether.NewServer(&o)
	nd.http = httptest.NewServer(nd.srv)
	return nd
}

// kill makes a node vanish as if its process died: its connections drop
// without a close frame and its liveness lapses; it releases nothing.
func (c *cluster) kill(nd *node) {
	c.lb.cutTo(nd.http.Listener.Addr().String())
	_ = nd.store.Stop()
	nd.http.Close()
}

func (c *cluster) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.lb.close()
	for _, nd := range c.nodes {
		_ = nd.srv.Shutdown(ctx)
		nd.http.Close()
		_ = nd.store.Stop()
		_ = nd.rdb.Close()
	}
	// Remove the test's keys.
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr()})
	defer rdb.Close()
	iter := rdb.Scan(ctx, 0, c.prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}

// route sends new connections to node i.
func (c *cluster) route(i int) {
	addr := c.nodes[i].http.Listener.Addr().String()
	c.lb.setTarget(func() string { return addr })
}

func (c *cluster) url() string { return "ws://" + c.lb.addr() }

// balancer forwards each accepted connection to the address target()
// gives at that moment, and can cut every connection.
type balancer struct {
	ln     net.Listener
	target atomic.Pointer[func() string]
	mu     sync.Mutex
	conns  map[net.Conn]string // client side → backend address
	peers  map[net.Conn]net.Conn
	wg     sync.WaitGroup
}

func newBalancer(t testing.TB, target func() string) *balancer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{ln: ln, conns: map[net.Conn]string{}, peers: map[net.Conn]net.Conn{}}
	b.target.Store(&target)
	b.wg.Add(1)
	go b.accept()
	return b
}

func (b *balancer) addr() string              { return b.ln.Addr().String() }
func (b *balancer) setTarget(f func() string) { b.target.Store(&f) }

func (b *balancer) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		to := (*b.target.Load())()
		u, err := net.Dial("tcp", to)
		if err != nil {
			c.Close()
			continue
		}
		b.mu.Lock()
		b.conns[c] = to
		b.peers[c] = u
		b.mu.Unlock()
		b.wg.Add(2)
		go func() { defer b.wg.Done(); _, _ = io.Copy(u, c); closeWrite(u) }()
		go func() {
			defer b.wg.Done()
			_, _ = io.Copy(c, u)
			closeWrite(c)
			b.mu.Lock()
			delete(b.conns, c)
			delete(b.peers, c)
			b.mu.Unlock()
		}()
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// cut resets every connection (or those to one backend) in both directions.
func (b *balancer) cut(match func(to string) bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c, to := range b.conns {
		if match(to) {
			for _, x := range []net.Conn{c, b.peers[c]} {
				if tc, ok := x.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				x.Close()
			}
			delete(b.conns, c)
			delete(b.peers, c)
		}
	}
}

func (b *balancer) cutAll()           { b.cut(func(string) bool { return true }) }
func (b *balancer) cutTo(addr string) { b.cut(func(to string) bool { return to == addr }) }

func (b *balancer) close() {
	b.ln.Close()
	b.cutAll()
	b.wg.Wait()
}

// clientRec records what a client saw.
type clientRec struct {
	mu     sync.Mutex
	msgs   []string
	events []client.Event
}

func (r *clientRec) options(o *client.Options) *client.Options {
	if o == nil {
		o = &client.Options{}
	}
	o.OnMessage = func(m tether.Message) {
		r.mu.Lock()
		r.msgs = append(r.msgs, string(m.Data))
		r.mu.Unlock()
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

func (r *clientRec) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

func count[E client.Event](r *clientRec) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if _, ok := e.(E); ok {
			n++
		}
	}
	return n
}

func (c *cluster) dial(r *clientRec, o *client.Options) *client.Client {
	c.t.Helper()
	return c.dialWith(r.options(o))
}

// dialWith dials through the balancer; the client is closed at cleanup.
func (c *cluster) dialWith(o *client.Options) *client.Client {
	t := c.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, c.url(), o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = cl.Close(ctx)
		<-cl.Done()
	})
	return cl
}

// waitUntil polls cond until it holds or d passes.
func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
