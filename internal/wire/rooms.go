package wire

import (
	"encoding/binary"
	"fmt"
)

// RoomEventKind says what a RoomEvent reports.
type RoomEventKind byte

// Room event kinds.
const (
	// RoomJoined: the session is now in Room at position (Epoch, Offset):
	// the room's next message has an offset above Offset. It resets the
	// client's position for the room. After a lost session it reports the
	// recovery: Recovered messages of the room follow, Lost are gone
	// (Reason), Skipped are still in history but were not replayed.
	RoomJoined RoomEventKind = 1
	// RoomLeft: the session is no longer in Room; the client forgets its
	// position there.
	RoomLeft RoomEventKind = 2
	// RoomPresenceJoin and RoomPresenceLeave: User (with Session) entered
	// or left Room. Sent only for rooms with presence events on.
	RoomPresenceJoin  RoomEventKind = 3
	RoomPresenceLeave RoomEventKind = 4
)

func (k RoomEventKind) String() string {
	switch k {
	case RoomJoined:
		return "joined"
	case RoomLeft:
		return "left"
	case RoomPresenceJoin:
		return "presence-join"
	case RoomPresenceLeave:
		return "presence-leave"
	}
	return fmt.Sprintf("room-event(%d)", byte(k))
}

// RoomReason says why room messages were not recovered, or why a session
// left a room.
type RoomReason byte

// Room reasons.
const (
	RoomReasonNone RoomReason = 0
	// RoomReasonTrimmed: the room's history no longer holds them (count,
	// bytes or age bound); Lost is exact.
	RoomReasonTrimmed RoomReason = 1
	// RoomReasonEpochChanged: the room's history was lost (a memory-store
	// restart, a Redis that lost data) and its offsets started again; how
	// many messages were lost is unknown (RoomLostUnknown).
	RoomReasonEpochChanged RoomReason = 2
	// RoomReasonDiverged: the client's position is ahead of the room's
	// stream (the store lost its last messages); the count is unknown.
	RoomReasonDiverged RoomReason = 3
	// RoomReasonNotReadmitted: RoomLeft after a session was lost: the
	// application did not admit the client to the room again.
	RoomReasonNotReadmitted RoomReason = 4
)

func (r RoomReason) String() string {
	switch r {
	case RoomReasonNone:
		return "none"
	case RoomReasonTrimmed:
		return "history-trimmed"
	case RoomReasonEpochChanged:
		return "epoch-changed"
	case RoomReasonDiverged:
		return "diverged"
	case RoomReasonNotReadmitted:
		return "not-readmitted"
	}
	return fmt.Sprintf("room-reason(%d)", byte(r))
}

// RoomEvent flags.
const RoomLostUnknown = 1 << 0 // RoomJoined: how many messages were lost is unknown; Lost is 0

// RoomEvent is a change in the session's rooms, numbered in the session's
// stream like a message. Fields a kind does not use are zero.
type RoomEvent struct {
	Kind      RoomEventKind
	Room      string
	Epoch     string // joined: the room's epoch
	Offset    uint64 // joined: the position the session starts after
	Reason    RoomReason
	Flags     byte
	Lost      uint64 // joined: messages after the client's position that are gone
	Skipped   uint64 // joined: messages after the client's position still in history, not replayed
	Recovered uint64 // joined: messages of the room after Offset that follow as recovery
	User      string // presence: who
	Session   string // presence: which session
}

// History asks for a room's kept messages after Since, at most Limit.
type History struct {
	ID    uint64 // chosen by the client; echoed in the answer
	Room  string
	Since uint64
	Limit uint64
}

// History answer statuses.
const (
	HistoryOK          byte = 0
	HistoryForbidden   byte = 1 // the session may not read this room (not a member)
	HistoryUnavailable byte = 2 // the server could not read it now; ask again later
)

// HistoryResult answers History: the room's stream and the messages.
type HistoryResult struct {
	ID       uint64
	Status   byte
	Epoch    string           // the room's epoch; "" if the room has no stream
	First    uint64           // offset of the oldest kept message (Last+1 when none is kept)
	Last     uint64           // offset of the room's last message
	Messages []HistoryMessage // in offset order, all after Since
}

// HistoryMessage is one message of a HistoryResult. Payload aliases the
// decoded buffer.
type HistoryMessage struct {
	Offset  uint64
	Text    bool
	Payload []byte
}

// AppendRoomMessageHeader appends the header of a room message; the
// payload follows it to the end of the WebSocket message.
func AppendRoomMessageHeader(b []byte, text bool, seq uint64, room string, offset uint64) []byte {
	t := TypeRoomBinary
	if text {
		t = TypeRoomText
	}
	b = binary.AppendUvarint(append(b, byte(t)), seq)
	b = appendString(b, room)
	return binary.AppendUvarint(b, offset)
}

// RoomMessageHeaderLen is the length of AppendRoomMessageHeader's output.
func RoomMessageHeaderLen(seq uint64, room string, offset uint64) int {
	return 1 + uvarintLen(seq) + uvarintLen(uint64(len(room))) + len(room) + uvarintLen(offset)
}

