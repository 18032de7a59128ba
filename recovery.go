package tether

import (
	"context"
	"path"

	"github.com/tether-ws/tether/internal/wire"
)

// RoomRecovery reports, for one room a client was in when it lost its
// session, what its new session got back and what is gone.
type RoomRecovery struct {
	Room string // "" is the user's own stream (Options.UserStreams)
	// Readmitted is false when the client is not in the room any more:
	// neither OnOpen nor Readmit let it back in. The counts below are 0.
	Readmitted bool
	// Recovered counts the room's messages replayed after the client's
	// position, before any newer one.
	Recovered int
	// Skipped counts messages after the position that history still
	// holds but were not replayed (Options.RoomRecoveryLimit, or half the
	// replay buffer): the oldest ones, readable with History.
	Skipped int
	// Lost counts messages after the position that history no longer
	// holds; -1 when nobody can know (Reason says why).
	Lost   int64
	Reason RoomLossReason
}

func (r *RoomRecovery) flags() byte {
	if r.Lost < 0 {
		return wire.RoomLostUnknown
	}
	return 0
}

// RoomLossReason says why room messages could not be recovered.
type RoomLossReason uint8

// Room loss reasons (docs/PROTOCOL.md, "Room streams").
const (
	RoomHistoryTrimmed = RoomLossReason(wire.RoomReasonTrimmed)      // history's bounds dropped them; the count is exact
	RoomEpochChanged   = RoomLossReason(wire.RoomReasonEpochChanged) // the room's history was lost (a memory-store restart); the count is unknown
	RoomDiverged       = RoomLossReason(wire.RoomReasonDiverged)     // the client is ahead of the room's stream (the store lost its last messages); the count is unknown
)

func (r RoomLossReason) String() string { return wire.RoomReason(r).String() }

// inRooms marks which messages of a closing session after acked, up to
// out, its client's rooms recover or report when it returns (Tombstone.
// InRooms). Nil if none is, or if the buffer cannot be read (the loss is
// then over-counted, never under-counted).
func (srv *Server) inRooms(ctx context.Context, id string, acked, out uint64) []byte {
	bits := make([]byte, (out-acked+7)/8)
	marked := false
	var msgs []Message
	for after := acked; after < out; {
		var err error
		msgs, err = srv.store.Read(ctx, id, after, maxBatch, msgs[:0])
		if err != nil || len(msgs) == 0 {
			return nil
		}
		for _, m := range msgs {
			if m.Seq > out {
				break
			}
			if m.Offset != 0 || m.Type == typeRoomEvent {
				i := m.Seq - acked - 1
				bits[i/8] |= 1 << (i % 8)
				marked = true
			}
			after = m.Seq
		}
	}
	if !marked {
		return nil
	}
	return bits
}

// countInRooms counts the messages after recv a tombstone marks InRooms.
func countInRooms(t *Tombstone, recv uint64) int64 {
	n := int64(0)
	for seq := max(recv, t.Acked) + 1; seq <= t.Out; seq++ {
		i := seq - t.Acked - 1
		if i/8 < uint64(len(t.InRooms)) && t.InRooms[i/8]&(1<<(i%8)) != 0 {
			n++
		}
	}
	return n
}

// rejoinState is a new session's room positions: those its client
// presented, until OnOpen and Readmit have used them.
type rejoinState struct {
	pos      map[string]RoomPosition // the store's room names
	msgs     int                     // replay budget left, messages
	bytes    int                     // and payload bytes
	announce bool                    // a rejoin is announced to presence (the old session's end was)
	reports  []RoomRecovery
}

// newRejoin makes the rejoin state of a session whose Hello presented
// positions, or returns nil.
func (srv *Server) newRejoin(user string, h *wire.Hello, prev *Loss) *rejoinState {
	if h.Features&wire.FeatureRooms == 0 || len(h.Rooms) == 0 {
		return nil
	}
	rj := &rejoinState{
		pos:   make(map[string]RoomPosition, len(h.Rooms)),
		msgs:  srv.o.MaxReplayMessages / 2,
		bytes: srv.o.MaxReplayBytes / 2,
		// A server that restarted announced no leave, so it announces
		// no join either: no storm of both when everyone returns.
		announce: prev == nil || (prev.Reason != ReasonRestarted && prev.Reason != ReasonShutdown),
	}
	for _, p := range h.Rooms {
		room := p.Room
		switch {
		case room == "" && srv.o.UserStreams && user != "":
			room = userStream(user)
		case !validRoom(room):
			continue
		}
		rj.pos[room] = RoomPosition{Epoch: p.Epoch, Offset: p.Offset}
	}
	return rj
}

