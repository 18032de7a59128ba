package storetest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/tether-ws/tether"
)

// Room streams: Publish, History, and the members' cursors (JoinRoom,
// LeaveRoom, AppendRoom).

var roomTests = []struct {
	name string
	fn   func(h *harness)
}{
	{"RoomPublishOffsets", testRoomPublishOffsets},
	{"RoomNoStream", testRoomNoStream},
	{"RoomOpen", testRoomOpen},
	{"RoomHistoryAfter", testRoomHistoryAfter},
	{"RoomHistoryTrimCount", testRoomHistoryTrimCount},
	{"RoomHistoryTrimBytes", testRoomHistoryTrimBytes},
	{"RoomHistoryTrimAge", testRoomHistoryTrimAge},
	{"RoomHistoryNone", testRoomHistoryNone},
	{"RoomConcurrentPublish", testRoomConcurrentPublish},
	{"RoomJoinCursor", testRoomJoinCursor},
	{"RoomJoinLeaveEvents", testRoomJoinLeaveEvents},
	{"RoomJoinOverflow", testRoomJoinOverflow},
	{"RoomAppendErrors", testRoomAppendErrors},
	{"RoomAppendEpoch", testRoomAppendEpoch},
	{"RoomAppendOverflow", testRoomAppendOverflow},
	{"RoomCursorAtCreate", testRoomCursorAtCreate},
	{"RoomRejoinMovesCursor", testRoomRejoinMovesCursor},
	{"RoomEventTypeKept", testRoomEventTypeKept},
	{"RoomConcurrentDelivery", testRoomConcurrentDelivery},
}

func init() {
	tests = append(tests, roomTests...)
}

// unbounded keeps every message of a room.
var unbounded = tether.HistoryLimits{MaxMessages: 1 << 20, MaxBytes: 1 << 30}

// noOffset reads only a room's state.
const noOffset = math.MaxUint64

func (h *harness) publish(room string, m tether.Message, lim tether.HistoryLimits) tether.RoomPosition {
	h.t.Helper()
	pos, err := h.s.Publish(h.ctx, room, m, lim)
	if err != nil {
		h.t.Fatalf("Publish(%q): %v", room, err)
	}
	return pos
}

func (h *harness) history(room string, after uint64, max int) (tether.RoomState, []tether.Message) {
	h.t.Helper()
	st, msgs, err := h.s.History(h.ctx, room, after, max, nil)
	if err != nil {
		h.t.Fatalf("History(%q, after=%d, max=%d): %v", room, after, max, err)
	}
	for _, m := range msgs {
		if m.Room != room {
			h.t.Fatalf("History(%q) returned a message of room %q", room, m.Room)
		}
	}
	return st, msgs
}

// roomMsgs returns room messages with offsets first, first+1, ….
func roomMsgs(room string, first uint64, msgs ...tether.Message) []tether.Message {
	out := make([]tether.Message, len(msgs))
	for i, m := range msgs {
		m.Room, m.Offset = room, first+uint64(i)
		out[i] = m
	}
	return out
}

// checkOffsets compares messages' room, offset, type and payload (not
// their seqs).
func (h *harness) checkOffsets(op string, got, want []tether.Message) {
	h.t.Helper()
	if len(got) != len(want) {
		h.t.Fatalf("%s: got %d messages, want %d: %s", op, len(got), len(want), fmtRoomMsgs(got))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Room != w.Room || g.Offset != w.Offset || g.Type != w.Type || string(g.Data) != string(w.Data) {
			h.t.Fatalf("%s: message %d = {%q %d %v %q}, want {%q %d %v %q}", op, i,
				g.Room, g.Offset, g.Type, g.Data, w.Room, w.Offset, w.Type, w.Data)
		}
	}
}

func fmtRoomMsgs(msgs []tether.Message) string {
	s := "["
	for i, m := range msgs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("{seq %d %q@%d}", m.Seq, m.Room, m.Offset)
	}
	return s + "]"
}

func (h *harness) joinAt(id, room string, at tether.RoomPosition, ev *tether.Message) (uint64, bool) {
	h.t.Helper()
	seq, joined, err := h.s.JoinRoom(h.ctx, id, room, 0, at, ev)
	if err != nil {
		h.t.Fatalf("JoinRoom(%q, %q, %+v): %v", id, room, at, err)
	}
	return seq, joined
}

