package tether

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tether-ws/tether/internal/wire"
)

func validRoom(room string) bool {
	return room != "" && len(room) <= wire.MaxRoomLen && utf8.ValidString(room) && !strings.ContainsRune(room, 0)
}

// userPrefix starts the store's name of a user's own stream; no room
// name can (validRoom refuses NUL).
const userPrefix = "\x00user:"

func userStream(user string) string { return userPrefix + user }
func isUserStream(room string) bool { return strings.HasPrefix(room, userPrefix) }
func displayRoom(room string) string {
	if isUserStream(room) {
		return "the stream of user " + strings.TrimPrefix(room, userPrefix)
	}
	return room
}

// wireRoom is a room's name for the client: "" for its user's stream.
func wireRoom(room string) string {
	if isUserStream(room) {
		return ""
	}
	return room
}

// storeCtx bounds a store call made by a method that takes no context.
func (srv *Server) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(srv.ctx, srv.o.HandshakeTimeout)
}

// Join adds the session to a room. Rooms are kept by the store: they
// survive resumes, and on a shared store they are the same on every
// server. A session leaves every room when it ends. Joining twice is a
// no-op. Called for a new session whose client presented a position in
// the room (it lost its previous session), Join replays what the client
// missed from the room's history first (see Options.Readmit).
func (s *Session) Join(ctx context.Context, room string) error {
	return s.srv.Join(ctx, s.id, room)
}

// Leave removes the session from a room.
func (s *Session) Leave(ctx context.Context, room string) error {
	return s.srv.Leave(ctx, s.id, room)
}

// Rooms returns the rooms the session is in (none if the store cannot
// be read).
func (s *Session) Rooms(ctx context.Context) []string {
	rec, err := s.srv.store.Load(ctx, s.id)
	if err != nil {
		return nil
	}
	return publicRooms(rec.Rooms)
}

// Join adds a session, held by any server of the cluster, to a room.
func (srv *Server) Join(ctx context.Context, sessionID, room string) error {
	if !validRoom(room) {
		return ErrRoomName
	}
	return srv.join(ctx, sessionID, room)
}

// Leave removes a session from a room.
func (srv *Server) Leave(ctx context.Context, sessionID, room string) error {
	if !validRoom(room) {
		return ErrRoomName
	}
	return srv.leave(ctx, sessionID, room, wire.RoomReasonNone)
}

// member is what joining and leaving need to know of a session.
type member struct {
	s        *Session // nil unless held here
	user     string
	features uint64
}

func (srv *Server) member(ctx context.Context, id string) (member, error) {
	if s := srv.Session(id); s != nil && !s.isMoved() {
		return member{s: s, user: s.user, features: s.features}, nil
	}
	rec, err := srv.store.Load(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return member{}, ErrSessionClosed
	}
	if err != nil {
		return member{}, err
	}
	return member{user: rec.UserID, features: rec.Features}, nil
}

func (m member) rooms() bool { return m.features&wire.FeatureRooms != 0 }

// join adds a session to a room (a room's or a user's stream), placing
// its cursor at the room's end, or after the position its client
// presented if it is returning from a lost session.
func (srv *Server) join(ctx context.Context, id, room string) error {
	m, err := srv.member(ctx, id)
	if err != nil {
		return err
	}
	var rj *rejoinState
	var from *RoomPosition
	if m.s != nil {
		rj, from = m.s.takePosition(room)
	}
	at, tail, rep, err := srv.plan(ctx, room, from, rj)
	if err != nil {
		return err
	}
	var ev *Message
	if m.rooms() {
		ev = roomEvent(&wire.RoomEvent{Kind: wire.RoomJoined, Room: wireRoom(room), Epoch: at.Epoch, Offset: at.Offset,
			Reason: wire.RoomReason(rep.Reason), Flags: rep.flags(), Lost: uint64(max(rep.Lost, 0)),
			Skipped: uint64(rep.Skipped), Recovered: uint64(rep.Recovered)})
	}
	seq, joined, err := srv.store.JoinRoom(ctx, id, room, srv.o.MaxRoomsPerSession, at, ev)
	switch {
	case errors.Is(err, ErrTooManyRooms):
		return fmt.Errorf("failed to join %q: %w (limit %d)", displayRoom(room), ErrTooManyRooms, srv.o.MaxRoomsPerSession)
	case errors.Is(err, ErrNotFound):
		return ErrSessionClosed
	case errors.Is(err, ErrOverflow):
		srv.overflowed(ctx, m.s, id)
		return fmt.Errorf("failed to join %q: %w", displayRoom(room), ErrOverflow)
	case err != nil:
		return fmt.Errorf("failed to join %q: %w", displayRoom(room), err)
	}
	if !joined {
		return nil
	}
	if m.s != nil {
		m.s.woke(seq)
	}
	if from != nil {
		rj.report(rep)
	}
	if err := srv.catchUp(ctx, id, room, at, tail); err != nil {
		return fmt.Errorf("failed to join %q: %w", displayRoom(room), err)
	}
	if srv.roomOptions(room).Presence {
		// A rejoin after a restart is recorded but not announced (nor was
		// the old session's end), so that the session's leave is.
		srv.presenceHook(m.s, srv.announce(ctx, m, id, room, true, from == nil || rj.announce))
	}
	return nil
}

