package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/redis/go-redis/v9"
	"github.com/tether-ws/tether"
)

// The replay log of a session is a list holding the messages acked+1..out
// in order, one entry each (appendEntry). So the message with seq s is at
// index s-acked-1, and Ack is an LTRIM.
//
// An entry is, for a plain message (no room, no offset, a type other than
// 0), its type byte then its payload: the format of entries written
// before room streams, which still decode. Any other message (a room's,
// or a room event kept in the session's stream) is an extended entry: a
// 0 byte, the type byte, the header's length (2 bytes, big endian), the
// header (the offset as a uvarint, then the room), then the payload. The
// scripts find a payload's size from the first 4 bytes (psize in
// scripts.go), for the byte bound.

// maxHeader bounds an extended entry's header (2 bytes give its length).
const maxHeader = math.MaxUint16

// errRoomName: a room name too long for an entry's header.
var errRoomName = errors.New("redisstore: room name too long")

// appendEntry appends m's log entry to b.
func appendEntry(b []byte, m *tether.Message) []byte {
	if m.Room == "" && m.Offset == 0 && m.Type != 0 {
		b = append(b, byte(m.Type))
		return append(b, m.Data...)
	}
	h := binary.PutUvarint(make([]byte, binary.MaxVarintLen64), m.Offset) + len(m.Room)
	b = append(b, 0, byte(m.Type), byte(h>>8), byte(h))
	b = binary.AppendUvarint(b, m.Offset)
	b = append(b, m.Room...)
	return append(b, m.Data...)
}

// entryLen is the length of m's entry.
func entryLen(m *tether.Message) int {
	if m.Room == "" && m.Offset == 0 && m.Type != 0 {
		return 1 + len(m.Data)
	}
	n := 0
	for v := m.Offset; ; v >>= 7 {
		n++
		if v < 0x80 {
			break
		}
	}
	return 4 + n + len(m.Room) + len(m.Data)
}

// checkRooms refuses messages whose room does not fit an entry.
func checkRooms(msgs []tether.Message) error {
	for i := range msgs {
		if len(msgs[i].Room) > maxHeader-binary.MaxVarintLen64 {
			return errRoomName
		}
	}
	return nil
}

// decodeEntry decodes a log entry; Data shares e's memory.
func decodeEntry(e []byte) (tether.Message, error) {
	switch {
	case len(e) == 0:
		return tether.Message{}, errCorrupt
	case e[0] != 0:
		return tether.Message{Type: tether.MessageType(e[0]), Data: e[1:len(e):len(e)]}, nil
	case len(e) < 4:
		return tether.Message{}, errCorrupt
	}
	h := int(e[2])<<8 | int(e[3])
	if 4+h > len(e) {
		return tether.Message{}, errCorrupt
	}
	off, n := binary.Uvarint(e[4 : 4+h])
	if n <= 0 {
		return tether.Message{}, errCorrupt
	}
	return tether.Message{
		Type:   tether.MessageType(e[1]),
		Offset: off,
		Room:   string(e[4+n : 4+h]),
		Data:   e[4+h : len(e) : len(e)],
	}, nil
}

// entryArgs returns the entries of msgs, sharing one allocation.
func entryArgs(args []any, msgs []tether.Message) []any {
	n := 0
	for i := range msgs {
		n += entryLen(&msgs[i])
	}
	buf := make([]byte, 0, n)
	for i := range msgs {
		start := len(buf)
		buf = appendEntry(buf, &msgs[i])
		args = append(args, buf[start:len(buf):len(buf)])
	}
	return args
}

// pushArgs are the first arguments of every script that appends to a
// session's log (see push in scripts.go).
func (s *Store) pushArgs(id string, extra int) []any {
	args := make([]any, 0, 5+extra)
	return append(args, s.Node(), s.channel(""), id, s.ttl(), wakeMaxBytes)
}