func (h *harness) appendRoom(id, room, epoch string, msgs ...tether.Message) uint64 {
	h.t.Helper()
	seq, err := h.s.AppendRoom(h.ctx, id, room, epoch, msgs...)
	if err != nil {
		h.t.Fatalf("AppendRoom(%q, %q, %d messages): %v", id, room, len(msgs), err)
	}
	return seq
}

// wantGap checks that err is a *RoomGapError with the given cursor.
func (h *harness) wantGap(op string, err error, cursor tether.RoomPosition) {
	h.t.Helper()
	var gap *tether.RoomGapError
	if !errors.As(err, &gap) || !errors.Is(err, tether.ErrRoomGap) {
		h.t.Fatalf("%s: got %v, want a *RoomGapError", op, err)
	}
	if gap.Cursor != cursor {
		h.t.Fatalf("%s: gap at cursor %+v, want %+v", op, gap.Cursor, cursor)
	}
}

func testRoomPublishOffsets(h *harness) {
	a1 := h.publish("a", msg(1), unbounded)
	a2 := h.publish("a", msg(2), unbounded)
	b1 := h.publish("b", msg(3), unbounded)
	a3 := h.publish("a", msg(4), unbounded)
	if a1.Epoch == "" || len(a1.Epoch) > 64 {
		h.t.Fatalf("epoch %q: want 1 to 64 bytes", a1.Epoch)
	}
	if a2.Epoch != a1.Epoch || a3.Epoch != a1.Epoch {
		h.t.Fatalf("epochs of one room changed between publishes: %q %q %q", a1.Epoch, a2.Epoch, a3.Epoch)
	}
	if a1.Offset != 1 || a2.Offset != 2 || a3.Offset != 3 || b1.Offset != 1 {
		h.t.Fatalf("offsets a: %d %d %d, b: %d; want 1 2 3 and 1", a1.Offset, a2.Offset, a3.Offset, b1.Offset)
	}
	st, msgs := h.history("a", 0, 10)
	if st != (tether.RoomState{Epoch: a1.Epoch, First: 1, Last: 3}) {
		h.t.Fatalf("History(a) state = %+v, want epoch %q first 1 last 3", st, a1.Epoch)
	}
	h.checkOffsets("History(a)", msgs, roomMsgs("a", 1, msg(1), msg(2), msg(4)))
	_, msgs = h.history("b", 0, 10)
	h.checkOffsets("History(b)", msgs, roomMsgs("b", 1, msg(3)))
}

func testRoomNoStream(h *harness) {
	st, msgs := h.history("never", 0, 10)
	if st != (tether.RoomState{}) || len(msgs) != 0 {
		h.t.Fatalf("History of a room never published to = %+v, %d messages; want the zero state", st, len(msgs))
	}
}

func testRoomOpen(h *harness) {
	st, err := h.s.OpenRoom(h.ctx, "r")
	if err != nil {
		h.t.Fatalf("OpenRoom: %v", err)
	}
	if st.Epoch == "" || len(st.Epoch) > 64 || st.First != 1 || st.Last != 0 {
		h.t.Fatalf("OpenRoom of a new room = %+v, want an epoch, first 1, last 0", st)
	}
	again, err := h.s.OpenRoom(h.ctx, "r")
	if err != nil || again != st {
		h.t.Fatalf("OpenRoom again = %+v, %v; want %+v", again, err, st)
	}
	if hs, _ := h.history("r", 0, 10); hs != st {
		h.t.Fatalf("History of an opened room = %+v, want %+v", hs, st)
	}
	pos := h.publish("r", msg(1), unbounded)
	if pos != (tether.RoomPosition{Epoch: st.Epoch, Offset: 1}) {
		h.t.Fatalf("first Publish to an opened room = %+v, want offset 1 of epoch %q", pos, st.Epoch)
	}
	if st, err := h.s.OpenRoom(h.ctx, "r"); err != nil || st.Epoch != pos.Epoch || st.Last != 1 || st.First != 1 {
		h.t.Fatalf("OpenRoom after a publish = %+v, %v", st, err)
	}
}