// takePosition removes and returns the client's position in room, with
// the rejoin state; nil if it presented none.
func (s *Session) takePosition(room string) (*rejoinState, *RoomPosition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rj := s.rejoin
	if rj == nil {
		return nil, nil
	}
	p, ok := rj.pos[room]
	if !ok {
		return rj, nil
	}
	delete(rj.pos, room)
	return rj, &p
}

func (rj *rejoinState) report(r RoomRecovery) {
	rj.reports = append(rj.reports, r)
}

// openRooms runs the room part of a new session's open, on its hook
// goroutine: it joins the user's stream, runs OnOpen (whose Joins
// recover rooms), then readmits or leaves the other rooms the client
// presented, and reports each recovery.
func (s *Session) openRooms(ctx context.Context, onOpen func()) {
	srv := s.srv
	if srv.o.UserStreams && s.user != "" {
		jctx, cancel := srv.storeCtx()
		err := srv.join(jctx, s.id, userStream(s.user))
		cancel()
		if err != nil {
			srv.log.Warn("tether: cannot join the user's stream", "session", s.id, "user", s.user, "err", err)
		}
	}
	onOpen()
	s.mu.Lock()
	rj := s.rejoin
	var left []string
	if rj != nil {
		for room := range rj.pos {
			left = append(left, room)
		}
	}
	s.mu.Unlock()
	for _, room := range left {
		if srv.o.Readmit != nil && !isUserStream(room) && srv.o.Readmit(ctx, s, room) {
			jctx, cancel := srv.storeCtx()
			err := s.Join(jctx, room)
			cancel()
			if err != nil {
				srv.log.Warn("tether: cannot readmit to a room", "session", s.id, "user", s.user, "room", room, "err", err)
			} else {
				continue
			}
		}
		s.takePosition(room)
		rctx, cancel := srv.storeCtx()
		ev := roomEvent(&wire.RoomEvent{Kind: wire.RoomLeft, Room: wireRoom(room), Reason: wire.RoomReasonNotReadmitted})
		if seq, err := srv.store.Append(rctx, s.id, *ev); err == nil {
			s.woke(seq)
		}
		cancel()
		rj.report(RoomRecovery{Room: wireRoom(room)})
	}
	s.mu.Lock()
	s.rejoin = nil
	s.mu.Unlock()
	if rj == nil {
		return
	}
	for _, r := range rj.reports {
		srv.log.Info("tether: room recovery", "session", s.id, "user", s.user, "room", r.Room, "readmitted", r.Readmitted,
			"recovered", r.Recovered, "skipped", r.Skipped, "lost", r.Lost, "reason", r.Reason.String())
		if srv.o.OnRoomRecovery != nil {
			srv.o.OnRoomRecovery(ctx, s, r)
		}
	}
}

// RoomOptions are the options of the rooms whose names match Pattern.
type RoomOptions struct {
	// Pattern is a path.Match pattern for room names ("chat.*").
	Pattern string
	// History bounds the history of these rooms; zero fields mean those
	// of Options.RoomHistory.
	History HistoryLimits
	// Presence sends members a RoomEvent when a user enters or leaves
	// the room (the first of its sessions to join, the last to leave),
	// and runs Options.OnPresence. A resume is not a leave and a join,
	// nor is a restart's return to a room.
	Presence bool
}

// roomOptions resolves the options of a room.
func (srv *Server) roomOptions(room string) RoomOptions {
	ro := RoomOptions{History: srv.o.RoomHistory}
	if isUserStream(room) {
		return ro
	}
	for _, r := range srv.o.Rooms {
		if ok, _ := path.Match(r.Pattern, room); ok {
			ro.Presence = r.Presence
			ro.History = r.History.or(srv.o.RoomHistory)
			break
		}
	}
	return ro
}

// or fills l's zero fields from d.
func (l HistoryLimits) or(d HistoryLimits) HistoryLimits {
	if l.MaxMessages == 0 {
		l.MaxMessages = d.MaxMessages
	}
	if l.MaxBytes == 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxAge == 0 {
		l.MaxAge = d.MaxAge
	}
	return l
}
