package tether

import "errors"

// Errors returned by Server and Session methods.
var (
	ErrServerClosed  = errors.New("tether: server closed")
	ErrSessionClosed = errors.New("tether: session closed")
	ErrTooBig        = errors.New("tether: message too big")
	ErrInvalidUTF8   = errors.New("tether: text message is not valid UTF-8")
	ErrForbidden     = errors.New("tether: forbidden")
)

// Store errors: what a Store returns, and the server acts on.
var (
	ErrNotFound  = errors.New("tether: session not found")
	ErrExists    = errors.New("tether: session already exists")
	ErrOverflow  = errors.New("tether: replay buffer full")
	ErrGap       = errors.New("tether: messages already trimmed")
	ErrAckRange  = errors.New("tether: ack beyond last sent message")
	ErrFenced    = errors.New("tether: session owned by another server")
	ErrRoomGap   = errors.New("tether: room messages out of order")
	ErrNotMember = errors.New("tether: session not in the room")
)

// Room errors.
var (
	ErrTooManyRooms = errors.New("tether: too many rooms for this session")
	ErrRoomName     = errors.New("tether: room names are 1 to 128 bytes of UTF-8, without NUL")
)

// ErrBusy means the session is held by a server that neither released it
// nor died in time; the client should try again.
var ErrBusy = errors.New("tether: session held by another server")
