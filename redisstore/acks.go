package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tether-ws/tether"
)

// Ack coalescing. A client acknowledges often (every ack frame is an Ack),
// and an ack only has to reach Redis before anything reads the session's
// Acked or needs the room it frees. So Ack records the ack locally (see
// cache.go) when it can check it there (the seq is at most the last one
// this store knows to be assigned; otherwise it asks Redis at once, which
// reports ErrAckRange), and the ack loop sends all sessions' pending acks
// in one pipeline, at most every ackEvery. Whatever must see the ack in
// Redis flushes the session's first: Load, Read below the ack, Release,
// Claim, Close, Create, an Append that overflows, and Stop. An ack near a
// session's message bound is flushed at once, so that appends from other
// nodes, who cannot flush it, do not overflow for want of it.

// ackEvery is the least time between two background flushes.
const ackEvery = 10 * time.Millisecond

// sweepEvery is how often the ack loop sweeps idle local state.
const sweepEvery = 250 * time.Millisecond

// stopFlushTimeout bounds Stop's last flush.
const stopFlushTimeout = 5 * time.Second

// ackLoop flushes pending acks and sweeps the local state until Stop,
// then flushes one last time and makes later acks synchronous.
func (s *Store) ackLoop() {
	defer s.wg.Done()
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	wait := time.NewTimer(time.Hour)
	wait.Stop() // Go 1.23 timers: Stop and Reset leave no stale tick
	defer wait.Stop()
	var next time.Time // no background flush before this
	for {
		urgent := false
		select {
		case <-s.ctx.Done():
			s.loc.mu.Lock()
			s.loc.sync = true
			s.loc.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), stopFlushTimeout)
			s.flushAcks(ctx)
			cancel()
			return
		case <-sweep.C:
			s.loc.sweep()
			continue
		case <-s.loc.urgent:
			urgent = true
		case <-s.loc.kick:
		}
		if d := time.Until(next); d > 0 && !urgent {
			// Let more acks gather; an urgent one cuts the wait short.
			wait.Reset(d)
			select {
			case <-wait.C:
			case <-s.loc.urgent:
				wait.Stop()
			case <-s.ctx.Done():
				wait.Stop()
				continue // to the last flush
			}
		}
		retry := s.flushAcks(s.ctx)
		next = time.Now().Add(ackEvery)
		if retry {
			kick(s.loc.kick)
		}
	}
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// ackFlush is one session's ack in a flush.
type ackFlush struct {
	st  *sess
	seq uint64
	cmd *redis.Cmd
}

// flushAcks sends every pending ack in one pipeline. It reports whether
// some failed and should be tried again.
func (s *Store) flushAcks(ctx context.Context) (retry bool) {
	l := &s.loc
	l.mu.Lock()
	var batch []ackFlush
	ch := make(chan struct{})
	for i, st := range l.dirty {
		l.dirty[i] = nil
		st.dirty = false
		if st.acked <= st.sent || l.m[st.id] != st {
			continue // flushed meanwhile, or forgotten
		}
		st.sent, st.wait = st.acked, ch
		batch = append(batch, ackFlush{st: st, seq: st.acked})
	}
	l.dirty = l.dirty[:0]
	l.mu.Unlock()
	if len(batch) == 0 {
		return false
	}
	b := newBatch(ctx)
	for i := range batch {
		batch[i].cmd = b.eval(scAck, s.sessionKeys(batch[i].st.id), u64(batch[i].seq))
	}
	_ = s.exec(b) // each reply is looked at below
	var failed error
	l.mu.Lock()
	for _, f := range batch {
		_, err := reply(f.cmd)
		if s.ackDone(f.st, f.seq, err) {
			retry = true
			failed = err
		}
	}
	close(ch)
	l.mu.Unlock()
	if failed != nil && ctx.Err() == nil {
		s.log.Warn("redisstore: cannot flush acks; retrying", "err", failed)
	}
	return retry
}

// ackDone records the outcome of the flush of ack seq of st; s.loc.mu
// held. It reports whether the ack failed and is pending again.
func (s *Store) ackDone(st *sess, seq uint64, err error) (again bool) {
	l := &s.loc
	switch {
	case err == nil:
		st.done = max(st.done, seq)
		l.flushed.Add(1)
	case errors.Is(err, tether.ErrNotFound):
		// Closed meanwhile: nothing left to acknowledge.
		l.remove(st)
	case errors.Is(err, tether.ErrAckRange):
		// Cannot happen unless the session was re-created behind this
		// store's back: what it knew is worthless.
		s.log.Warn("redisstore: a coalesced ack was out of range; session state dropped", "session", st.id, "seq", seq)
		l.remove(st)
	default:
		if st.sent == seq {
			st.sent = st.done
		}
		if l.m[st.id] == st && st.acked > st.sent {
			if !st.dirty {
				st.dirty = true
				l.dirty = append(l.dirty, st)
			}
			return true
		}
	}
	return false
}

// flushAck makes sure the session's ack recorded here is in Redis: it
// sends it, or waits for the flush that carries it. Cheap when there is
// none. A session gone from Redis is not an error here: the caller's own
// call will tell.
func (s *Store) flushAck(ctx context.Context, id string) error {
	l := &s.loc
	for {
		l.mu.Lock()
		st := l.m[id]
		if st == nil || !st.unflushed() {
			l.mu.Unlock()
			return nil
		}
		if st.acked == st.sent {
			ch := st.wait // the flush in flight carries it
			l.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		seq, ch := st.acked, make(chan struct{})
		st.sent, st.wait = seq, ch
		l.mu.Unlock()
		_, err := s.run(ctx, scAck, id, u64(seq))
		l.mu.Lock()
		again := s.ackDone(st, seq, err)
		close(ch)
		l.mu.Unlock()
		if again {
			kick(l.kick)
			return err
		}
		return nil
	}
}

// forgetSession drops the local state of a session and waits for the
// flush of its ack in flight, if any, so that it cannot land after what
// the caller does next (a Close, a Create).
func (s *Store) forgetSession(ctx context.Context, id string) {
	if ch := s.loc.forget(id); ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}

// Ack implements tether.Store. An ack this store can check (see above)
// costs no round trip; others, one.
func (s *Store) Ack(ctx context.Context, id string, seq uint64) error {
	switch s.loc.ack(id, seq) {
	case ackDone:
		return nil
	case ackQueued:
		kick(s.loc.kick)
		return nil
	case ackUrgent:
		kick(s.loc.urgent)
		return nil
	}
	_, err := s.run(ctx, scAck, id, u64(seq))
	if err == nil {
		s.loc.acked(id, seq)
	}
	return err
}
