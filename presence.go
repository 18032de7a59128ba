package tether

import (
	"context"
	"fmt"

	"github.com/tether-ws/tether/internal/wire"
)

// Presence is one session in a room.
type Presence struct {
	Session string
	User    string
}

// PresenceChange is a user entering or leaving a room (Options.OnPresence).
type PresenceChange struct {
	Room    string
	User    string
	Session string // the session that entered, or the last one to leave
	Joined  bool
}

// Presence returns who is in a room, on every server: each session and
// its user.
func (srv *Server) Presence(ctx context.Context, room string) ([]Presence, error) {
	if !validRoom(room) {
		return nil, ErrRoomName
	}
	ids, err := srv.store.RoomMembers(ctx, room)
	if err != nil {
		return nil, fmt.Errorf("failed to list room %q: %w", room, err)
	}
	out := make([]Presence, 0, len(ids))
	for _, id := range ids {
		m, err := srv.member(ctx, id)
		if err != nil {
			continue // gone meanwhile
		}
		out = append(out, Presence{Session: id, User: m.user})
	}
	return out, nil
}

// announce tells a presence room's members that a user entered or left
// it: only when the session is the user's first in the room, or its last
// (anonymous sessions count on their own). The store decides which, in
// one step, so that of two sessions of a user leaving at once (or
// entering) exactly one announces. Without tell the change is recorded
// and nobody is told. It returns the change, for OnPresence, or nil if
// there was none or it is not told.
func (srv *Server) announce(ctx context.Context, m member, id, room string, joined, tell bool) *PresenceChange {
	if m.user != "" {
		changed, err := srv.store.MarkPresent(ctx, room, m.user, id, joined)
		if err != nil {
			srv.log.Warn("tether: cannot announce presence", "room", room, "err", err)
			return nil
		}
		if !changed {
			return nil
		}
	}
	if !tell {
		return nil
	}
	ids, err := srv.store.RoomMembers(ctx, room)
	if err != nil {
		srv.log.Warn("tether: cannot announce presence", "room", room, "err", err)
		return nil
	}
	others := make([]member, 0, len(ids))
	targets := make([]string, 0, len(ids))
	for _, other := range ids {
		if other == id {
			continue
		}
		om, err := srv.member(ctx, other)
		if err != nil || (m.user != "" && om.user == m.user) {
			continue // gone, or the user's own session entering meanwhile
		}
		others = append(others, om)
		targets = append(targets, other)
	}
	kind := wire.RoomPresenceLeave
	if joined {
		kind = wire.RoomPresenceJoin
	}
	user := m.user
	if len(user) > wire.MaxUserLen {
		user = user[:wire.MaxUserLen]
	}
	ev := roomEvent(&wire.RoomEvent{Kind: kind, Room: room, User: user, Session: id})
	for i, other := range targets {
		if !others[i].rooms() {
			continue
		}
		if err := srv.deliver(ctx, other, newDelivery(*ev, "")); err != nil && !skippable(err) {
			srv.log.Warn("tether: cannot deliver a presence event", "room", room, "session", other, "err", err)
		}
	}
	return &PresenceChange{Room: room, User: m.user, Session: id, Joined: joined}
}

// presenceHook runs OnPresence for a change: on the hook queue of the
// session if it is held here, otherwise on a goroutine of its own (s is
// then nil).
func (srv *Server) presenceHook(s *Session, pc *PresenceChange) {
	fn := srv.o.OnPresence
	if fn == nil || pc == nil {
		return
	}
	if s == nil {
		srv.spawn(func() { fn(srv.ctx, nil, *pc) })
		return
	}
	s.mu.Lock()
	s.post(event{kind: evFunc, info: func() { fn(srv.ctx, s, *pc) }})
	s.mu.Unlock()
}
