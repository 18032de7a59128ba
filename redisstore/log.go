package redisstore

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"
	"github.com/tether-ws/tether"
)

// The replay log of a session is a list holding the messages acked+1..out
// in order, one entry each: the type byte, then the payload. So the
// message with seq s is at index s-acked-1, and Ack is an LTRIM.

// Append implements tether.Store: one round trip, waking the owner from
// inside the script. An append to a session this node owns is cached
// (cache.go). If it overflows while this store holds an ack of the
// session not yet in Redis, the ack is flushed and the append tried once
// more: a late ack must not fail it.
func (s *Store) Append(ctx context.Context, id string, msgs ...tether.Message) (uint64, error) {
	n := 0
	for i := range msgs {
		n += 1 + len(msgs[i].Data)
	}
	buf := make([]byte, 0, n) // one allocation for every entry
	args := make([]any, 0, 5+len(msgs))
	args = append(args, s.Node(), s.channel(""), id, s.ttl(), wakeMaxBytes)
	for i := range msgs {
		start := len(buf)
		buf = append(buf, byte(msgs[i].Type))
		buf = append(buf, msgs[i].Data...)
		args = append(args, buf[start:len(buf):len(buf)])
	}
	for try := 0; ; try++ {
		flushed := s.loc.flushed.Load()
		v, err := s.run(ctx, scAppend, id, args...)
		if err != nil {
			if err == tether.ErrOverflow && try == 0 && s.loc.mayFree(id, flushed) {
				if ferr := s.flushAck(ctx, id); ferr != nil {
					return 0, err
				}
				continue
			}
			return 0, err
		}
		last, owned, maxm, err := appendReply(v)
		if err != nil {
			return 0, err
		}
		if len(msgs) > 0 {
			s.loc.appended(id, last, owned, maxm, msgs)
		}
		return last, nil
	}
}

// appendReply decodes scAppend's reply.
func appendReply(v any) (last uint64, owned bool, maxm uint64, err error) {
	if n, ok := v.(int64); ok { // an empty append
		return uint64(n), false, 0, nil
	}
	a := slice(v)
	if len(a) != 3 {
		return 0, false, 0, errCorrupt
	}
	out, ok1 := a[0].(int64)
	mine, ok2 := a[1].(int64)
	m, ok3 := a[2].(int64)
	if !ok1 || !ok2 || !ok3 || out < 0 || m < 0 {
		return 0, false, 0, errCorrupt
	}
	return uint64(out), mine == 1, uint64(m), nil
}

// Read implements tether.Store. The cache answers when it holds after+1;
// otherwise it is one round trip (two if an ack below after+1 must be
// flushed first, so that Redis reports the gap): the script cuts the run
// at maxBytes, so no more than that crosses the network.
func (s *Store) Read(ctx context.Context, id string, after uint64, maxBytes int, dst []tether.Message) ([]tether.Message, error) {
	maxBytes = max(maxBytes, 0)
	dst, hit, flush := s.loc.read(id, after, maxBytes, dst)
	if hit {
		return dst, nil
	}
	if flush {
		if err := s.flushAck(ctx, id); err != nil {
			return dst, err
		}
	}
	v, err := s.run(ctx, scRead, id, u64(after), strconv.Itoa(maxBytes))
	if err != nil {
		return dst, err
	}
	a := slice(v)
	for i, e := range a {
		b, _ := e.(string)
		if len(b) == 0 {
			return dst, errCorrupt
		}
		dst = append(dst, tether.Message{
			Type: tether.MessageType(b[0]),
			Data: []byte(b[1:]),
			Seq:  after + 1 + uint64(i),
		})
	}
	if len(a) > 0 {
		s.loc.sawLast(id, after+uint64(len(a)))
	}
	return dst, nil
}

// AppendEach appends one message to each of several sessions in one round
// trip (a pipeline of the Append script): what a broadcast needs. seqs[i]
// and errs[i] are Append's results for ids[i]. Sessions that overflow
// while this store holds an unflushed ack of theirs are tried once more,
// after the flush, as Append does.
func (s *Store) AppendEach(ctx context.Context, ids []string, m tether.Message) (seqs []uint64, errs []error) {
	entry := append([]byte{byte(m.Type)}, m.Data...)
	node, ch := s.Node(), s.channel("")
	seqs, errs = make([]uint64, len(ids)), make([]error, len(ids))
	owned, maxm := make([]bool, len(ids)), make([]uint64, len(ids))
	todo := make([]int, len(ids)) // indexes of ids to append
	for i := range todo {
		todo[i] = i
	}
	for try := 0; len(todo) > 0; try++ {
		flushed := s.loc.flushed.Load()
		b := newBatch(ctx)
		cmds := make([]*redis.Cmd, len(todo))
		for j, i := range todo {
			cmds[j] = b.eval(scAppend, s.sessionKeys(ids[i]), node, ch, ids[i], s.ttl(), wakeMaxBytes, entry)
		}
		_ = s.exec(b) // each reply is looked at below
		var again []int
		for j, c := range cmds {
			i := todo[j]
			v, err := reply(c)
			if err == tether.ErrOverflow && try == 0 && s.loc.mayFree(ids[i], flushed) && s.flushAck(ctx, ids[i]) == nil {
				again = append(again, i)
				continue
			}
			if err == nil {
				seqs[i], owned[i], maxm[i], err = appendReply(v)
			}
			errs[i] = err
		}
		todo = again
	}
	s.loc.appendedEach(ids, seqs, owned, maxm, m)
	return seqs, errs
}
