package standalone

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// With Redis, every server writes its session counts by state into one
// hash, <prefix>:admin:nodes (field: node name), every nodeBoardEvery;
// the admin page of any server reads the hash and shows every server
// heard from within nodeBoardStale. The cost: one HSET per server every
// 2 s, one HGETALL per page refresh.
const (
	nodeBoardEvery = 2 * time.Second
	nodeBoardStale = 10 * time.Second
)

type nodeBoard struct {
	rdb   redis.UniversalClient
	key   string
	node  string
	count func() stateCounts
	log   *slog.Logger
	stop  chan struct{}
	done  chan struct{}
}

func newNodeBoard(rdb redis.UniversalClient, prefix, node string, count func() stateCounts, log *slog.Logger) *nodeBoard {
	b := &nodeBoard{rdb: rdb, key: prefix + ":admin:nodes", node: node, count: count, log: log,
		stop: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

func (b *nodeBoard) run() {
	defer close(b.done)
	t := time.NewTicker(nodeBoardEvery)
	defer t.Stop()
	failing := false
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		v, _ := json.Marshal(b.count())
		err := b.rdb.HSet(ctx, b.key, b.node, v).Err()
		cancel()
		if err != nil && !failing {
			b.log.Warn("tether: cannot publish this server's session counts for the admin page", "err", err)
		}
		failing = err != nil
		select {
		case <-t.C:
		case <-b.stop:
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = b.rdb.HDel(ctx, b.key, b.node).Err()
			cancel()
			return
		}
	}
}

// close stops publishing and removes this server from the hash.
func (b *nodeBoard) close() {
	close(b.stop)
	<-b.done
}

// read returns every live server's counts, this one's (self, fresh) first.
// Entries older than nodeBoardStale are left out and deleted.
func (b *nodeBoard) read(ctx context.Context, self stateCounts) []stateCounts {
	out := []stateCounts{self}
	all, err := b.rdb.HGetAll(ctx, b.key).Result()
	if err != nil {
		return out
	}
	var stale []string
	for node, v := range all {
		if node == b.node {
			continue
		}
		var c stateCounts
		if json.Unmarshal([]byte(v), &c) != nil || time.Since(c.Updated) > nodeBoardStale {
			stale = append(stale, node)
			continue
		}
		c.Node = node
		out = append(out, c)
	}
	if len(stale) > 0 {
		_ = b.rdb.HDel(ctx, b.key, stale...).Err()
	}
	sort.Slice(out[1:], func(i, j int) bool { return out[1+i].Node < out[1+j].Node })
	return out
}
