package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tether-ws/tether"
)

// Notices travel over Redis pub/sub, one channel per node. A receiver
// goroutine reads the subscription and hands notices to a dispatcher
// goroutine, which alone calls the Listen function, in order; Lost comes
// through the dispatcher too. The receiver checks its connection with a
// PING when it has heard nothing for Liveness, and replaces a connection
// that stays silent for another Liveness: a half-open link would
// otherwise swallow notices forever.

// subscribe opens a subscription to a node's channel and waits for Redis
// to confirm it, so that notices sent once New returns arrive.
func (s *Store) subscribe(ctx context.Context, node string) (*redis.PubSub, error) {
	ps := s.rdb.Subscribe(ctx, s.channel(node))
	for {
		msg, err := ps.ReceiveTimeout(ctx, max(s.liveness, time.Second))
		if err != nil {
			_ = ps.Close()
			return nil, fmt.Errorf("redisstore: cannot subscribe to notices: %w", err)
		}
		if _, ok := msg.(*redis.Subscription); ok {
			return ps, nil
		}
	}
}

// pubsub returns the current subscription, opening one if needed; nil
// once the store is stopped.
func (s *Store) pubsub() *redis.PubSub {
	s.psMu.Lock()
	defer s.psMu.Unlock()
	if s.stopped {
		return nil
	}
	if s.ps == nil {
		s.ps = s.rdb.Subscribe(s.ctx, s.channel(s.Node()))
	}
	return s.ps
}

// resubscribe drops the current subscription (and wakes the receiver
// blocked on it); the receiver opens a new one, for the current name.
func (s *Store) resubscribe() {
	s.psMu.Lock()
	ps := s.ps
	s.ps = nil
	s.psMu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
}

// retryPause is the receiver's pause after a failed read.
const retryPause = 100 * time.Millisecond

func (s *Store) receive() {
	defer s.wg.Done()
	every := max(s.liveness, time.Second)
	pinged := false
	for {
		ps := s.pubsub()
		if ps == nil {
			return
		}
		msg, err := ps.ReceiveTimeout(s.ctx, every)
		if s.ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout() && !pinged:
				pinged = true
				ctx, cancel := context.WithTimeout(s.ctx, every)
				_ = ps.Ping(ctx)
				cancel()
			case errors.As(err, &ne) && ne.Timeout():
				s.log.Warn("redisstore: notice subscription silent; reconnecting", "node", s.Node())
				pinged = false
				s.replace(ps)
			default:
				// go-redis reconnects on the next read; don't spin.
				select {
				case <-s.ctx.Done():
					return
				case <-time.After(retryPause):
				}
			}
			continue
		}
		pinged = false
		if m, ok := msg.(*redis.Message); ok {
			n, err := decodeNotice(m.Payload)
			if err != nil {
				s.log.Warn("redisstore: malformed notice dropped", "channel", m.Channel)
				continue
			}
			if n.Kind == tether.NoticeWake {
				s.cacheWake(&n)
			}
			s.deliver(n)
		}
	}
}

// replace closes ps if it is still the current subscription.
func (s *Store) replace(ps *redis.PubSub) {
	s.psMu.Lock()
	if s.ps == ps {
		s.ps = nil
	} else {
		ps = nil
	}
	s.psMu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
}

// deliver queues a notice for the dispatcher.
func (s *Store) deliver(n tether.Notice) {
	select {
	case s.notices <- n:
	case <-s.ctx.Done():
	}
}

func (s *Store) call(n tether.Notice) {
	if fn := s.listener.Load(); fn != nil {
		(*fn)(n)
	}
}

func (s *Store) dispatch() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case n := <-s.lost:
			s.call(n)
		case n := <-s.notices:
			s.call(n)
		}
	}
}

// cacheWake caches the entries a wake carries (in its Reason, which a
// wake has no other use for), before the listener learns of them: the
// writer it wakes then finds them here.
func (s *Store) cacheWake(n *tether.Notice) {
	var w *wakeData
	if n.Reason != "" {
		var err error
		if w, err = decodeWake(n.Reason); err != nil {
			s.log.Warn("redisstore: malformed wake entries dropped", "session", n.Session)
		}
		n.Reason = ""
	}
	s.loc.woke(n.Session, n.Seq, w)
}
