package tether

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tether-ws/tether/internal/wire"
	"github.com/tether-ws/tether/internal/ws"
)

// RoomHistory is a page of a room's history.
type RoomHistory struct {
	Epoch    string    // the room stream's epoch; "" if the room has no stream
	First    uint64    // offset of the oldest message kept; Last+1 when none is
	Last     uint64    // offset of the room's last message
	Messages []Message // kept messages after the page's start, in order (Room and Offset set)
}

// History limits.
const (
	defaultHistoryLimit = 100
	maxHistoryBytes     = 512 << 10 // payload bytes in one answer to a client, beyond its first message
)

// History reads a room's history: the kept messages with an offset above
// since, at most limit of them (0 means 100; at most 1,000). Page on with
// since set to the last offset returned; First tells where history
// starts, and a message below it is gone. Broadcasting to a room without
// members keeps the message here too.
func (srv *Server) History(ctx context.Context, room string, since uint64, limit int) (RoomHistory, error) {
	if !validRoom(room) {
		return RoomHistory{}, ErrRoomName
	}
	if limit <= 0 {
		limit = defaultHistoryLimit
	}
	limit = min(limit, wire.MaxHistory)
	st, msgs, err := srv.store.History(ctx, room, since, limit, nil)
	if err != nil {
		return RoomHistory{}, fmt.Errorf("failed to read the history of %q: %w", room, err)
	}
	return RoomHistory{Epoch: st.Epoch, First: st.First, Last: st.Last, Messages: msgs}, nil
}

// maxCtrlBacklog bounds the control frames waiting for a client that
// does not read: a client asking for history faster than it reads the
// answers is disconnected.
const maxCtrlBacklog = 4 << 20

// history answers a client's History request: rooms the session is in,
// and its user's stream, only.
func (c *conn) history(h *wire.History) {
	s, srv := c.s, c.srv
	res := &wire.HistoryResult{ID: h.ID, Status: wire.HistoryForbidden}
	ctx, cancel := srv.storeCtx()
	defer cancel()
	room := h.Room
	allowed := false
	switch {
	case room == "":
		if srv.o.UserStreams && s.user != "" {
			room, allowed = userStream(s.user), true
		}
	case validRoom(room):
		rec, err := srv.store.Load(ctx, s.id)
		if err != nil {
			res.Status = wire.HistoryUnavailable
			break
		}
		allowed = slices.Contains(rec.Rooms, room)
	}
	if allowed {
		limit := int(min(h.Limit, wire.MaxHistory))
		if limit == 0 {
			limit = defaultHistoryLimit
		}
		st, msgs, err := srv.store.History(ctx, room, h.Since, limit, nil)
		if err != nil {
			srv.log.Warn("tether: cannot read history", "session", s.id, "room", displayRoom(room), "err", err)
			res.Status = wire.HistoryUnavailable
		} else {
			res.Status, res.Epoch, res.First, res.Last = wire.HistoryOK, st.Epoch, st.First, st.Last
			b := 0
			for _, m := range msgs {
				if b += len(m.Data); b > maxHistoryBytes && len(res.Messages) > 0 {
					break
				}
				res.Messages = append(res.Messages, wire.HistoryMessage{Offset: m.Offset, Text: m.Type == Text, Payload: m.Data})
			}
		}
	}
	frame := wire.AppendHistoryResult(nil, res)
	c.s.mu.Lock()
	over := len(c.ctrl)+len(frame) > maxCtrlBacklog
	if !over {
		c.ctrl = ws.AppendFrame(c.ctrl, false, ws.OpBinary, frame, nil)
		c.kick()
	}
	c.s.mu.Unlock()
	if over {
		srv.log.Info("tether: client asks for history faster than it reads", "session", s.id, "user", s.user)
		s.end(CausePolicyViolation, errHistoryFlood, wire.ClosePolicy, "tether: too many history requests unread")
	}
}

var errHistoryFlood = errors.New("history requests faster than their answers are read")
