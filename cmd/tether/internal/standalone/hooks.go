package standalone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/internal/webhook"
)

// dispatcher is what hooks need of a *webhook.Dispatcher.
type dispatcher interface {
	Notify(ev *webhook.Event)
	Deliver(ctx context.Context, ev *webhook.Event) (*webhook.Reply, error)
}

// hooks are the tether.Options hooks of the standalone server: rooms from
// the token, metrics, and either webhooks to the backend or, without a
// webhook URL, a chat broadcast to the sender's rooms.
type hooks struct {
	srv      func() *tether.Server
	d        dispatcher // nil: broadcast mode
	m        *metrics
	rec      *recorder  // the admin page's counts and events
	slog     sessionLog // -log-sessions
	sessions *sessionTable
	// epoch makes event IDs counted per process unique across the
	// servers a session moves between: "" alone, "<random>." with Redis.
	epoch string
	log   *slog.Logger
	rooms roomHooks
	// stop ends when awaited message webhooks must give up: a while after
	// a shutdown began (App.shutdown).
	stop context.Context
}

// sessionTable counts, per session held here, the events that number its
// webhook event IDs. A session gets an entry at its first such event, so
// an idle session costs nothing here (an entry made at open cost ~90
// bytes per session), and loses it at its close. Only the session's own
// hooks touch its entry, and OnClose is the last of them, so no entry
// outlives its session.
type sessionTable struct {
	mu sync.Mutex
	m  map[string]*sessionCounts
}

type sessionCounts struct{ disconnects, resumes, presences int }

func newSessionTable() *sessionTable { return &sessionTable{m: make(map[string]*sessionCounts)} }

// next adds one to the counter of session id that field picks and
// returns it.
func (t *sessionTable) next(id string, field func(*sessionCounts) *int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.m[id]
	if st == nil {
		st = &sessionCounts{}
		t.m[id] = st
	}
	n := field(st)
	*n++
	return *n
}

func (t *sessionTable) remove(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, id)
}

// options returns the tether options with the hooks set.
func (h *hooks) options(o *tether.Options) *tether.Options {
	o.OnOpen = h.onOpen
	o.OnMessage = h.onMessage
	o.OnDisconnect = h.onDisconnect
	o.OnResume = h.onResume
	o.OnClose = h.onClose
	o.Readmit = h.readmit
	o.OnRoomRecovery = h.onRoomRecovery
	o.OnPresence = h.onPresence
	return o
}

func (h *hooks) event(typ string, s *tether.Session, id string) *webhook.Event {
	return &webhook.Event{Type: typ, ID: s.ID() + ":" + id, Time: time.Now().UTC(), Session: s.ID(), User: s.UserID(), Meta: s.Meta()}
}

func (h *hooks) onOpen(ctx context.Context, s *tether.Session, info tether.OpenInfo) {
	h.m.connects.Inc()
	h.rec.opened(s, info.Previous)
	if info.Previous != nil {
		h.slog.notResumed(s, info.Previous)
	}
	if r := info.Request; r != nil {
		s.SetMeta("remote_addr", r.RemoteAddr)
		if ua := r.UserAgent(); ua != "" {
			s.SetMeta("user_agent", truncate(ua, 256))
		}
		if id := identityOf(r); id != nil {
			for _, room := range id.rooms {
				if err := s.Join(ctx, room); err != nil {
					h.log.Warn("tether: cannot join room at connect", "session", s.ID(), "user", s.UserID(), "room", room, "err", err)
				}
			}
		}
	}
	ev := h.event("open", s, "open")
	if p := info.Previous; p != nil {
		s.SetMeta("previous_session", p.SessionID)
		ev.Meta = s.Meta()
		if p.ToClient >= 0 {
			h.m.lost.WithLabelValues(toClient).Add(float64(p.ToClient))
		}
		if p.FromClient >= 0 {
			h.m.lost.WithLabelValues(fromClient).Add(float64(p.FromClient))
		}
		ev.Reason = p.Reason.String()
		ev.Counts = map[string]int64{"lost_to_client": p.ToClient, "lost_from_client": p.FromClient, "carried": p.Carried, "in_rooms": p.InRooms}
	}
	if h.d != nil {
		h.d.Notify(ev)
	}
}