func testRoomHistoryAfter(h *harness) {
	for i := range 5 {
		h.publish("r", msg(i), unbounded)
	}
	_, msgs := h.history("r", 2, 10)
	h.checkOffsets("History(after 2)", msgs, roomMsgs("r", 3, msg(2), msg(3), msg(4)))
	_, msgs = h.history("r", 1, 2)
	h.checkOffsets("History(after 1, max 2)", msgs, roomMsgs("r", 2, msg(1), msg(2)))
	st, msgs := h.history("r", 5, 10)
	if len(msgs) != 0 || st.Last != 5 || st.First != 1 {
		h.t.Fatalf("History(after last) = %+v, %s", st, fmtRoomMsgs(msgs))
	}
	st, msgs = h.history("r", 0, 0)
	if len(msgs) != 0 || st.Last != 5 {
		h.t.Fatalf("History(max 0) = %+v, %s; want the state only", st, fmtRoomMsgs(msgs))
	}
	st, msgs = h.history("r", noOffset, 10)
	if len(msgs) != 0 || st.Last != 5 {
		h.t.Fatalf("History(after MaxUint64) = %+v, %s", st, fmtRoomMsgs(msgs))
	}
	dst := []tether.Message{{Data: []byte("keep")}}
	_, dst, err := h.s.History(h.ctx, "r", 3, 10, dst)
	if err != nil || len(dst) != 3 || string(dst[0].Data) != "keep" || dst[1].Offset != 4 {
		h.t.Fatalf("History appending to dst: %s, %v", fmtRoomMsgs(dst), err)
	}
}

func testRoomHistoryTrimCount(h *harness) {
	lim := tether.HistoryLimits{MaxMessages: 2}
	for i := range 5 {
		h.publish("r", msg(i), lim)
	}
	st, msgs := h.history("r", 0, 10)
	if st.First != 4 || st.Last != 5 {
		h.t.Fatalf("state after 5 publishes keeping 2 = %+v, want first 4 last 5", st)
	}
	h.checkOffsets("History across the trim", msgs, roomMsgs("r", 4, msg(3), msg(4)))
	_, msgs = h.history("r", 1, 10)
	h.checkOffsets("History(after 1) across the trim", msgs, roomMsgs("r", 4, msg(3), msg(4)))
}

func testRoomHistoryTrimBytes(h *harness) {
	lim := tether.HistoryLimits{MaxBytes: 250}
	for range 4 {
		h.publish("r", sized(100), lim)
	}
	st, msgs := h.history("r", 0, 10)
	if st.First != 3 || st.Last != 4 || len(msgs) != 2 {
		h.t.Fatalf("4×100 B keeping 250 B: state %+v, %d messages; want first 3 last 4", st, len(msgs))
	}
}

func testRoomHistoryTrimAge(h *harness) {
	lim := tether.HistoryLimits{MaxAge: 300 * time.Millisecond}
	h.publish("r", msg(1), lim)
	h.publish("r", msg(2), lim)
	time.Sleep(450 * time.Millisecond)
	st, msgs := h.history("r", 0, 10)
	if len(msgs) != 0 || st.First != 3 || st.Last != 2 {
		h.t.Fatalf("history older than its age bound: state %+v, %s; want nothing kept (first 3, last 2)", st, fmtRoomMsgs(msgs))
	}
	h.publish("r", msg(3), lim)
	st, msgs = h.history("r", 0, 10)
	if st.First != 3 || st.Last != 3 {
		h.t.Fatalf("after a new publish: %+v", st)
	}
	h.checkOffsets("History after aging", msgs, roomMsgs("r", 3, msg(3)))
}

func testRoomHistoryNone(h *harness) {
	lim := tether.HistoryLimits{MaxMessages: -1}
	p1 := h.publish("r", msg(1), lim)
	p2 := h.publish("r", msg(2), lim)
	if p1.Offset != 1 || p2.Offset != 2 {
		h.t.Fatalf("offsets without history: %d %d, want 1 2", p1.Offset, p2.Offset)
	}
	st, msgs := h.history("r", 0, 10)
	if len(msgs) != 0 || st.First != 3 || st.Last != 2 || st.Epoch != p1.Epoch {
		h.t.Fatalf("a room keeping no history: %+v, %s", st, fmtRoomMsgs(msgs))
	}
}

