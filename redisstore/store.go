// Package redisstore is a tether.Store and tether.Cluster on Redis: several
// servers share one Redis (single node, Sentinel or Cluster), so a client
// may resume its session on any of them.
//
// Each session lives in a handful of keys hashed to one slot, and every
// change to it is one Lua script: atomic, and one round trip on the hot
// path (Append, Read, Ack, SaveIn). Indexes that span sessions (users,
// rooms, node ownership, orphans) are plain sets updated right after the
// session's script; Redis Cluster cannot update them atomically with it,
// so readers tolerate stale entries.
//
// Expiry is the servers' job (they call Close when the grace window
// passes). As a safety net against leaks, every session key also carries
// an expiry of Options.KeyTTL (24h), renewed whenever the session is
// created, saved or claimed, and periodically for every session its node
// owns: if every server died, abandoned sessions still disappear.
//
// The key layout is described in keys.go, the scripts in scripts.go. It
// needs Redis 7.0 or later. Stop, not Close, ends a Store: Close is the
// tether.Store method that closes a session.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tether-ws/tether"
)

// Options configures New.
type Options struct {
	// Redis is the client to use: a single node, Sentinel or Cluster
	// client (redis.NewUniversalClient). Required. New adds a hook to it
	// (see Stats); closing it is the caller's business, after Stop.
	Redis redis.UniversalClient
	// Prefix starts every key and channel name; zero means "tether". It
	// may not contain '{' or '}' (hash tags are the store's).
	Prefix string
	// Node names this server among the live ones; zero means a random
	// name (hostname-pid-random). New waits, until ctx is done, while a
	// live node holds the name.
	Node string
	// Liveness is how long a node may go without renewing its liveness
	// before the others consider it dead and take its sessions over. It
	// is renewed every Liveness/4. Zero means 5s; less than 10ms means
	// 10ms.
	Liveness time.Duration
	// TombstoneTTL is how long a closed session's tombstone is kept.
	// Zero means 10 minutes.
	TombstoneTTL time.Duration
	// KeyTTL is the safety-net expiry of session keys (see the package
	// documentation). Zero means 24h. Keep it far above the grace window.
	KeyTTL time.Duration
	// Logger receives the store's logs. Nil means slog.Default().
	Logger *slog.Logger
}

// Store is a Redis store. It implements tether.Store and tether.Cluster.
type Store struct {
	rdb      redis.UniversalClient
	single   bool // one connection executes a pipeline in order (not Cluster)
	prefix   string
	base     string // the configured node name, or "" for random names
	liveness time.Duration
	tombTTL  time.Duration
	keyTTL   time.Duration
	log      *slog.Logger
	stats    counter
	loc      local // read cache and pending acks (cache.go, acks.go)

	nodeMu sync.RWMutex
	node   string
	past   map[string]bool // this store's earlier names (see canon)

	down     atomic.Bool // lost liveness, not registered again yet
	listener atomic.Pointer[func(tether.Notice)]
	notices  chan tether.Notice // to the dispatcher
	lost     chan tether.Notice // to the dispatcher, never blocking

	psMu    sync.Mutex
	ps      *redis.PubSub
	stopped bool

	ctx      context.Context // cancelled by Stop
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
}

var (
	_ tether.Store   = (*Store)(nil)
	_ tether.Cluster = (*Store)(nil)
)

// ErrNodeLost is returned by Create and Claim for this node between
// the loss of its liveness and its registration under a new name, and
// after Stop: a dead node must not take sessions. It is transient, unless
// the store was stopped.
var ErrNodeLost = errors.New("redisstore: this node lost its liveness and is registering again")

// mayOwn reports whether node may be given sessions now: not this node
// while it has lost its liveness, nor once it stopped renewing it (Stop):
// whatever it took then would belong to a node the others take for dead.
func (s *Store) mayOwn(node string) error {
	if node == s.Node() && (s.down.Load() || s.ctx.Err() != nil) {
		return ErrNodeLost
	}
	return nil
}

