package tether

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"time"
)

// MemoryStoreOptions configures NewMemoryStore. The zero value is usable.
type MemoryStoreOptions struct {
	// TombstoneTTL is how long a closed session's tombstone is kept.
	// Zero means 10 minutes.
	TombstoneTTL time.Duration
	// MaxTombstones bounds the tombstones kept; the oldest go first.
	// Zero means 100,000.
	MaxTombstones int
	// MaxRoomStreams bounds the room streams kept. Beyond it, publishing
	// to a new room drops the stream of the room without members that was
	// published to least recently (its epoch is gone with it). Streams of
	// rooms with members are never dropped. Zero means 100,000.
	MaxRoomStreams int
}

// MemoryStore keeps sessions in this process. It is the default store:
// zero setup, and everything is lost when the process exits, which the
// epoch tells clients. An idle session costs a few hundred bytes: its
// replay buffer is released once the client has acknowledged everything.
type MemoryStore struct {
	epoch  string
	seed   maphash.Seed
	shards [64]memShard

	imu      sync.RWMutex // guards the indexes; taken after a shard lock
	rooms    map[string]idSet
	users    map[string]idSet
	presence map[presenceKey]idSet // MarkPresent's sessions per user and room

	rmu     sync.Mutex // guards streams and pubs
	streams map[string]*memStream
	pubs    uint64 // publishes, to sweep expired streams now and then
	maxR    int

	tmu    sync.Mutex
	tombs  map[string]*Tombstone
	torder []tombEntry // insertion order, for expiry and eviction
	ttl    time.Duration
	maxT   int
}

type tombEntry struct {
	id string
	at time.Time // when Close stored it; the TTL runs from here
}

type memShard struct {
	mu sync.Mutex
	m  map[string]*memSession
}

type memSession struct {
	rec   memRecord
	meta  metaList  // the Record's Meta, compact
	buf   []Message // kept messages; buf[head:] are unacknowledged, numbered up to rec.Out
	head  int
	bytes int
	rooms []memRoom // the session's rooms, in join order
	// inline holds the first room, so that a broadcast to the room most
	// sessions are in reads nothing outside the session: each member's
	// check would otherwise cost a cache miss.
	inline [1]memRoom
}

// memRecord is a Record without its Meta and Rooms, which a memSession
// keeps compact beside it, with its times as Unix nanoseconds (0: the
// zero time), as a shared store keeps them, and its limits in 32 bits
// (larger ones count as 2^31-1, more than memory can hold), so that a
// memSession is 320 bytes, not 384. TestMemRecordFields checks it has
// every other field of Record.
type memRecord struct {
	ID, UserID            string
	Token, PrevToken      TokenHash
	Created, Detached     int64
	In, Out, Acked        uint64
	Attempt               uint64
	Owner                 string
	Lease, Features       uint64
	MaxMessages, MaxBytes int32
}

func memRecordOf(r *Record) memRecord {
	return memRecord{ID: r.ID, UserID: r.UserID, Token: r.Token, PrevToken: r.PrevToken, Created: unixNano(r.Created), Detached: unixNano(r.Detached),
		In: r.In, Out: r.Out, Acked: r.Acked, Attempt: r.Attempt, Owner: r.Owner, Lease: r.Lease, Features: r.Features,
		MaxMessages: limit32(r.MaxMessages), MaxBytes: limit32(r.MaxBytes)}
}

// limit32 is a limit as memRecord keeps it.
func limit32(n int) int32 { return int32(min(n, math.MaxInt32)) }

// unixNano is t as memRecord keeps it.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano is the time unixNano kept.
func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// record returns the session's Record, a copy; the shard's lock held.
func (ms *memSession) record() *Record {
	r := ms.rec
	return &Record{ID: r.ID, UserID: r.UserID, Token: r.Token, PrevToken: r.PrevToken, Meta: ms.meta.toMap(), Rooms: ms.roomNames(),
		Created: fromUnixNano(r.Created), Detached: fromUnixNano(r.Detached), In: r.In, Out: r.Out, Acked: r.Acked, Attempt: r.Attempt, Owner: r.Owner,
		Lease: r.Lease, Features: r.Features, MaxMessages: int(r.MaxMessages), MaxBytes: int(r.MaxBytes)}
}