func testRoomConcurrentPublish(h *harness) {
	const workers, each = 8, 50
	var mu sync.Mutex
	seen := map[uint64]int{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				pos, err := h.s.Publish(h.ctx, "r", msg(w*each+i), unbounded)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seen[pos.Offset]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		h.t.Fatalf("concurrent Publish: %v", err)
	}
	for off := uint64(1); off <= workers*each; off++ {
		if seen[off] != 1 {
			h.t.Fatalf("offset %d given %d times by concurrent publishes, want once (offsets 1..%d)", off, seen[off], workers*each)
		}
	}
	st, msgs := h.history("r", 0, workers*each)
	if st.Last != workers*each || len(msgs) != workers*each {
		h.t.Fatalf("after %d concurrent publishes: %+v, %d kept", workers*each, st, len(msgs))
	}
	for i, m := range msgs {
		if m.Offset != uint64(i+1) {
			h.t.Fatalf("history not in offset order at %d: %d", i, m.Offset)
		}
	}
}

func testRoomJoinCursor(h *harness) {
	id := h.session("a")
	at := tether.RoomPosition{Epoch: "e1", Offset: 10}
	h.joinAt(id, "r", at, nil)
	ms := roomMsgs("r", 9, msg(9), msg(10), msg(11), msg(12), msg(13))
	// At or below the cursor: skipped.
	if seq := h.appendRoom(id, "r", "e1", ms[0], ms[1]); seq != 0 {
		h.t.Fatalf("AppendRoom of offsets at or below the cursor appended: last seq %d, want 0", seq)
	}
	h.appendWant(id, 0)
	// Not following the cursor: refused, nothing appended.
	_, err := h.s.AppendRoom(h.ctx, id, "r", "e1", ms[3])
	h.wantGap("AppendRoom of offset 12 after cursor 10", err, at)
	h.counters(id, 0, 0)
	// The next one, then a run that overlaps the cursor.
	if seq := h.appendRoom(id, "r", "e1", ms[2]); seq != 1 {
		h.t.Fatalf("AppendRoom(11) = seq %d, want 1", seq)
	}
	if seq := h.appendRoom(id, "r", "e1", ms[1], ms[2], ms[3], ms[4]); seq != 3 {
		h.t.Fatalf("AppendRoom(10..13) after 11 = seq %d, want 3 (10 and 11 skipped)", seq)
	}
	got := h.readAll(id, 0)
	h.checkOffsets("Read", got, ms[2:])
	for i, m := range got {
		if m.Seq != uint64(i+1) {
			h.t.Fatalf("room messages got seqs %s, want 1, 2, 3", fmtRoomMsgs(got))
		}
	}
	_, err = h.s.AppendRoom(h.ctx, id, "r", "e1", ms[2])
	if err != nil {
		h.t.Fatalf("AppendRoom of an offset already appended: %v, want a no-op", err)
	}
	h.counters(id, 3, 0)
}

func testRoomJoinLeaveEvents(h *harness) {
	id := h.session("a")
	h.append(id, msg(0))
	ev := &tether.Message{Type: tether.Binary, Data: []byte("joined"), Room: "r"}
	seq, joined := h.joinAt(id, "r", tether.RoomPosition{Epoch: "e", Offset: 0}, ev)
	if !joined || seq != 2 {
		h.t.Fatalf("JoinRoom with an event = seq %d, joined %v; want 2, true", seq, joined)
	}
	again := &tether.Message{Type: tether.Binary, Data: []byte("again")}
	if seq, joined := h.joinAt(id, "r", tether.RoomPosition{Epoch: "e", Offset: 5}, again); joined || seq != 2 {
		h.t.Fatalf("JoinRoom of a room joined already = seq %d, joined %v; want 2, false (no event)", seq, joined)
	}
	h.wantMembers("r", "a")
	// The first join's cursor holds: offset 1 follows 0.
	h.appendRoom(id, "r", "e", roomMsgs("r", 1, msg(1))...)
	left := &tether.Message{Type: tether.Text, Data: []byte("left")}
	seq, ok, err := h.s.LeaveRoom(h.ctx, id, "r", left)
	if err != nil || !ok || seq != 4 {
		h.t.Fatalf("LeaveRoom with an event = %d, %v, %v; want 4, true", seq, ok, err)
	}
	if seq, ok, err := h.s.LeaveRoom(h.ctx, id, "r", left); err != nil || ok || seq != 4 {
		h.t.Fatalf("LeaveRoom of a room left already = %d, %v, %v; want 4, false (no event)", seq, ok, err)
	}
	h.wantMembers("r")
	got := h.readAll(id, 1)
	if len(got) != 3 || string(got[0].Data) != "joined" || got[1].Offset != 1 || string(got[2].Data) != "left" || got[2].Type != tether.Text {
		h.t.Fatalf("the session's stream = %s, want the join event, offset 1, the leave event", fmtRoomMsgs(got))
	}
}

