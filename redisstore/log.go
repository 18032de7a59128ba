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
// inside the script.
func (s *Store) Append(ctx context.Context, id string, msgs ...tether.Message) (uint64, error) {
	n := 0
	for i := range msgs {
		n += 1 + len(msgs[i].Data)
	}
	buf := make([]byte, 0, n) // one allocation for every entry
	args := make([]any, 0, 4+len(msgs))
	args = append(args, s.Node(), s.channel(""), id, s.ttl())
	for i := range msgs {
		start := len(buf)
		buf = append(buf, byte(msgs[i].Type))
		buf = append(buf, msgs[i].Data...)
		args = append(args, buf[start:len(buf):len(buf)])
	}
	v, err := s.run(ctx, scAppend, id, args...)
	if err != nil {
		return 0, err
	}
	if v, err = status(v); err != nil {
		return 0, err
	}
	last, ok := v.(int64)
	if !ok {
		return 0, errCorrupt
	}
	return uint64(last), nil
}

// Read implements tether.Store: one round trip; the script cuts the run
// at maxBytes, so no more than that crosses the network.
func (s *Store) Read(ctx context.Context, id string, after uint64, maxBytes int, dst []tether.Message) ([]tether.Message, error) {
	v, err := s.run(ctx, scRead, id, u64(after), strconv.Itoa(max(maxBytes, 0)))
	if err != nil {
		return dst, err
	}
	if v, err = status(v); err != nil {
		return dst, err
	}
	for i, e := range slice(v) {
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
	return dst, nil
}

// Ack implements tether.Store: one round trip.
func (s *Store) Ack(ctx context.Context, id string, seq uint64) error {
	v, err := s.run(ctx, scAck, id, u64(seq))
	if err != nil {
		return err
	}
	_, err = status(v)
	return err
}

// AppendEach appends one message to each of several sessions in one round
// trip (a pipeline of the Append script): what a broadcast needs. seqs[i]
// and errs[i] are Append's results for ids[i].
func (s *Store) AppendEach(ctx context.Context, ids []string, m tether.Message) (seqs []uint64, errs []error) {
	entry := append([]byte{byte(m.Type)}, m.Data...)
	b := newBatch(ctx)
	cmds := make([]*redis.Cmd, len(ids))
	node, ch := s.Node(), s.channel("")
	for i, id := range ids {
		cmds[i] = b.eval(scAppend, s.sessionKeys(id), node, ch, id, s.ttl(), entry)
	}
	_ = s.exec(b) // each reply is looked at below
	seqs, errs = make([]uint64, len(ids)), make([]error, len(ids))
	for i, c := range cmds {
		v, err := c.Result()
		if err == nil {
			v, err = status(v)
		}
		if err == nil {
			last, ok := v.(int64)
			if !ok {
				err = errCorrupt
			}
			seqs[i] = uint64(last)
		}
		errs[i] = err
	}
	return seqs, errs
}