// AppendRoomEvent appends a room event numbered seq.
func AppendRoomEvent(b []byte, seq uint64, e *RoomEvent) []byte {
	return AppendRoomEventBody(AppendSeqFrame(b, TypeRoomEvent, seq), e)
}

// AppendRoomEventBody appends the fields of a room event that follow its
// seq: a server keeps them in the session's stream and numbers them when
// it writes them.
func AppendRoomEventBody(b []byte, e *RoomEvent) []byte {
	b = append(b, byte(e.Kind))
	b = appendString(b, e.Room)
	b = appendString(b, e.Epoch)
	b = binary.AppendUvarint(b, e.Offset)
	b = append(b, byte(e.Reason), e.Flags)
	b = binary.AppendUvarint(b, e.Lost)
	b = binary.AppendUvarint(b, e.Skipped)
	b = binary.AppendUvarint(b, e.Recovered)
	b = appendString(b, e.User)
	b = appendString(b, e.Session)
	return b
}

// AppendHistory appends a history request.
func AppendHistory(b []byte, h *History) []byte {
	b = binary.AppendUvarint(append(b, byte(TypeHistory)), h.ID)
	b = appendString(b, h.Room)
	b = binary.AppendUvarint(b, h.Since)
	return binary.AppendUvarint(b, h.Limit)
}

// AppendHistoryResult appends a history answer.
func AppendHistoryResult(b []byte, r *HistoryResult) []byte {
	b = binary.AppendUvarint(append(b, byte(TypeHistoryResult)), r.ID)
	b = append(b, r.Status)
	b = appendString(b, r.Epoch)
	b = binary.AppendUvarint(b, r.First)
	b = binary.AppendUvarint(b, r.Last)
	b = binary.AppendUvarint(b, uint64(len(r.Messages)))
	for _, m := range r.Messages {
		b = binary.AppendUvarint(b, m.Offset)
		t := byte(0)
		if m.Text {
			t = 1
		}
		b = append(b, t)
		b = appendBytes(b, m.Payload)
	}
	return b
}

// positions decodes the room positions of a Hello.
func (d *decoder) positions() []RoomPosition {
	n := d.uvarint("room count")
	if d.err != nil || n == 0 {
		return nil
	}
	// Each position takes at least 3 bytes: check before allocating.
	if n > MaxRooms || n > uint64(len(d.b))/3 {
		d.err = malformed("%d room positions (at most %d)", n, MaxRooms)
		return nil
	}
	ps := make([]RoomPosition, n)
	for i := range ps {
		ps[i].Room = d.string("room", MaxRoomLen)
		ps[i].Epoch = d.string("room epoch", MaxIDLen)
		ps[i].Offset = d.uvarint("room offset")
	}
	if d.err != nil {
		return nil
	}
	return ps
}

func (d *decoder) roomEvent() *RoomEvent {
	e := new(RoomEvent)
	e.Kind = RoomEventKind(d.byte("kind"))
	e.Room = d.string("room", MaxRoomLen)
	e.Epoch = d.string("epoch", MaxIDLen)
	e.Offset = d.uvarint("offset")
	e.Reason = RoomReason(d.byte("reason"))
	e.Flags = d.byte("flags")
	e.Lost = d.uvarint("lost")
	e.Skipped = d.uvarint("skipped")
	e.Recovered = d.uvarint("recovered")
	e.User = d.string("user", MaxUserLen)
	e.Session = d.string("session", MaxIDLen)
	return e
}

func (d *decoder) history() *History {
	h := new(History)
	h.ID = d.uvarint("id")
	h.Room = d.string("room", MaxRoomLen)
	h.Since = d.uvarint("since")
	h.Limit = d.uvarint("limit")
	return h
}

func (d *decoder) historyResult() *HistoryResult {
	r := new(HistoryResult)
	r.ID = d.uvarint("id")
	r.Status = d.byte("status")
	r.Epoch = d.string("epoch", MaxIDLen)
	r.First = d.uvarint("first")
	r.Last = d.uvarint("last")
	n := d.uvarint("count")
	if d.err != nil || n == 0 {
		return r
	}
	// Each message takes at least 3 bytes: check before allocating.
	if n > MaxHistory || n > uint64(len(d.b))/3 {
		d.err = malformed("%d history messages (at most %d)", n, MaxHistory)
		return r
	}
	r.Messages = make([]HistoryMessage, n)
	for i := range r.Messages {
		m := &r.Messages[i]
		m.Offset = d.uvarint("offset")
		switch t := d.byte("message type"); {
		case d.err != nil:
		case t > 1:
			d.err = malformed("history message type %d", t)
		default:
			m.Text = t == 1
		}
		m.Payload = d.alias("payload")
	}
	return r
}

// alias reads a length-prefixed byte string without copying it.
func (d *decoder) alias(field string) []byte {
	n := d.uvarint(field + " length")
	if d.err != nil {
		return nil
	}
	if uint64(len(d.b)) < n {
		d.err = malformed("truncated %s", field)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