func testRoomJoinOverflow(h *harness) {
	id := h.bounded("a", 1, 0)
	h.append(id, msg(0))
	ev := &tether.Message{Type: tether.Binary, Data: []byte("joined")}
	_, _, err := h.s.JoinRoom(h.ctx, id, "r", 0, tether.RoomPosition{}, ev)
	h.wantErr("JoinRoom whose event overflows", err, tether.ErrOverflow)
	h.wantMembers("r")
	h.counters(id, 1, 0)
	if err := h.join(id, "r", 0); err != nil {
		h.t.Fatalf("JoinRoom without an event: %v", err)
	}
	_, _, err = h.s.LeaveRoom(h.ctx, id, "r", ev)
	h.wantErr("LeaveRoom whose event overflows", err, tether.ErrOverflow)
	h.wantMembers("r", "a")
}

func testRoomAppendErrors(h *harness) {
	m := roomMsgs("r", 1, msg(1))
	_, err := h.s.AppendRoom(h.ctx, "nope", "r", "e", m...)
	h.wantErr("AppendRoom to an unknown session", err, tether.ErrNotFound)
	id := h.session("a")
	_, err = h.s.AppendRoom(h.ctx, id, "r", "e", m...)
	h.wantErr("AppendRoom to a session not in the room", err, tether.ErrNotMember)
	h.joinAt(id, "r", tether.RoomPosition{Epoch: "e"}, nil)
	if err := h.leave(id, "r"); err != nil {
		h.t.Fatal(err)
	}
	_, err = h.s.AppendRoom(h.ctx, id, "r", "e", m...)
	h.wantErr("AppendRoom to a session that left the room", err, tether.ErrNotMember)
	h.counters(id, 0, 0)
}

func testRoomAppendEpoch(h *harness) {
	id := h.session("a")
	h.joinAt(id, "r", tether.RoomPosition{Epoch: "e1", Offset: 3}, nil)
	_, err := h.s.AppendRoom(h.ctx, id, "r", "e2", roomMsgs("r", 4, msg(4))...)
	h.wantGap("AppendRoom of another epoch", err, tether.RoomPosition{Epoch: "e1", Offset: 3})
	h.counters(id, 0, 0)

	// A cursor placed before the room had a stream takes the first epoch
	// it is given, from offset 1.
	h.joinAt(id, "s", tether.RoomPosition{}, nil)
	_, err = h.s.AppendRoom(h.ctx, id, "s", "e9", roomMsgs("s", 2, msg(2))...)
	h.wantGap("AppendRoom of offset 2 to a cursor with no epoch", err, tether.RoomPosition{})
	h.appendRoom(id, "s", "e9", roomMsgs("s", 1, msg(1), msg(2))...)
	_, err = h.s.AppendRoom(h.ctx, id, "s", "e10", roomMsgs("s", 3, msg(3))...)
	h.wantGap("AppendRoom of another epoch once one was taken", err, tether.RoomPosition{Epoch: "e9", Offset: 2})
}

func testRoomAppendOverflow(h *harness) {
	id := h.bounded("a", 2, 0)
	h.joinAt(id, "r", tether.RoomPosition{Epoch: "e"}, nil)
	ms := roomMsgs("r", 1, msg(1), msg(2), msg(3))
	_, err := h.s.AppendRoom(h.ctx, id, "r", "e", ms...)
	h.wantErr("AppendRoom beyond the replay bound", err, tether.ErrOverflow)
	h.counters(id, 0, 0)
	h.appendRoom(id, "r", "e", ms[:2]...)
	h.ack(id, 2)
	// The cursor moved with the messages that fit, not with the refused.
	h.appendRoom(id, "r", "e", ms[2])
	h.checkOffsets("Read", h.readAll(id, 2), ms[2:])
}

