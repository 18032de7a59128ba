package tether

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/tether-ws/tether/internal/wire"
)

// Room errors.
var (
	ErrTooManyRooms = errors.New("tether: too many rooms for this session")
	ErrRoomName     = errors.New("tether: room names are 1 to 128 bytes of UTF-8")
)

func validRoom(room string) bool {
	return room != "" && len(room) <= 128 && utf8.ValidString(room)
}

// storeCtx bounds a store call made by a method that takes no context.
func (srv *Server) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(srv.ctx, srv.o.HandshakeTimeout)
}

// Join adds the session to a room. Rooms are kept by the store: they
// survive resumes, and on a shared store they are the same on every
// server. A session leaves every room when it ends. Joining twice is a
// no-op.
func (s *Session) Join(room string) error {
	ctx, cancel := s.srv.storeCtx()
	defer cancel()
	return s.srv.Join(ctx, s.id, room)
}

// Leave removes the session from a room.
func (s *Session) Leave(room string) error {
	ctx, cancel := s.srv.storeCtx()
	defer cancel()
	return s.srv.Leave(ctx, s.id, room)
}

// Rooms returns the rooms the session is in.
func (s *Session) Rooms() []string {
	ctx, cancel := s.srv.storeCtx()
	defer cancel()
	rec, err := s.srv.store.Load(ctx, s.id)
	if err != nil {
		return nil
	}
	return rec.Rooms
}

// Join adds a session, held by any server of the cluster, to a room.
func (srv *Server) Join(ctx context.Context, sessionID, room string) error {
	if !validRoom(room) {
		return ErrRoomName
	}
	switch err := srv.store.JoinRoom(ctx, sessionID, room, srv.o.MaxRoomsPerSession); {
	case errors.Is(err, ErrTooManyRooms):
		return fmt.Errorf("failed to join %q: %w (limit %d)", room, ErrTooManyRooms, srv.o.MaxRoomsPerSession)
	case errors.Is(err, ErrNotFound):
		return ErrSessionClosed
	case err != nil:
		return fmt.Errorf("failed to join %q: %w", room, err)
	}
	return nil
}

// Leave removes a session from a room.
func (srv *Server) Leave(ctx context.Context, sessionID, room string) error {
	if err := srv.store.LeaveRoom(ctx, sessionID, room); err != nil {
		if errors.Is(err, ErrNotFound) {
			return ErrSessionClosed
		}
		return fmt.Errorf("failed to leave %q: %w", room, err)
	}
	return nil
}

// Broadcast queues a message for every session in room, connected or
// not, on any server of the cluster, exactly as Send does for one: each
// member gets it in order with its own sequence number, and replays it
// after a resume. The payload is copied once and shared by every member.
// It returns how many sessions the message was queued for; members whose
// replay buffer overflows end with CauseOverflow, as with Send.
func (srv *Server) Broadcast(ctx context.Context, room string, typ MessageType, p []byte) (int, error) {
	if !validRoom(room) {
		return 0, ErrRoomName
	}
	if err := srv.checkPayload(typ, p); err != nil {
		return 0, err
	}
	ids, err := srv.store.RoomMembers(ctx, room)
	if err != nil {
		return 0, fmt.Errorf("failed to list room %q: %w", room, err)
	}
	return srv.fanOut(ctx, ids, typ, append([]byte(nil), p...))
}

// SendToUser queues a message for every session of a user, like Broadcast.
func (srv *Server) SendToUser(ctx context.Context, userID string, typ MessageType, p []byte) (int, error) {
	if err := srv.checkPayload(typ, p); err != nil {
		return 0, err
	}
	ids, err := srv.store.UserSessions(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("failed to list the sessions of %q: %w", userID, err)
	}
	return srv.fanOut(ctx, ids, typ, append([]byte(nil), p...))
}

// RoomMemberIDs returns the IDs of the sessions in a room, on every server.
func (srv *Server) RoomMemberIDs(ctx context.Context, room string) ([]string, error) {
	return srv.store.RoomMembers(ctx, room)
}

// UserSessionIDs returns the IDs of a user's sessions, on every server.
func (srv *Server) UserSessionIDs(ctx context.Context, userID string) ([]string, error) {
	return srv.store.UserSessions(ctx, userID)
}

// RoomMembers returns the sessions in a room held by this server.
func (srv *Server) RoomMembers(room string) []*Session {
	ctx, cancel := srv.storeCtx()
	defer cancel()
	ids, _ := srv.store.RoomMembers(ctx, room)
	return srv.local(ids)
}

// UserSessions returns the sessions of a user held by this server.
func (srv *Server) UserSessions(userID string) []*Session {
	ctx, cancel := srv.storeCtx()
	defer cancel()
	ids, _ := srv.store.UserSessions(ctx, userID)
	return srv.local(ids)
}

