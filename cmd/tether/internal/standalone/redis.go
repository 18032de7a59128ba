package standalone

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-ws/tether/redisstore"
)

// redisBackend is the Redis store the server runs on with -redis-addr.
type redisBackend struct {
	rdb   redis.UniversalClient
	store *redisstore.Store
}

// openRedis connects to Redis and registers this server as a node. A
// Redis that does not answer at start is a configuration error: the
// server would only refuse every client.
func openRedis(cfg *Config, log *slog.Logger) (*redisBackend, error) {
	var addrs []string
	for _, a := range strings.Split(cfg.RedisAddr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	// Short timeouts: a server cut off from Redis must answer "unavailable"
	// within a couple of seconds, not hang its clients and API callers.
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: addrs, Password: cfg.RedisPassword,
		DialTimeout: 2 * time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		PoolTimeout: 2 * time.Second, MaxRetries: 1,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, &ConfigError{Setting: "redis-addr", Err: fmt.Errorf("no answer from Redis at %s: %w", cfg.RedisAddr, err)}
	}
	st, err := redisstore.New(ctx, &redisstore.Options{
		Redis: rdb, Prefix: cfg.RedisPrefix, Node: cfg.NodeName, Liveness: cfg.NodeLiveness, Logger: log,
	})
	if err != nil {
		_ = rdb.Close()
		return nil, &ConfigError{Setting: "redis-addr", Err: err}
	}
	log.Info("tether: sessions in Redis", "addr", cfg.RedisAddr, "prefix", cfg.RedisPrefix, "node", st.Node())
	return &redisBackend{rdb: rdb, store: st}, nil
}

func (r *redisBackend) close() {
	_ = r.store.Stop()
	_ = r.rdb.Close()
}
