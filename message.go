package tether

import (
	"github.com/tether-ws/tether/internal/wire"
)

// MessageType says how a message's payload is to be read.
type MessageType uint8

// Message types. Text payloads are UTF-8.
const (
	Binary MessageType = 1
	Text   MessageType = 2
)

func (t MessageType) String() string {
	switch t {
	case Binary:
		return "binary"
	case Text:
		return "text"
	}
	return "invalid"
}

// Message is an application message with its sequence number in its
// direction of travel. A message published to a room (Server.Broadcast)
// also carries the room and its offset in the room's stream; Room is ""
// for a message sent to one session, and for the user's own stream
// (Server.SendToUser with Options.UserStreams), which has offsets too.
type Message struct {
	Type   MessageType
	Data   []byte
	Seq    uint64
	Room   string
	Offset uint64 // position in the room's stream; 0 for a message not published to a stream
}

// LossReason says why a session could not be resumed.
type LossReason uint8

// Loss reasons (docs/PROTOCOL.md, "Welcome").
const (
	ReasonExpired     = LossReason(wire.ReasonExpired)     // the grace window passed
	ReasonOverflow    = LossReason(wire.ReasonOverflow)    // the replay buffer overflowed
	ReasonUnknown     = LossReason(wire.ReasonUnknown)     // no such session and no record of it
	ReasonRestarted   = LossReason(wire.ReasonRestarted)   // the store lost its state: a restart on the memory store
	ReasonShutdown    = LossReason(wire.ReasonShutdown)    // closed by a server shutdown
	ReasonServerError = LossReason(wire.ReasonServerError) // closed by a fault in the application
	ReasonClosed      = LossReason(wire.ReasonClosed)      // closed for another reason
	ReasonDiverged    = LossReason(wire.ReasonDiverged)    // the two sides' counters disagree: one lost state
)

func (r LossReason) String() string { return wire.LossReason(r).String() }

// Loss reports a session that could not be resumed: why, and how many
// messages each way did not make it. Counts are -1 when nobody can know
// (the store lost its state).
type Loss struct {
	SessionID string // the session that is gone
	Reason    LossReason
	// ToClient counts server→client messages the client never received.
	ToClient int64
	// FromClient counts client→server messages the client sent and the
	// old session never acknowledged, whose fate is unknown; the client
	// does not resend them.
	FromClient int64
	// Carried counts client→server messages the old session certainly
	// never processed; the client sends them again in the new session.
	Carried int64
	// InRooms counts server→client messages the client missed that its
	// rooms recover, or report as lost room by room (OnRoomRecovery): they
	// are not in ToClient.
	InRooms int64
}
