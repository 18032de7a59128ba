// Package wire is Tether's wire format: the frames that travel inside
// WebSocket binary messages, and the close codes. docs/PROTOCOL.md is the
// normative description; this package and the golden frames in
// testdata/golden-frames.json must agree with it.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Subprotocol is the only WebSocket subprotocol this version speaks.
const Subprotocol = "tether.v1"

// Type is the first byte of every frame.
type Type byte

// Frame types.
const (
	TypeHello   Type = 0x01 // client → server, first frame on a connection
	TypeWelcome Type = 0x02 // server → client, answer to Hello
	TypeBinary  Type = 0x03 // both ways: application message, binary payload
	TypeText    Type = 0x04 // both ways: application message, UTF-8 payload
	TypeAck     Type = 0x05 // both ways: cumulative acknowledgement
	TypePing    Type = 0x06 // server → client heartbeat (carries an ack)
	TypePong    Type = 0x07 // client → server heartbeat reply (carries an ack)
	TypeGoAway  Type = 0x08 // both ways: draining before a server restart

	// Room streams (FeatureRooms, negotiated in Hello and Welcome).
	TypeRoomBinary    Type = 0x09 // server → client: a room's message, binary payload
	TypeRoomText      Type = 0x0a // server → client: a room's message, UTF-8 payload
	TypeRoomEvent     Type = 0x0b // server → client: joined, left, presence (sequenced like messages)
	TypeHistory       Type = 0x0c // client → server: read a room's history
	TypeHistoryResult Type = 0x0d // server → client: answer to History
)

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeWelcome:
		return "welcome"
	case TypeBinary:
		return "binary"
	case TypeText:
		return "text"
	case TypeAck:
		return "ack"
	case TypePing:
		return "ping"
	case TypePong:
		return "pong"
	case TypeGoAway:
		return "goaway"
	case TypeRoomBinary:
		return "room-binary"
	case TypeRoomText:
		return "room-text"
	case TypeRoomEvent:
		return "room-event"
	case TypeHistory:
		return "history"
	case TypeHistoryResult:
		return "history-result"
	}
	return fmt.Sprintf("type(0x%02x)", byte(t))
}

// Limits on variable-length fields, so a decoder never allocates more than
// a few hundred bytes for a control frame.
const (
	MaxIDLen    = 64
	MaxTokenLen = 64
	MaxRoomLen  = 128  // room names; "" is the user's own stream
	MaxRooms    = 1024 // room positions in a Hello
	MaxHistory  = 1000 // messages in one History answer
	MaxUserLen  = 256  // user IDs in presence events
)