func (h *hooks) onMessage(ctx context.Context, s *tether.Session, m tether.Message) error {
	if h.d == nil {
		h.m.clientMessages.Inc()
		h.broadcastMessage(ctx, s, m)
		return nil
	}
	ev := h.event("message", s, fmt.Sprintf("message:%d", m.Seq))
	ev.Message = &webhook.Message{Seq: m.Seq}
	if m.Type == tether.Text {
		ev.Message.Type, ev.Message.Text = "text", string(m.Data)
	} else {
		ev.Message.Type, ev.Message.Data = "binary", m.Data
	}
	// Retried until the backend accepts it, or the shutdown gives up
	// waiting: the session then ends with 4005 and its client keeps the
	// message (docs/API.md, "Shutdown and restart").
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(h.stop, cancel)()
	reply, err := h.d.Deliver(dctx, ev)
	switch {
	case errors.Is(err, webhook.ErrRejected):
		// The backend saw the message and refused it: it is acknowledged.
		h.m.clientMessages.Inc()
		h.log.Warn("tether: backend rejected a client message", "session", s.ID(), "user", s.UserID(), "seq", m.Seq, "err", err)
		return nil
	case err != nil && h.stop.Err() != nil:
		// Not taken in, and the server is stopping: the session ends with
		// 4005 and the client keeps the message.
		return fmt.Errorf("the server is shutting down and the backend has not accepted the message: %w", err)
	case err != nil:
		// Not taken in: the client keeps it and sends it again.
		return fmt.Errorf("webhook: %w", err)
	}
	h.m.clientMessages.Inc()
	if reply == nil {
		return nil
	}
	for _, rm := range reply.Messages {
		typ, p := tether.Text, []byte(rm.Text)
		if rm.Type == "binary" {
			typ, p = tether.Binary, rm.Data
		}
		if err := s.Send(ctx, typ, p); err != nil {
			h.log.Warn("tether: cannot send the backend's reply", "session", s.ID(), "user", s.UserID(), "seq", m.Seq, "err", err)
			if errors.Is(err, tether.ErrSessionClosed) || errors.Is(err, tether.ErrOverflow) {
				break
			}
		}
	}
	return nil
}

// chatMessage is what broadcast mode sends for a client's text message.
type chatMessage struct {
	Room string `json:"room"`
	From string `json:"from"`
	User string `json:"user"`
	Text string `json:"text"`
}

// broadcastMessage sends a client message to every room its session is
// in: text as a chatMessage, binary as it is.
func (h *hooks) broadcastMessage(ctx context.Context, s *tether.Session, m tether.Message) {
	srv := h.srv()
	rooms := s.Rooms(ctx)
	if len(rooms) == 0 {
		h.log.Debug("tether: message from a session in no room, dropped", "session", s.ID(), "seq", m.Seq)
	}
	for _, room := range rooms {
		p := m.Data
		if m.Type == tether.Text {
			p, _ = json.Marshal(chatMessage{Room: room, From: s.ID(), User: s.UserID(), Text: string(m.Data)})
		}
		_, err := srv.Broadcast(ctx, room, m.Type, p)
		if err == nil {
			h.m.roomBroadcasts.WithLabelValues("client").Inc()
		} else {
			// Bad content (too big once wrapped) must not fail the
			// message: the client would send it again forever.
			h.log.Warn("tether: cannot broadcast a client message", "session", s.ID(), "room", room, "seq", m.Seq, "err", err)
		}
	}
}

func (h *hooks) onDisconnect(ctx context.Context, s *tether.Session, d tether.Disconnect) {
	cause := d.Cause.String()
	h.m.disconnects.WithLabelValues(cause).Inc()
	h.rec.disconnected(s, d)
	h.slog.disconnected(s, d)
	if h.d == nil {
		return
	}
	n := h.sessions.next(s.ID(), func(c *sessionCounts) *int { return &c.disconnects })
	ev := h.event("disconnect", s, fmt.Sprintf("disconnect:%s%d", h.epoch, n))
	ev.Cause = cause
	if d.Err != nil {
		ev.Error = d.Err.Error()
	}
	h.d.Notify(ev)
}

func (h *hooks) onResume(ctx context.Context, s *tether.Session, r tether.Resume) {
	h.m.resumes.Inc()
	h.m.replayed.WithLabelValues(toClient).Add(float64(r.ToClient))
	h.m.replayed.WithLabelValues(fromClient).Add(float64(r.FromClient))
	h.rec.resumed(s, r)
	h.slog.resumed(s, r)
	if h.d == nil {
		return
	}
	n := h.sessions.next(s.ID(), func(c *sessionCounts) *int { return &c.resumes })
	ev := h.event("resume", s, fmt.Sprintf("resume:%s%d", h.epoch, n))
	ev.Counts = map[string]int64{
		"replayed_to_client": int64(r.ToClient), "replayed_from_client": int64(r.FromClient),
		"offline_ms": r.Offline.Milliseconds(),
	}
	h.d.Notify(ev)
}

func (h *hooks) onClose(ctx context.Context, s *tether.Session, c tether.Closure) {
	h.sessions.remove(s.ID())
	cause := c.Cause.String()
	h.m.closes.WithLabelValues(cause).Inc()
	if c.Cause == tether.CauseExpired {
		h.m.expiries.Inc()
	}
	var reason string
	if c.Cause == tether.CauseKicked {
		reason = c.Reason
	}
	h.rec.sessionClosed(s, c)
	h.slog.ended(s, c, reason)
	if h.d == nil {
		return
	}
	ev := h.event("close", s, "close")
	ev.Cause = cause
	if c.Err != nil {
		ev.Error = c.Err.Error()
	}
	ev.Reason = reason
	ev.Counts = map[string]int64{"unacked": int64(c.Unacked)}
	h.d.Notify(ev)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
