package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"unicode/utf8"

	gobwas "github.com/gobwas/ws"
)

const fuzzMax = 1 << 16

// FuzzReadMessage feeds arbitrary bytes to a server-side Conn. ReadMessage
// must not panic, must terminate, must never deliver more than maxMsg
// bytes, and must agree with a straightforward model of RFC 6455 that
// reads from a byte slice: same messages, same kind of error. It is run
// three ways: reads as large as asked, reads cut into small irregular
// chunks, and part of the input pre-buffered, so that the buffer handling
// (refill, compaction, the large-payload path) is exercised. Modes 3 and
// 4 read it as a poller does (Feed): all at once, and in irregular pieces.
func FuzzReadMessage(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want := modelRead(data, false, fuzzMax)
		for mode := range 5 {
			got := fuzzRun(t, data, mode)
			if !equalResults(got, want) {
				t.Fatalf("mode %d: input %x\n got %s\nwant %s", mode, data, got, want)
			}
		}
	})
}

// fuzzSeeds are small, so that the fuzzer minimizes what they lead to
// quickly; the length fields are what reach the large-payload path.
func fuzzSeeds(t testing.TB) [][]byte {
	m := func(op gobwas.OpCode, fin bool, p []byte) []byte { return enc(t, op, fin, true, p) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	return [][]byte{
		nil,
		m(gobwas.OpBinary, true, nil),
		m(gobwas.OpText, true, []byte("hello")),
		m(gobwas.OpBinary, true, payload(126, 2)),
		cat(m(gobwas.OpText, false, []byte("He")), m(gobwas.OpPing, true, []byte("p")),
			m(gobwas.OpContinuation, false, []byte("ll")), m(gobwas.OpContinuation, true, []byte("o"))),
		cat(m(gobwas.OpBinary, true, []byte("a")), m(gobwas.OpClose, true, gobwas.NewCloseFrameBody(4001, "bye"))),
		m(gobwas.OpClose, true, nil),
		m(gobwas.OpClose, true, []byte{3}),
		m(gobwas.OpPong, true, []byte("x")),
		encHeader(t, gobwas.Header{Fin: true, OpCode: gobwas.OpBinary, Masked: true, Length: 1 << 62}),
		encHeader(t, gobwas.Header{Fin: true, OpCode: gobwas.OpBinary, Masked: true, Length: 5000}),
		enc(t, gobwas.OpBinary, true, false, []byte("unmasked")),
	}
}

// bigSeeds take the large-payload path and cross buffer boundaries; they
// are checked by TestModel only.
func bigSeeds(t testing.TB) [][]byte {
	m := func(op gobwas.OpCode, fin bool, p []byte) []byte { return enc(t, op, fin, true, p) }
	var batch []byte
	for range 8 {
		batch = append(batch, m(gobwas.OpBinary, true, payload(504, 1))...) // exactly 4096 bytes
	}
	return [][]byte{
		m(gobwas.OpBinary, true, payload(5000, 3)),
		m(gobwas.OpBinary, true, payload(fuzzMax, 3)),
		append(m(gobwas.OpBinary, false, payload(fuzzMax, 3)), m(gobwas.OpContinuation, true, []byte("x"))...),
		append(m(gobwas.OpBinary, false, payload(3000, 4)), m(gobwas.OpContinuation, true, payload(3000, 5))...),
		append(bytes.Clone(batch), m(gobwas.OpPing, true, nil)...),
		batch,
	}
}

// fuzzRun reads data with a server-side Conn in one of three ways.
func fuzzRun(t *testing.T, data []byte, mode int) result {
	if mode >= 3 {
		return feedRun(t, data, mode)
	}
	mc := &memConn{r: bytes.NewReader(data), maxReads: 2*len(data) + 64}
	var pre []byte
	switch mode {
	case 1: // irregular small reads: 1, 2, 3, 5, 8, ... up to a full buffer
		sizes := []int{1, 2, 3, 5, 8, 13, 1, 200, 7, bufSize, 4}
		i := len(data)
		mc.chunk = func() int { i++; return sizes[i%len(sizes)] }
	case 2: // a prefix arrives with the handshake
		k := len(data) / 3
		pre = bytes.Clone(data[:k])
		mc.r = bytes.NewReader(data[k:])
	}
	c := NewConn(mc, false, fuzzMax, pre)
	var res result
	err := c.ReadMessage(func(op byte, p []byte) error {
		if len(p) > fuzzMax {
			t.Fatalf("mode %d: payload of %d bytes, limit %d", mode, len(p), fuzzMax)
		}
		if op != OpText && op != OpBinary {
			t.Fatalf("mode %d: message with opcode %d", mode, op)
		}
		res.msgs = append(res.msgs, msg{op, bytes.Clone(p)})
		return nil
	})
	c.Drop()
	res.err = classify(err)
	if res.err == "" {
		t.Fatalf("mode %d: unexpected error %v (%T)", mode, err, err)
	}
	return res
}

// feedRun feeds data to a server-side Conn as a poller would: in one
// piece (mode 3) or cut into irregular pieces (mode 4). Input that ends
// without an error reads as the end of the stream, as in ReadMessage.
func feedRun(t *testing.T, data []byte, mode int) result {
	c := NewConn(&memConn{r: bytes.NewReader(nil)}, false, fuzzMax, nil)
	var res result
	fn := func(op byte, p []byte) error {
		if len(p) > fuzzMax {
			t.Fatalf("mode %d: payload of %d bytes, limit %d", mode, len(p), fuzzMax)
		}
		res.msgs = append(res.msgs, msg{op, bytes.Clone(p)})
		return nil
	}
	sizes := []int{len(data)}
	if mode == 4 {
		sizes = []int{1, 2, 3, 5, 8, 13, 1, 200, 7, bufSize, 4}
	}
	var err error
	for i, rest := 0, data; len(rest) > 0 && err == nil; i++ {
		n := min(sizes[i%len(sizes)], len(rest))
		err = c.Feed(bytes.Clone(rest[:n]), fn)
		rest = rest[n:]
	}
	if err == nil {
		err = io.EOF
	}
	c.Drop()
	res.err = classify(err)
	if res.err == "" {
		t.Fatalf("mode %d: unexpected error %v (%T)", mode, err, err)
	}
	return res
}

type result struct {
	msgs []msg
	err  string
}

func (r result) String() string {
	s := fmt.Sprintf("%d messages", len(r.msgs))
	for _, m := range r.msgs {
		s += fmt.Sprintf(" [op %d len %d]", m.op, len(m.p))
	}
	return s + ", error " + r.err
}

func equalResults(a, b result) bool {
	if a.err != b.err || len(a.msgs) != len(b.msgs) {
		return false
	}
	for i := range a.msgs {
		if a.msgs[i].op != b.msgs[i].op || !bytes.Equal(a.msgs[i].p, b.msgs[i].p) {
			return false
		}
	}
	return true
}

// classify names the kind of a ReadMessage error; "" for unexpected ones.
func classify(err error) string {
	var pe *ProtocolError
	var ce *CloseError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, ErrTooBig):
		return "too big"
	case errors.As(err, &pe):
		return "protocol"
	case errors.As(err, &ce):
		return fmt.Sprintf("close %d %q", ce.Code, ce.Reason)
	}
	return ""
}

