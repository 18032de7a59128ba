package client

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tether-ws/tether"
)

// Options configures a Client. A nil *Options, and every zero field,
// means the documented default.
type Options struct {
	// Header is sent with every upgrade request (cookies, Authorization).
	Header http.Header
	// HeaderFunc, if set, is called before every connection attempt and
	// its result is sent on top of Header: a way to present a fresh token
	// on each reconnect. An error fails that attempt (it is retried).
	HeaderFunc func(ctx context.Context) (http.Header, error)
	// NetDial dials the TCP connection. Nil means a net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig is used for wss:// URLs. Nil means defaults.
	TLSConfig *tls.Config
	// DialTimeout bounds one connection attempt, handshake included.
	// Zero means 10s.
	DialTimeout time.Duration

	// InitialDelay, MaxDelay and Multiplier shape the exponential backoff
	// between reconnect attempts, with full jitter: attempt n waits a
	// random time in [0, min(MaxDelay, InitialDelay·Multiplier^(n-1))).
	// Zero means 250ms, 15s and 2.
	InitialDelay time.Duration
	MaxDelay     time.Duration
	Multiplier   float64
	// MaxElapsed gives up reconnecting after this long without a
	// connection. Zero means never.
	MaxElapsed time.Duration
	// MaxAttempts gives up after this many reconnect attempts fail in a
	// row (Dial makes one attempt more: the first). Zero means never.
	MaxAttempts int

	// MaxOutbox and MaxOutboxBytes bound the messages sent but not yet
	// acknowledged, including those queued while offline. Zero means 1024
	// and 1 MiB. When full, Send waits while connected and fails with
	// ErrOutboxFull while not.
	MaxOutbox      int
	MaxOutboxBytes int

	// AckDelay is how long the acknowledgement of received messages may
	// wait for an outgoing message to ride on. It goes at once when half
	// the server's replay window or 64 KiB is unacknowledged, or when the
	// server asks (drain, heartbeat). Delaying spares the server a read
	// per delivery (a quarter of its CPU in a fan-out at 20 messages/s:
	// see BENCHMARKS.md) for holding delivered messages in its replay
	// buffer that much longer. Zero means 250ms.
	AckDelay time.Duration

	// RoomPositions are the client's positions in its rooms when it
	// starts (Client.RoomPositions of an earlier run): presented in the
	// first Hello, so that the server replays what the rooms published
	// since. Nil: none.
	RoomPositions map[string]tether.RoomPosition

	// OnMessage receives server messages, exactly once and in order. A
	// room's message has Room and Offset set; each reaches OnMessage once
	// even if it arrives again after a lost session.
	// The server is acknowledged after it returns.
	OnMessage func(tether.Message)
	// OnEvent receives lifecycle events, in order with the messages.
	OnEvent func(Event)
	// Logger receives debug logs. Nil means slog.Default().
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.DialTimeout <= 0 {
		r.DialTimeout = 10 * time.Second
	}
	if r.InitialDelay <= 0 {
		r.InitialDelay = 250 * time.Millisecond
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = 15 * time.Second
	}
	if r.Multiplier < 1 {
		r.Multiplier = 2
	}
	if r.MaxOutbox <= 0 {
		r.MaxOutbox = 1024
	}
	if r.MaxOutboxBytes <= 0 {
		r.MaxOutboxBytes = 1 << 20
	}
	if r.AckDelay <= 0 {
		r.AckDelay = 250 * time.Millisecond
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	return r
}
