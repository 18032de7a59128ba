package tether

import (
	"context"
	"errors"
	"fmt"

	"github.com/tether-ws/tether/internal/wire"
)

// Publication is where Broadcast put a message: its place in the room's
// stream, and how many sessions it was queued for.
type Publication struct {
	Epoch   string // the room stream's epoch
	Offset  uint64 // the message's offset in the stream
	Members int    // sessions it was queued for, on every server
}

// Broadcast publishes a message to a room: it gets the room's next
// offset, is kept in the room's history (Options.RoomHistory), and is
// queued for every session in the room, connected or not, on any server,
// exactly as Send does for one: each member gets it once, in the room's
// order, and replays it after a resume. A member that lost its session
// gets it back from the history when it returns (Options.Readmit). The
// payload is copied once and shared. A room without members keeps the
// message for those who come back. Members whose replay buffer
// overflows end with CauseOverflow, as with Send.
func (srv *Server) Broadcast(ctx context.Context, room string, typ MessageType, p []byte) (Publication, error) {
	if !validRoom(room) {
		return Publication{}, ErrRoomName
	}
	if err := srv.checkPayload(typ, p); err != nil {
		return Publication{}, err
	}
	return srv.publish(ctx, room, typ, append([]byte(nil), p...))
}

// publish appends p, which must never change, to a room's stream and
// queues it for the room's members.
func (srv *Server) publish(ctx context.Context, room string, typ MessageType, p []byte) (Publication, error) {
	ro := srv.roomOptions(room)
	m := Message{Type: typ, Data: p}
	var pos RoomPosition
	var ids []string
	var err error
	if mp, ok := srv.store.(memberPublisher); ok {
		pos, ids, err = mp.PublishMembers(ctx, room, m, ro.History)
	} else {
		pos, err = srv.store.Publish(ctx, room, m, ro.History)
	}
	if err != nil {
		return Publication{}, fmt.Errorf("failed to publish to %q: %w", displayRoom(room), err)
	}
	pub := Publication{Epoch: pos.Epoch, Offset: pos.Offset}
	if ids == nil {
		if ids, err = srv.store.RoomMembers(ctx, room); err != nil {
			// Published: members get it with the room's next message (the
			// gap is filled from history) or when they come back.
			return pub, fmt.Errorf("failed to list room %q: %w", displayRoom(room), err)
		}
	}
	d := newDelivery(Message{Type: typ, Data: p, Room: room, Offset: pos.Offset}, pos.Epoch)
	pub.Members, err = srv.fanOut(ctx, ids, d)
	return pub, err
}

// appendEacher is a store that appends to many sessions in one round
// trip (redisstore does), which a broadcast on a shared store needs: a
// round trip per member would not scale. Each result is what Append, or
// AppendRoom, would have returned for that session.
type appendEacher interface {
	AppendEach(ctx context.Context, ids []string, m Message) ([]uint64, []error)
	AppendRoomEach(ctx context.Context, ids []string, room, epoch string, m Message) ([]uint64, []error)
}

// memberPublisher is a store that publishes to a room and lists its
// members in one round trip (redisstore does: a broadcast then costs one
// round trip less). The list may name sessions that are gone; appending
// to them reports it.
type memberPublisher interface {
	PublishMembers(ctx context.Context, room string, m Message, lim HistoryLimits) (RoomPosition, []string, error)
}

// fanOut queues d for every session in ids and returns for how many.
func (srv *Server) fanOut(ctx context.Context, ids []string, d *delivery) (int, error) {
	if ae, ok := srv.store.(appendEacher); ok && srv.cluster != nil && len(ids) > 1 {
		return srv.fanOutBatch(ctx, ae, ids, d)
	}
	n := 0
	var firstErr error
	for _, id := range ids {
		switch err := srv.deliver(ctx, id, d); {
		case err == nil:
			n++
		case skippable(err):
			// That member is gone or going; it was told, or will be.
		case firstErr == nil:
			firstErr = err
		}
	}
	return n, firstErr
}

// skippable reports whether a member's delivery error leaves the others
// unaffected: the member is gone, ends with the loss reported, or left
// the room meanwhile.
func skippable(err error) bool {
	return errors.Is(err, ErrSessionClosed) || errors.Is(err, ErrOverflow) ||
		errors.Is(err, ErrServerClosed) || errors.Is(err, ErrNotMember)
}

// deliver queues d for a session held by any server.
func (srv *Server) deliver(ctx context.Context, id string, d *delivery) error {
	if s := srv.Session(id); s != nil {
		return s.queue(ctx, d)
	}
	return srv.deliverRemote(ctx, id, d)
}

// deliverRemote queues d for a session held by another server, or by
// none (its client is away): the store keeps it and tells the owner.
func (srv *Server) deliverRemote(ctx context.Context, id string, d *delivery) error {
	_, _, err := srv.appendTo(ctx, id, d)
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrSessionClosed
	case errors.Is(err, ErrOverflow), errors.Is(err, errRoomLost):
		srv.remoteOverflow(ctx, id)
		return fmt.Errorf("failed to send: %w", ErrOverflow)
	case errors.Is(err, ErrNotMember):
		return err
	case err != nil:
		return fmt.Errorf("failed to send: %w", err)
	}
	return nil
}

