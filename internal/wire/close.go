package wire

import "fmt"

// CloseCode is a WebSocket close status code. Tether's own codes are in
// 4000–4999: 4000–4399 mean "reconnect and resume", 4400–4999 mean "stop".
type CloseCode uint16

// Standard codes Tether uses or interprets (RFC 6455 §7.4.1).
const (
	CloseNormal       CloseCode = 1000 // client: leaving, end the session
	CloseGoingAway    CloseCode = 1001 // from a client (page unload): it leaves, end the session; from a server: reconnect
	CloseProtocolErr  CloseCode = 1002 // WebSocket-level protocol error
	CloseNoStatus     CloseCode = 1005 // no code in the close frame (never sent)
	CloseAbnormal     CloseCode = 1006 // connection dropped without a close frame (never sent)
	CloseInternalErr  CloseCode = 1011
	CloseServiceRetry CloseCode = 1012
)

// Tether's codes.
const (
	CloseDetach            CloseCode = 4000 // client: closing this connection, keep the session for resume
	CloseServerRestart     CloseCode = 4001 // server draining; reconnect after the GoAway delay and resume
	CloseHeartbeatTimeout  CloseCode = 4002 // no frame from the client within the heartbeat bound
	CloseOverflow          CloseCode = 4003 // replay buffer overflowed; the session is over, loss is reported on reconnect
	CloseTryAgain          CloseCode = 4004 // server at capacity; reconnect with backoff
	CloseServerError       CloseCode = 4005 // the application failed on this session; the session is over
	CloseRateLimited       CloseCode = 4006 // sending faster than allowed; reconnect with backoff
	CloseSuperseded        CloseCode = 4007 // a newer connection attempt of this client holds the session
	CloseProtocolViolation CloseCode = 4400 // malformed or out-of-order frame, bad ack
	CloseUnauthorized      CloseCode = 4401 // authentication failed
	CloseForbidden         CloseCode = 4403 // resume refused: wrong token or another user's session
	CloseReplaced          CloseCode = 4409 // the session was resumed on another connection
	CloseKicked            CloseCode = 4410 // the application ended the session
	CloseTooBig            CloseCode = 4413 // a message exceeded the size limit
	CloseUnsupported       CloseCode = 4426 // the client does not speak tether.v1
	ClosePolicy            CloseCode = 4429 // another limit or policy was hit
)

// Reconnect reports whether a client should reconnect after this code.
func (c CloseCode) Reconnect() bool {
	switch {
	case c >= 4000 && c < 4400:
		return true
	case c >= 4400 && c < 5000:
		return false
	}
	switch c {
	case CloseNormal, CloseProtocolErr, 1003, 1007, 1008, 1009, 1010:
		return false
	}
	return true
}

func (c CloseCode) String() string {
	switch c {
	case CloseNormal:
		return "normal"
	case CloseGoingAway:
		return "going-away"
	case CloseProtocolErr:
		return "websocket-protocol-error"
	case CloseNoStatus:
		return "no-status"
	case CloseAbnormal:
		return "abnormal"
	case CloseInternalErr:
		return "internal-error"
	case CloseServiceRetry:
		return "service-restart"
	case CloseDetach:
		return "detach"
	case CloseServerRestart:
		return "server-restart"
	case CloseHeartbeatTimeout:
		return "heartbeat-timeout"
	case CloseOverflow:
		return "overflow"
	case CloseTryAgain:
		return "try-again"
	case CloseServerError:
		return "server-error"
	case CloseRateLimited:
		return "rate-limited"
	case CloseSuperseded:
		return "superseded"
	case CloseProtocolViolation:
		return "protocol-violation"
	case CloseUnauthorized:
		return "unauthorized"
	case CloseForbidden:
		return "forbidden"
	case CloseReplaced:
		return "replaced"
	case CloseKicked:
		return "kicked"
	case CloseTooBig:
		return "too-big"
	case CloseUnsupported:
		return "unsupported-protocol"
	case ClosePolicy:
		return "policy"
	}
	return fmt.Sprintf("close(%d)", uint16(c))
}