// New registers this node in Redis, then starts renewing its liveness and
// listening for its notices. Stop ends that. opts.Redis is required; New
// keeps its own copy of opts.
func New(ctx context.Context, opts *Options) (*Store, error) {
	if opts == nil || opts.Redis == nil {
		return nil, errors.New("redisstore: Options.Redis is required")
	}
	o := *opts
	if o.Prefix == "" {
		o.Prefix = "tether"
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return nil, fmt.Errorf("redisstore: prefix %q contains a brace", o.Prefix)
	}
	if o.Liveness <= 0 {
		o.Liveness = 5 * time.Second
	}
	o.Liveness = max(o.Liveness, 10*time.Millisecond)
	if o.TombstoneTTL <= 0 {
		o.TombstoneTTL = 10 * time.Minute
	}
	if o.KeyTTL <= 0 {
		o.KeyTTL = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Store{
		rdb:      o.Redis,
		prefix:   o.Prefix,
		base:     o.Node,
		liveness: o.Liveness,
		tombTTL:  o.TombstoneTTL,
		keyTTL:   o.KeyTTL,
		log:      o.Logger,
		past:     make(map[string]bool),
		notices:  make(chan tether.Notice, 256),
		lost:     make(chan tether.Notice, 1),
		loc:      newLocal(),
	}
	_, s.single = o.Redis.(*redis.Client)
	o.Redis.AddHook(&s.stats)

	// Pipelined calls use EVALSHA only; load the scripts once so they
	// find them (exec falls back to EVAL after a SCRIPT FLUSH).
	for _, sc := range allScripts {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return nil, fmt.Errorf("redisstore: cannot load scripts: %w", err)
		}
	}
	name := o.Node
	if name == "" {
		name = randomName("")
	}
	sent, err := s.register(ctx, name, o.Node != "")
	if err != nil {
		return nil, err
	}
	s.node = name
	s.ctx, s.cancel = context.WithCancel(context.Background())
	ps, err := s.subscribe(ctx, name)
	if err != nil {
		s.cancel()
		return nil, err
	}
	s.ps = ps
	s.wg.Add(4)
	go s.liveLoop(sent)
	go s.receive()
	go s.dispatch()
	go s.ackLoop()
	return s, nil
}

// Stop stops renewing the node's liveness and listening for notices,
// flushes the acks it holds (later ones go to Redis at once), and waits
// for the store's goroutines to end. It deletes nothing: the node
// counts as dead Liveness later, and its sessions then go to whoever
// adopts them. The methods of the Store interface keep working as long as
// the Redis client does.
//
// (It is not called Close because tether.Store's Close closes a session.)
func (s *Store) Stop() error {
	s.stopOnce.Do(func() {
		s.cancel()
		s.psMu.Lock()
		ps := s.ps
		s.ps, s.stopped = nil, true
		s.psMu.Unlock()
		if ps != nil {
			_ = ps.Close()
		}
		s.wg.Wait()
	})
	return nil
}

// randomName returns base-random, or hostname-pid-random without a base.
func randomName(base string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	if base == "" {
		host, _ := os.Hostname()
		base = host + "-" + strconv.Itoa(os.Getpid())
	}
	return base + "-" + hex.EncodeToString(b[:])
}

// undoTimeout bounds the clean-up of a half-done Create.
const undoTimeout = 5 * time.Second

func (s *Store) ttl() int64 { return s.keyTTL.Milliseconds() }

// Epoch implements tether.Store. The epoch key is created on first use
// and never expires, so it changes only if Redis loses its data.
func (s *Store) Epoch(ctx context.Context) (string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	fresh := hex.EncodeToString(b[:])
	v, err := s.rdb.SetArgs(ctx, s.epochKey(), fresh, redis.SetArgs{Mode: "NX", Get: true}).Result()
	if errors.Is(err, redis.Nil) {
		return fresh, nil
	}
	return v, err
}