// pushed is what a script that appended to a session's log reports: the
// session's last seq, whether this node owns the session (the script
// compared), its message bound, and how many of the messages given were
// appended (the last n; 0 when the script changed nothing).
type pushed struct {
	last  uint64
	owned bool
	maxm  uint64
	n     int
}

// pushedReply decodes the reply of a script that may have appended: {out,
// mine, maxm, n}, or out alone when it appended nothing.
func pushedReply(v any) (pushed, error) {
	if n, ok := v.(int64); ok {
		return pushed{last: uint64(n)}, nil
	}
	a := slice(v)
	if len(a) != 4 {
		return pushed{}, errCorrupt
	}
	out, ok1 := a[0].(int64)
	mine, ok2 := a[1].(int64)
	m, ok3 := a[2].(int64)
	n, ok4 := a[3].(int64)
	if !ok1 || !ok2 || !ok3 || !ok4 || out < 0 || m < 0 || n < 0 {
		return pushed{}, errCorrupt
	}
	return pushed{last: uint64(out), owned: mine == 1, maxm: uint64(m), n: int(n)}, nil
}

// Append implements tether.Store: one round trip, waking the owner from
// inside the script. An append to a session this node owns is cached
// (cache.go). If it overflows while this store holds an ack of the
// session not yet in Redis, the ack is flushed and the append tried once
// more: a late ack must not fail it.
func (s *Store) Append(ctx context.Context, id string, msgs ...tether.Message) (uint64, error) {
	if err := checkRooms(msgs); err != nil {
		return 0, err
	}
	args := entryArgs(s.pushArgs(id, len(msgs)), msgs)
	p, err := s.runPush(ctx, id, scAppend, args)
	if err != nil {
		return 0, err
	}
	s.loc.appended(id, p, msgs)
	return p.last, nil
}

// runPush runs a script that appends to a session's log and decodes its
// reply (see runRetry).
func (s *Store) runPush(ctx context.Context, id string, sc *redis.Script, args []any) (pushed, error) {
	v, err := s.runRetry(ctx, id, sc, args)
	if err != nil {
		return pushed{}, err
	}
	if gap := gapOf(v); gap != nil {
		return pushed{}, gap
	}
	return pushedReply(v)
}

// runRetry runs a script that may append to a session's log, and runs it
// once more after flushing the session's ack if it overflowed while an
// ack of it was held here.
func (s *Store) runRetry(ctx context.Context, id string, sc *redis.Script, args []any) (any, error) {
	for try := 0; ; try++ {
		flushed := s.loc.flushed.Load()
		v, err := s.run(ctx, sc, id, args...)
		if err == tether.ErrOverflow && try == 0 && s.loc.mayFree(id, flushed) {
			if ferr := s.flushAck(ctx, id); ferr != nil {
				return nil, err
			}
			continue
		}
		return v, err
	}
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
		m, err := decodeEntry([]byte(b))
		if err != nil {
			return dst, err
		}
		m.Seq = after + 1 + uint64(i)
		dst = append(dst, m)
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
	if err := checkRooms([]tether.Message{m}); err != nil {
		return failAll(ids, err)
	}
	entry := appendEntry(nil, &m)
	return s.pushEach(ctx, ids, m, scAppend, scAppendMany, func(id string) []any {
		return append(s.pushArgs(id, 1), entry)
	})
}

func failAll(ids []string, err error) ([]uint64, []error) {
	errs := make([]error, len(ids))
	for i := range errs {
		errs[i] = err
	}
	return make([]uint64, len(ids)), errs
}