// plan decides where a session joining room starts. A joiner with no
// position starts at the room's end. A returning client starts after its
// position, less what history no longer holds (Lost) and what exceeds the
// recovery bounds (Skipped, the oldest); tail is what it gets back.
func (srv *Server) plan(ctx context.Context, room string, from *RoomPosition, rj *rejoinState) (RoomPosition, []Message, RoomRecovery, error) {
	st, err := srv.store.OpenRoom(ctx, room)
	if err != nil {
		return RoomPosition{}, nil, RoomRecovery{}, fmt.Errorf("failed to open room %q: %w", displayRoom(room), err)
	}
	at := RoomPosition{Epoch: st.Epoch, Offset: st.Last}
	rep := RoomRecovery{Room: wireRoom(room), Readmitted: true}
	if from == nil {
		return at, nil, rep, nil
	}
	switch {
	case from.Epoch != st.Epoch:
		rep.Lost, rep.Reason = -1, RoomEpochChanged
		at.Offset = st.First - 1
	case from.Offset > st.Last:
		rep.Lost, rep.Reason = -1, RoomDiverged
		return at, nil, rep, nil
	default:
		at.Offset = from.Offset
		if st.First > from.Offset+1 {
			rep.Lost, rep.Reason = int64(st.First-1-from.Offset), RoomHistoryTrimmed
			at.Offset = st.First - 1
		}
	}
	limit := uint64(max(0, min(srv.o.RoomRecoveryLimit, rj.msgs)))
	if n := st.Last - at.Offset; n > limit {
		rep.Skipped = int(n - limit)
		at.Offset = st.Last - limit
	}
	if limit == 0 {
		return at, nil, rep, nil
	}
	st2, tail, err := srv.store.History(ctx, room, at.Offset, int(limit), nil)
	if err != nil {
		return RoomPosition{}, nil, RoomRecovery{}, fmt.Errorf("failed to read room %q: %w", displayRoom(room), err)
	}
	if st2.Epoch != at.Epoch {
		// The stream changed in between: start at its end.
		return RoomPosition{Epoch: st2.Epoch, Offset: st2.Last}, nil, RoomRecovery{Room: rep.Room, Readmitted: true, Lost: -1, Reason: RoomEpochChanged}, nil
	}
	if len(tail) > 0 && tail[0].Offset > at.Offset+1 {
		// Trimmed in between.
		more := tail[0].Offset - 1 - at.Offset
		if rep.Lost >= 0 {
			rep.Lost += int64(more)
			rep.Reason = RoomHistoryTrimmed
		}
		at.Offset += more
	}
	b := 0
	for _, m := range tail {
		b += len(m.Data)
	}
	for len(tail) > 0 && b > rj.bytes {
		b -= len(tail[0].Data)
		tail = tail[1:]
		at.Offset++
		rep.Skipped++
	}
	rep.Recovered = len(tail)
	rj.msgs -= len(tail)
	rj.bytes -= b
	return at, tail, rep, nil
}

// catchUpRounds bounds how often catchUp reads history: a member that
// joined is caught up by then, or by the room's next publish.
const catchUpRounds = 64