// Create implements tether.Store. The owner's ownership set is written
// first, so that a session is never owned without being listed there
// (Adopt finds a dead node's sessions through it); the user and room
// indexes follow the session.
func (s *Store) Create(ctx context.Context, rec *tether.Record) error {
	owner := s.canon(rec.Owner)
	if err := s.mayOwn(owner); err != nil {
		return err
	}
	s.forgetSession(ctx, rec.ID) // a namesake's leftovers
	var rooms []string
	for _, r := range rec.Rooms {
		if !slices.Contains(rooms, r) {
			rooms = append(rooms, r)
		}
	}
	args := []any{s.ttl(), len(rooms)}
	for _, r := range rooms {
		args = append(args, r)
	}
	args = append(args, createFields(rec, owner)...)
	b := newBatch(ctx)
	if owner != "" {
		b.add("sadd", s.ownedKey(owner), rec.ID)
		b.then()
	}
	res := b.eval(scCreate, s.sessionKeys(rec.ID), args...)
	if err := s.exec(b); err != nil {
		return err
	}
	if _, err := reply(res); err != nil {
		return err
	}
	if err := s.index(ctx, rec.ID, rec.UserID, rooms); err != nil {
		// An unindexed session would escape UserSessions and broadcasts:
		// undo it, so that the caller's error is the whole truth.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
		defer cancel()
		if cerr := s.Close(uctx, rec.ID, 0, nil); cerr != nil {
			s.log.Warn("redisstore: cannot undo a session whose indexing failed", "session", rec.ID, "err", cerr)
		}
		return err
	}
	return nil
}

// Load implements tether.Store. An ack of the session held here is
// flushed first, so that Acked counts it.
func (s *Store) Load(ctx context.Context, id string) (*tether.Record, error) {
	if err := s.flushAck(ctx, id); err != nil {
		return nil, err
	}
	v, err := s.run(ctx, scLoad, id)
	if err != nil {
		return nil, err
	}
	a := slice(v)
	if len(a) != 2 {
		return nil, errCorrupt
	}
	return decodeRecord(id, slice(a[0]), slice(a[1]))
}

// Save implements tether.Store.
func (s *Store) Save(ctx context.Context, rec *tether.Record) error {
	_, err := s.run(ctx, scSave, rec.ID, s.ttl(), u64(rec.Lease), rec.Token[:], rec.PrevToken[:],
		encodeMeta(rec.Meta), u64(rec.In), encodeTime(rec.Detached), u64(rec.Attempt))
	return err
}

// SaveIn implements tether.Store: one round trip.
func (s *Store) SaveIn(ctx context.Context, id string, lease, in uint64) error {
	_, err := s.run(ctx, scSaveIn, id, s.ttl(), u64(lease), u64(in))
	return err
}

// Close implements tether.Store. The tombstone replaces the session in
// one script; the indexes are cleaned afterwards. What this store held of
// the session goes first (an ack in flight is waited for, so that it
// cannot land on a namesake).
func (s *Store) Close(ctx context.Context, id string, lease uint64, t *tether.Tombstone) error {
	s.forgetSession(ctx, id)
	args := []any{u64(lease), s.tombTTL.Milliseconds()}
	if t != nil {
		args = append(args, encodeTombstone(t))
	}
	v, err := s.run(ctx, scClose, id, args...)
	if err != nil {
		return err
	}
	a := slice(v)
	if len(a) != 3 {
		return errCorrupt
	}
	user, _ := a[0].(string)
	owner, _ := a[1].(string)
	return s.unindex(ctx, id, user, owner, strs(slice(a[2])))
}

// Tombstone implements tether.Store.
func (s *Store) Tombstone(ctx context.Context, id string) (*tether.Tombstone, error) {
	v, err := s.rdb.Get(ctx, s.tombKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, tether.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeTombstone(v)
}

// slice and strs read script replies.
func slice(v any) []any {
	a, _ := v.([]any)
	return a
}

func strs(a []any) []string {
	out := make([]string, 0, len(a))
	for _, v := range a {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}
