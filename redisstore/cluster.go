package redisstore

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
	"github.com/tether-ws/tether"
)

// Ownership. A session's owner and lease are fields of its record,
// changed by scripts that compare the lease (fencing). Each node also has
// a set of the sessions it owns, so that when it dies the others find
// them: a node is added to that set before it claims (a claim is never
// unrecorded; the set may hold stale IDs, which every reader checks), and
// removed from the previous owner's set afterwards.

// Node implements tether.Cluster. The name changes after the node lost
// its liveness (see Listen).
func (s *Store) Node() string {
	s.nodeMu.RLock()
	defer s.nodeMu.RUnlock()
	return s.node
}

// canon maps an earlier name of this store to its current one. A server
// may keep using the name it read at start after the store renamed
// itself: its claims and notices must still reach it.
func (s *Store) canon(node string) string {
	s.nodeMu.RLock()
	defer s.nodeMu.RUnlock()
	if s.past[node] {
		return s.node
	}
	return node
}

// Claim implements tether.Cluster.
func (s *Store) Claim(ctx context.Context, id, node string) (*tether.Record, error) {
	return s.claim(ctx, id, node, nil)
}

// ClaimFrom implements tether.Cluster: Claim, only if the session is
// still owned by from, or by nobody.
func (s *Store) ClaimFrom(ctx context.Context, id, node, from string) (*tether.Record, error) {
	return s.claim(ctx, id, node, &from)
}

func (s *Store) claim(ctx context.Context, id, node string, from *string) (*tether.Record, error) {
	node = s.canon(node)
	if err := s.mayOwn(node); err != nil {
		return nil, err
	}
	// The record returned must count the acks held here.
	if err := s.flushAck(ctx, id); err != nil {
		return nil, err
	}
	b := newBatch(ctx)
	if node != "" {
		b.add("sadd", s.ownedKey(node), id)
		b.then()
	}
	args := []any{s.ttl(), node}
	if from != nil {
		args = append(args, s.canon(*from))
	}
	res := b.eval(scClaim, s.sessionKeys(id), args...)
	if err := s.exec(b); err != nil {
		return nil, err
	}
	v, err := reply(res)
	if errors.Is(err, tether.ErrNotFound) && node != "" {
		_ = s.rdb.SRem(ctx, s.ownedKey(node), id).Err() // there is nothing to own
	}
	if err != nil {
		return nil, err
	}
	rec, prev, err := claimed(id, v)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		// Someone else claimed it meanwhile.
		if node != "" && prev != node {
			_ = s.rdb.SRem(ctx, s.ownedKey(node), id).Err()
		}
		return nil, tether.ErrFenced
	}
	if node == s.Node() {
		s.loc.claimed(rec)
	} else {
		s.forgetSession(ctx, id)
	}
	if prev != "" && prev != node {
		if err := s.rdb.SRem(ctx, s.ownedKey(prev), id).Err(); err != nil {
			s.log.Debug("redisstore: stale ownership entry left", "session", id, "node", prev, "err", err)
		}
	}
	return rec, nil
}

// claimed decodes scClaim's reply: the record if claimed (with the
// previous owner), or nil and the current owner.
func claimed(id string, v any) (rec *tether.Record, owner string, err error) {
	a := slice(v)
	if len(a) < 2 {
		return nil, "", errCorrupt
	}
	owner, _ = a[1].(string)
	if n, _ := a[0].(int64); n != 1 {
		return nil, owner, nil
	}
	if len(a) != 4 {
		return nil, "", errCorrupt
	}
	rec, err = decodeRecord(id, slice(a[2]), slice(a[3]))
	return rec, owner, err
}

// Release implements tether.Store. A released session that is
// disconnected becomes an orphan: listed for Adopt before it leaves its
// owner's set, so that it is always in one or the other. The session's
// ack held here is flushed first, for the next owner to see.
func (s *Store) Release(ctx context.Context, id string, lease uint64) error {
	if err := s.flushAck(ctx, id); err != nil {
		return err
	}
	v, err := s.run(ctx, scRelease, id, u64(lease))
	s.forgetSession(ctx, id) // ours or not, it is not ours to cache any more
	if err != nil {
		return err
	}
	a := slice(v)
	if len(a) != 2 {
		return errCorrupt
	}
	prev, _ := a[0].(string)
	b := newBatch(ctx)
	if n, _ := a[1].(int64); n == 1 {
		b.add("sadd", s.orphansKey(), id)
		b.then()
	}
	if prev != "" {
		b.add("srem", s.ownedKey(prev), id)
	}
	if b.empty() {
		return nil
	}
	if err := s.exec(b); err != nil {
		// The release itself is done; at worst the orphan waits for its
		// former owner to die to be adopted.
		s.log.Warn("redisstore: session released but not listed as an orphan", "session", id, "err", err)
	}
	return nil
}

