package tether

import (
	"context"
	"errors"
	"time"
)

// Store keeps the part of a session that must outlive its connections:
// identity, resume token, sequence counters and the replay buffer of
// server→client messages not yet acknowledged. The server calls it for
// every session it owns; the default is NewMemoryStore. A store shared by
// several processes (Redis) lets a client resume on any of them.
//
// Every implementation must pass storetest.Run. Methods are safe for
// concurrent use; they may block on I/O and must honour ctx. A store may
// keep the Data slices it is given and return them from Read: callers
// never modify a payload after Append or after Read.
type Store interface {
	// Epoch names the store's history. It changes when the store loses
	// its state, so a client can tell "unknown session" from "the server
	// forgot everything".
	Epoch(ctx context.Context) (string, error)

	// Create stores a new session. It fails with ErrExists if the ID is
	// taken. Out and Acked start at zero whatever rec says.
	Create(ctx context.Context, rec *Record) error

	// Load returns a copy of a session's record, or ErrNotFound.
	Load(ctx context.Context, id string) (*Record, error)

	// Save updates a session's UserID, Token, PrevToken, Meta, Rooms, In
	// and Detached. Every other field is unchanged; Out and Acked are the
	// store's own.
	Save(ctx context.Context, rec *Record) error

	// Append assigns the next sequence numbers to msgs, in order, keeps
	// them for replay and returns the last one (the current last seq if
	// msgs is empty). It fails with ErrOverflow, storing nothing, if the
	// unacknowledged messages would exceed the record's MaxMessages or
	// MaxBytes (zero means no bound).
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

	// Close deletes a session and keeps t in its place for the store's
	// tombstone lifetime, counted from the call, so a late resume learns
	// what happened. A nil t leaves no tombstone. The tombstone is
	// visible no later than the session disappears. Unknown sessions
	// fail with ErrNotFound.
	Close(ctx context.Context, id string, t *Tombstone) error

	// Tombstone returns what is left of a closed session, or ErrNotFound.
	Tombstone(ctx context.Context, id string) (*Tombstone, error)
}

// Store errors.
var (
	ErrNotFound = errors.New("tether: session not found")
	ErrExists   = errors.New("tether: session already exists")
	ErrOverflow = errors.New("tether: replay buffer full")
	ErrGap      = errors.New("tether: messages already trimmed")
	ErrAckRange = errors.New("tether: ack beyond last sent message")
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
	Rooms     []string
	Created   time.Time
	Detached  time.Time // when the last connection was lost; zero while connected
	In        uint64    // last client→server seq processed
	Out       uint64    // last server→client seq assigned (kept by the store)
	Acked     uint64    // last server→client seq acknowledged (kept by the store)

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
}