// NewMemoryStore returns an empty in-memory store with a fresh epoch.
func NewMemoryStore(opts *MemoryStoreOptions) *MemoryStore {
	var o MemoryStoreOptions
	if opts != nil {
		o = *opts
	}
	if o.TombstoneTTL <= 0 {
		o.TombstoneTTL = 10 * time.Minute
	}
	if o.MaxTombstones <= 0 {
		o.MaxTombstones = 100_000
	}
	if o.MaxRoomStreams <= 0 {
		o.MaxRoomStreams = 100_000
	}
	var e [8]byte
	_, _ = rand.Read(e[:])
	s := &MemoryStore{
		epoch: hex.EncodeToString(e[:]),
		seed:  maphash.MakeSeed(),
		tombs: make(map[string]*Tombstone),
		rooms: make(map[string]idSet),
		users: make(map[string]idSet),
		ttl:   o.TombstoneTTL,
		maxT:  o.MaxTombstones,
		maxR:  o.MaxRoomStreams,

		streams:  make(map[string]*memStream),
		presence: make(map[presenceKey]idSet),
	}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*memSession)
	}
	return s
}

func (s *MemoryStore) shard(id string) *memShard {
	return &s.shards[maphash.String(s.seed, id)%uint64(len(s.shards))]
}

// Epoch implements Store.
func (s *MemoryStore) Epoch(context.Context) (string, error) { return s.epoch, nil }