func testRoomCursorAtCreate(h *harness) {
	rec := plain("a", "u")
	rec.Rooms = []string{"r"}
	h.create(rec)
	// No cursor yet: the first room message starts it, wherever it is.
	h.appendRoom("a", "r", "e", roomMsgs("r", 7, msg(7))...)
	_, err := h.s.AppendRoom(h.ctx, "a", "r", "e", roomMsgs("r", 9, msg(9))...)
	h.wantGap("AppendRoom of 9 after 7", err, tether.RoomPosition{Epoch: "e", Offset: 7})
}

func testRoomRejoinMovesCursor(h *harness) {
	id := h.session("a")
	h.joinAt(id, "r", tether.RoomPosition{Epoch: "e", Offset: 2}, nil)
	h.appendRoom(id, "r", "e", roomMsgs("r", 3, msg(3))...)
	if err := h.leave(id, "r"); err != nil {
		h.t.Fatal(err)
	}
	h.joinAt(id, "r", tether.RoomPosition{Epoch: "e", Offset: 8}, nil)
	if seq := h.appendRoom(id, "r", "e", roomMsgs("r", 4, msg(4), msg(5))...); seq != 1 {
		h.t.Fatalf("after rejoining at 8, offsets 4 and 5 were appended (seq %d)", seq)
	}
	h.appendRoom(id, "r", "e", roomMsgs("r", 9, msg(9))...)
	h.checkOffsets("Read", h.readAll(id, 1), roomMsgs("r", 9, msg(9)))
}

// testRoomEventTypeKept: a server keeps room events in a session's
// stream as messages of its own type; a store keeps any type byte.
func testRoomEventTypeKept(h *harness) {
	id := h.session("a")
	ev := tether.Message{Type: tether.MessageType(0x80), Data: []byte{1, 2, 3}, Room: "r"}
	h.append(id, ev, msg(1))
	got := h.readAll(id, 0)
	if len(got) != 2 || got[0].Type != 0x80 || string(got[0].Data) != "\x01\x02\x03" || got[0].Room != "r" {
		h.t.Fatalf("a room event read back as %+v", got)
	}
}

// testRoomConcurrentDelivery publishes from several goroutines, standing
// for servers, each appending its messages to every member as a server
// does: on a gap, it reads the missing ones from history first. Every
// member must end with the room's messages once each, in offset order.
func testRoomConcurrentDelivery(h *harness) {
	const members, publishers, each = 4, 4, 30
	ids := make([]string, members)
	for i := range ids {
		ids[i] = h.session(fmt.Sprintf("m%d", i))
		h.joinAt(ids[i], "r", tether.RoomPosition{}, nil)
	}
	deliver := func(id, epoch string, m tether.Message) error {
		msgs := []tether.Message{m}
		for range 100 {
			_, err := h.s.AppendRoom(h.ctx, id, "r", epoch, msgs...)
			var gap *tether.RoomGapError
			if !errors.As(err, &gap) {
				return err
			}
			_, hist, err := h.s.History(h.ctx, "r", gap.Cursor.Offset, int(m.Offset-gap.Cursor.Offset-1), nil)
			if err != nil {
				return err
			}
			msgs = append(hist, m)
		}
		return fmt.Errorf("member %s: gaps never filled", id)
	}
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m := msg(p*each + i)
				pos, err := h.s.Publish(h.ctx, "r", m, unbounded)
				if err != nil {
					errs <- err
					return
				}
				m.Room, m.Offset = "r", pos.Offset
				for _, id := range ids {
					if err := deliver(id, pos.Epoch, m); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		h.t.Fatalf("concurrent delivery: %v", err)
	}
	_, want := h.history("r", 0, publishers*each)
	for _, id := range ids {
		got := h.readAll(id, 0)
		h.checkOffsets("member "+id, got, want)
	}
	if !slices.Equal(h.members("r"), ids) {
		h.t.Fatalf("members = %v", h.members("r"))
	}
}
