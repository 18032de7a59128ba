package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tether-ws/tether"
)

// Liveness. A node is alive while its key <p>:alive:{node} exists; the
// key expires Liveness after its last renewal. Renewals use SET XX: a
// node whose key lapsed can never revive it, because the others may
// already have taken its sessions. It reports Lost instead and registers
// again under a new name. The registry <p>:nodes lists the nodes whose
// sessions someone must adopt if they die; every renewal re-adds the
// node, so a sweeper that removed it by mistake is corrected.

// register makes name a live node. With wait, it waits while a live node
// holds the name (a restart reusing its name before its old key expired).
// It returns when the liveness key was sent, the start of its lifetime.
func (s *Store) register(ctx context.Context, name string, wait bool) (time.Time, error) {
	var sent time.Time
	for {
		sent = time.Now()
		ok, err := s.rdb.SetNX(ctx, s.aliveKey(name), "1", s.liveness).Result()
		if err != nil {
			return time.Time{}, fmt.Errorf("redisstore: cannot register node %q: %w", name, err)
		}
		if ok {
			break
		}
		if !wait {
			return time.Time{}, fmt.Errorf("redisstore: node name %q is in use by a live node", name)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("redisstore: node name %q is in use by a live node: %w", name, ctx.Err())
		case <-time.After(s.liveness / 4):
		}
	}
	// An earlier process of this name is dead: what it owned is orphaned
	// (and disowned: the name is alive again, but this process holds
	// none of it).
	if err := s.orphanAll(ctx, name); err != nil {
		return time.Time{}, fmt.Errorf("redisstore: cannot register node %q: %w", name, err)
	}
	if err := s.rdb.SAdd(ctx, s.nodesKey(), name).Err(); err != nil {
		return time.Time{}, fmt.Errorf("redisstore: cannot register node %q: %w", name, err)
	}
	return sent, nil
}

// result is what a background step of the liveness loop reports.
type result struct {
	sent  time.Time // when the step's liveness key was sent
	ok    bool      // the key was renewed (or created, after Lost)
	fresh bool      // ok came from registering a new name
	gone  bool      // the key had expired: liveness is lost
	err   error
}

// liveLoop renews the liveness key every Liveness/4 and declares the node
// lost when Liveness passed since the last renewal that succeeded (counted
// from when it was sent, which is no later than Redis started its clock).
// Redis calls run on helper goroutines, so that a hung connection cannot
// delay Lost. After Lost it tries to register a new name at every tick.
// It also renews the expiry of the node's sessions every KeyTTL/4.
func (s *Store) liveLoop(lastOK time.Time) {
	defer s.wg.Done()
	tick := time.NewTicker(s.liveness / 4)
	defer tick.Stop()
	deadline := time.NewTimer(time.Until(lastOK.Add(s.liveness)))
	defer deadline.Stop()
	renewal := time.NewTicker(max(s.keyTTL/4, time.Second))
	defer renewal.Stop()
	results := make(chan result, 1)
	busy, lost, touching := false, false, false
	touched := make(chan struct{}, 1)
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
			if busy {
				continue
			}
			busy = true
			wasLost := lost
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				if wasLost {
					results <- s.reregister()
				} else {
					results <- s.renew()
				}
			}()
		case r := <-results:
			busy = false
			switch {
			case r.ok && lost && !r.fresh:
				// A renewal that was slower than the deadline: Lost is
				// out, the server has dropped its sessions. The old
				// name must not live on, or they would never be adopted.
			case r.ok:
				lost = false
				s.down.Store(false)
				lastOK = r.sent
				deadline.Reset(time.Until(lastOK.Add(s.liveness)))
			case r.gone && !lost:
				lost = true
				s.lose("liveness key expired")
			case r.err != nil:
				s.log.Debug("redisstore: liveness renewal failed", "node", s.Node(), "err", r.err)
			}
		case <-deadline.C:
			if !lost {
				lost = true
				s.lose("no renewal for Liveness")
			}
		case <-renewal.C:
			if touching || lost {
				continue
			}
			touching = true
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				if err := s.touchOwned(s.ctx, s.Node()); err != nil && s.ctx.Err() == nil {
					s.log.Warn("redisstore: cannot renew the expiry of owned sessions", "err", err)
				}
				touched <- struct{}{}
			}()
		case <-touched:
			touching = false
		}
	}
}

