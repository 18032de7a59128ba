package link

// Serial is the queue of a serial executor: what waits to run and whether
// a runner drains it. A runner exists only while work is pending, so an
// idle owner holds neither a goroutine nor a buffer. Its owner's lock
// guards it; its methods only compute. The zero value is idle.
//
// The runner loops: Take a batch, run it with the lock released, hand it
// back with Done; it stops when Take reports nothing left.
type Serial[E any] struct {
	q     []E // pending, in order; not nil exactly while a runner drains
	spare []E // the runner's last batch, reused for the next
}

// Push queues e. It reports whether no runner drains the queue: the caller
// must start one, which Push counts as started.
func (s *Serial[E]) Push(e E) (start bool) {
	start = s.q == nil
	s.q = append(s.q, e)
	return start
}

// Take hands the runner everything pending, in order. With nothing
// pending it reports false: the runner stops, and the queue lets go of its
// buffers (the next Push starts a runner).
func (s *Serial[E]) Take() (batch []E, ok bool) {
	if len(s.q) == 0 {
		s.q, s.spare = nil, nil
		return nil, false
	}
	batch = s.q
	s.q, s.spare = s.spare[:0], nil
	if s.q == nil {
		s.q = []E{} // running, with nothing pending yet: empty, not nil
	}
	return batch, true
}

// Done takes back a batch the runner ran, cleared, for the next Take.
func (s *Serial[E]) Done(batch []E) {
	clear(batch)
	if s.spare == nil && s.q != nil {
		s.spare = batch[:0]
	}
}

// Running reports whether a runner drains the queue.
func (s *Serial[E]) Running() bool { return s.q != nil }

// Pending is how many wait.
func (s *Serial[E]) Pending() int { return len(s.q) }
