package tether

import (
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-ws/tether/internal/wire"
)

// tracker counts goroutines. Unlike sync.WaitGroup it allows new ones to
// start while someone waits, and costs one atomic add on the hot path.
type tracker struct {
	n    atomic.Int64
	mu   sync.Mutex
	zero chan struct{} // made by a waiter, closed when n reaches zero
}

func (t *tracker) add() { t.n.Add(1) }

func (t *tracker) done() {
	if t.n.Add(-1) == 0 {
		t.mu.Lock()
		if t.zero != nil {
			close(t.zero)
			t.zero = nil
		}
		t.mu.Unlock()
	}
}

// wait returns when no goroutine is left, or ctx's error.
func (t *tracker) wait(ctx context.Context) error {
	for {
		t.mu.Lock()
		if t.n.Load() == 0 {
			t.mu.Unlock()
			return nil
		}
		if t.zero == nil {
			t.zero = make(chan struct{})
		}
		ch := t.zero
		t.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (srv *Server) isDraining() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.draining
}

func (srv *Server) removeConn(c *conn) {
	srv.mu.Lock()
	delete(srv.conns, c)
	if srv.draining && len(srv.conns) == 0 && srv.drained != nil {
		close(srv.drained)
		srv.drained = nil
	}
	srv.mu.Unlock()
	if srv.isDraining() {
		srv.connQuiet()
	}
}

// The drain (docs/PROTOCOL.md §10) has two phases, and one barrier
// between them that every session shares.
//
// Phase 1: every connection gets a GoAway. Its client stops sending and
// answers with a GoAway of its own; the server processes what arrived
// before that answer. A message processed now may be broadcast by its
// hook to any session, so no session's last seq is known yet.
//
// The barrier (finalize): once no connection can bring in another
// message and every message brought in was processed, Sends start to
// fail (ErrServerClosed) and each session's last seq is final: whatever
// a hook broadcast during the drain is covered by every final lastSeq.
//
// Phase 2: each connection gets its final Ack and GoAway as soon as its
// own client acknowledged everything, and its session ends at once
// (CauseServerShutdown): its close hook does not wait for the others.
//
// A client that ignores the GoAway must not hold the barrier for
// everybody, so a connection is fenced, i.e. the server stops taking
// its client's messages (later ones are dropped unprocessed and never
// acknowledged: the client sends them again in its next session or
// reports them), as soon as the first of these happens:
//
//   - its client's GoAway arrives (a cooperative client);
//   - its client answers the Ping sent right after the GoAway without
//     having answered the GoAway (it read the GoAway and ignored it:
//     anything it sends now is sent against the protocol);
//   - answerWait passes (a client that shows no sign of life).
//
// The barrier therefore waits for cooperative clients (one round trip and
// their messages' hooks), never for a client that ignores the GoAway
// while alive, and at most answerWait for a silent one. Such a client
// then costs only itself: it gets its final GoAway when it acknowledges
// everything, and is cut without one at the drain's deadline otherwise.
// A hook that never returns holds the barrier until forceFinal; after
// that, Sends fail (the caller is told) whatever runs.

// drainWaits returns answerWait and forceFinal for a drain that must
// end by ctx's deadline.
func drainWaits(ctx context.Context) (answer, force time.Duration) {
	answer, force = 2*time.Second, 5*time.Second
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		answer = min(answer, left/4)
		force = left * 3 / 4
	}
	return answer, force
}

// connQuiet passes the barrier once every connection is settled: fenced,
// and everything its client sent before the fence processed.
func (srv *Server) connQuiet() {
	srv.mu.Lock()
	for c := range srv.conns {
		c.s.mu.Lock()
		quiet := c.st.Quiet() || c.st.Ended()
		c.s.mu.Unlock()
		if !quiet {
			srv.mu.Unlock()
			return
		}
	}
	srv.mu.Unlock()
	srv.finalize()
}

// finalize is the barrier: it ends the taking of messages for every
// session (Send fails with ErrServerClosed) and lets each connection
// close once its client has acknowledged everything.
func (srv *Server) finalize() {
	srv.mu.Lock()
	if srv.final {
		srv.mu.Unlock()
		return
	}
	srv.final = true
	conns := srv.connsLocked()
	srv.mu.Unlock()
	srv.Sessions(func(s *Session) bool {
		s.mu.Lock()
		s.life.Finalize()
		s.mu.Unlock()
		return true
	})
	for _, c := range conns {
		c.fence() // forced: nothing is taken after the barrier
		c.checkDrain()
	}
}

