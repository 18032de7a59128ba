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

// lobby is the chat room every session joins when it opens.
const lobby = "lobby"

// room is one chat room on a Tether server: every session joins the
// Tether room "lobby" when it opens (which is also what recovers the room
// for a client that lost its session), and every text message is
// broadcast to it as JSON {from, name, text, n} (the demo sends {name,
// text}). It also records, per session, what arrived and what its room
// recovery was, for the tests. A restart replaces the server (and its
// memory store: the room's epoch changes).
type room struct {
	o   roomOptions
	log *slog.Logger
	srv atomic.Pointer[tether.Server]

	mu       sync.Mutex // serializes broadcasts, so that n follows the room's offsets
	n        int
	last     tether.Publication // of the last broadcast
	stats    map[string]*sessionStats
	order    []string
	restarts int
}

// roomOptions are the e2e server's settings of the room.
type roomOptions struct {
	grace    time.Duration // the sessions' grace window
	history  int           // the room's history, in messages (0: Tether's default; -1: none)
	presence bool          // presence events in the room
}

// chatMessage is what the room broadcasts.
type chatMessage struct {
	From string `json:"from"`
	Name string `json:"name,omitempty"` // the display name the sender chose
	Text string `json:"text"`
	N    int    `json:"n"`
}

// chatInput is what the demo page sends: its text and the display name
// the user chose (which outlives sessions: it is kept in the browser).
// Any other text message is the text itself, with no name.
type chatInput struct {
	Name *string `json:"name"`
	Text *string `json:"text"`
}

// parseChat returns the display name and text of a client's text message.
func parseChat(data string) (name, text string) {
	var in chatInput
	if json.Unmarshal([]byte(data), &in) != nil || in.Name == nil || in.Text == nil {
		return "", data
	}
	return *in.Name, *in.Text
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
	// Recovery is what OnRoomRecovery said of each room the client came
	// back to after losing its session.
	Recovery []tether.RoomRecovery `json:"recovery"`
	Presence []string              `json:"presence"` // OnPresence changes this session made: "+user" or "-user"
}

func newRoom(o roomOptions, log *slog.Logger) *room {
	r := &room{o: o, log: log, stats: make(map[string]*sessionStats)}
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
	o := &tether.Options{
		HeartbeatInterval: time.Second,
		HeartbeatTimeout:  2 * time.Second,
		GraceWindow:       r.o.grace,
		RestartJitter:     500 * time.Millisecond,
		OriginPatterns:    []string{"*"},
		Logger:            r.log,
		RoomHistory:       tether.HistoryLimits{MaxMessages: r.o.history},
		OnOpen: func(ctx context.Context, s *tether.Session, info tether.OpenInfo) {
			r.update(s.ID(), func(st *sessionStats) {
				st.Server = gen
				st.Previous = info.Previous
			})
			// The application admits every session to the room. For a
			// client that lost its session, this Join is also what
			// recovers the room: what it missed is replayed first.
			if err := s.Join(ctx, lobby); err != nil {
				r.log.Warn("cannot join the lobby", "session", s.ID(), "err", err)
			}
		},
		OnRoomRecovery: func(ctx context.Context, s *tether.Session, rec tether.RoomRecovery) {
			r.update(s.ID(), func(st *sessionStats) { st.Recovery = append(st.Recovery, rec) })
		},
		OnPresence: func(ctx context.Context, s *tether.Session, p tether.PresenceChange) {
			sign := "-"
			if p.Joined {
				sign = "+"
			}
			r.update(p.Session, func(st *sessionStats) { st.Presence = append(st.Presence, sign+p.User) })
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
	}
	if r.o.presence {
		o.Rooms = []tether.RoomOptions{{Pattern: lobby, Presence: true}}
	}
	srv = tether.NewServer(o)
	return srv
}

// broadcast records a text message (its text: see parseChat) as received
// from a session and publishes it to the room: every member gets it,
// connected or not, and the room's history keeps it for members that
// lose their session.
func (r *room) broadcast(ctx context.Context, srv *tether.Server, from *tether.Session, data string) {
	name, text := parseChat(data)
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.statsLocked(from.ID())
	st.Received = append(st.Received, text)
	r.n++
	p, _ := json.Marshal(chatMessage{From: short(from.ID()), Name: name, Text: text, N: r.n})
	pub, err := srv.Broadcast(ctx, lobby, tether.Text, p)
	if err != nil {
		r.log.Warn("broadcast failed", "session", from.ID(), "err", err)
		return
	}
	r.last = pub
}

func (r *room) update(id string, fn func(*sessionStats)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r.statsLocked(id))
}

func (r *room) statsLocked(id string) *sessionStats {
	st := r.stats[id]
	if st == nil {
		st = &sessionStats{ID: id, Short: short(id), Received: []string{}, Disconnects: []string{}, Recovery: []tether.RoomRecovery{}, Presence: []string{}}
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
		st.Recovery = append(make([]tether.RoomRecovery, 0, len(st.Recovery)), st.Recovery...)
		st.Presence = append(make([]string, 0, len(st.Presence)), st.Presence...)
		list = append(list, st)
	}
	return map[string]any{"sessions": list, "broadcasts": r.n, "restarts": r.restarts,
		"room": map[string]any{"epoch": r.last.Epoch, "offset": r.last.Offset, "members": r.last.Members}}
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
