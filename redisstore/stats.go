package redisstore

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Stats counts what a store sent to Redis, so a benchmark can report
// Redis operations per delivered message. The counts come from a hook on
// the client: they include every command sent through that client, by
// this store (its liveness renewals too) or anything else using it, but
// not the pub/sub connection. On a Cluster a pipeline counts as one round
// trip although its parts go to several nodes at once.
type Stats struct {
	Commands   uint64 // commands, each command of a pipeline counted
	RoundTrips uint64 // single commands plus pipelines
}

// counter is a go-redis hook counting commands and pipelines.
type counter struct {
	cmds, trips atomic.Uint64
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.cmds.Add(1)
		c.trips.Add(1)
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.cmds.Add(uint64(len(cmds)))
		c.trips.Add(1)
		return next(ctx, cmds)
	}
}

// Stats returns the counts since New.
func (s *Store) Stats() Stats {
	return Stats{Commands: s.stats.cmds.Load(), RoundTrips: s.stats.trips.Load()}
}