// appendTo appends d to a session's replay buffer in the store. live
// reports that d's last message was appended, numbered seq: the writer
// may frame it from d instead of reading it back.
func (srv *Server) appendTo(ctx context.Context, id string, d *delivery) (seq uint64, live bool, err error) {
	if d.msgs[0].Offset == 0 {
		seq, err = srv.store.Append(ctx, id, d.msgs...)
		return seq, err == nil, err
	}
	seq, n, err := srv.appendRoom(ctx, id, d.msgs[0].Room, d.epoch, d.msgs...)
	return seq, n > 0, err
}

// countingAppender is a store whose AppendRoom also says how many of the
// messages it appended (MemoryStore): those skipped are a prefix, so when
// any was, the last has the seq returned.
type countingAppender interface {
	appendRoomN(ctx context.Context, id, room, epoch string, msgs ...Message) (uint64, int, error)
}

// errRoomLost: a member's room messages cannot be appended in order, as
// the room's history no longer holds those it is missing, or the stream's
// epoch changed. The session ends (CauseOverflow); the client's next
// session reports exactly what the room lost.
var errRoomLost = errors.New("tether: room messages missing from history")

// maxGapFills bounds how often appendRoom fills a gap before giving up:
// each fill catches up with a cursor other publishers keep moving.
const maxGapFills = 8

// appendRoom appends a room's messages to a session in offset order:
// when the session misses earlier ones (a concurrent publish has not
// reached it yet, or it joined from a position), it takes them from the
// room's history first. n is how many it appended, 0 when the store does
// not say (countingAppender).
func (srv *Server) appendRoom(ctx context.Context, id, room, epoch string, msgs ...Message) (seq uint64, n int, err error) {
	ca, counting := srv.store.(countingAppender)
	for range maxGapFills {
		if counting {
			seq, n, err = ca.appendRoomN(ctx, id, room, epoch, msgs...)
		} else {
			seq, err = srv.store.AppendRoom(ctx, id, room, epoch, msgs...)
		}
		var gap *RoomGapError
		if !errors.As(err, &gap) {
			return seq, n, err
		}
		if msgs, err = srv.fillGap(ctx, room, epoch, gap.Cursor, msgs); err != nil {
			return 0, 0, err
		}
	}
	return 0, 0, fmt.Errorf("tether: cannot append to room %q: its members' cursors keep moving", displayRoom(room))
}

// fillGap returns msgs preceded by the room messages after cur that they
// lack, read from the room's history.
func (srv *Server) fillGap(ctx context.Context, room, epoch string, cur RoomPosition, msgs []Message) ([]Message, error) {
	if cur.Epoch != "" && cur.Epoch != epoch {
		return nil, errRoomLost
	}
	i := 0
	for i < len(msgs) && msgs[i].Offset <= cur.Offset {
		i++
	}
	msgs = msgs[i:]
	if len(msgs) == 0 {
		return msgs, nil
	}
	missing := int(msgs[0].Offset - cur.Offset - 1)
	if missing <= 0 {
		return msgs, nil
	}
	st, hist, err := srv.store.History(ctx, room, cur.Offset, missing, make([]Message, 0, missing+len(msgs)))
	if err != nil {
		return nil, fmt.Errorf("failed to read the history of %q: %w", displayRoom(room), err)
	}
	if st.Epoch != epoch || len(hist) != missing || hist[0].Offset != cur.Offset+1 {
		return nil, errRoomLost
	}
	return append(hist, msgs...), nil
}

// fanOutBatch appends to every member at once, then wakes the writers of
// the members held here (the store wakes the other servers).
func (srv *Server) fanOutBatch(ctx context.Context, ae appendEacher, ids []string, d *delivery) (int, error) {
	const chunk = 512
	n := 0
	var firstErr error
	for len(ids) > 0 {
		part := ids[:min(chunk, len(ids))]
		ids = ids[len(part):]
		var seqs []uint64
		var errs []error
		if m := d.msgs[0]; m.Offset == 0 {
			seqs, errs = ae.AppendEach(ctx, part, m)
		} else {
			seqs, errs = ae.AppendRoomEach(ctx, part, m.Room, d.epoch, m)
		}
		for i, id := range part {
			err := errs[i]
			if errors.Is(err, ErrRoomGap) {
				// Behind in the room: one at a time, filling the gap.
				err = srv.deliver(ctx, id, d)
				if err == nil {
					n++
				} else if !skippable(err) && firstErr == nil {
					firstErr = err
				}
				continue
			}
			switch {
			case err == nil:
				n++
				if s := srv.Session(id); s != nil {
					s.woke(seqs[i])
				}
			case errors.Is(err, ErrNotFound), errors.Is(err, ErrNotMember):
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
