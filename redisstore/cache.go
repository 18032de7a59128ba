package redisstore

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/tether-ws/tether"
)

// Local state. A store keeps, in process, a little of what it knows about
// the sessions this node serves, to spare round trips on the hot path:
//
//   - A read cache: the replay log entries of a session this node owns,
//     as far as it saw them appended (by its own Appends, and by other
//     nodes through the wakes, which carry the entries). An entry never
//     changes once appended, so the cache answers Read with the run it
//     holds from after+1 on, up to its first gap, and goes to Redis when it
//     holds nothing for after+1. The core's writer reads again for what a
//     short run left out. Entries up to an Ack are dropped at once, so the
//     cache never answers for trimmed messages (see floor below).
//   - Ack coalescing (acks.go): Ack records the acknowledgement here and a
//     background flusher sends every session's pending ack in one pipeline;
//     anything that must see Redis up to date (Load, Read of trimmed
//     messages, Release, Claim, Close, an Append that overflows, Stop)
//     flushes the session's ack first.
//
// A session's state (sess) lives while it holds something: cached entries,
// an ack not yet flushed, or recent use. Idle sessions are swept: their
// entries after cacheIdle sweeps without use, their state after stateIdle
// sweeps with nothing cached or pending. The state goes at once when this
// store sees the session leave (Release, Close, a Claim by another node,
// the loss of this node's liveness) or appear anew (Create).
//
// The floor: entries at or below the session's highest known ack are never
// inserted, so an Append reply or a wake that arrives after the ack of its
// own messages (the writer may have read them from Redis first) cannot
// bring trimmed messages back. The state, and so the floor, outlives the
// last use by stateIdle sweeps, which covers any sane notice delay.

// Bounds of the read cache.
const (
	cacheSessEntries = 512      // slots per session, gaps included
	cacheSessBytes   = 1 << 20  // bytes per session
	cacheTotalBytes  = 64 << 20 // bytes in all
	entryOverhead    = 48       // bytes counted per entry besides its payload

	// wakeMaxBytes bounds the entry bytes a wake carries: the owner reads
	// bigger appends from Redis.
	wakeMaxBytes = 64 << 10
)

// Sweeping (done by the ack loop).
const (
	sweepBatch = 4096 // sessions looked at per sweep
	stateIdle  = 4    // sweeps without use before an empty state goes (about 1s)
	cacheIdle  = 120  // sweeps without use before cached entries go (about 30s)
)

// entry is a cached log entry; ok is false in a gap. A room's message or
// event keeps its room and offset, as Read returns them.
type entry struct {
	data []byte
	room string
	off  uint64
	typ  tether.MessageType
	ok   bool
}

func entryOf(m *tether.Message) entry {
	return entry{data: m.Data, room: m.Room, off: m.Offset, typ: m.Type, ok: true}
}

// sess is what the store knows of one session. Guarded by local.mu.
type sess struct {
	id string

	// The cache: ents[i] holds seq base+i; n entries are present, of
	// bytes bytes (payloads and overhead).
	base  uint64
	ents  []entry
	n     int
	bytes int
	// Links in the LRU list of sessions holding entries.
	prev, next *sess
	inLRU      bool

	last  uint64        // highest seq known to be assigned
	acked uint64        // highest ack (the floor); may be unflushed
	sent  uint64        // highest ack handed to a flush
	done  uint64        // highest ack known to be in Redis
	wait  chan struct{} // closed when the flush carrying sent ends
	dirty bool          // listed in local.dirty
	maxm  uint64        // the session's message bound, 0 when unknown or none

	gen uint64 // local.gen when last used
}

// unflushed reports whether the session has an ack not yet in Redis.
func (st *sess) unflushed() bool { return st.acked > st.done }

// local is a store's local state.
type local struct {
	mu    sync.Mutex
	m     map[string]*sess
	head  *sess // most recently used session holding entries
	tail  *sess // least recently used one
	bytes int   // cached, in all sessions
	gen   uint64
	dirty []*sess // sessions whose ack may be pending
	sync  bool    // the flusher stopped: acks go to Redis at once
	// flushed counts acks that reached Redis: an Append that overflowed
	// may have run just before one of them, and deserves another try.
	flushed atomic.Uint64

	kick   chan struct{} // a pending ack: flush soon
	urgent chan struct{} // an ack near a session's bound: flush now

	// Bounds, fixed at New (tests lower them).
	maxEntries, sessBytes, totalBytes int
}