// Features a client (Hello) or server (Welcome) speaks beyond the base
// protocol. A server uses a feature only if both sides name it.
const (
	// FeatureRooms: room messages carry their room and offset (RoomBinary,
	// RoomText), membership changes are RoomEvents in the session's
	// stream, the client may present room positions in a Hello that
	// starts a new session, and may ask for History.
	FeatureRooms uint64 = 1 << 0
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed frame")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Hello opens every connection. An empty SessionID asks for a new session;
// otherwise the client asks to resume that session.
type Hello struct {
	SessionID string
	Token     []byte // resume token from the last Welcome
	Epoch     string // store epoch from the last Welcome
	Recv      uint64 // highest server→client seq the client has received
	Acked     uint64 // highest client→server seq the server acknowledged
	Written   uint64 // highest client→server seq ever written to a connection
	Last      uint64 // highest client→server seq the client has assigned
	Window    uint64 // most unacknowledged messages the client will send; the server enforces it
	// Attempt stamps this connection attempt: it grows with every attempt
	// of the client (the client sends max(previous+1, Unix milliseconds)),
	// so a server can refuse an older attempt that arrives late and would
	// take the session from a newer one. 0: not given (an old client).
	Attempt uint64
	// Features the client speaks (FeatureRooms). 0: none (an old client).
	Features uint64
	// Rooms are the client's positions in the rooms it was in, presented
	// when the Hello may start a new session, so that the server can
	// re-admit it and deliver what it missed.
	Rooms []RoomPosition
}

// RoomPosition is where a client is in a room's stream: it has every
// message of the room up to Offset under Epoch.
type RoomPosition struct {
	Room   string
	Epoch  string
	Offset uint64
}

// Welcome flags.
const (
	WelcomeResumed   = 1 << 0 // the session in Hello was resumed
	WelcomePrevKnown = 1 << 1 // PrevIn and PrevOut describe the session that could not be resumed
)

// Welcome answers Hello.
type Welcome struct {
	Flags     byte
	SessionID string
	Token     []byte
	Epoch     string
	Recv      uint64 // resumed: highest client→server seq the server has; the client resends what follows
	Replay    uint64 // resumed: how many server→client messages follow as replay
	Reason    LossReason
	PrevIn    uint64 // not resumed, PrevKnown: last client→server seq the old session processed
	PrevOut   uint64 // not resumed, PrevKnown: last server→client seq the old session assigned
	Heartbeat uint64 // ms between server pings
	Timeout   uint64 // ms of silence, beyond Heartbeat, after which a side declares the link dead
	MaxSize   uint64 // largest application payload either side may send, bytes
	Window    uint64 // most unacknowledged messages the server keeps (MaxReplayMessages); ack well before it
	Grace     uint64 // ms a disconnected session is kept for resume
	Features  uint64 // features the server will use on this session: those of the Hello it speaks too
	// PrevRooms: not resumed, PrevKnown: how many of the server→client
	// messages after Hello.Recv, up to PrevOut, the client's rooms recover
	// or report (FeatureRooms); the session alone lost the others.
	PrevRooms uint64
}

// Resumed reports whether the Welcome resumed the requested session.
func (w *Welcome) Resumed() bool { return w.Flags&WelcomeResumed != 0 }

// PrevKnown reports whether PrevIn and PrevOut are meaningful.
func (w *Welcome) PrevKnown() bool { return w.Flags&WelcomePrevKnown != 0 }

// GoAway flags.
const GoAwayFinal = 1 << 0 // the last frame before close 4001: LastSeq is final

// GoAway tells the client the server is going away (server→client), or
// confirms the client stopped sending (client→server).
type GoAway struct {
	RetryAfter uint64 // server→client: ms to wait before reconnecting (jittered by the server)
	Flags      byte
	LastSeq    uint64 // server→client: last seq assigned; client→server: the client's cumulative ack
}

// LossReason says why a session could not be resumed.
type LossReason byte

// Loss reasons.
const (
	ReasonNone        LossReason = 0 // no resume was asked for
	ReasonExpired     LossReason = 1 // the grace window passed
	ReasonOverflow    LossReason = 2 // the replay buffer overflowed
	ReasonUnknown     LossReason = 3 // no such session, and no record of it
	ReasonRestarted   LossReason = 4 // the store lost its state (epoch changed): a server restart on the memory store
	ReasonShutdown    LossReason = 5 // the session was closed by a server shutdown
	ReasonServerError LossReason = 6 // the session was closed by a fault in the application
	ReasonClosed      LossReason = 7 // the session was closed for another reason
	ReasonDiverged    LossReason = 8 // the client's and the server's counters disagree: one side lost state
)

func (r LossReason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonExpired:
		return "expired"
	case ReasonOverflow:
		return "overflow"
	case ReasonUnknown:
		return "unknown-session"
	case ReasonRestarted:
		return "server-restarted"
	case ReasonShutdown:
		return "server-shutdown"
	case ReasonServerError:
		return "server-error"
	case ReasonClosed:
		return "closed"
	case ReasonDiverged:
		return "diverged"
	}
	return fmt.Sprintf("reason(%d)", byte(r))
}

