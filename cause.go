package tether

import (
	"errors"
	"fmt"

	"github.com/tether-ws/tether/internal/wire"
)

// Cause says why a connection or a session ended.
type Cause uint8

// Causes. Disconnect hooks see network-lost, heartbeat-timeout,
// client-detached, server-restart, replaced and rate-limited: the session
// lives on. Close hooks see the others: the session is over.
const (
	CauseNetworkLost       Cause = iota + 1 // the transport failed or closed without a word
	CauseHeartbeatTimeout                   // nothing heard within the heartbeat bound (half-open)
	CauseClientDetached                     // the client closed this connection but keeps the session
	CauseServerRestart                      // this server is draining; the client will resume elsewhere or later
	CauseClientClosed                       // the client ended the session
	CauseExpired                            // no resume within the grace window
	CauseServerShutdown                     // the server shut down
	CauseKicked                             // the application closed the session
	CauseProtocolViolation                  // the client broke the protocol
	CausePolicyViolation                    // the client broke a limit: size, rate, window
	CauseOverflow                           // the replay buffer overflowed (slow or absent client)
	CauseServerError                        // the application panicked on this session
	CauseReplaced                           // a newer connection resumed the session
	CauseUnauthorized                       // the server refused the client's credentials (client side only)
	CauseRateLimited                        // the client sent faster than RateLimit; it resumes after a backoff
)

var causeNames = [...]string{
	CauseNetworkLost:       "network-lost",
	CauseHeartbeatTimeout:  "heartbeat-timeout",
	CauseClientDetached:    "client-detached",
	CauseServerRestart:     "server-restart",
	CauseClientClosed:      "client-closed",
	CauseExpired:           "expired",
	CauseServerShutdown:    "server-shutdown",
	CauseKicked:            "kicked",
	CauseProtocolViolation: "protocol-violation",
	CausePolicyViolation:   "policy-violation",
	CauseOverflow:          "overflow",
	CauseServerError:       "server-error",
	CauseReplaced:          "replaced",
	CauseUnauthorized:      "unauthorized",
	CauseRateLimited:       "rate-limited",
}

func (c Cause) String() string {
	if int(c) < len(causeNames) && causeNames[c] != "" {
		return causeNames[c]
	}
	return fmt.Sprintf("cause(%d)", uint8(c))
}

// lossReason is what a tombstone records for a session closed by c.
func (c Cause) lossReason() LossReason {
	switch c {
	case CauseExpired:
		return ReasonExpired
	case CauseOverflow:
		return ReasonOverflow
	case CauseServerShutdown:
		return ReasonShutdown
	case CauseServerError:
		return ReasonServerError
	}
	return ReasonClosed
}

// CloseCode is a WebSocket close status. Tether's codes 4000–4399 tell a
// client to reconnect and resume; 4400–4999 tell it to stop.
type CloseCode uint16

// Close codes (docs/PROTOCOL.md has the full table).
const (
	CloseNormal            = CloseCode(wire.CloseNormal)
	CloseGoingAway         = CloseCode(wire.CloseGoingAway)
	CloseAbnormal          = CloseCode(wire.CloseAbnormal)
	CloseDetach            = CloseCode(wire.CloseDetach)
	CloseServerRestart     = CloseCode(wire.CloseServerRestart)
	CloseHeartbeatTimeout  = CloseCode(wire.CloseHeartbeatTimeout)
	CloseOverflow          = CloseCode(wire.CloseOverflow)
	CloseTryAgain          = CloseCode(wire.CloseTryAgain)
	CloseServerError       = CloseCode(wire.CloseServerError)
	CloseRateLimited       = CloseCode(wire.CloseRateLimited)
	CloseSuperseded        = CloseCode(wire.CloseSuperseded)
	CloseProtocolViolation = CloseCode(wire.CloseProtocolViolation)
	CloseUnauthorized      = CloseCode(wire.CloseUnauthorized)
	CloseForbidden         = CloseCode(wire.CloseForbidden)
	CloseReplaced          = CloseCode(wire.CloseReplaced)
	CloseKicked            = CloseCode(wire.CloseKicked)
	CloseTooBig            = CloseCode(wire.CloseTooBig)
	CloseUnsupported       = CloseCode(wire.CloseUnsupported)
	ClosePolicy            = CloseCode(wire.ClosePolicy)
)

// Reconnect reports whether a client should reconnect after this code.
func (c CloseCode) Reconnect() bool { return wire.CloseCode(c).Reconnect() }

func (c CloseCode) String() string { return wire.CloseCode(c).String() }

// CloseError is a close frame received from the peer.
type CloseError struct {
	Code   CloseCode
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("closed with %d (%s)", uint16(e.Code), e.Code)
	}
	return fmt.Sprintf("closed with %d (%s): %s", uint16(e.Code), e.Code, e.Reason)
}

// CloseStatus returns the close code in err's chain, or 0 if none.
func CloseStatus(err error) CloseCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}
