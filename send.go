package tether

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// Send queues a message for a session held by any server of the cluster.
// It fails with ErrSessionClosed if there is no such session.
func (srv *Server) Send(ctx context.Context, sessionID string, typ MessageType, p []byte) error {
	if err := srv.checkPayload(typ, p); err != nil {
		return err
	}
	return srv.deliver(ctx, sessionID, newDelivery(Message{Type: typ, Data: append([]byte(nil), p...)}, ""))
}

// SendToUser queues a message for every session of a user, on every
// server, and returns for how many. With Options.UserStreams it is
// published to the user's own stream, like Broadcast to a room that every
// session of the user is in: a user without a session now gets it from
// the stream's history in its next session.
func (srv *Server) SendToUser(ctx context.Context, userID string, typ MessageType, p []byte) (int, error) {
	if err := srv.checkPayload(typ, p); err != nil {
		return 0, err
	}
	p = append([]byte(nil), p...)
	if srv.o.UserStreams && userID != "" {
		pub, err := srv.publish(ctx, userStream(userID), typ, p)
		return pub.Members, err
	}
	ids, err := srv.store.UserSessions(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("failed to list the sessions of %q: %w", userID, err)
	}
	return srv.fanOut(ctx, ids, newDelivery(Message{Type: typ, Data: p}, ""))
}

// Kick ends a session held by any server of the cluster, like
// Session.Close.
func (srv *Server) Kick(ctx context.Context, sessionID, reason string) error {
	if s := srv.Session(sessionID); s != nil {
		return s.Close(ctx, reason)
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
		if st == StateClosed {
			return SessionInfo{}, ErrSessionClosed
		}
		return SessionInfo{ID: s.id, UserID: s.user, State: st, Since: since, Created: s.created.time(),
			Pending: s.Pending(), Rooms: s.Rooms(ctx), Meta: s.Meta(), Node: srv.nodeName()}, nil
	}
	rec, err := srv.store.Load(ctx, sessionID)
	if errors.Is(err, ErrNotFound) {
		return SessionInfo{}, ErrSessionClosed
	}
	if err != nil {
		return SessionInfo{}, err
	}
	info := SessionInfo{ID: rec.ID, UserID: rec.UserID, State: StateConnected, Since: rec.Detached, Created: rec.Created,
		Pending: int(rec.Out - rec.Acked), Rooms: publicRooms(rec.Rooms), Meta: rec.Meta, Node: rec.Owner}
	if !rec.Detached.IsZero() || rec.Owner == "" {
		info.State = StateDisconnected
	}
	return info, nil
}

// publicRooms leaves out the rooms the application did not name (the
// user's stream).
func publicRooms(rooms []string) []string {
	return slices.DeleteFunc(rooms, isUserStream)
}

func (s *Session) isMoved() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.life.Moved()
}
