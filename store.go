package tether

import (
	"context"
	"fmt"
	"time"
)

// Store keeps the part of a session that must outlive its connections:
// identity, resume token, sequence counters, rooms and the replay buffer
// of server→client messages not yet acknowledged. The default is
// NewMemoryStore. A store shared by several processes (Redis) lets a
// client resume on any of them; such a store also implements Cluster.
//
// Every implementation must pass storetest.Run. Methods are safe for
// concurrent use; they may block on I/O and must honour ctx. A store may
// keep the Data slices it is given and return them from Read: callers
// never modify a payload after Append or after Read.
//
// Ownership: one server at a time owns a session (Record.Owner) and holds
// a lease (Record.Lease), a number that grows with every Claim. Saves and
// closes made with a lease that is no longer current fail with ErrFenced,
// so a server that lost a session can never overwrite its new owner's
// state.
type Store interface {
	// Epoch names the store's history. It changes when the store loses
	// its state, so a client can tell "unknown session" from "the server
	// forgot everything".
	Epoch(ctx context.Context) (string, error)

	// Create stores a new session owned by rec.Owner, with lease 1, and
	// indexes it under its user and rooms. It fails with ErrExists if the
	// ID is taken. Out, Acked and Lease are the store's: whatever rec says,
	// they start at 0, 0 and 1.
	Create(ctx context.Context, rec *Record) error

	// Load returns a copy of a session's record, or ErrNotFound.
	Load(ctx context.Context, id string) (*Record, error)

	// Save updates a session's Token, PrevToken, Meta, In, Detached and
	// Attempt.
	// Every other field is unchanged. It fails with ErrFenced if rec.Lease
	// is not the current lease.
	Save(ctx context.Context, rec *Record) error

	// SaveIn records the last client→server seq processed; it is Save for
	// the hot path. It fails with ErrFenced if lease is not current.
	SaveIn(ctx context.Context, id string, lease, in uint64) error

	// Claim makes node the owner of a session, increments its lease and
	// returns the record as claimed.
	Claim(ctx context.Context, id, node string) (*Record, error)

	// Release gives up ownership if lease is current: the session has no
	// owner until the next Claim. A released session that is disconnected
	// (Detached not zero) is an orphan, for Cluster.Adopt.
	Release(ctx context.Context, id string, lease uint64) error

	// Append assigns the next sequence numbers to msgs, in order, keeps
	// them for replay and returns the last one (the current last seq if
	// msgs is empty). It fails with ErrOverflow, storing nothing, if the
	// unacknowledged messages would exceed the record's MaxMessages or
	// MaxBytes (zero means no bound). Any server may append.
	Append(ctx context.Context, id string, msgs ...Message) (uint64, error)

	// Read appends to dst the kept messages with Seq > after, in order:
	// the longest run whose payloads fit in maxBytes, and at least one
	// message if any is kept. It fails with ErrGap if messages after
	// `after` were already trimmed.
	Read(ctx context.Context, id string, after uint64, maxBytes int, dst []Message) ([]Message, error)

	// Ack records that the client has every message up to seq and drops
	// them. Acks at or below the current one are ignored; an ack beyond
	// the last assigned seq fails with ErrAckRange.
	Ack(ctx context.Context, id string, seq uint64) error

	// JoinRoom adds a session to a room with its cursor there at `at`
	// (see AppendRoom) and appends ev, if not nil, to its replay buffer, in
	// one step, and returns the session's last seq. It reports joined
	// false, changing nothing, if the session is in the room already. It
	// fails with ErrTooManyRooms if the session would be in more than max
	// rooms (zero means no bound), and with ErrOverflow, changing nothing,
	// if ev does not fit the replay buffer.
	JoinRoom(ctx context.Context, id, room string, max int, at RoomPosition, ev *Message) (seq uint64, joined bool, err error)

	// LeaveRoom removes a session from a room and appends ev, if not nil,
	// in one step, and returns the session's last seq. It reports left
	// false, changing nothing, if the session was not in the room, and
	// fails with ErrOverflow, changing nothing, if ev does not fit.
	LeaveRoom(ctx context.Context, id, room string, ev *Message) (seq uint64, left bool, err error)

	// RoomMembers returns the IDs of the sessions in a room.
	RoomMembers(ctx context.Context, room string) ([]string, error)

	// RoomSizes returns every room with at least one member, and its size.
	RoomSizes(ctx context.Context) (map[string]int, error)

	// MarkPresent records that session id of user entered a room's
	// presence (present) or left it, and reports whether the user's
	// presence there changed: the first of the user's sessions to enter,
	// or the last to leave. The test and the change are one step, so of
	// concurrent calls for one user and room exactly one reports each
	// change. Entering twice, or leaving without having entered, changes
	// nothing. A leave also drops the entries of sessions that no longer
	// exist (a server that crashed never marked them gone), so they do not
	// keep their user present.
	MarkPresent(ctx context.Context, room, user, id string, present bool) (changed bool, err error)

	// UserSessions returns the IDs of a user's sessions.
	UserSessions(ctx context.Context, user string) ([]string, error)

	// Close deletes a session, removes it from its rooms and user, and
	// keeps t in its place for the store's tombstone lifetime, counted from
	// the call, so a late resume learns what happened. A nil t leaves no
	// tombstone. The tombstone is visible no later than the session
	// disappears. Unknown sessions fail with ErrNotFound; a lease that is
	// not current (and not zero) with ErrFenced.
	Close(ctx context.Context, id string, lease uint64, t *Tombstone) error

	// Tombstone returns what is left of a closed session, or ErrNotFound.
	Tombstone(ctx context.Context, id string) (*Tombstone, error)

	// Room streams. Every room is a stream: Publish gives each message
	// the room's next offset (1, 2, …) under the room's epoch, a name for
	// the stream's history that changes whenever that history may have
	// been lost. A member receives room messages through its replay
	// buffer (AppendRoom), each at most once and in offset order: its
	// cursor in the room is the offset of the last room message appended
	// to it, or where JoinRoom placed it.

	// Publish appends m to room's stream and returns its position: the
	// room's next offset, under the room's epoch. A room without a stream
	// gets one, with a new epoch. The message is kept in the room's
	// history within lim, oldest trimmed first. Any server may publish;
	// concurrent Publishes to one room get distinct, consecutive offsets.
	Publish(ctx context.Context, room string, m Message, lim HistoryLimits) (RoomPosition, error)

	// OpenRoom returns the state of room's stream, creating the stream
	// (empty, with a new epoch, offsets from 1) if the room has none, as
	// Publish would: a session joining a room learns the epoch its first
	// message will have. A created stream is kept like one Publish
	// created.
	OpenRoom(ctx context.Context, room string) (RoomState, error)

	// History returns the state of room's stream and appends to dst the
	// kept messages with Offset > after, in order, at most max of them
	// (none when max <= 0). A room without a stream has the zero
	// RoomState. Returned messages have Room and Offset set.
	History(ctx context.Context, room string, after uint64, max int, dst []Message) (RoomState, []Message, error)

	// AppendRoom appends messages of one room, all of epoch and with
	// consecutive offsets, to a session's replay buffer, as Append does,
	// and moves the session's cursor in the room to the last one. Those at
	// or below the cursor are skipped (they are the session's already). It
	// fails, appending nothing, with:
	//   - ErrNotFound if there is no such session;
	//   - ErrNotMember if the session is not in the room;
	//   - a *RoomGapError (Is ErrRoomGap) giving the cursor, if the first
	//     message not skipped does not follow the cursor, or if the cursor
	//     is in another epoch: the caller appends what is missing first;
	//   - ErrOverflow if the messages do not fit the replay buffer.
	// A cursor whose epoch is "" (the room had no stream when the session
	// joined) takes epoch. A session given rooms by Create has no cursor
	// in them until the first AppendRoom, which starts it anywhere.
	// It returns the last seq, as Append does.
	AppendRoom(ctx context.Context, id, room, epoch string, msgs ...Message) (uint64, error)
}