// Notify implements tether.Cluster: a PUBLISH on the node's channel.
func (s *Store) Notify(ctx context.Context, node string, n tether.Notice) error {
	return s.rdb.Publish(ctx, s.channel(s.canon(node)), encodeNotice(n)).Err()
}

// Listen implements tether.Cluster. fn is called from one goroutine, in
// order; notices that arrive while no function is set are dropped. Lost
// comes when the node could not renew its liveness for Liveness; the
// store then registers again under a new name (Node) as soon as Redis
// answers.
func (s *Store) Listen(fn func(tether.Notice)) {
	if fn == nil {
		s.listener.Store(nil)
		return
	}
	s.listener.Store(&fn)
}

// Alive implements tether.Cluster.
func (s *Store) Alive(ctx context.Context, node string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.aliveKey(node)).Result()
	return n == 1, err
}

// adoptBatch bounds how many IDs one command moves between sets.
const adoptBatch = 512

// Adopt implements tether.Cluster. First the sessions of dead nodes (in
// the registry, without a liveness key) become orphans; then up to max
// orphans are claimed for this node, each by a compare-and-swap on its
// owner: unowned, or (when a sweeper died before disowning it) still
// owned by a node that is dead. An orphan whose owner is alive was resumed
// meanwhile and is left alone. Two adopters racing on one orphan cannot
// both claim it. IDs leave the orphan set only after they were dealt
// with, so an adopter that dies halfway loses none.
func (s *Store) Adopt(ctx context.Context, max int) ([]*tether.Record, error) {
	me := s.Node()
	if s.mayOwn(me) != nil {
		return nil, nil // a dead node adopts nothing; it comes back renamed
	}
	if err := s.sweepDead(ctx, me); err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, nil
	}
	ids, err := s.rdb.SRandMemberN(ctx, s.orphansKey(), int64(max)).Result()
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	if err := s.rdb.SAdd(ctx, s.ownedKey(me), anys(ids)...).Err(); err != nil {
		return nil, err
	}
	a := adoption{s: s, me: me, owners: make(map[string][]string)}
	a.claim(ctx, ids, nil)
	if len(a.owners) > 0 {
		a.retryDead(ctx)
	}
	a.cleanUp(ctx)
	// Claimed records are returned even if something failed since: the
	// caller must hold them.
	return a.recs, nil
}

// adoption is the state of one Adopt call.
type adoption struct {
	s      *Store
	me     string
	recs   []*tether.Record
	done   []string            // dealt with: leave the orphan set
	notOur []string            // not claimed: leave our ownership set
	owners map[string][]string // owner → orphans it still owns
	prevs  map[string][]string // dead owner → sessions taken from it
}

// claim runs the claims of ids in one batch. expect gives the owner each
// one must still have ("" when nil).
func (a *adoption) claim(ctx context.Context, ids []string, expect map[string]string) {
	s := a.s
	b := newBatch(ctx)
	cmds := make([]*redis.Cmd, len(ids))
	for i, id := range ids {
		cmds[i] = b.eval(scClaim, s.sessionKeys(id), s.ttl(), a.me, expect[id])
	}
	_ = s.exec(b) // each reply is looked at below
	for i, c := range cmds {
		id := ids[i]
		v, err := reply(c)
		switch {
		case errors.Is(err, tether.ErrNotFound):
			a.done = append(a.done, id)
			a.notOur = append(a.notOur, id)
			continue
		case err != nil:
			// It stays an orphan, and listed as ours: the claim may have
			// happened, only its reply lost.
			s.log.Warn("redisstore: cannot adopt session", "session", id, "err", err)
			continue
		}
		rec, owner, err := claimed(id, v)
		switch {
		case err != nil:
			s.log.Warn("redisstore: cannot adopt session", "session", id, "err", err)
		case rec != nil:
			s.loc.claimed(rec)
			a.recs = append(a.recs, rec)
			a.done = append(a.done, id)
			if owner != "" && owner != a.me {
				if a.prevs == nil {
					a.prevs = make(map[string][]string)
				}
				a.prevs[owner] = append(a.prevs[owner], id)
			}
		case owner == a.me: // ours already
			a.done = append(a.done, id)
		case expect == nil:
			a.owners[owner] = append(a.owners[owner], id)
		default: // its owner changed since we looked: someone resumed it
			a.done = append(a.done, id)
			a.notOur = append(a.notOur, id)
		}
	}
}