// RoomNames returns every room with at least one member, with its size.
func (srv *Server) RoomNames() map[string]int {
	ctx, cancel := srv.storeCtx()
	defer cancel()
	m, _ := srv.store.RoomSizes(ctx)
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

// appendEacher is a store that appends one message to many sessions in
// one round trip (redisstore does), which a broadcast on a shared store
// needs: one round trip per member would not scale.
type appendEacher interface {
	AppendEach(ctx context.Context, ids []string, m Message) ([]uint64, []error)
}

func (srv *Server) fanOut(ctx context.Context, ids []string, typ MessageType, p []byte) (int, error) {
	if ae, ok := srv.store.(appendEacher); ok && srv.cluster != nil && len(ids) > 1 {
		return srv.fanOutBatch(ctx, ae, ids, typ, p)
	}
	n := 0
	for _, id := range ids {
		switch err := srv.sendTo(ctx, id, typ, p); {
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

// Send queues a message for a session held by any server of the cluster.
// It fails with ErrSessionClosed if there is no such session.
func (srv *Server) Send(ctx context.Context, sessionID string, typ MessageType, p []byte) error {
	if err := srv.checkPayload(typ, p); err != nil {
		return err
	}
	return srv.sendTo(ctx, sessionID, typ, append([]byte(nil), p...))
}

// sendTo queues p, which must never change, for a session anywhere.
func (srv *Server) sendTo(ctx context.Context, id string, typ MessageType, p []byte) error {
	if s := srv.Session(id); s != nil {
		return s.sendShared(ctx, typ, p)
	}
	return srv.appendRemote(ctx, id, typ, p)
}

// appendRemote queues a message for a session held by another server, or
// by none (its client is away): the store keeps it and tells the owner.
func (srv *Server) appendRemote(ctx context.Context, id string, typ MessageType, p []byte) error {
	_, err := srv.store.Append(ctx, id, Message{Type: typ, Data: p})
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrSessionClosed
	case errors.Is(err, ErrOverflow):
		srv.remoteOverflow(ctx, id)
		return fmt.Errorf("failed to send: %w", ErrOverflow)
	case err != nil:
		return fmt.Errorf("failed to send: %w", err)
	}
	return nil
}

// Kick ends a session held by any server of the cluster, like
// Session.Close.
func (srv *Server) Kick(ctx context.Context, sessionID, reason string) error {
	if s := srv.Session(sessionID); s != nil {
		return s.Close(reason)
	}
	return srv.remoteKick(ctx, sessionID, reason)
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

// SessionInfo describes a session as the store sees it, wherever it is
// held.
type SessionInfo struct {
	ID      string
	UserID  string
	State   SessionState // connected or disconnected
	Since   time.Time    // when it disconnected; zero while connected
	Created time.Time
	Pending int // server→client messages not yet acknowledged (the replay depth)
	Rooms   []string
	Meta    map[string]string
	Node    string // the server holding it; "" when none
}

// Info returns a session's state from the store, wherever it is held. It
// fails with ErrSessionClosed if there is no such session.
func (srv *Server) Info(ctx context.Context, sessionID string) (SessionInfo, error) {
	if s := srv.Session(sessionID); s != nil && !s.isMoved() {
		st, since := s.State()
		if st == stateClosed {
			return SessionInfo{}, ErrSessionClosed
		}
		return SessionInfo{ID: s.id, UserID: s.user, State: st, Since: since, Created: s.created,
			Pending: s.Pending(), Rooms: s.Rooms(), Meta: s.Meta(), Node: srv.nodeName()}, nil
	}
	rec, err := srv.store.Load(ctx, sessionID)
	if errors.Is(err, ErrNotFound) {
		return SessionInfo{}, ErrSessionClosed
	}
	if err != nil {
		return SessionInfo{}, err
	}
	info := SessionInfo{ID: rec.ID, UserID: rec.UserID, State: StateConnected, Since: rec.Detached, Created: rec.Created,
		Pending: int(rec.Out - rec.Acked), Rooms: rec.Rooms, Meta: rec.Meta, Node: rec.Owner}
	if !rec.Detached.IsZero() || rec.Owner == "" {
		info.State = StateDisconnected
	}
	return info, nil
}

func (s *Session) isMoved() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.moved
}

// fanOutBatch appends to every member at once, then wakes the writers of
// the members held here (the store wakes the other servers).
func (srv *Server) fanOutBatch(ctx context.Context, ae appendEacher, ids []string, typ MessageType, p []byte) (int, error) {
	const chunk = 512
	n := 0
	var firstErr error
	for len(ids) > 0 {
		part := ids[:min(chunk, len(ids))]
		ids = ids[len(part):]
		seqs, errs := ae.AppendEach(ctx, part, Message{Type: typ, Data: p})
		for i, id := range part {
			switch err := errs[i]; {
			case err == nil:
				n++
				if s := srv.Session(id); s != nil {
					s.woke(seqs[i])
				}
			case errors.Is(err, ErrNotFound):
			case errors.Is(err, ErrOverflow):
				if s := srv.Session(id); s != nil && !s.isMoved() {
					s.end(CauseOverflow, ErrOverflow, wire.CloseOverflow, "tether: replay buffer overflow")
				} else {
					srv.remoteOverflow(ctx, id)
				}
			default:
				if firstErr == nil {
					firstErr = fmt.Errorf("failed to send: %w", err)
				}
			}
		}
	}
	return n, firstErr
}
