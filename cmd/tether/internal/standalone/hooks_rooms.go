package standalone

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/internal/webhook"
)

// Room stream hooks: readmission of a client that lost its session,
// the report of what each room got back, and presence.

// roomHooks holds what the room hooks need besides hooks.
type roomHooks struct {
	policy         string        // claims, webhook or all
	readmitTimeout time.Duration // webhook policy: the whole decision, retries included
	remote         atomic.Uint64 // presence events of sessions not held here
}

// readmitReply is the backend's answer to a readmit event.
type readmitReply struct {
	Readmit *bool `json:"readmit"`
}

// readmit is tether.Options.Readmit: it runs, after onOpen, for each room
// a returning client presented that onOpen did not join again (the rooms
// of the token's claims are joined by onOpen whatever the policy).
func (h *hooks) readmit(ctx context.Context, s *tether.Session, room string) bool {
	ok, why := h.decideReadmit(ctx, s, room)
	result := "no"
	if ok {
		result = "yes"
	}
	if why != "" {
		result = "error"
		h.log.Warn("tether: readmission refused: the backend did not answer yes", "session", s.ID(), "user", s.UserID(), "room", room, "why", why)
	} else {
		h.log.Debug("tether: readmission", "session", s.ID(), "user", s.UserID(), "room", room, "policy", h.rooms.policy, "readmitted", ok)
	}
	h.m.readmissions.WithLabelValues(h.rooms.policy, result).Inc()
	return ok
}

// decideReadmit applies the policy; why is set when the webhook could not
// decide (then the answer is no).
func (h *hooks) decideReadmit(ctx context.Context, s *tether.Session, room string) (ok bool, why string) {
	switch h.rooms.policy {
	case readmitAll:
		return true, ""
	case readmitWebhook:
	default:
		return false, ""
	}
	if h.d == nil {
		return false, "no webhook"
	}
	ev := h.event("readmit", s, "readmit:"+room)
	ev.Room = &room
	ctx, cancel := context.WithTimeout(ctx, h.rooms.readmitTimeout)
	defer cancel()
	reply, err := h.d.Deliver(ctx, ev)
	switch {
	case errors.Is(err, webhook.ErrRejected):
		return false, "" // a 4xx: a refusal
	case err != nil:
		return false, err.Error()
	}
	var r readmitReply
	if reply == nil {
		return false, "no answer"
	}
	dec := json.NewDecoder(bytes.NewReader(reply.Body))
	if err := dec.Decode(&r); err != nil || r.Readmit == nil {
		return false, fmt.Sprintf(`the answer is not {"readmit": true|false}: %q`, truncate(string(reply.Body), 128))
	}
	return *r.Readmit, ""
}

// onRoomRecovery is tether.Options.OnRoomRecovery: metrics and a
// room_recovery webhook for each room a returning client presented.
func (h *hooks) onRoomRecovery(ctx context.Context, s *tether.Session, r tether.RoomRecovery) {
	h.m.roomRecovery(r)
	h.rec.roomRecovered(s, r)
	h.slog.roomRecovered(s, r)
	if h.d == nil {
		return
	}
	room := r.Room
	ev := h.event("room_recovery", s, "room_recovery:"+room)
	ev.Room = &room
	rec := &webhook.RoomRecovery{Readmitted: r.Readmitted, Recovered: r.Recovered, Skipped: r.Skipped}
	if r.Lost >= 0 {
		lost := r.Lost
		rec.Lost = &lost
	}
	ev.Recovery = rec
	switch {
	case !r.Readmitted:
		ev.Reason = "not-readmitted"
	default:
		ev.Reason = r.Reason.String()
	}
	h.d.Notify(ev)
}

// onPresence is tether.Options.OnPresence: a user entered or left a room
// whose -rooms entry has presence on. s is nil when another server holds
// the session (an API call here joined or removed it).
func (h *hooks) onPresence(ctx context.Context, s *tether.Session, p tether.PresenceChange) {
	change := "leave"
	if p.Joined {
		change = "join"
	}
	h.m.presence.WithLabelValues(change).Inc()
	if h.d == nil {
		return
	}
	// Event IDs count per session, as disconnects do; a change of a
	// session held elsewhere counts on a process-wide counter ("x").
	var id string
	if s != nil {
		n := h.sessions.next(s.ID(), func(c *sessionCounts) *int { return &c.presences })
		id = fmt.Sprintf("presence:%s%d", h.epoch, n)
	} else {
		id = fmt.Sprintf("presence:%sx%d", h.epoch, h.rooms.remote.Add(1))
	}
	room := p.Room
	ev := &webhook.Event{Type: "presence", ID: p.Session + ":" + id, Time: time.Now().UTC(),
		Session: p.Session, User: p.User, Room: &room, Presence: change}
	if s != nil {
		ev.Meta = s.Meta()
	}
	h.d.Notify(ev)
}