func newLocal() local {
	return local{
		m:          make(map[string]*sess),
		kick:       make(chan struct{}, 1),
		urgent:     make(chan struct{}, 1),
		maxEntries: cacheSessEntries,
		sessBytes:  cacheSessBytes,
		totalBytes: cacheTotalBytes,
	}
}

// obtain returns a session's state, creating it; l.mu held.
func (l *local) obtain(id string) *sess {
	st := l.m[id]
	if st == nil {
		st = &sess{id: id, gen: l.gen}
		l.m[id] = st
	}
	return st
}

// use marks st as just used; l.mu held.
func (l *local) use(st *sess) {
	st.gen = l.gen
	if st.inLRU && l.head != st {
		l.unlink(st)
		l.pushFront(st)
	}
}

func (l *local) pushFront(st *sess) {
	st.prev, st.next = nil, l.head
	if l.head != nil {
		l.head.prev = st
	}
	l.head = st
	if l.tail == nil {
		l.tail = st
	}
	st.inLRU = true
}

func (l *local) unlink(st *sess) {
	if st.prev != nil {
		st.prev.next = st.next
	} else {
		l.head = st.next
	}
	if st.next != nil {
		st.next.prev = st.prev
	} else {
		l.tail = st.prev
	}
	st.prev, st.next, st.inLRU = nil, nil, false
}

// put caches the entry with seq; l.mu held. Entries at or below the floor,
// too big, or too far below the cached window are left out.
func (l *local) put(st *sess, seq uint64, ne entry) {
	size := len(ne.data) + entryOverhead
	if seq <= st.acked || size > l.sessBytes || seq == 0 {
		return
	}
	max := uint64(l.maxEntries)
	switch {
	case st.n == 0:
		clear(st.ents)
		st.ents, st.base = st.ents[:0], seq
	case seq < st.base:
		// Arrived late (a wake behind our own Append's reply): make room
		// in front, if the window allows.
		gap := st.base - seq
		if gap > max || gap+uint64(len(st.ents)) > max {
			return
		}
		ents := make([]entry, int(gap)+len(st.ents), int(gap)+len(st.ents)+8)
		copy(ents[gap:], st.ents)
		st.ents, st.base = ents, seq
	}
	if off := seq - st.base; off >= uint64(len(st.ents)) {
		// Beyond the end: slide the window so that seq fits.
		if off >= max {
			l.dropFront(st, off-max+1)
			if st.n == 0 {
				clear(st.ents)
				st.ents, st.base = st.ents[:0], seq
			}
		}
		for uint64(len(st.ents)) <= seq-st.base {
			st.ents = append(st.ents, entry{})
		}
	}
	e := &st.ents[seq-st.base]
	if e.ok {
		return // the same entry, seen twice
	}
	*e = ne
	st.n++
	st.bytes += size
	l.bytes += size
	if !st.inLRU {
		l.pushFront(st)
	}
	for st.bytes > l.sessBytes && st.n > 0 {
		l.dropFront(st, 1)
	}
}

// dropFront drops the k first slots of st's window; l.mu held.
func (l *local) dropFront(st *sess, k uint64) {
	if k >= uint64(len(st.ents)) {
		l.clearEnts(st)
		st.base += k
		return
	}
	for i := range st.ents[:k] {
		if e := &st.ents[i]; e.ok {
			st.n--
			st.bytes -= len(e.data) + entryOverhead
			l.bytes -= len(e.data) + entryOverhead
		}
	}
	clear(st.ents[:k])
	st.ents = st.ents[k:]
	st.base += k
	if st.n == 0 {
		l.clearEnts(st)
	}
}

// dropTo drops the entries up to seq; l.mu held.
func (l *local) dropTo(st *sess, seq uint64) {
	if st.n > 0 && seq >= st.base {
		l.dropFront(st, seq-st.base+1)
	}
}

