package tether

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Options configures a Server. A nil *Options, and every zero field,
// means the documented default.
type Options struct {
	// Store keeps session state. Nil means NewMemoryStore(nil): one
	// process, nothing survives a restart (clients are told so).
	Store Store

	// GraceWindow is how long a disconnected session waits for its client
	// to resume before it expires. Zero means 2 minutes, as Socket.IO and
	// Ably: long enough for a train tunnel or a Wi-Fi handover, short
	// enough that an abandoned session's replay buffer does not linger.
	GraceWindow time.Duration

	// HeartbeatInterval is the time between server pings. Zero means 15s.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how much longer than HeartbeatInterval either
	// side waits for a frame before it declares the link dead. Zero means
	// 10s: a half-open connection is detected within 25s (the server's
	// checks run on a wheel of HeartbeatInterval/32 steps, so up to 0.47s
	// later).
	HeartbeatTimeout time.Duration

	// MaxMessageSize bounds an application payload, both ways. Zero
	// means 64 KiB. A bigger client message closes the session (4413).
	MaxMessageSize int
	// MaxReplayMessages and MaxReplayBytes bound a session's replay
	// buffer: server→client messages sent but not yet acknowledged. A
	// Send beyond them ends the session with CauseOverflow; its client is
	// told how many messages it lost. Zero means 4096 and 1 MiB.
	MaxReplayMessages int
	MaxReplayBytes    int
	// MaxSessions bounds the sessions this server holds, connected or
	// not. Zero means 100,000; new clients beyond it get 4004 (try again).
	MaxSessions int
	// MaxSessionsPerUser bounds the sessions of one authenticated user
	// (user ID not empty). Zero means 100; beyond it a new session is
	// refused with 4429.
	MaxSessionsPerUser int
	// MaxRoomsPerSession bounds the rooms one session may join; Join
	// beyond it fails with ErrTooManyRooms. Zero means 100.
	MaxRoomsPerSession int
	// RateLimit bounds the messages per second a client may send, with
	// bursts of RateBurst (zero means 2×RateLimit). A client over it is
	// disconnected with 4006 and resumes after its backoff; nothing is
	// lost. Zero means no limit.
	RateLimit float64
	RateBurst int

	// RoomHistory bounds the history of every room: what a member that
	// lost its session gets back when it returns, and what History reads.
	// Zero fields mean 1,000 messages, 1 MiB of payload and 10 minutes; a
	// MaxMessages of -1 keeps no history (offsets are still given, so a
	// returning member is told exactly how many messages it missed).
	RoomHistory HistoryLimits
	// Rooms sets the options of the rooms whose names match a pattern;
	// the first match wins. Nil: every room has RoomHistory and no
	// presence events.
	Rooms []RoomOptions
	// RoomRecoveryLimit bounds, per room, the messages replayed to a
	// client that returns after losing its session; older ones are
	// reported as Skipped (History still reads them). Across the rooms of
	// one return, the replay also stays within half the replay buffer
	// (MaxReplayMessages, MaxReplayBytes), so it never overflows it. Zero
	// means 1,000.
	RoomRecoveryLimit int
	// UserStreams gives every authenticated user a stream of its own,
	// which each of its sessions is in: SendToUser publishes to it, so a
	// message sent while the user has no session waits in the stream's
	// history (RoomHistory) for its next one. False: SendToUser reaches
	// the user's current sessions only.
	UserStreams bool

	// WriteTimeout bounds one write to a client; a client that does not
	// read is disconnected. Zero means 10s.
	WriteTimeout time.Duration
	// HandshakeTimeout bounds the wait for a client's Hello after the
	// upgrade. Zero means 10s.
	HandshakeTimeout time.Duration
	// RestartJitter spreads the reconnect hints sent at Shutdown, so
	// clients do not all come back at once. Zero means 2s.
	RestartJitter time.Duration

	// OriginPatterns lists the hosts (path.Match patterns, e.g.
	// "*.example.com") whose pages may connect. Requests whose Origin
	// host equals the request Host are always accepted, and so are
	// requests without an Origin (non-browser clients). Nil means only
	// those; "*" accepts every origin.
	OriginPatterns []string

	// Logger receives structured logs. Nil means slog.Default().
	Logger *slog.Logger

	// Authenticate runs on every upgrade request, new session or resume,
	// and returns the user ID. An error refuses the connection with close
	// code 4401 (4403 if it wraps ErrForbidden) and the error's text as
	// reason. Nil accepts everyone as user "".
	Authenticate func(r *http.Request) (userID string, err error)

	// OnOpen runs when a new session starts. info.Previous is set when
	// the client asked to resume a session that could not be resumed.
	// The client is told it is connected (the Welcome) once OnOpen and
	// the room recovery after it (Readmit) are done, so a room joined here
	// has every message published after the client's Connected event; a
	// slow OnOpen delays the connection by as much.
	OnOpen func(ctx context.Context, s *Session, info OpenInfo)
	// OnMessage runs for every client message, exactly once, in order.
	// The client is acknowledged after it returns nil. Returning an error
	// refuses the message: it is not acknowledged, the session ends with
	// CauseServerError (close 4005) and the client carries the message,
	// and those after it, into its next session. Use it when the message
	// could not be taken in (a backend is down), never for bad content.
	// When a session expires, the messages it took whose OnMessage has not
	// begun are not delivered in it: the client is told so and sends them
	// again in its next session (so a slow OnMessage does not hold up the
	// client's return).
	OnMessage func(ctx context.Context, s *Session, m Message) error
	// OnDisconnect runs when a session loses its connection but is kept
	// for resume.
	OnDisconnect func(ctx context.Context, s *Session, d Disconnect)
	// OnResume runs when a client resumes a disconnected session.
	OnResume func(ctx context.Context, s *Session, r Resume)
	// OnClose runs once when a session ends; it is the session's last hook.
	OnClose func(ctx context.Context, s *Session, c Closure)

	// Readmit decides whether a client that lost its session rejoins a
	// room it was in. A client presents its position in each of its
	// rooms when it starts a new session; OnOpen's Joins (the way the
	// application admitted it the first time) recover those rooms.
	// Readmit runs after OnOpen for each other room presented. Nil
	// readmits to none: the client is told it left them.
	Readmit func(ctx context.Context, s *Session, room string) bool
	// OnRoomRecovery runs, after OnOpen and Readmit, once for each room
	// a new session's client presented a position in: what came back,
	// and what is lost and why.
	OnRoomRecovery func(ctx context.Context, s *Session, r RoomRecovery)
	// OnPresence runs when a user enters or leaves a room whose
	// RoomOptions have Presence on, as a hook of the session that entered
	// or left (s is nil if another server holds it).
	OnPresence func(ctx context.Context, s *Session, p PresenceChange)
}