// Shutdown drains the server for a restart: it refuses new connections
// (after the upgrade, with close code 4001), tells every client to
// reconnect later (close code 4001, with a jittered delay), waits until
// each client has acknowledged what it was sent and the server has
// processed what it received, then closes every session with
// CauseServerShutdown, each as soon as its own client is done. A client
// that ignores the drain costs only itself: it is cut when ctx ends
// (see the drain's design above). It returns after every hook has
// returned, or ctx's error. Shutdown does not close the http.Server the
// handler is mounted on: keep it serving until Shutdown returns, so that
// clients arriving meanwhile are told to come back later.
func (srv *Server) Shutdown(ctx context.Context) error {
	answer, force := drainWaits(ctx)
	drained, conns, ok := srv.beginDrain(answer)
	if !ok {
		return ErrServerClosed
	}
	for _, c := range conns {
		c.startDrain(jitter(srv.o.RestartJitter))
	}
	if srv.cluster == nil {
		// A hook that never returns must not hold every session until
		// ctx ends: pass the barrier regardless after a while.
		t := time.AfterFunc(force, func() { srv.spawn(srv.finalize) })
		defer t.Stop()
	}
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
		for _, c := range srv.connList() {
			c.abort(wire.CloseServerRestart, "tether: server restarting")
		}
	}
	srv.Sessions(func(s *Session) bool {
		srv.leaveOnShutdown(s)
		return true
	})
	if werr := srv.active.wait(ctx); werr != nil {
		// Hooks are still running: cancel their context and wait for
		// them, so nothing of ours outlives Shutdown.
		srv.cancel()
		if err == nil {
			err = werr
		}
		_ = srv.active.wait(context.Background())
	}
	// A polled connection holds no goroutine the wait above could wait
	// for: let those still closing (their close frame queued, or waiting
	// for the client's answer) finish as a reader goroutine would, within
	// the close linger; then stop the poller, which cuts what is left,
	// and wait for its close callbacks.
	t := time.NewTimer(closeLinger)
	select {
	case <-drained:
	case <-t.C:
	}
	t.Stop()
	srv.stopPoller()
	_ = srv.active.wait(context.Background())
	srv.cancel()
	return err
}

// beginDrain marks the server draining and returns a channel closed once
// every connection is gone, and the connections to drain; ok is false if
// Shutdown was already called.
func (srv *Server) beginDrain(answer time.Duration) (drained chan struct{}, conns []*conn, ok bool) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.draining {
		return nil, nil, false
	}
	srv.draining = true
	srv.answerWait = answer
	close(srv.done)
	drained = make(chan struct{})
	if len(srv.conns) == 0 {
		close(drained)
	} else {
		srv.drained = drained
	}
	return drained, srv.connsLocked(), true
}

// connList returns the open connections.
func (srv *Server) connList() []*conn {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.connsLocked()
}

// connsLocked returns the open connections; srv.mu is held.
func (srv *Server) connsLocked() []*conn {
	conns := make([]*conn, 0, len(srv.conns))
	for c := range srv.conns {
		conns = append(conns, c)
	}
	return conns
}

// leaveOnShutdown ends a session at shutdown, or, on a shared store,
// saves and releases it: another server takes it over when its client
// resumes there, or adopts and expires it.
func (srv *Server) leaveOnShutdown(s *Session) {
	if srv.cluster == nil {
		s.end(CauseServerShutdown, nil, wire.CloseServerRestart, "tether: server shut down")
		return
	}
	s.leave(CauseServerRestart, wire.CloseServerRestart, "tether: server restarting", func() {
		s.save()
		s.mu.Lock()
		lease := s.lease
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(srv.ctx), srv.o.HandshakeTimeout)
		defer cancel()
		_ = srv.store.Release(ctx, s.id, lease)
		srv.removeSession(s)
	})
}

// closeLinger bounds how long a closing connection waits for the
// client's answer to our close frame.
const closeLinger = 2 * time.Second

func jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	v := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48
	return time.Duration(v % uint64(max))
}
