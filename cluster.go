package tether

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tether-ws/tether/internal/wire"
)

// handoverWait bounds the wait for a live owner to release a session
// before the claimant falls back to waiting for the owner's liveness to
// lapse.
const handoverWait = 2 * time.Second

// orphanScan is how often a clustered server adopts orphaned sessions.
const orphanScan = 2 * time.Second

// clusterState is a server's part in a cluster.
type clusterState struct {
	mu       sync.Mutex
	releases map[string]chan bool     // session → true when its owner released it, false if it refused
	adopting map[string]chan struct{} // session → closed when its adoption ended
}

func (srv *Server) startCluster() {
	cl, ok := srv.store.(Cluster)
	if !ok {
		return
	}
	srv.cluster = cl
	srv.cl.releases = make(map[string]chan bool)
	srv.cl.adopting = make(map[string]chan struct{})
	cl.Listen(srv.onNotice)
	srv.spawn(srv.adoptLoop)
}

// nodeName is this server's name in the cluster ("" when alone). The
// store may change it after this server lost its liveness.
func (srv *Server) nodeName() string {
	if srv.cluster == nil {
		return ""
	}
	return srv.cluster.Node()
}

// onNotice handles a notice from another server or from the store. It
// runs on the store's goroutine, so anything slow runs elsewhere.
func (srv *Server) onNotice(n Notice) {
	switch n.Kind {
	case NoticeWake:
		if s := srv.Session(n.Session); s != nil {
			s.woke(n.Seq)
		}
	case NoticeRelease:
		srv.spawn(func() { srv.handOver(n.Session, n.From, n.Seq) })
	case NoticeReleased, NoticeStale:
		srv.cl.mu.Lock()
		if ch := srv.cl.releases[n.Session]; ch != nil {
			ch <- n.Kind == NoticeReleased
			delete(srv.cl.releases, n.Session)
		}
		srv.cl.mu.Unlock()
	case NoticeKick:
		if s := srv.Session(n.Session); s != nil {
			srv.spawn(func() {
				ctx, cancel := srv.storeCtx()
				defer cancel()
				_ = s.Close(ctx, n.Reason)
			})
		}
	case NoticeOverflow:
		if s := srv.Session(n.Session); s != nil {
			srv.spawn(func() {
				s.end(CauseOverflow, ErrOverflow, wire.CloseOverflow, "tether: replay buffer overflow")
			})
		}
	case NoticeLost:
		srv.spawn(srv.lost)
	}
}

// woke records that messages up to seq were appended by another server.
func (s *Session) woke(seq uint64) {
	s.mu.Lock()
	s.counts.Numbered(seq)
	c := s.life.Conn()
	s.mu.Unlock()
	if c != nil {
		c.kickData(seq, nil)
	}
}