// renew extends this node's liveness key, if it still exists.
func (s *Store) renew() result {
	ctx, cancel := context.WithTimeout(s.ctx, s.liveness/2)
	defer cancel()
	name := s.Node()
	sent := time.Now()
	b := newBatch(ctx)
	set := b.add("set", s.aliveKey(name), "1", "px", s.liveness.Milliseconds(), "xx")
	b.add("sadd", s.nodesKey(), name)
	err := s.exec(b)
	switch {
	case err != nil:
		return result{err: err}
	case errors.Is(set.Err(), redis.Nil):
		return result{gone: true}
	}
	return result{ok: true, sent: sent}
}

// lose tells the listener that this node lost its liveness. It never
// blocks the liveness loop, even behind a slow listener.
func (s *Store) lose(why string) {
	s.down.Store(true)
	s.loc.forgetAll() // others may take the sessions: what is known here may go stale
	s.log.Error("redisstore: node lost its liveness; its sessions may be taken over", "node", s.Node(), "why", why)
	select {
	case s.lost <- tether.Notice{Kind: tether.NoticeLost, From: s.Node()}:
	default: // one is pending already
	}
}

// reregister registers this store under a new name after Lost: the old
// name's sessions may belong to others by now. The old name stays an
// alias (see canon), and the subscription moves to the new channel.
func (s *Store) reregister() result {
	ctx, cancel := context.WithTimeout(s.ctx, s.liveness)
	defer cancel()
	name := randomName(s.base)
	sent, err := s.register(ctx, name, false)
	if err != nil {
		return result{err: err}
	}
	s.nodeMu.Lock()
	old := s.node
	s.past[old] = true
	s.node = name
	s.nodeMu.Unlock()
	s.resubscribe()
	s.log.Warn("redisstore: node registered again under a new name", "node", name, "was", old)
	return result{ok: true, fresh: true, sent: sent}
}

// touchBatch bounds the sessions renewed per round trip.
const touchBatch = 256

// touchOwned renews the safety-net expiry of the sessions a node owns, of
// their indexes and of their rooms' streams, so that a session held for a
// long time without any store call does not expire under its server, nor
// the streams its cursors are in.
func (s *Store) touchOwned(ctx context.Context, node string) error {
	var cursor uint64
	for {
		ids, next, err := s.rdb.SScan(ctx, s.ownedKey(node), cursor, "", touchBatch).Result()
		if err != nil {
			return err
		}
		b := newBatch(ctx)
		cmds := make([]*redis.Cmd, len(ids))
		for i, id := range ids {
			cmds[i] = b.eval(scTouch, s.sessionKeys(id), s.ttl(), node)
		}
		_ = s.exec(b)
		idx := make(map[string]bool)
		rooms := make(map[string]bool)
		for _, c := range cmds {
			a := slice(c.Val())
			if len(a) != 3 {
				continue
			}
			user, _ := a[0].(string)
			idx[s.userKey(user)] = true
			for _, r := range strs(slice(a[2])) {
				idx[s.roomKey(r)] = true
				if user != "" {
					idx[s.presenceKey(r, user)] = true // a no-op unless the room has presence
				}
				rooms[r] = true
			}
		}
		b = newBatch(ctx)
		for k := range idx {
			b.add("pexpire", k, s.ttl())
		}
		// The streams of their rooms, never shortened (see streams.go).
		for r := range rooms {
			for _, k := range s.streamKeys(r) {
				b.add("pexpire", k, s.roomTTL(tether.HistoryLimits{}), "gt")
			}
		}
		if err := s.exec(b); err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}
