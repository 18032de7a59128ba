package tether

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"
)

// Room errors.
var (
	ErrTooManyRooms = errors.New("tether: too many rooms for this session")
	ErrRoomName     = errors.New("tether: room names are 1 to 128 bytes of UTF-8")
)

// index maps rooms and users to the sessions this server holds.
type index struct {
	mu    sync.RWMutex
	rooms map[string]map[*Session]struct{}
	users map[string]map[*Session]struct{}
}

func (ix *index) add(m *map[string]map[*Session]struct{}, key string, s *Session) {
	if *m == nil {
		*m = make(map[string]map[*Session]struct{})
	}
	set := (*m)[key]
	if set == nil {
		set = make(map[*Session]struct{})
		(*m)[key] = set
	}
	set[s] = struct{}{}
}

func (ix *index) remove(m map[string]map[*Session]struct{}, key string, s *Session) {
	if set := m[key]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(m, key)
		}
	}
}

func (ix *index) members(m map[string]map[*Session]struct{}, key string) []*Session {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	set := m[key]
	out := make([]*Session, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	return out
}

func validRoom(room string) bool {
	return room != "" && len(room) <= 128 && utf8.ValidString(room)
}

// Join adds the session to a room. Rooms survive resumes; a session
// leaves every room when it ends. Joining a room twice is a no-op.
func (s *Session) Join(room string) error {
	if !validRoom(room) {
		return ErrRoomName
	}
	ix := &s.srv.ix
	ix.mu.Lock()
	defer ix.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateClosed {
		return ErrSessionClosed
	}
	if slices.Contains(s.rooms, room) {
		return nil
	}
	if len(s.rooms) >= s.srv.o.MaxRoomsPerSession {
		return fmt.Errorf("failed to join %q: %w (limit %d)", room, ErrTooManyRooms, s.srv.o.MaxRoomsPerSession)
	}
	s.rooms = append(s.rooms, room)
	ix.add(&ix.rooms, room, s)
	return nil
}

// Leave removes the session from a room.
func (s *Session) Leave(room string) {
	ix := &s.srv.ix
	ix.mu.Lock()
	defer ix.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.rooms, room); i >= 0 {
		s.rooms = slices.Delete(s.rooms, i, i+1)
		ix.remove(ix.rooms, room, s)
	}
}

// Rooms returns the rooms the session is in.
func (s *Session) Rooms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rooms)
}

// unindex removes an ending session from every room and its user.
func (s *Session) unindex() {
	ix := &s.srv.ix
	ix.mu.Lock()
	defer ix.mu.Unlock()
	s.mu.Lock()
	rooms := s.rooms
	s.mu.Unlock()
	for _, r := range rooms {
		ix.remove(ix.rooms, r, s)
	}
	ix.remove(ix.users, s.user, s)
}

// Broadcast queues a message for every session in room, connected or
// not, exactly as Send does for one: each member gets it in order with
// its own sequence number, and replays it after a resume. The payload is
// copied once and shared by every member. It returns how many sessions
// the message was queued for; members whose replay buffer overflows end
// with CauseOverflow, as with Send.
func (srv *Server) Broadcast(ctx context.Context, room string, typ MessageType, p []byte) (int, error) {
	if !validRoom(room) {
		return 0, ErrRoomName
	}
	if err := srv.checkPayload(typ, p); err != nil {
		return 0, err
	}
	return srv.fanOut(ctx, srv.ix.members(srv.ix.rooms, room), typ, append([]byte(nil), p...))
}

// SendToUser queues a message for every session of a user, like Broadcast.
func (srv *Server) SendToUser(ctx context.Context, userID string, typ MessageType, p []byte) (int, error) {
	if err := srv.checkPayload(typ, p); err != nil {
		return 0, err
	}
	return srv.fanOut(ctx, srv.ix.members(srv.ix.users, userID), typ, append([]byte(nil), p...))
}

// RoomMembers returns the sessions in a room.
func (srv *Server) RoomMembers(room string) []*Session { return srv.ix.members(srv.ix.rooms, room) }

// UserSessions returns the sessions of a user held by this server.
func (srv *Server) UserSessions(userID string) []*Session {
	return srv.ix.members(srv.ix.users, userID)
}

// RoomNames returns every room with at least one member, with its size.
func (srv *Server) RoomNames() map[string]int {
	srv.ix.mu.RLock()
	defer srv.ix.mu.RUnlock()
	out := make(map[string]int, len(srv.ix.rooms))
	for r, set := range srv.ix.rooms {
		out[r] = len(set)
	}
	return out
}

func (srv *Server) fanOut(ctx context.Context, members []*Session, typ MessageType, p []byte) (int, error) {
	n := 0
	for _, s := range members {
		switch err := s.sendShared(ctx, typ, p); {
		case err == nil:
			n++
		case errors.Is(err, ErrSessionClosed), errors.Is(err, ErrOverflow), errors.Is(err, ErrServerClosed):
			// That member is gone or going; it was told, or will be.
		default:
			return n, err
		}
	}
	return n, nil
}

func (srv *Server) checkPayload(typ MessageType, p []byte) error {
	if len(p) > srv.o.MaxMessageSize {
		return fmt.Errorf("failed to send %d bytes: %w", len(p), ErrTooBig)
	}
	switch typ {
	case Text:
		if !utf8.Valid(p) {
			return ErrInvalidUTF8
		}
	case Binary:
	default:
		return fmt.Errorf("tether: invalid message type %d", typ)
	}
	return nil
}
