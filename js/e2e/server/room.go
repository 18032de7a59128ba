package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-ws/tether"
)

// room is one chat room on a Tether server: every text message is
// broadcast to every session as JSON {from, text, n}. It also records, per
// session, what arrived, for the tests. A restart replaces the server.
type room struct {
	grace time.Duration
	log   *slog.Logger
	srv   atomic.Pointer[tether.Server]

	mu       sync.Mutex // serializes broadcasts, so every session sees one order
	n        int
	stats    map[string]*sessionStats
	order    []string
	restarts int
}

// chatMessage is what the room broadcasts.
type chatMessage struct {
	From string `json:"from"`
	Text string `json:"text"`
	N    int    `json:"n"`
}

// sessionStats is what /_test/stats reports for one session.
type sessionStats struct {
	ID          string       `json:"id"`
	Short       string       `json:"short"`
	Server      int          `json:"server"` // which server generation (restarts) held it
	State       string       `json:"state"`
	Received    []string     `json:"received"` // text messages, in order of arrival
	Binary      int          `json:"binary"`
	Resumes     int          `json:"resumes"`
	Disconnects []string     `json:"disconnects"` // causes
	Previous    *tether.Loss `json:"previous,omitempty"`
	Closed      string       `json:"closed,omitempty"` // cause
}

func newRoom(grace time.Duration, log *slog.Logger) *room {
	r := &room{grace: grace, log: log, stats: make(map[string]*sessionStats)}
	r.srv.Store(r.newServer())
	return r
}

func (r *room) current() *tether.Server { return r.srv.Load() }

// newServer makes a Tether server with short heartbeats, so the browser's
// watchdog and the server's are exercised within a test's time.
func (r *room) newServer() *tether.Server {
	r.mu.Lock()
	gen := r.restarts
	r.mu.Unlock()
	var srv *tether.Server
	srv = tether.NewServer(&tether.Options{
		HeartbeatInterval: time.Second,
		HeartbeatTimeout:  2 * time.Second,
		GraceWindow:       r.grace,
		RestartJitter:     500 * time.Millisecond,
		OriginPatterns:    []string{"*"},
		Logger:            r.log,
		OnOpen: func(ctx context.Context, s *tether.Session, info tether.OpenInfo) {
			r.update(s.ID(), func(st *sessionStats) {
				st.Server = gen
				st.Previous = info.Previous
			})
		},
		OnMessage: func(ctx context.Context, s *tether.Session, m tether.Message) error {
			if m.Type != tether.Text {
				r.update(s.ID(), func(st *sessionStats) { st.Binary++ })
				_ = s.Send(ctx, tether.Binary, m.Data) // echo binary to its sender
				return nil
			}
			r.broadcast(ctx, srv, s, string(m.Data))
			return nil
		},
		OnDisconnect: func(ctx context.Context, s *tether.Session, d tether.Disconnect) {
			r.update(s.ID(), func(st *sessionStats) { st.Disconnects = append(st.Disconnects, d.Cause.String()) })
		},
		OnResume: func(ctx context.Context, s *tether.Session, res tether.Resume) {
			r.update(s.ID(), func(st *sessionStats) { st.Resumes++ })
		},
		OnClose: func(ctx context.Context, s *tether.Session, c tether.Closure) {
			r.update(s.ID(), func(st *sessionStats) { st.Closed = c.Cause.String() })
		},
	})
	return srv
}

// broadcast records text as received from a session and sends it to every
// session of that session's server (a rooms API will replace this loop).
func (r *room) broadcast(ctx context.Context, srv *tether.Server, from *tether.Session, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.statsLocked(from.ID())
	st.Received = append(st.Received, text)
	r.n++
	p, _ := json.Marshal(chatMessage{From: short(from.ID()), Text: text, N: r.n})
	srv.Sessions(func(s *tether.Session) bool {
		if err := s.Send(ctx, tether.Text, p); err != nil {
			r.log.Debug("broadcast: send failed", "session", s.ID(), "err", err)
		}
		return true
	})
}

func (r *room) update(id string, fn func(*sessionStats)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r.statsLocked(id))
}

func (r *room) statsLocked(id string) *sessionStats {
	st := r.stats[id]
	if st == nil {
		st = &sessionStats{ID: id, Short: short(id), Received: []string{}, Disconnects: []string{}}
		r.stats[id] = st
		r.order = append(r.order, id)
	}
	return st
}

// snapshot returns the stats of every session ever seen, oldest first,
// with their current state.
func (r *room) snapshot() map[string]any {
	srv := r.current()
	r.mu.Lock()
	defer r.mu.Unlock()
	list := make([]sessionStats, 0, len(r.order))
	for _, id := range r.order {
		st := *r.stats[id]
		st.State = "gone"
		if st.Closed != "" {
			st.State = "closed"
		}
		if s := srv.Session(id); s != nil {
			state, _ := s.State()
			st.State = state.String()
		}
		st.Received = append(make([]string, 0, len(st.Received)), st.Received...)
		st.Disconnects = append(make([]string, 0, len(st.Disconnects)), st.Disconnects...)
		list = append(list, st)
	}
	return map[string]any{"sessions": list, "broadcasts": r.n, "restarts": r.restarts}
}

// restart drains the current server (its clients get GOAWAY, then close
// 4001) and puts a new one with a fresh memory store in its place, as a
// process restart would.
func (r *room) restart(ctx context.Context) error {
	r.mu.Lock()
	r.restarts++
	r.mu.Unlock()
	old := r.current()
	r.srv.Store(r.newServer())
	return old.Shutdown(ctx)
}

// short is the sender name shown in the chat.
func short(id string) string {
	if len(id) > 6 {
		return id[:6]
	}
	return id
}