// clearEnts drops every entry of st and releases its memory; l.mu held.
func (l *local) clearEnts(st *sess) {
	l.bytes -= st.bytes
	st.ents, st.n, st.bytes = nil, 0, 0
	if st.inLRU {
		l.unlink(st)
	}
}

// evict drops the entries of the least recently used sessions, other
// than keep, while the cache is over its total bound; l.mu held.
func (l *local) evict(keep *sess) {
	for l.bytes > l.totalBytes {
		v := l.tail
		if v == keep {
			v = v.prev
		}
		if v == nil {
			return
		}
		l.clearEnts(v)
	}
}

// remove forgets st; l.mu held. An ack it had pending is dropped; the
// flush in flight, if any, is returned, to be waited for.
func (l *local) remove(st *sess) chan struct{} {
	if l.m[st.id] == st {
		delete(l.m, st.id)
	}
	l.clearEnts(st)
	st.acked = max(st.sent, st.done)
	if st.sent > st.done {
		return st.wait
	}
	return nil
}

// forget drops what is known of a session: it left this node, or is
// created anew. It returns the ack flush in flight for it, if any.
func (l *local) forget(id string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.m[id]; st != nil {
		return l.remove(st)
	}
	return nil
}

// forgetAll drops every session's state: this node lost its liveness.
func (l *local) forgetAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, st := range l.m {
		l.remove(st)
	}
}

// claimed records a session this node just claimed.
func (l *local) claimed(rec *tether.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.m[rec.ID]; st != nil {
		l.remove(st)
	}
	st := l.obtain(rec.ID)
	st.last = rec.Out
	st.acked, st.sent, st.done = rec.Acked, rec.Acked, rec.Acked
	st.maxm = uint64(max(rec.MaxMessages, 0))
}

// appended records what this store's own script appended to a session:
// the last p.n of msgs, the last of which got seq p.last. Entries are
// cached only for a session this node owns (p.owned: the script
// compared); the caller's Data slices are kept, which the Store contract
// allows. A script that appended nothing (p.n == 0) tells nothing.
func (l *local) appended(id string, p pushed, msgs []tether.Message) {
	if p.n == 0 || p.n > len(msgs) {
		return
	}
	msgs = msgs[len(msgs)-p.n:]
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.m[id]
	if !p.owned {
		if st != nil {
			// Someone else owns it now: keep the ack state (an ack may be
			// pending), drop the entries.
			l.clearEnts(st)
			st.last = max(st.last, p.last)
		}
		return
	}
	if st == nil {
		st = l.obtain(id)
	}
	st.last = max(st.last, p.last)
	st.maxm = p.maxm
	first := p.last - uint64(len(msgs)) + 1
	for i := range msgs {
		l.put(st, first+uint64(i), entryOf(&msgs[i]))
	}
	l.use(st)
	l.evict(st)
}

// appendedEach is appended for one message appended to several sessions
// (pushEach); res[i].n == 0 means nothing was appended to ids[i].
func (l *local) appendedEach(ids []string, res []pushed, m tether.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := entryOf(&m)
	for i, id := range ids {
		p := res[i]
		if p.n != 1 {
			continue
		}
		st := l.m[id]
		if !p.owned {
			if st != nil {
				l.clearEnts(st)
				st.last = max(st.last, p.last)
			}
			continue
		}
		if st == nil {
			st = l.obtain(id)
		}
		st.last = max(st.last, p.last)
		st.maxm = p.maxm
		l.put(st, p.last, e)
		l.use(st)
		l.evict(st)
	}
}

// woke records a wake: messages up to last were appended to a session this
// node owns, and w holds the last ones, if the wake carried them.
func (l *local) woke(id string, last uint64, w *wakeData) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.obtain(id)
	st.last = max(st.last, last)
	if w != nil && uint64(len(w.ents)) <= last {
		st.maxm = w.maxm
		first := last - uint64(len(w.ents)) + 1
		for i, e := range w.ents {
			l.put(st, first+uint64(i), e)
		}
	}
	l.use(st)
	l.evict(st)
}

