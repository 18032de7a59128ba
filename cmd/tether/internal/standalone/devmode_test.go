package standalone

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestDevSecretFile: the development secret is made once in
// $XDG_STATE_HOME/tether/dev-secret, mode 0600, and read back by every
// later start, even by several servers starting at the same moment; a
// damaged file is not used, and the log says how to fix it.
func TestDevSecretFile(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	path := filepath.Join(state, "tether", "dev-secret")
	secrets := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range secrets {
		wg.Go(func() {
			s, where, err := devSecret(context.Background(), nil, "tether")
			if err != nil || where != path {
				t.Errorf("devSecret: %q %v, want it kept in %s", where, err, path)
			}
			secrets[i] = s
		})
	}
	wg.Wait()
	for _, s := range secrets[1:] {
		if len(s) != devSecretBytes || !bytes.Equal(s, secrets[0]) {
			t.Fatalf("servers starting together disagree: %x, %x", s, secrets[0])
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want mode 0600", path, fi, err)
	}
	if left, _ := filepath.Glob(filepath.Join(state, "tether", ".dev-secret-*")); len(left) != 0 {
		t.Errorf("temporary files left: %q", left)
	}
	if s, _, _ := devSecret(context.Background(), nil, "tether"); !bytes.Equal(s, secrets[0]) {
		t.Fatal("a later start made a new secret")
	}

	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, where, err := devSecret(context.Background(), nil, "tether")
	if err != nil || len(s) != devSecretBytes || !strings.Contains(where, "delete it") || !strings.HasPrefix(where, "nowhere") {
		t.Fatalf("with a damaged file: %q %v", where, err)
	}

	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", state)
	if _, where, _ := devSecret(context.Background(), nil, "tether"); where != filepath.Join(state, ".local", "state", "tether", "dev-secret") {
		t.Errorf("without XDG_STATE_HOME: %q, want ~/.local/state/tether/dev-secret", where)
	}
}

// TestDevSecretRedis: with Redis, the servers share one development
// secret, kept under the prefix.
func TestDevSecretRedis(t *testing.T) {
	addr := os.Getenv("TETHER_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		if os.Getenv("TETHER_REQUIRE_ALL") == "1" {
			t.Fatal(err)
		}
		t.Skip("!!!!!!!!!! SKIP: Redis not reachable at " + addr + ": " + err.Error())
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	prefix := "tt" + hex.EncodeToString(b)
	defer rdb.Del(context.Background(), devSecretKey(prefix))
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	a, where, err := devSecret(ctx, rdb, prefix)
	if err != nil || where != "Redis key "+prefix+":dev-secret" {
		t.Fatalf("devSecret: %q %v", where, err)
	}
	if b, _, _ := devSecret(ctx, rdb, prefix); !bytes.Equal(a, b) {
		t.Fatal("two servers of one Redis have different secrets")
	}
	if other, _, _ := devSecret(ctx, rdb, prefix+"x"); bytes.Equal(a, other) {
		t.Fatal("another prefix shares the secret")
	}
	rdb.Del(ctx, devSecretKey(prefix+"x"))
}