// adopt makes this server the owner of a session it does not hold: a
// client resumes here, or the session must be ended here. A live owner is
// asked to hand the session over first.
func (srv *Server) adopt(ctx context.Context, id string, attempt uint64) (*Session, error) {
	for {
		if s := srv.Session(id); s != nil {
			if !s.isMoved() {
				return s, nil
			}
			srv.awaitGone(ctx, s)
			continue
		}
		srv.cl.mu.Lock()
		if srv.cl.adopting == nil {
			srv.cl.mu.Unlock()
			break // not clustered
		}
		ch, busy := srv.cl.adopting[id]
		if !busy {
			srv.cl.adopting[id] = make(chan struct{})
			srv.cl.mu.Unlock()
			break
		}
		srv.cl.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer func() {
		srv.cl.mu.Lock()
		if ch := srv.cl.adopting[id]; ch != nil {
			close(ch)
			delete(srv.cl.adopting, id)
		}
		srv.cl.mu.Unlock()
	}()
	rec, err := srv.store.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	if attempt != 0 && attempt <= rec.Attempt {
		return nil, errStale
	}
	me := srv.nodeName()
	if rec.Owner != "" && rec.Owner != me {
		if err := srv.takeFrom(ctx, rec.Owner, id, attempt); err != nil {
			return nil, err
		}
	}
	// Claim from the owner we asked, or nobody: if a third server took
	// the session meanwhile, it keeps it.
	rec, err = srv.cluster.ClaimFrom(ctx, id, me, rec.Owner)
	if errors.Is(err, ErrFenced) {
		return nil, fmt.Errorf("%w: claimed by another server meanwhile", ErrBusy)
	}
	if err != nil {
		return nil, err
	}
	return srv.hold(rec), nil
}

// awaitGone waits until a session handed over is no longer held here.
func (srv *Server) awaitGone(ctx context.Context, s *Session) {
	for srv.Session(s.id) == s && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

// errStale refuses a connection attempt older than the one attached.
var errStale = errors.New("tether: superseded connection attempt")

// takeFrom asks a live owner to release a session and waits for it.
func (srv *Server) takeFrom(ctx context.Context, owner, id string, attempt uint64) error {
	alive, err := srv.cluster.Alive(ctx, owner)
	if err != nil || !alive {
		return err
	}
	ch := make(chan bool, 1)
	srv.cl.mu.Lock()
	srv.cl.releases[id] = ch
	srv.cl.mu.Unlock()
	defer func() {
		srv.cl.mu.Lock()
		if srv.cl.releases[id] == ch {
			delete(srv.cl.releases, id)
		}
		srv.cl.mu.Unlock()
	}()
	if err := srv.cluster.Notify(ctx, owner, Notice{Kind: NoticeRelease, Session: id, From: srv.nodeName(), Seq: attempt}); err != nil {
		return err
	}
	t := time.NewTimer(handoverWait)
	defer t.Stop()
	select {
	case released := <-ch:
		if !released {
			return errStale
		}
		return nil
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	// No answer: the owner is partitioned or dying. Its lease is only good
	// while it renews its liveness, so wait for that to lapse.
	for {
		alive, err := srv.cluster.Alive(ctx, owner)
		if err != nil {
			return err
		}
		if !alive {
			srv.log.Warn("tether: taking over a session from a dead server", "session", id, "owner", owner)
			return nil
		}
		select {
		case released := <-ch:
			if !released {
				return errStale
			}
			return nil
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("%w: %s did not release %s", ErrBusy, owner, id)
		}
	}
}

// hold registers a claimed record as a local, disconnected session that
// expires unless its client resumes.
func (srv *Server) hold(rec *Record) *Session {
	s := &Session{
		srv: srv, id: rec.ID, user: rec.UserID, created: stampOf(rec.Created),
		meta: metaOf(rec.Meta), token: rec.Token, prevToken: rec.PrevToken,
		lease: rec.Lease, attempt: rec.Attempt, features: rec.Features,
	}
	s.counts.Restore(rec.In, rec.Out, rec.Acked)
	away := stampOf(rec.Detached)
	if away == 0 {
		away = stampOf(time.Now())
	}
	gen := s.life.Hold(int64(away))
	srv.mu.Lock()
	if old := srv.sessions[rec.ID]; old != nil {
		srv.mu.Unlock()
		// Claimed twice by this server (adopted as an orphan while a
		// client resumed it here): the later lease is ours.
		old.mu.Lock()
		old.lease = max(old.lease, rec.Lease)
		old.mu.Unlock()
		return old
	}
	srv.sessions[rec.ID] = s
	srv.mu.Unlock()
	s.mu.Lock()
	s.expiry = time.AfterFunc(max(0, srv.o.GraceWindow-away.since()), func() { s.expire(gen) })
	s.mu.Unlock()
	return s
}

// handOver gives a session to the server that asked for it: the local
// connection goes, queued hooks run, the state is saved and released.
func (srv *Server) handOver(id, to string, attempt uint64) {
	reply := func(kind NoticeKind) {
		ctx, cancel := srv.storeCtx()
		defer cancel()
		_ = srv.cluster.Notify(ctx, to, Notice{Kind: kind, Session: id, From: srv.nodeName()})
	}
	released := func() { reply(NoticeReleased) }
	s := srv.Session(id)
	if s == nil {
		released()
		return
	}
	s.mu.Lock()
	stale := attempt != 0 && attempt <= s.attempt
	s.mu.Unlock()
	if stale {
		reply(NoticeStale)
		return
	}
	if !s.leave(CauseReplaced, wire.CloseReplaced, "tether: session resumed on another server", func() {
		s.save()
		s.mu.Lock()
		lease := s.lease
		s.mu.Unlock()
		ctx, cancel := srv.storeCtx()
		defer cancel()
		if err := srv.store.Release(ctx, id, lease); err != nil && !errors.Is(err, ErrFenced) && !errors.Is(err, ErrNotFound) {
			srv.log.Warn("tether: cannot release session", "session", id, "err", err)
		}
		srv.removeSession(s)
		released()
		srv.log.Debug("tether: session handed over", "session", id, "to", to)
	}) {
		released()
	}
}

// leave detaches a session from this server without ending it: the
// connection is closed with code, queued hooks run, then after runs on
// the session's hook goroutine. It reports false if the session is over
// or already leaving.
func (s *Session) leave(cause Cause, code wire.CloseCode, reason string, after func()) bool {
	s.mu.Lock()
	// Detached now if connected, so that, released, it is an orphan
	// someone expires.
	c, connected, ok := s.life.Leave(int64(stampOf(time.Now())))
	if !ok {
		s.mu.Unlock()
		return false
	}
	if connected {
		s.post(event{kind: evDisconnect, info: Disconnect{Cause: cause, Err: errors.New(reason)}})
	}
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	s.post(event{kind: evFunc, info: after})
	s.mu.Unlock()
	if c != nil {
		c.closeWith(code, reason)
	}
	return true
}

// drop forgets a session this server no longer owns (its lease was
// fenced): its new owner runs its hooks from now on. The connection is
// told to reconnect (4001), not that it was replaced (4409, which ends a
// client): another server may have taken the session because this one
// looked dead (it renewed its liveness late), and the client is still
// here; it resumes on the new owner. A client that had moved on already
// reads no close code from this connection.
func (srv *Server) drop(s *Session) {
	s.leave(CauseReplaced, wire.CloseServerRestart, "tether: session taken over by another server; resume there", func() {
		srv.removeSession(s)
	})
}

// lost drops every session after this server failed to renew its
// liveness: other servers may already own them. Clients reconnect
// elsewhere (4001) and resume there.
func (srv *Server) lost() {
	srv.log.Error("tether: lost contact with the cluster; dropping every session")
	srv.Sessions(func(s *Session) bool {
		s.leave(CauseServerRestart, wire.CloseServerRestart, "tether: server lost its store", func() {
			srv.removeSession(s)
		})
		return true
	})
}

// adoptLoop takes over orphaned sessions so that they expire (and their
// close hooks run) even when their server died.
func (srv *Server) adoptLoop() {
	t := time.NewTicker(orphanScan)
	defer t.Stop()
	for {
		select {
		case <-srv.done:
			return
		case <-t.C:
		}
		ctx, cancel := srv.storeCtx()
		recs, err := srv.cluster.Adopt(ctx, 256)
		cancel()
		if err != nil {
			srv.log.Warn("tether: cannot adopt orphaned sessions", "err", err)
			continue
		}
		for _, rec := range recs {
			srv.hold(rec)
			srv.log.Info("tether: adopted an orphaned session", "session", rec.ID, "disconnected_at", rec.Detached)
		}
	}
}

// remoteKick ends a session this server does not hold.
func (srv *Server) remoteKick(ctx context.Context, id, reason string) error {
	if srv.cluster == nil {
		return ErrSessionClosed
	}
	return srv.remote(ctx, id, Notice{Kind: NoticeKick, Session: id, Reason: reason}, func(s *Session) {
		_ = s.Close(ctx, reason)
	})
}

// remoteOverflow ends a session whose replay buffer another server's
// Append overflowed.
func (srv *Server) remoteOverflow(ctx context.Context, id string) {
	if srv.cluster == nil {
		return
	}
	_ = srv.remote(ctx, id, Notice{Kind: NoticeOverflow, Session: id}, func(s *Session) {
		s.end(CauseOverflow, ErrOverflow, wire.CloseOverflow, "tether: replay buffer overflow")
	})
}

// remote asks a session's live owner to act, or adopts the session and
// acts here.
func (srv *Server) remote(ctx context.Context, id string, n Notice, here func(*Session)) error {
	rec, err := srv.store.Load(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return ErrSessionClosed
	}
	if err != nil {
		return err
	}
	if rec.Owner != "" && rec.Owner != srv.nodeName() {
		if alive, err := srv.cluster.Alive(ctx, rec.Owner); err == nil && alive {
			n.From = srv.nodeName()
			return srv.cluster.Notify(ctx, rec.Owner, n)
		}
	}
	s, err := srv.adopt(ctx, id, 0)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return ErrSessionClosed
		}
		return err
	}
	here(s)
	return nil
}