// retryDead claims again the orphans whose owners turn out to be dead.
func (a *adoption) retryDead(ctx context.Context) {
	s := a.s
	b := newBatch(ctx)
	alive := make(map[string]*redis.Cmd, len(a.owners))
	for o := range a.owners {
		alive[o] = b.add("exists", s.aliveKey(o))
	}
	if err := s.exec(b); err != nil {
		s.log.Warn("redisstore: cannot check owners of orphans", "err", err)
		for _, ids := range a.owners {
			a.notOur = append(a.notOur, ids...)
		}
		return
	}
	var retry []string
	expect := make(map[string]string)
	for o, ids := range a.owners {
		if n, _ := alive[o].Int64(); n == 1 {
			// A live owner resumed it: not an orphan any more.
			a.done = append(a.done, ids...)
			a.notOur = append(a.notOur, ids...)
			continue
		}
		for _, id := range ids {
			retry = append(retry, id)
			expect[id] = o
		}
	}
	if len(retry) > 0 {
		a.claim(ctx, retry, expect)
	}
}

// cleanUp updates the sets after the claims.
func (a *adoption) cleanUp(ctx context.Context) {
	s := a.s
	b := newBatch(ctx)
	if len(a.done) > 0 {
		b.add(append([]any{"srem", s.orphansKey()}, anys(a.done)...)...)
	}
	if len(a.notOur) > 0 {
		b.add(append([]any{"srem", s.ownedKey(a.me)}, anys(a.notOur)...)...)
	}
	for o, ids := range a.prevs {
		b.add(append([]any{"srem", s.ownedKey(o)}, anys(ids)...)...)
	}
	if b.empty() {
		return
	}
	if err := s.exec(b); err != nil {
		s.log.Debug("redisstore: stale orphan or ownership entries left", "err", err)
	}
}

// sweepDead turns the sessions of dead nodes into orphans and forgets the
// nodes. IDs are copied before they are removed, so a sweeper that dies
// halfway loses none, and sweepers racing do the same idempotent work.
func (s *Store) sweepDead(ctx context.Context, me string) error {
	nodes, err := s.rdb.SMembers(ctx, s.nodesKey()).Result()
	if err != nil {
		return err
	}
	b := newBatch(ctx)
	alive := make(map[string]*redis.Cmd, len(nodes))
	for _, n := range nodes {
		if n != me {
			alive[n] = b.add("exists", s.aliveKey(n))
		}
	}
	if b.empty() {
		return nil
	}
	if err := s.exec(b); err != nil {
		return err
	}
	for n, c := range alive {
		if v, _ := c.Int64(); v == 1 {
			continue
		}
		if err := s.orphanAll(ctx, n); err != nil {
			return err
		}
		if err := s.rdb.SRem(ctx, s.nodesKey(), n).Err(); err != nil {
			return err
		}
		s.log.Info("redisstore: node found dead; its sessions are orphans", "node", n)
	}
	return nil
}

// orphanAll makes orphans of every session in a dead node's ownership
// set: each is listed in the orphan set and disowned (its owner cleared,
// if still that node) before it leaves the node's set.
func (s *Store) orphanAll(ctx context.Context, node string) error {
	key := s.ownedKey(node)
	for {
		ids, err := s.rdb.SRandMemberN(ctx, key, adoptBatch).Result()
		if err != nil || len(ids) == 0 {
			return err
		}
		b := newBatch(ctx)
		b.add(append([]any{"sadd", s.orphansKey()}, anys(ids)...)...)
		for _, id := range ids {
			b.eval(scDisown, s.sessionKeys(id), node)
		}
		b.then()
		b.add(append([]any{"srem", key}, anys(ids)...)...)
		if err := s.exec(b); err != nil {
			return err
		}
	}
}

func anys(ss []string) []any {
	a := make([]any, len(ss))
	for i, s := range ss {
		a[i] = s
	}
	return a
}