// Create implements Store.
func (s *MemoryStore) Create(_ context.Context, rec *Record) error {
	sh := s.shard(rec.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[rec.ID]; ok {
		return ErrExists
	}
	ms := &memSession{rec: memRecordOf(rec), meta: metaOf(rec.Meta)}
	ms.rec.Out, ms.rec.Acked, ms.rec.Lease = 0, 0, 1
	sh.m[rec.ID] = ms
	s.imu.Lock()
	addIndex(s.users, rec.UserID, rec.ID)
	for _, r := range rec.Rooms {
		if ms.room(r) < 0 {
			ms.addRoom(memRoom{name: s.roomName(r)})
			addIndex(s.rooms, r, rec.ID)
		}
	}
	s.imu.Unlock()
	return nil
}

// Load implements Store.
func (s *MemoryStore) Load(_ context.Context, id string) (*Record, error) {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ms, ok := sh.m[id]
	if !ok {
		return nil, ErrNotFound
	}
	return ms.record(), nil
}

// Save implements Store.
func (s *MemoryStore) Save(_ context.Context, rec *Record) error {
	sh := s.shard(rec.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ms, ok := sh.m[rec.ID]
	if !ok {
		return ErrNotFound
	}
	if rec.Lease != ms.rec.Lease {
		return ErrFenced
	}
	ms.rec.Token, ms.rec.PrevToken = rec.Token, rec.PrevToken
	ms.meta = metaOf(rec.Meta)
	ms.rec.In = rec.In
	ms.rec.Detached = unixNano(rec.Detached)
	ms.rec.Attempt = rec.Attempt
	return nil
}

// SaveIn implements Store.
func (s *MemoryStore) SaveIn(_ context.Context, id string, lease, in uint64) error {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ms, ok := sh.m[id]
	if !ok {
		return ErrNotFound
	}
	if lease != ms.rec.Lease {
		return ErrFenced
	}
	ms.rec.In = in
	return nil
}

// Claim implements Store.
func (s *MemoryStore) Claim(_ context.Context, id, node string) (*Record, error) {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ms, ok := sh.m[id]
	if !ok {
		return nil, ErrNotFound
	}
	ms.rec.Owner = node
	ms.rec.Lease++
	return ms.record(), nil
}

// Release implements Store. A memory store has no other server to adopt
// orphans, so it only clears the owner.
func (s *MemoryStore) Release(_ context.Context, id string, lease uint64) error {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ms, ok := sh.m[id]
	if !ok {
		return ErrNotFound
	}
	if lease != ms.rec.Lease {
		return ErrFenced
	}
	ms.rec.Owner = ""
	return nil
}

// Append implements Store.
func (s *MemoryStore) Append(_ context.Context, id string, msgs ...Message) (uint64, error) {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ms, ok := sh.m[id]
	if !ok {
		return 0, ErrNotFound
	}
	if err := ms.appendLocked(msgs...); err != nil {
		return 0, err
	}
	return ms.rec.Out, nil
}

// first is the seq of buf[head], or the next seq when nothing is kept.
func (ms *memSession) first() uint64 {
	return ms.rec.Out + 1 - uint64(len(ms.buf)-ms.head)
}

// firstBuf is the capacity a session's replay buffer starts with.
const firstBuf = 4

// appendLocked numbers msgs and keeps them, or fails with ErrOverflow
// keeping none; the shard's lock is held.
func (ms *memSession) appendLocked(msgs ...Message) error {
	n, b := len(ms.buf)-ms.head, ms.bytes
	for i := range msgs {
		b += len(msgs[i].Data)
	}
	n += len(msgs)
	if (ms.rec.MaxMessages > 0 && n > int(ms.rec.MaxMessages)) || (ms.rec.MaxBytes > 0 && b > int(ms.rec.MaxBytes)) {
		return ErrOverflow
	}
	if ms.buf == nil {
		// Released when the client acknowledged everything: room for a
		// few messages at once rather than growing from one.
		ms.buf = make([]Message, 0, max(len(msgs), firstBuf))
	}
	for _, m := range msgs {
		ms.rec.Out++
		m.Seq = ms.rec.Out
		ms.buf = append(ms.buf, m)
	}
	ms.bytes = b
	return nil
}

// Read implements Store.
func (s *MemoryStore) Read(_ context.Context, id string, after uint64, maxBytes int, dst []Message) ([]Message, error) {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ms, ok := sh.m[id]
	if !ok {
		return dst, ErrNotFound
	}
	if after >= ms.rec.Out {
		return dst, nil
	}
	first := ms.first()
	if after+1 < first {
		return dst, ErrGap
	}
	i := ms.head + int(after+1-first)
	b, n := 0, len(dst)
	for ; i < len(ms.buf); i++ {
		m := ms.buf[i]
		if len(dst) > n && b+len(m.Data) > maxBytes {
			break
		}
		b += len(m.Data)
		dst = append(dst, m)
	}
	return dst, nil
}

// Ack implements Store.
func (s *MemoryStore) Ack(_ context.Context, id string, seq uint64) error {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ms, ok := sh.m[id]
	if !ok {
		return ErrNotFound
	}
	if seq > ms.rec.Out {
		return ErrAckRange
	}
	if seq <= ms.rec.Acked {
		return nil
	}
	ms.rec.Acked = seq
	for ms.head < len(ms.buf) && ms.buf[ms.head].Seq <= seq {
		ms.bytes -= len(ms.buf[ms.head].Data)
		ms.buf[ms.head] = Message{}
		ms.head++
	}
	switch {
	case ms.head == len(ms.buf):
		ms.buf, ms.head = nil, 0 // idle sessions hold no buffer
	case ms.head > 64 && ms.head > len(ms.buf)/2:
		n := copy(ms.buf, ms.buf[ms.head:])
		clear(ms.buf[n:])
		ms.buf, ms.head = ms.buf[:n], 0
	}
	return nil
}

// Close implements Store. The tombstone is in place before the session
// disappears, so a concurrent reader always finds one or the other.
func (s *MemoryStore) Close(_ context.Context, id string, lease uint64, t *Tombstone) error {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ms, ok := sh.m[id]
	if !ok {
		return ErrNotFound
	}
	if lease != 0 && lease != ms.rec.Lease {
		return ErrFenced
	}
	if t != nil {
		s.putTombstone(id, t)
	}
	delete(sh.m, id)
	s.imu.Lock()
	removeIndex(s.users, ms.rec.UserID, id)
	for _, r := range ms.rooms {
		removeIndex(s.rooms, r.name, id)
	}
	s.imu.Unlock()
	return nil
}

func (s *MemoryStore) putTombstone(id string, t *Tombstone) {
	now := time.Now()
	s.tmu.Lock()
	defer s.tmu.Unlock()
	s.pruneLocked(now)
	if _, ok := s.tombs[id]; ok {
		delete(s.tombs, id)
		s.torder = slices.DeleteFunc(s.torder, func(e tombEntry) bool { return e.id == id })
	}
	for len(s.torder) >= s.maxT {
		delete(s.tombs, s.torder[0].id)
		s.torder = s.torder[1:]
	}
	tc := *t
	tc.InRooms = slices.Clone(t.InRooms)
	s.tombs[id] = &tc
	s.torder = append(s.torder, tombEntry{id: id, at: now})
}

// pruneLocked drops tombstones older than the TTL, oldest first.
func (s *MemoryStore) pruneLocked(now time.Time) {
	n := 0
	for n < len(s.torder) && now.Sub(s.torder[n].at) >= s.ttl {
		delete(s.tombs, s.torder[n].id)
		n++
	}
	if n > 0 {
		s.torder = append([]tombEntry(nil), s.torder[n:]...)
	}
}

// Tombstone implements Store.
func (s *MemoryStore) Tombstone(_ context.Context, id string) (*Tombstone, error) {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	s.pruneLocked(time.Now())
	t, ok := s.tombs[id]
	if !ok {
		return nil, ErrNotFound
	}
	tc := *t
	tc.InRooms = slices.Clone(t.InRooms)
	return &tc, nil
}

// Len reports how many sessions the store holds.
func (s *MemoryStore) Len() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.Lock()
		n += len(s.shards[i].m)
		s.shards[i].mu.Unlock()
	}
	return n
}