// pushEach runs, in one round trip (evalEach), a script appending m to
// each session of ids, with the arguments args gives, and retries as
// runPush does.
func (s *Store) pushEach(ctx context.Context, ids []string, m tether.Message, sc, manySc *redis.Script, args func(id string) []any) (seqs []uint64, errs []error) {
	seqs, errs = make([]uint64, len(ids)), make([]error, len(ids))
	res := make([]pushed, len(ids))
	todo := make([]int, len(ids)) // indexes of ids to append
	for i := range todo {
		todo[i] = i
	}
	for try := 0; len(todo) > 0; try++ {
		flushed := s.loc.flushed.Load()
		vals, verrs := s.evalEach(ctx, ids, todo, sc, manySc, args)
		var again []int
		for j, i := range todo {
			v, err := vals[j], verrs[j]
			if err == tether.ErrOverflow && try == 0 && s.loc.mayFree(ids[i], flushed) && s.flushAck(ctx, ids[i]) == nil {
				again = append(again, i)
				continue
			}
			if err == nil {
				if gap := gapOf(v); gap != nil {
					err = gap
				} else {
					res[i], err = pushedReply(v)
				}
			}
			seqs[i], errs[i] = res[i].last, err
		}
		todo = again
	}
	s.loc.appendedEach(ids, res, m)
	return seqs, errs
}

// manyChunk bounds the sessions of one many-script call: Redis runs
// nothing else while a script runs (about 10 µs per session).
const manyChunk = 128

// evalEach runs a session script for the sessions ids[todo[j]], in one
// round trip, and returns each one's reply (status applied): a pipeline
// of a call each, or on a single node, if manySc is not nil, calls of
// manySc (see many) for up to manyChunk sessions each. args gives a
// session's ARGV; with manySc it must differ between sessions only in
// the session ID.
func (s *Store) evalEach(ctx context.Context, ids []string, todo []int, sc, manySc *redis.Script, args func(id string) []any) ([]any, []error) {
	vals, errs := make([]any, len(todo)), make([]error, len(todo))
	b := newBatch(ctx)
	if !s.single || manySc == nil || len(todo) < 2 {
		cmds := make([]*redis.Cmd, len(todo))
		for j, i := range todo {
			cmds[j] = b.eval(sc, s.sessionKeys(ids[i]), args(ids[i])...)
		}
		_ = s.exec(b) // each reply is looked at below
		for j, c := range cmds {
			vals[j], errs[j] = reply(c)
		}
		return vals, errs
	}
	shared := args(ids[todo[0]])
	shared = append(shared[:2:2], shared[3:]...) // without the session ID
	var cmds []*redis.Cmd
	for lo := 0; lo < len(todo); lo += manyChunk {
		part := todo[lo:min(lo+manyChunk, len(todo))]
		keys := make([]string, 0, 6*len(part))
		argv := make([]any, 0, 1+len(part)+len(shared))
		argv = append(argv, len(part))
		for _, i := range part {
			keys = append(keys, s.sessionKeys(ids[i])...)
			argv = append(argv, ids[i])
		}
		cmds = append(cmds, b.eval(manySc, keys, append(argv, shared...)...))
	}
	_ = s.exec(b)
	for k, c := range cmds {
		lo := k * manyChunk
		n := min(manyChunk, len(todo)-lo)
		v, err := c.Result()
		a := slice(v)
		if err == nil && len(a) != n {
			err = errCorrupt
		}
		for j := range n {
			if err != nil {
				errs[lo+j] = err
				continue
			}
			vals[lo+j], errs[lo+j] = status(a[j])
		}
	}
	return vals, errs
}

// gapOf returns the *tether.RoomGapError a script's reply stands for:
// {rRoomGap, cursor offset, cursor epoch}; nil for any other reply.
func gapOf(v any) error {
	a := slice(v)
	if len(a) != 3 {
		return nil
	}
	if code, _ := a[0].(int64); code != rRoomGap {
		return nil
	}
	off, _ := a[1].(string)
	epoch, _ := a[2].(string)
	n, err := strconv.ParseUint(off, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: room cursor %q", errCorrupt, off)
	}
	return &tether.RoomGapError{Cursor: tether.RoomPosition{Epoch: epoch, Offset: n}}
}