// AppendHello appends the encoding of h to b.
func AppendHello(b []byte, h *Hello) []byte {
	b = append(b, byte(TypeHello))
	b = appendString(b, h.SessionID)
	b = appendBytes(b, h.Token)
	b = appendString(b, h.Epoch)
	b = binary.AppendUvarint(b, h.Recv)
	b = binary.AppendUvarint(b, h.Acked)
	b = binary.AppendUvarint(b, h.Written)
	b = binary.AppendUvarint(b, h.Last)
	b = binary.AppendUvarint(b, h.Window)
	b = binary.AppendUvarint(b, h.Attempt)
	if h.Features == 0 && len(h.Rooms) == 0 {
		return b
	}
	b = binary.AppendUvarint(b, h.Features)
	b = binary.AppendUvarint(b, uint64(len(h.Rooms)))
	for _, r := range h.Rooms {
		b = appendString(b, r.Room)
		b = appendString(b, r.Epoch)
		b = binary.AppendUvarint(b, r.Offset)
	}
	return b
}

// AppendWelcome appends the encoding of w to b.
func AppendWelcome(b []byte, w *Welcome) []byte {
	b = append(b, byte(TypeWelcome), w.Flags)
	b = appendString(b, w.SessionID)
	b = appendBytes(b, w.Token)
	b = appendString(b, w.Epoch)
	b = binary.AppendUvarint(b, w.Recv)
	b = binary.AppendUvarint(b, w.Replay)
	b = append(b, byte(w.Reason))
	b = binary.AppendUvarint(b, w.PrevIn)
	b = binary.AppendUvarint(b, w.PrevOut)
	b = binary.AppendUvarint(b, w.Heartbeat)
	b = binary.AppendUvarint(b, w.Timeout)
	b = binary.AppendUvarint(b, w.MaxSize)
	b = binary.AppendUvarint(b, w.Window)
	b = binary.AppendUvarint(b, w.Grace)
	if w.Features != 0 || w.PrevRooms != 0 {
		b = binary.AppendUvarint(b, w.Features)
	}
	if w.PrevRooms != 0 {
		b = binary.AppendUvarint(b, w.PrevRooms)
	}
	return b
}

// AppendMessageHeader appends the header of an application message; the
// payload follows it directly, to the end of the WebSocket message.
func AppendMessageHeader(b []byte, text bool, seq uint64) []byte {
	t := TypeBinary
	if text {
		t = TypeText
	}
	return binary.AppendUvarint(append(b, byte(t)), seq)
}

// MessageHeaderLen is the length of AppendMessageHeader's output.
func MessageHeaderLen(seq uint64) int { return 1 + uvarintLen(seq) }

// AppendSeqFrame appends an Ack, Ping or Pong carrying seq.
func AppendSeqFrame(b []byte, t Type, seq uint64) []byte {
	return binary.AppendUvarint(append(b, byte(t)), seq)
}

// AppendGoAway appends the encoding of g to b.
func AppendGoAway(b []byte, g *GoAway) []byte {
	b = append(b, byte(TypeGoAway))
	b = binary.AppendUvarint(b, g.RetryAfter)
	b = append(b, g.Flags)
	b = binary.AppendUvarint(b, g.LastSeq)
	return b
}

// Frame is a decoded frame. Only the fields of its Type are set.
type Frame struct {
	Type          Type
	Seq           uint64 // message or room event seq, or the ack carried by Ack, Ping and Pong
	Payload       []byte // message payload; aliases the decoded buffer
	Room          string // room messages: the room ("" is the user's stream)
	Offset        uint64 // room messages: the message's offset in the room's stream
	Hello         *Hello
	Welcome       *Welcome
	GoAway        *GoAway
	RoomEvent     *RoomEvent
	History       *History
	HistoryResult *HistoryResult
}

// IsMessage reports whether f carries an application message.
func (f *Frame) IsMessage() bool {
	switch f.Type {
	case TypeBinary, TypeText, TypeRoomBinary, TypeRoomText:
		return true
	}
	return false
}

// IsText reports whether f is a message with a UTF-8 payload.
func (f *Frame) IsText() bool { return f.Type == TypeText || f.Type == TypeRoomText }

