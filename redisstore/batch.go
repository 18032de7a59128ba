package redisstore

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// batch collects commands to send in as few round trips as the client
// allows. Commands are grouped in phases: a phase starts only after the
// previous one has completed. On a single Redis (plain or Sentinel) one
// connection executes a pipeline in order, so all phases share one
// round trip; a Cluster pipeline runs the nodes' parts concurrently, so
// each phase costs one. Phases give the "write A before B" orderings the
// cross-slot index updates rely on.
type batch struct {
	ctx    context.Context
	phases [][]redis.Cmder
	evals  map[*redis.Cmd]evalCall
}

// evalCall remembers a script call, to run it with EVAL if Redis has
// forgotten the script (NOSCRIPT after a restart or SCRIPT FLUSH).
type evalCall struct {
	sc   *redis.Script
	keys []string
	args []any
}

func newBatch(ctx context.Context) *batch {
	return &batch{ctx: ctx, phases: make([][]redis.Cmder, 1)}
}

// add queues a command and returns it; its result is there after exec.
func (b *batch) add(args ...any) *redis.Cmd {
	c := redis.NewCmd(b.ctx, args...)
	b.phases[len(b.phases)-1] = append(b.phases[len(b.phases)-1], c)
	return c
}

// eval queues a script call (EVALSHA).
func (b *batch) eval(sc *redis.Script, keys []string, args ...any) *redis.Cmd {
	a := make([]any, 0, 3+len(keys)+len(args))
	a = append(a, "evalsha", sc.Hash(), len(keys))
	for _, k := range keys {
		a = append(a, k)
	}
	a = append(a, args...)
	c := b.add(a...)
	if b.evals == nil {
		b.evals = make(map[*redis.Cmd]evalCall)
	}
	b.evals[c] = evalCall{sc, keys, args}
	return c
}

// then starts a new phase.
func (b *batch) then() {
	if len(b.phases[len(b.phases)-1]) > 0 {
		b.phases = append(b.phases, nil)
	}
}

func (b *batch) empty() bool { return len(b.phases) == 1 && len(b.phases[0]) == 0 }

// exec sends the batch and returns the first error among its commands
// (redis.Nil, a missing value, is not one). A phase with an error stops
// the batch: later phases depend on it.
func (s *Store) exec(b *batch) error {
	phases := b.phases
	if s.single {
		var all []redis.Cmder
		for _, p := range phases {
			all = append(all, p...)
		}
		phases = [][]redis.Cmder{all}
	}
	for _, p := range phases {
		switch len(p) {
		case 0:
			continue
		case 1:
			_ = s.rdb.Process(b.ctx, p[0])
		default:
			pipe := s.rdb.Pipeline()
			for _, c := range p {
				_ = pipe.Process(b.ctx, c)
			}
			_, _ = pipe.Exec(b.ctx)
		}
		var first error
		for _, c := range p {
			if rc, ok := c.(*redis.Cmd); ok && isNoScript(rc.Err()) {
				e := b.evals[rc]
				r := e.sc.Eval(b.ctx, s.rdb, e.keys, e.args...)
				rc.SetVal(r.Val())
				rc.SetErr(r.Err())
			}
			if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) && first == nil {
				first = err
			}
		}
		if first != nil {
			return first
		}
	}
	return nil
}

func isNoScript(err error) bool {
	return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT")
}

// run runs one script in one round trip (two the first time after Redis
// forgot it) and returns its reply (see reply; a nil reply is nil).
func (s *Store) run(ctx context.Context, sc *redis.Script, id string, args ...any) (any, error) {
	c := sc.Run(ctx, s.rdb, s.sessionKeys(id), args...)
	if errors.Is(c.Err(), redis.Nil) {
		return nil, nil
	}
	return reply(c)
}

// reply is a script's result: its error, the error its negative code
// stands for (see status), or its value.
func reply(c *redis.Cmd) (any, error) {
	v, err := c.Result()
	if err != nil {
		return nil, err
	}
	return status(v)
}

// status interprets a script reply that may be a negative error code.
func status(v any) (any, error) {
	if n, ok := v.(int64); ok && n < 0 {
		return nil, errOf(n)
	}
	return v, nil
}
