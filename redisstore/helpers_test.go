package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tether-ws/tether"
	"go.uber.org/goleak"
)

// TestMain fails the package at once, loudly, when the test Redis is not
// there: these tests never skip for want of it.
func TestMain(m *testing.M) {
	c, err := net.DialTimeout("tcp", redisAddr(), 2*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %s\n", noRedis(redisAddr(), err))
		os.Exit(1)
	}
	_ = c.Close()
	goleak.VerifyTestMain(m)
}

func noRedis(addr string, err error) string {
	return fmt.Sprintf("Redis is not reachable at %s: %v\n"+
		"The redisstore tests need a Redis 7. Start one with\n"+
		"\tredis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no\n"+
		"or point TETHER_REDIS_ADDR at one.", addr, err)
}

// redisAddr is the Redis the tests use: TETHER_REDIS_ADDR, or the local
// default.
func redisAddr() string {
	if a := os.Getenv("TETHER_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// newClient returns a client of the test Redis, closed at cleanup. The
// tests need Redis: without it they fail, loudly, never skip.
func newClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:                  addr,
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
	})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(noRedis(addr, err))
	}
	return c
}

// newPrefix returns a key prefix no other test uses, and deletes its
// keys at cleanup.
func newPrefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := "tt:" + hex.EncodeToString(b[:])
	c := newClient(t, redisAddr())
	t.Cleanup(func() { deleteKeys(t, c, p) })
	return p
}

func deleteKeys(t testing.TB, c *redis.Client, prefix string) {
	t.Helper()
	ctx := context.Background()
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, prefix+":*", 1000).Result()
		if err != nil {
			t.Errorf("cleaning up %s: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		if cursor = next; cursor == 0 {
			return
		}
	}
}

// open starts a store on its own client, stopped at cleanup.
func open(t testing.TB, o Options) *Store {
	t.Helper()
	if o.Redis == nil {
		o.Redis = newClient(t, redisAddr())
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := New(ctx, &o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// inbox collects the notices a store delivers.
type inbox struct {
	mu   sync.Mutex
	got  []tether.Notice
	more chan struct{}
}

func listen(s *Store) *inbox {
	in := &inbox{more: make(chan struct{}, 1)}
	s.Listen(func(n tether.Notice) {
		in.mu.Lock()
		in.got = append(in.got, n)
		in.mu.Unlock()
		select {
		case in.more <- struct{}{}:
		default:
		}
	})
	return in
}

// wait returns the first notice not yet taken that satisfies ok, within d.
func (in *inbox) wait(t testing.TB, d time.Duration, ok func(tether.Notice) bool) (tether.Notice, bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		in.mu.Lock()
		for i, n := range in.got {
			if ok(n) {
				in.got = append(in.got[:i:i], in.got[i+1:]...)
				in.mu.Unlock()
				return n, true
			}
		}
		in.mu.Unlock()
		select {
		case <-in.more:
		case <-deadline:
			return tether.Notice{}, false
		}
	}
}

func (in *inbox) take() []tether.Notice {
	in.mu.Lock()
	defer in.mu.Unlock()
	got := in.got
	in.got = nil
	return got
}

func kind(k tether.NoticeKind) func(tether.Notice) bool {
	return func(n tether.Notice) bool { return n.Kind == k }
}

// eventually polls cond every 20ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testLogger sends a store's logs to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// join adds a session to a room with no cursor position and no event.
func join(ctx context.Context, s *Store, id, room string) error {
	_, _, err := s.JoinRoom(ctx, id, room, 0, tether.RoomPosition{}, nil)
	return err
}

// leave removes a session from a room without an event.
func leave(ctx context.Context, s *Store, id, room string) error {
	_, _, err := s.LeaveRoom(ctx, id, room, nil)
	return err
}