// RoomPosition is a place in a room's stream: every message up to Offset
// under Epoch.
type RoomPosition struct {
	Epoch  string
	Offset uint64
}

// RoomState describes a room's stream.
type RoomState struct {
	Epoch string // "" if the room has no stream (nothing was ever published, or it was dropped)
	First uint64 // offset of the oldest kept message; Last+1 when none is kept
	Last  uint64 // offset of the last message published
}

// HistoryLimits bound a room's history. A zero field means no bound of
// its kind, except that MaxMessages < 0 keeps no history at all (offsets
// are still given, so members can tell exactly what they miss).
type HistoryLimits struct {
	MaxMessages int
	MaxBytes    int
	MaxAge      time.Duration
}

// RoomGapError is AppendRoom's refusal to append out of order: Cursor is
// where the session is in the room.
type RoomGapError struct {
	Cursor RoomPosition
}

func (e *RoomGapError) Error() string {
	return fmt.Sprintf("tether: room messages must follow offset %d of epoch %q", e.Cursor.Offset, e.Cursor.Epoch)
}

// Is makes errors.Is(err, ErrRoomGap) true.
func (e *RoomGapError) Is(target error) bool { return target == ErrRoomGap }

// Cluster is implemented by stores that several servers share. With it a
// client may resume on any server: the server it lands on asks the owner
// to hand the session over (or, if the owner is dead, takes it), and a
// message sent from any server reaches the one holding the connection.
type Cluster interface {
	// Node names this server; it is unique among live servers.
	Node() string
	// Notify sends a notice to another node, best effort.
	Notify(ctx context.Context, node string, n Notice) error
	// Listen sets the function that receives notices for this node: those
	// sent with Notify, a Wake when Append adds to a session this node
	// owns, and Lost when this node could not renew its liveness in time
	// (other nodes may then take its sessions over).
	Listen(fn func(Notice))
	// Alive reports whether a node renewed its liveness recently.
	Alive(ctx context.Context, node string) (bool, error)
	// ClaimFrom is Claim, but only if the session is still owned by from,
	// or by nobody; otherwise it fails with ErrFenced. Two servers that
	// both saw owner X can then not both take the session from X.
	ClaimFrom(ctx context.Context, id, node, from string) (*Record, error)
	// Adopt claims for this node up to max orphans: disconnected sessions
	// whose owner released them or died. The caller expires them unless
	// their clients come back.
	Adopt(ctx context.Context, max int) ([]*Record, error)
}