// modelRead is the reference: RFC 6455 framing, read from a slice, with
// the checks in the order conn.go documents them.
func modelRead(data []byte, client bool, maxMsg int) (res result) {
	var frag []byte
	fragmenting := false
	var fop byte
	for {
		if len(data) < 2 {
			res.err = "eof"
			return
		}
		fin, rsv, op := data[0]&0x80 != 0, data[0]&0x70, data[0]&0x0f
		masked, l7 := data[1]&0x80 != 0, int(data[1]&0x7f)
		if rsv != 0 || masked == client {
			res.err = "protocol"
			return
		}
		hl := 2
		switch l7 {
		case 126:
			hl += 2
		case 127:
			hl += 8
		}
		if masked {
			hl += 4
		}
		if len(data) < hl {
			res.err = "eof"
			return
		}
		n := uint64(l7)
		switch l7 {
		case 126:
			n = uint64(binary.BigEndian.Uint16(data[2:]))
		case 127:
			n = binary.BigEndian.Uint64(data[2:])
		}
		var mask [4]byte
		if masked {
			copy(mask[:], data[hl-4:hl])
		}
		data = data[hl:]
		switch op {
		case OpClose, OpPing, OpPong:
			if !fin || n > 125 {
				res.err = "protocol"
				return
			}
		case OpText, OpBinary, OpContinuation:
			if n > uint64(maxMsg) {
				res.err = "too big"
				return
			}
		default:
			res.err = "protocol"
			return
		}
		if uint64(len(data)) < n {
			res.err = "eof"
			return
		}
		p := bytes.Clone(data[:n])
		data = data[n:]
		if masked {
			for i := range p {
				p[i] ^= mask[i%4]
			}
		}
		switch op {
		case OpPing, OpPong:
			continue
		case OpClose:
			switch {
			case len(p) == 0:
				res.err = fmt.Sprintf("close %d %q", 1005, "")
			case len(p) == 1 || !utf8.Valid(p[2:]):
				res.err = "protocol"
			default:
				res.err = fmt.Sprintf("close %d %q", binary.BigEndian.Uint16(p), p[2:])
			}
			return
		case OpContinuation:
			if !fragmenting {
				res.err = "protocol"
				return
			}
			if len(frag)+len(p) > maxMsg {
				res.err = "too big"
				return
			}
			frag = append(frag, p...)
			if fin {
				res.msgs = append(res.msgs, msg{fop, frag})
				frag, fragmenting = nil, false
			}
			continue
		}
		if fragmenting {
			res.err = "protocol"
			return
		}
		if !fin {
			frag, fragmenting, fop = p, true, op
			continue
		}
		res.msgs = append(res.msgs, msg{op, p})
	}
}