// read answers Read from the cache if it holds after+1: it appends the
// cached run from there on, up to its first gap or maxBytes. Otherwise
// hit is false, and flush says whether the session's ack must reach Redis
// before Redis can answer right (after is below an unflushed ack).
func (l *local) read(id string, after uint64, maxBytes int, dst []tether.Message) (_ []tether.Message, hit, flush bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.m[id]
	if st == nil {
		return dst, false, false
	}
	if after < st.acked {
		return dst, false, st.unflushed()
	}
	if st.n == 0 || after == math.MaxUint64 || after+1 < st.base || after+1-st.base >= uint64(len(st.ents)) {
		return dst, false, false
	}
	total, n := 0, 0
	for i := int(after + 1 - st.base); i < len(st.ents); i++ {
		e := &st.ents[i]
		if !e.ok || (n > 0 && total+len(e.data) > maxBytes) {
			break
		}
		total += len(e.data)
		n++
		dst = append(dst, tether.Message{Type: e.typ, Data: e.data, Seq: st.base + uint64(i), Room: e.room, Offset: e.off})
	}
	if n == 0 {
		return dst, false, false
	}
	l.use(st)
	return dst, true, false
}

// sawLast records that seq was assigned (Redis returned it), for a
// session with a state.
func (l *local) sawLast(id string, seq uint64) {
	l.mu.Lock()
	if st := l.m[id]; st != nil {
		st.last = max(st.last, seq)
	}
	l.mu.Unlock()
}

// ackResult says what local.ack did.
type ackResult uint8

const (
	ackSync   ackResult = iota // unknown here: ask Redis now
	ackDone                    // nothing to do (at or below the current ack)
	ackQueued                  // recorded, to flush soon
	ackUrgent                  // recorded; flush now, the session nears its bound
)

// ack records an ack if it can be checked without Redis: seq must be at
// most the highest seq this store knows to be assigned.
func (l *local) ack(id string, seq uint64) ackResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.m[id]
	if st == nil || l.sync {
		return ackSync
	}
	if seq <= st.acked {
		st.gen = l.gen
		return ackDone
	}
	if seq > st.last {
		return ackSync
	}
	st.acked = seq
	l.dropTo(st, seq)
	l.use(st)
	if !st.dirty {
		st.dirty = true
		l.dirty = append(l.dirty, st)
	}
	if st.maxm > 0 && st.last > st.done && st.last-st.done >= (st.maxm+1)/2 {
		return ackUrgent
	}
	return ackQueued
}

// acked records an ack Redis took synchronously.
func (l *local) acked(id string, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushed.Add(1)
	if st := l.m[id]; st != nil {
		st.acked = max(st.acked, seq)
		st.sent = max(st.sent, seq)
		st.done = max(st.done, seq)
		st.last = max(st.last, seq)
		l.dropTo(st, seq)
		l.use(st)
	}
}

// mayFree reports whether an Append to a session that overflowed may
// succeed once acks held here are in Redis: the session has an ack not
// yet there, or acks reached Redis since flushed was read (perhaps just
// after the Append ran). Both are read under l.mu, which every flush
// holds while it counts itself and marks its acks done: a flush that
// lands between the two reads cannot hide from both.
func (l *local) mayFree(id string, flushed uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.flushed.Load() != flushed {
		return true
	}
	st := l.m[id]
	return st != nil && st.unflushed()
}

// sweep drops the entries of sessions unused for cacheIdle sweeps, and
// the state of sessions with nothing cached or pending, unused for
// stateIdle sweeps. It looks at sweepBatch sessions, from a random place
// (Go's map order): idle sessions go after a few sweeps on average.
func (l *local) sweep() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	i := 0
	for _, st := range l.m {
		if i++; i > sweepBatch {
			break
		}
		idle := l.gen - st.gen
		if st.n > 0 && idle >= cacheIdle {
			l.clearEnts(st)
		}
		if st.n == 0 && st.acked == st.done && st.sent == st.done && idle >= stateIdle {
			delete(l.m, st.id)
		}
	}
}

// cacheStats describes the local state, for tests.
type cacheStats struct {
	Sessions, Cached, Entries, Bytes int
}

func (l *local) stats() cacheStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := cacheStats{Sessions: len(l.m), Bytes: l.bytes}
	for _, st := range l.m {
		if st.n > 0 {
			c.Cached++
			c.Entries += st.n
		}
	}
	return c
}