// Decode parses one frame. Message payloads alias b. Bytes after the
// fields a control frame defines are ignored, so later minor revisions
// may append fields.
func Decode(b []byte) (Frame, error) {
	var f Frame
	if len(b) == 0 {
		return f, malformed("empty frame")
	}
	f.Type = Type(b[0])
	d := decoder{b: b[1:]}
	switch f.Type {
	case TypeBinary, TypeText:
		f.Seq = d.uvarint("seq")
		f.Payload = d.b
		d.b = nil
	case TypeAck, TypePing, TypePong:
		f.Seq = d.uvarint("ack")
	case TypeHello:
		f.Hello = d.hello()
	case TypeWelcome:
		f.Welcome = d.welcome()
	case TypeGoAway:
		g := new(GoAway)
		g.RetryAfter = d.uvarint("retry after")
		g.Flags = d.byte("flags")
		g.LastSeq = d.uvarint("last seq")
		f.GoAway = g
	case TypeRoomBinary, TypeRoomText:
		f.Seq = d.uvarint("seq")
		f.Room = d.string("room", MaxRoomLen)
		f.Offset = d.uvarint("offset")
		f.Payload = d.b
		d.b = nil
	case TypeRoomEvent:
		f.Seq = d.uvarint("seq")
		f.RoomEvent = d.roomEvent()
	case TypeHistory:
		f.History = d.history()
	case TypeHistoryResult:
		f.HistoryResult = d.historyResult()
	default:
		return f, malformed("unknown frame type 0x%02x", byte(f.Type))
	}
	if d.err != nil {
		return f, fmt.Errorf("%s: %w", f.Type, d.err)
	}
	return f, nil
}

type decoder struct {
	b   []byte
	err error
}

// hello reads a Hello's fields; d.err says what was wrong.
func (d *decoder) hello() *Hello {
	h := new(Hello)
	h.SessionID = d.string("session id", MaxIDLen)
	h.Token = d.bytes("token", MaxTokenLen)
	h.Epoch = d.string("epoch", MaxIDLen)
	h.Recv = d.uvarint("recv")
	h.Acked = d.uvarint("acked")
	h.Written = d.uvarint("written")
	h.Last = d.uvarint("last")
	h.Window = d.uvarint("window")
	if d.err == nil && len(d.b) > 0 {
		h.Attempt = d.uvarint("attempt")
	}
	if d.err == nil && len(d.b) > 0 {
		h.Features = d.uvarint("features")
		h.Rooms = d.positions()
	}
	if d.err == nil && !(h.Acked <= h.Written && h.Written <= h.Last) {
		d.err = malformed("want acked <= written <= last, got %d, %d, %d", h.Acked, h.Written, h.Last)
	}
	return h
}

// welcome reads a Welcome's fields; d.err says what was wrong.
func (d *decoder) welcome() *Welcome {
	w := new(Welcome)
	w.Flags = d.byte("flags")
	w.SessionID = d.string("session id", MaxIDLen)
	w.Token = d.bytes("token", MaxTokenLen)
	w.Epoch = d.string("epoch", MaxIDLen)
	w.Recv = d.uvarint("recv")
	w.Replay = d.uvarint("replay")
	w.Reason = LossReason(d.byte("reason"))
	w.PrevIn = d.uvarint("prev in")
	w.PrevOut = d.uvarint("prev out")
	w.Heartbeat = d.uvarint("heartbeat")
	w.Timeout = d.uvarint("timeout")
	w.MaxSize = d.uvarint("max size")
	w.Window = d.uvarint("window")
	w.Grace = d.uvarint("grace")
	if d.err == nil && len(d.b) > 0 {
		w.Features = d.uvarint("features")
	}
	if d.err == nil && len(d.b) > 0 {
		w.PrevRooms = d.uvarint("prev rooms")
	}
	if d.err == nil && w.SessionID == "" {
		d.err = malformed("empty session id")
	}
	return w
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = malformed("bad varint in %s", field)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = malformed("missing %s", field)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bytes(field string, max int) []byte {
	n := d.uvarint(field + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(max) {
		d.err = malformed("%s longer than %d bytes", field, max)
		return nil
	}
	if uint64(len(d.b)) < n {
		d.err = malformed("truncated %s", field)
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(field string, max int) string { return string(d.bytes(field, max)) }

func appendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

func appendString(b []byte, v string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