// catchUp appends to a member that joined at `at` the room's messages
// published since: tail first, then what history holds beyond it.
func (srv *Server) catchUp(ctx context.Context, id, room string, at RoomPosition, tail []Message) error {
	cur := at
	for range catchUpRounds {
		if len(tail) == 0 {
			st, h, err := srv.store.History(ctx, room, cur.Offset, 256, nil)
			if err != nil {
				return err
			}
			if len(h) == 0 {
				return nil
			}
			if cur.Epoch == "" {
				cur.Epoch = st.Epoch
			}
			if st.Epoch != cur.Epoch || h[0].Offset != cur.Offset+1 {
				// The stream was dropped and started again, or trimmed
				// past the member: its session ends with the loss
				// reported, room by room, when its client returns.
				srv.roomLost(ctx, id)
				return nil
			}
			tail = h
		}
		err := srv.deliver(ctx, id, &delivery{msgs: tail, epoch: cur.Epoch})
		switch {
		case errors.Is(err, ErrNotMember), errors.Is(err, ErrSessionClosed):
			return nil
		case err != nil:
			return err
		}
		cur.Offset = tail[len(tail)-1].Offset
		tail = nil
	}
	return nil
}

// roomLost ends a member whose room messages cannot be appended in order.
func (srv *Server) roomLost(ctx context.Context, id string) {
	if s := srv.Session(id); s != nil && !s.isMoved() {
		s.end(CauseOverflow, errRoomLost, wire.CloseOverflow, "tether: replay buffer overflow")
		return
	}
	srv.remoteOverflow(ctx, id)
}

// overflowed ends a session whose replay buffer could not take a room
// event.
func (srv *Server) overflowed(ctx context.Context, s *Session, id string) {
	if s != nil {
		s.end(CauseOverflow, ErrOverflow, wire.CloseOverflow, "tether: replay buffer overflow")
		return
	}
	srv.remoteOverflow(ctx, id)
}

// leave removes a session from a room, telling its client why.
func (srv *Server) leave(ctx context.Context, id, room string, reason wire.RoomReason) error {
	m, err := srv.member(ctx, id)
	if err != nil {
		return err
	}
	var ev *Message
	if m.rooms() {
		ev = roomEvent(&wire.RoomEvent{Kind: wire.RoomLeft, Room: wireRoom(room), Reason: reason})
	}
	seq, left, err := srv.store.LeaveRoom(ctx, id, room, ev)
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrSessionClosed
	case errors.Is(err, ErrOverflow):
		srv.overflowed(ctx, m.s, id)
		return fmt.Errorf("failed to leave %q: %w", displayRoom(room), ErrOverflow)
	case err != nil:
		return fmt.Errorf("failed to leave %q: %w", displayRoom(room), err)
	}
	if !left {
		return nil
	}
	if m.s != nil {
		m.s.woke(seq)
	}
	if srv.roomOptions(room).Presence {
		srv.presenceHook(m.s, srv.announce(ctx, m, id, room, false, true))
	}
	return nil
}

// roomEvent is a room event as it waits in a session's replay buffer.
func roomEvent(e *wire.RoomEvent) *Message {
	return &Message{Type: typeRoomEvent, Room: e.Room, Data: wire.AppendRoomEventBody(nil, e)}
}

// typeRoomEvent marks a message of a session's stream that is a room
// event (Data holds its wire body). It never reaches an application.
const typeRoomEvent MessageType = 0x80

// RoomMemberIDs returns the IDs of the sessions in a room, on every server.
func (srv *Server) RoomMemberIDs(ctx context.Context, room string) ([]string, error) {
	return srv.store.RoomMembers(ctx, room)
}

// UserSessionIDs returns the IDs of a user's sessions, on every server.
func (srv *Server) UserSessionIDs(ctx context.Context, userID string) ([]string, error) {
	return srv.store.UserSessions(ctx, userID)
}

// RoomMembers returns the sessions in a room held by this server.
func (srv *Server) RoomMembers(ctx context.Context, room string) []*Session {
	ids, _ := srv.store.RoomMembers(ctx, room)
	return srv.local(ids)
}

// UserSessions returns the sessions of a user held by this server.
func (srv *Server) UserSessions(ctx context.Context, userID string) []*Session {
	ids, _ := srv.store.UserSessions(ctx, userID)
	return srv.local(ids)
}

// RoomNames returns every room with at least one member, with its size.
func (srv *Server) RoomNames(ctx context.Context) map[string]int {
	m, _ := srv.store.RoomSizes(ctx)
	for r := range m {
		if isUserStream(r) {
			delete(m, r)
		}
	}
	return m
}

func (srv *Server) local(ids []string) []*Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	out := make([]*Session, 0, len(ids))
	for _, id := range ids {
		if s := srv.sessions[id]; s != nil {
			out = append(out, s)
		}
	}
	return out
}