// OpenInfo describes a new session.
type OpenInfo struct {
	// Request is the upgrade request, the very *http.Request Authenticate
	// saw, so values Authenticate stored in its context are there.
	// Valid during OnOpen only.
	Request  *http.Request
	Previous *Loss // set when a resume was asked for and was impossible
}

// Disconnect describes a lost connection.
type Disconnect struct {
	Cause Cause
	Err   error
}

// Resume describes a resumed session.
type Resume struct {
	// ToClient counts server→client messages replayed after the resume.
	ToClient int
	// FromClient counts client→server messages the client is sending
	// again, or sending for the first time because it queued them offline.
	FromClient int
	// Offline is how long the session had no connection (zero when a new
	// connection replaced one the server still thought alive).
	Offline time.Duration
}

// Closure describes the end of a session.
type Closure struct {
	Cause  Cause
	Err    error
	Reason string // the close reason sent to the client, if any (Session.Close's argument)
	// Unacked counts server→client messages the client never
	// acknowledged: lost, unless the client received them just before
	// the end.
	Unacked int
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Store == nil {
		r.Store = NewMemoryStore(nil)
	}
	setDur(&r.GraceWindow, 2*time.Minute)
	setDur(&r.HeartbeatInterval, 15*time.Second)
	setDur(&r.HeartbeatTimeout, 10*time.Second)
	setDur(&r.WriteTimeout, 10*time.Second)
	setDur(&r.HandshakeTimeout, 10*time.Second)
	setDur(&r.RestartJitter, 2*time.Second)
	setInt(&r.MaxMessageSize, 64<<10)
	setInt(&r.MaxReplayMessages, 4096)
	setInt(&r.MaxReplayBytes, 1<<20)
	setInt(&r.MaxSessions, 100_000)
	setInt(&r.MaxSessionsPerUser, 100)
	setInt(&r.MaxRoomsPerSession, 100)
	setInt(&r.RoomRecoveryLimit, 1000)
	if r.RoomHistory.MaxMessages == 0 {
		r.RoomHistory.MaxMessages = 1000
	}
	setInt(&r.RoomHistory.MaxBytes, 1<<20)
	setDur(&r.RoomHistory.MaxAge, 10*time.Minute)
	if r.RateLimit > 0 && r.RateBurst <= 0 {
		r.RateBurst = int(max(1, 2*r.RateLimit))
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	return r
}

func setDur(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

func setInt(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}