// Notice is a message between the servers of a cluster.
type Notice struct {
	Kind    NoticeKind
	Session string
	From    string // sending node
	Seq     uint64 // Wake: the last seq appended; Release: the client's connection attempt
	Reason  string // Kick: the close reason
}

// NoticeKind says what a Notice asks.
type NoticeKind uint8

// Notice kinds.
const (
	NoticeWake     NoticeKind = iota + 1 // new messages for a session you own
	NoticeRelease                        // hand this session over to From
	NoticeReleased                       // the session you asked for is free
	NoticeKick                           // end this session (Session.Close)
	NoticeOverflow                       // a remote Append overflowed: end it with CauseOverflow
	NoticeLost                           // this node lost its liveness: drop every session
	NoticeStale                          // refused: the Release asked for an older connection attempt than the one attached
)

// TokenHash is the SHA-256 of a resume token. Stores keep hashes only.
type TokenHash [32]byte

// Record is a session's durable state.
type Record struct {
	ID        string
	UserID    string
	Token     TokenHash // current resume token
	PrevToken TokenHash // token being rotated out; zero once the client confirmed the new one
	Meta      map[string]string
	Rooms     []string // kept by JoinRoom and LeaveRoom
	Created   time.Time
	Detached  time.Time // when the last connection was lost; zero while connected
	In        uint64    // last client→server seq processed
	Out       uint64    // last server→client seq assigned (kept by the store)
	Acked     uint64    // last server→client seq acknowledged (kept by the store)
	Attempt   uint64    // stamp of the client's last accepted connection attempt
	Owner     string    // node holding the session; "" when none
	Lease     uint64    // fencing token: grows with every Claim (kept by the store)
	Features  uint64    // wire features of the session's client: the frames its messages travel in (set by Create)

	MaxMessages int // replay buffer bound, messages
	MaxBytes    int // replay buffer bound, payload bytes
}

// Tombstone is what a store keeps of a closed session.
type Tombstone struct {
	ID        string
	UserID    string
	Token     TokenHash
	PrevToken TokenHash
	Reason    LossReason
	In        uint64 // last client→server seq processed
	Out       uint64 // last server→client seq assigned
	Closed    time.Time
	// Acked is the last server→client seq the client acknowledged, and
	// InRooms marks which of the messages after it, up to Out, its
	// client's rooms recover or report when it returns (room messages and
	// room events): bit i (byte i/8, bit i%8) stands for seq Acked+1+i.
	// The others are what the session alone lost. Nil when none is.
	Acked   uint64
	InRooms []byte
}