// TestModel checks the reference model itself on a few known streams, so
// that the fuzz target's comparisons mean something.
func TestModel(t *testing.T) {
	m := func(op gobwas.OpCode, fin bool, p []byte) []byte { return enc(t, op, fin, true, p) }
	r := modelRead(bytes.Join([][]byte{
		m(gobwas.OpText, false, []byte("a")), m(gobwas.OpPing, true, nil), m(gobwas.OpContinuation, true, []byte("b")),
		m(gobwas.OpBinary, true, []byte("c")), m(gobwas.OpClose, true, gobwas.NewCloseFrameBody(4001, "bye")),
	}, nil), false, 10)
	want := result{msgs: []msg{{OpText, []byte("ab")}, {OpBinary, []byte("c")}}, err: `close 4001 "bye"`}
	if !equalResults(r, want) {
		t.Fatalf("got %s, want %s", r, want)
	}
	if r := modelRead(m(gobwas.OpBinary, true, payload(11, 1)), false, 10); r.err != "too big" {
		t.Fatalf("got %s", r)
	}
	if r := modelRead(m(gobwas.OpContinuation, true, nil), false, 10); r.err != "protocol" {
		t.Fatalf("got %s", r)
	}
	if r := modelRead(m(gobwas.OpBinary, true, []byte("x"))[:4], false, 10); r.err != "eof" || len(r.msgs) != 0 {
		t.Fatalf("got %s", r)
	}
	// And the seeds agree with the Conn, which TestReadMessage* check
	// independently.
	for i, s := range append(fuzzSeeds(t), bigSeeds(t)...) {
		want := modelRead(s, false, fuzzMax)
		for mode := range 3 {
			if got := fuzzRun(t, s, mode); !equalResults(got, want) {
				t.Fatalf("seed %d mode %d: got %s, want %s", i, mode, got, want)
			}
		}
	}
}
