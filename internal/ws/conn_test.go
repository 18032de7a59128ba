package ws

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	gobwas "github.com/gobwas/ws"
)

var sizes = []int{0, 1, 125, 126, 65535, 65536, 200000}

// TestReadMessageSizes sends masked frames to a server-side Conn and
// unmasked frames to a client-side one over TCP, in every length encoding,
// and checks that each payload arrives exactly.
func TestReadMessageSizes(t *testing.T) {
	for _, client := range []bool{false, true} {
		t.Run(fmt.Sprintf("client=%v", client), func(t *testing.T) {
			a, b := tcpPair(t)
			c := NewConn(a, client, 1<<20, nil)
			r := startReader(t, c, nil)

			type sent struct {
				op byte
				p  []byte
			}
			var want []sent
			var stream []byte
			for i, n := range sizes {
				for _, op := range []gobwas.OpCode{gobwas.OpText, gobwas.OpBinary} {
					p := payload(n, uint64(i))
					if op == gobwas.OpText {
						p = textPayload(n, uint64(i))
					}
					want = append(want, sent{byte(op), p})
					stream = append(stream, enc(t, op, true, !client, p)...)
				}
			}
			go func() { _, _ = b.Write(stream) }()
			for i, w := range want {
				m := r.next(t)
				if m.op != w.op || !bytes.Equal(m.p, w.p) {
					t.Fatalf("message %d: got op %d len %d, want op %d len %d (equal payload: %v)",
						i, m.op, len(m.p), w.op, len(w.p), bytes.Equal(m.p, w.p))
				}
			}
		})
	}
}

// TestWrongMaskingForSide checks that a server rejects unmasked frames and
// a client masked ones, before delivering anything.
func TestWrongMaskingForSide(t *testing.T) {
	for _, client := range []bool{false, true} {
		t.Run(fmt.Sprintf("client=%v", client), func(t *testing.T) {
			// Wrongly masked for this side; also try the extended lengths.
			for _, n := range []int{0, 5, 126, 70000} {
				msgs, _, err := readStream(enc(t, gobwas.OpBinary, true, client, payload(n, 1)), client, 1<<20)
				if !isProtocolError(err) {
					t.Errorf("len %d: err = %v, want *ProtocolError", n, err)
				}
				if len(msgs) != 0 {
					t.Errorf("len %d: %d messages delivered", n, len(msgs))
				}
			}
			// Over TCP, a good frame and then a bad one.
			a, b := tcpPair(t)
			c := NewConn(a, client, 1<<20, nil)
			r := startReader(t, c, nil)
			good := enc(t, gobwas.OpBinary, true, !client, []byte("ok"))
			bad := enc(t, gobwas.OpBinary, true, client, []byte("no"))
			if _, err := b.Write(append(good, bad...)); err != nil {
				t.Fatal(err)
			}
			if m := r.next(t); string(m.p) != "ok" {
				t.Fatalf("got %q", m.p)
			}
			if err := r.wait(t, prompt); !isProtocolError(err) {
				t.Fatalf("err = %v, want *ProtocolError", err)
			}
			r.noMessage(t)
		})
	}
}

// TestBatchedMessages writes many small messages in one TCP write: they
// must all arrive in order, read with a few large reads (the batch path).
func TestBatchedMessages(t *testing.T) {
	a, b := tcpPair(t)
	pc := newProbeConn(a)
	c := NewConn(pc, false, 1<<20, nil)
	pc.c = c
	r := startReader(t, c, nil)

	const count = 2000
	var stream []byte
	var want [][]byte
	for i := range count {
		p := payload(i%300, uint64(i)) // crosses the 125/126 boundary too
		want = append(want, p)
		stream = append(stream, enc(t, gobwas.OpBinary, true, true, p)...)
	}
	pc.waitProbe(t, 0) // the reader is blocked before the write
	if _, err := b.Write(stream); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		if m := r.next(t); !bytes.Equal(m.p, w) {
			t.Fatalf("message %d: got len %d, want len %d (equal: %v)", i, len(m.p), len(w), bytes.Equal(m.p, w))
		}
	}
	// About len(stream)/4096 reads are needed; allow plenty of slack for
	// TCP segmentation but fail if there is a read per message.
	reads := len(pc.probes)
	if limit := count / 4; reads > limit {
		t.Errorf("%d reads for %d messages (%d bytes), want at most %d", reads, count, len(stream), limit)
	}
}

// TestOneByteWrites sends messages one byte per write (TCP_NODELAY), and
// one byte per read over net.Pipe: they arrive intact (the slow path).
func TestOneByteWrites(t *testing.T) {
	msgs := [][]byte{payload(1, 1), payload(300, 2), payload(5000, 3), payload(0, 4), payload(125, 5)}
	var stream []byte
	for _, p := range msgs {
		stream = append(stream, enc(t, gobwas.OpBinary, true, true, p)...)
	}
	check := func(t *testing.T, r *bgReader) {
		for i, w := range msgs {
			if m := r.next(t); !bytes.Equal(m.p, w) {
				t.Fatalf("message %d: got len %d, want len %d (equal: %v)", i, len(m.p), len(w), bytes.Equal(m.p, w))
			}
		}
	}
	t.Run("tcp", func(t *testing.T) {
		a, b := tcpPair(t)
		if err := b.SetNoDelay(true); err != nil {
			t.Fatal(err)
		}
		r := startReader(t, NewConn(a, false, 1<<20, nil), nil)
		errc := make(chan error, 1)
		go func() {
			for i := range stream {
				if _, err := b.Write(stream[i : i+1]); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		check(t, r)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("pipe", func(t *testing.T) {
		a, b := pipePair(t)
		r := startReader(t, NewConn(a, false, 1<<20, nil), nil)
		errc := make(chan error, 1)
		go func() {
			for i := range stream {
				if _, err := b.Write(stream[i : i+1]); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		check(t, r)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})
}

// TestFragmentedWithPing reassembles a message of three fragments with a
// ping between them, and checks the pong echoes the ping's payload,
// unmasked from a server and masked from a client.
func TestFragmentedWithPing(t *testing.T) {
	for _, client := range []bool{false, true} {
		t.Run(fmt.Sprintf("client=%v", client), func(t *testing.T) {
			a, b := tcpPair(t)
			r := startReader(t, NewConn(a, client, 1<<20, nil), nil)
			big := textPayload(5000, 9) // one fragment takes the large path
			var stream []byte
			stream = append(stream, enc(t, gobwas.OpText, false, !client, []byte("Hello, "))...)
			stream = append(stream, enc(t, gobwas.OpPing, true, !client, []byte("ping-1"))...)
			stream = append(stream, enc(t, gobwas.OpContinuation, false, !client, big)...)
			stream = append(stream, enc(t, gobwas.OpContinuation, true, !client, []byte("world"))...)
			if _, err := b.Write(stream); err != nil {
				t.Fatal(err)
			}
			f, masked := peerFrame(t, b)
			if f.Header.OpCode != gobwas.OpPong || !f.Header.Fin || string(f.Payload) != "ping-1" {
				t.Fatalf("peer got op %v fin %v payload %q, want a pong with %q", f.Header.OpCode, f.Header.Fin, f.Payload, "ping-1")
			}
			if masked != client {
				t.Fatalf("pong masked = %v, want %v", masked, client)
			}
			m := r.next(t)
			want := "Hello, " + string(big) + "world"
			if m.op != OpText || string(m.p) != want {
				t.Fatalf("got op %d len %d, want op %d len %d", m.op, len(m.p), OpText, len(want))
			}
			// A ping with an empty payload gets an empty pong; a pong is
			// swallowed.
			stream = append(enc(t, gobwas.OpPong, true, !client, []byte("x")), enc(t, gobwas.OpPing, true, !client, nil)...)
			if _, err := b.Write(stream); err != nil {
				t.Fatal(err)
			}
			if f, _ := peerFrame(t, b); f.Header.OpCode != gobwas.OpPong || len(f.Payload) != 0 {
				t.Fatalf("peer got op %v payload %q, want an empty pong", f.Header.OpCode, f.Payload)
			}
			r.noMessage(t)
		})
	}
}

// TestCloseFrames checks the close handshake seen from ReadMessage: a
// client echoes the peer's close at once with the same code (1000 for an
// empty one); a server leaves it to EchoClose. Only one close frame is
// ever sent.
func TestCloseFrames(t *testing.T) {
	tests := []struct {
		name     string
		payload  []byte
		wantCode uint16 // in the CloseError
		reason   string
		echo     gobwas.StatusCode // code of the echoed close frame
	}{
		{"4001 bye", gobwas.NewCloseFrameBody(4001, "bye"), 4001, "bye", 4001},
		{"1000 no reason", gobwas.NewCloseFrameBody(1000, ""), 1000, "", 1000},
		{"empty", nil, 1005, "", 1000},
		{"123-byte reason", gobwas.NewCloseFrameBody(3000, strings.Repeat("é", 61)+"z"), 3000, strings.Repeat("é", 61) + "z", 3000},
	}
	for _, client := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("client=%v/%s", client, tt.name), func(t *testing.T) {
				a, b := tcpPair(t)
				c := NewConn(a, client, 1<<20, nil)
				r := startReader(t, c, nil)
				stream := append(enc(t, gobwas.OpBinary, true, !client, []byte("last")),
					enc(t, gobwas.OpClose, true, !client, tt.payload)...)
				if _, err := b.Write(stream); err != nil {
					t.Fatal(err)
				}
				if m := r.next(t); string(m.p) != "last" {
					t.Fatalf("got %q, want %q", m.p, "last")
				}
				err := r.wait(t, prompt)
				var ce *CloseError
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v, want *CloseError", err)
				}
				if ce.Code != tt.wantCode || ce.Reason != tt.reason {
					t.Fatalf("CloseError{%d, %q}, want {%d, %q}", ce.Code, ce.Reason, tt.wantCode, tt.reason)
				}
				if !client {
					// Nothing is echoed until the server calls EchoClose.
					_ = b.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
					if n, err := b.Read(make([]byte, 1)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
						t.Fatalf("server wrote before EchoClose: %d bytes, %v", n, err)
					}
					if err := c.EchoClose(ce); err != nil {
						t.Fatal(err)
					}
				}
				f, masked := peerFrame(t, b)
				if f.Header.OpCode != gobwas.OpClose || !f.Header.Fin || masked != client {
					t.Fatalf("peer got op %v fin %v masked %v, want a final close frame masked=%v", f.Header.OpCode, f.Header.Fin, masked, client)
				}
				if len(f.Payload) < 2 {
					t.Fatalf("echoed close frame has payload %x, want a code", f.Payload)
				}
				if code, reason := gobwas.ParseCloseFrameData(f.Payload); code != tt.echo || !utf8.ValidString(reason) {
					t.Fatalf("echoed close %d %q, want code %d", code, reason, tt.echo)
				}
				// A second echo or close sends nothing.
				if err := c.EchoClose(ce); err != nil {
					t.Fatal(err)
				}
				if err := c.WriteClose(1000, ""); err != nil {
					t.Fatal(err)
				}
				if err := a.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				_ = b.SetReadDeadline(time.Now().Add(prompt))
				if rest, err := io.ReadAll(b); err != nil || len(rest) != 0 {
					t.Fatalf("after the echo the peer read %x, %v; want nothing then EOF", rest, err)
				}
			})
		}
	}
}

// TestBadCloseFrames checks malformed close payloads.
func TestBadCloseFrames(t *testing.T) {
	for name, p := range map[string][]byte{
		"1 byte":          {0x03},
		"invalid UTF-8":   append(gobwas.NewCloseFrameBody(1000, ""), 0xff, 0xfe),
		"truncated UTF-8": append(gobwas.NewCloseFrameBody(1000, "ab"), 0xc3),
	} {
		t.Run(name, func(t *testing.T) {
			msgs, _, err := readStream(enc(t, gobwas.OpClose, true, true, p), false, 1<<20)
			if !isProtocolError(err) {
				t.Fatalf("err = %v, want *ProtocolError", err)
			}
			if len(msgs) != 0 {
				t.Fatalf("%d messages delivered", len(msgs))
			}
		})
	}
}

// TestTooBig checks the message size limit on single frames and on the
// sum of fragments.
func TestTooBig(t *testing.T) {
	const max = 1000
	frag := func(op gobwas.OpCode, fin bool, n int) []byte { return enc(t, op, fin, true, payload(n, uint64(n))) }
	tests := []struct {
		name   string
		stream []byte
		ok     bool
	}{
		{"frame at the limit", frag(gobwas.OpBinary, true, max), true},
		{"frame over the limit", frag(gobwas.OpBinary, true, max+1), false},
		{"large frame over the limit", frag(gobwas.OpBinary, true, 70000), false},
		{"fragments at the limit", append(frag(gobwas.OpBinary, false, 500), frag(gobwas.OpContinuation, true, 500)...), true},
		{"two fragments over", append(frag(gobwas.OpBinary, false, 600), frag(gobwas.OpContinuation, true, 600)...), false},
		{"three fragments over", bytes.Join([][]byte{
			frag(gobwas.OpText, false, 400), frag(gobwas.OpContinuation, false, 400), frag(gobwas.OpContinuation, true, 400),
		}, nil), false},
		{"over before the last fragment", bytes.Join([][]byte{
			frag(gobwas.OpText, false, 700), frag(gobwas.OpContinuation, false, 700), frag(gobwas.OpContinuation, true, 0),
		}, nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, _, err := readStream(tt.stream, false, max)
			if tt.ok {
				if !errors.Is(err, io.EOF) || len(msgs) != 1 {
					t.Fatalf("err = %v, %d messages; want io.EOF after 1 message", err, len(msgs))
				}
				return
			}
			if !errors.Is(err, ErrTooBig) {
				t.Fatalf("err = %v, want ErrTooBig", err)
			}
			if len(msgs) != 0 {
				t.Fatalf("%d messages delivered", len(msgs))
			}
		})
	}
}

// TestTooBigHugeHeader sends only the header of a frame claiming 2^62
// bytes (or more): ReadMessage must fail at once, without waiting for the
// payload and without allocating it.
func TestTooBigHugeHeader(t *testing.T) {
	huge := encHeader(t, gobwas.Header{Fin: true, OpCode: gobwas.OpBinary, Masked: true, Mask: newMask(), Length: 1 << 62})
	msb := []byte{0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4} // 2^64-1, MSB set
	for name, h := range map[string][]byte{"2^62": huge, "2^64-1": msb} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			msgs, _, err := readStream(h, false, 1<<16)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooBig) && !isProtocolError(err) {
				t.Fatalf("err = %v, want ErrTooBig", err)
			}
			if len(msgs) != 0 {
				t.Fatalf("%d messages delivered", len(msgs))
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
				t.Fatalf("allocated %d bytes", d)
			}

			// Over TCP with the connection left open: no waiting.
			a, b := tcpPair(t)
			r := startReader(t, NewConn(a, false, 1<<16, nil), nil)
			if _, err := b.Write(h); err != nil {
				t.Fatal(err)
			}
			if err := r.wait(t, prompt); !errors.Is(err, ErrTooBig) && !isProtocolError(err) {
				t.Fatalf("err = %v, want ErrTooBig", err)
			}
		})
	}
	// Fragments summing past the limit also fail before the next one is
	// waited for.
	a, b := tcpPair(t)
	r := startReader(t, NewConn(a, false, 1<<16, nil), nil)
	stream := append(enc(t, gobwas.OpBinary, false, true, payload(40000, 1)), enc(t, gobwas.OpContinuation, false, true, payload(40000, 2))...)
	if _, err := b.Write(stream); err != nil {
		t.Fatal(err)
	}
	if err := r.wait(t, prompt); !errors.Is(err, ErrTooBig) {
		t.Fatalf("err = %v, want ErrTooBig", err)
	}
}

// TestProtocolErrors feeds framing violations to a server-side Conn.
func TestProtocolErrors(t *testing.T) {
	m := newMask()
	h := func(fin bool, rsv byte, op gobwas.OpCode, n int) gobwas.Header {
		return gobwas.Header{Fin: fin, Rsv: rsv, OpCode: op, Masked: true, Mask: m, Length: int64(n)}
	}
	start := enc(t, gobwas.OpText, false, true, []byte("part"))
	tests := []struct {
		name   string
		stream []byte
	}{
		{"RSV1", encRaw(t, h(true, gobwas.Rsv(true, false, false), gobwas.OpBinary, 3), []byte("abc"))},
		{"RSV2", encRaw(t, h(true, gobwas.Rsv(false, true, false), gobwas.OpText, 3), []byte("abc"))},
		{"RSV3", encRaw(t, h(true, gobwas.Rsv(false, false, true), gobwas.OpBinary, 0), nil)},
		{"RSV1 on ping", encRaw(t, h(true, gobwas.Rsv(true, false, false), gobwas.OpPing, 0), nil)},
		{"opcode 3", encRaw(t, h(true, 0, 3, 3), []byte("abc"))},
		{"opcode 7", encRaw(t, h(true, 0, 7, 0), nil)},
		{"opcode 0xB", encRaw(t, h(true, 0, 0xB, 1), []byte("a"))},
		{"opcode 0xF", encRaw(t, h(true, 0, 0xF, 0), nil)},
		{"ping of 126 bytes", enc(t, gobwas.OpPing, true, true, payload(126, 1))},
		{"pong of 126 bytes", enc(t, gobwas.OpPong, true, true, payload(126, 1))},
		{"close of 126 bytes", enc(t, gobwas.OpClose, true, true, append(gobwas.NewCloseFrameBody(1000, ""), textPayload(124, 1)...))},
		{"ping with 64-bit length", encRaw(t, h(true, 0, gobwas.OpPing, 1<<40), nil)},
		{"non-FIN ping", enc(t, gobwas.OpPing, false, true, []byte("p"))},
		{"non-FIN pong", enc(t, gobwas.OpPong, false, true, nil)},
		{"non-FIN close", enc(t, gobwas.OpClose, false, true, gobwas.NewCloseFrameBody(1000, ""))},
		{"continuation without start", enc(t, gobwas.OpContinuation, true, true, []byte("x"))},
		{"non-FIN continuation without start", enc(t, gobwas.OpContinuation, false, true, []byte("x"))},
		{"continuation after a whole message", append(enc(t, gobwas.OpBinary, true, true, []byte("a")), enc(t, gobwas.OpContinuation, true, true, []byte("b"))...)},
		{"text during fragmentation", append(bytes.Clone(start), enc(t, gobwas.OpText, true, true, []byte("x"))...)},
		{"binary during fragmentation", append(bytes.Clone(start), enc(t, gobwas.OpBinary, true, true, []byte("x"))...)},
		{"non-FIN text during fragmentation", append(bytes.Clone(start), enc(t, gobwas.OpText, false, true, []byte("x"))...)},
		{"empty start then binary", append(enc(t, gobwas.OpBinary, false, true, nil), enc(t, gobwas.OpBinary, true, true, []byte("x"))...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, _, err := readStream(tt.stream, false, 1<<16)
			if !isProtocolError(err) {
				t.Fatalf("err = %v, want *ProtocolError", err)
			}
			if len(msgs) > 1 || len(msgs) == 1 && tt.name != "continuation after a whole message" {
				t.Fatalf("%d messages delivered", len(msgs))
			}
			if err.Error() == "" || !strings.HasPrefix(err.Error(), "websocket protocol error: ") {
				t.Fatalf("error text %q", err.Error())
			}
		})
	}
}

// TestAppendFrameDecodes decodes AppendFrame's output with gobwas.
func TestAppendFrameDecodes(t *testing.T) {
	for _, masked := range []bool{false, true} {
		for _, n := range []int{0, 1, 125, 126, 65535, 65536} {
			for _, split := range []int{0, 1, 7} {
				if split > n {
					continue
				}
				whole := payload(n, uint64(n))
				head, body := bytes.Clone(whole[:split]), bytes.Clone(whole[split:])
				prefix := []byte("prefix")
				b := AppendFrame(bytes.Clone(prefix), masked, OpBinary, head, body)
				if !bytes.Equal(b[:len(prefix)], prefix) {
					t.Fatalf("masked=%v n=%d: prefix overwritten", masked, n)
				}
				if !bytes.Equal(head, whole[:split]) || !bytes.Equal(body, whole[split:]) {
					t.Fatalf("masked=%v n=%d: AppendFrame modified its inputs", masked, n)
				}
				// The header is the shortest encoding (RFC 6455 §5.2).
				hl := 2
				switch {
				case n > 65535:
					hl = 10
				case n > 125:
					hl = 4
				}
				if masked {
					hl += 4
				}
				if got := len(b) - len(prefix); got != hl+n {
					t.Fatalf("masked=%v n=%d: frame is %d bytes, want %d", masked, n, got, hl+n)
				}
				r := bytes.NewReader(b[len(prefix):])
				f, err := readFrame(r)
				if err != nil {
					t.Fatalf("masked=%v n=%d: %v", masked, n, err)
				}
				if r.Len() != 0 {
					t.Fatalf("masked=%v n=%d: %d trailing bytes", masked, n, r.Len())
				}
				hd := f.Header
				if !hd.Fin || hd.Rsv != 0 || hd.OpCode != gobwas.OpBinary || hd.Masked != masked || hd.Length != int64(n) {
					t.Fatalf("masked=%v n=%d: header %+v", masked, n, hd)
				}
				if masked {
					if n >= 16 && bytes.Equal(f.Payload, whole) {
						t.Fatalf("n=%d: masked frame carries the payload in clear", n)
					}
					f = gobwas.UnmaskFrameInPlace(f)
				}
				if !bytes.Equal(f.Payload, whole) {
					t.Fatalf("masked=%v n=%d split=%d: payload differs", masked, n, split)
				}
			}
		}
	}
	// Masking keys are random.
	k1 := AppendFrame(nil, true, OpText, nil, []byte("x"))[2:6]
	k2 := AppendFrame(nil, true, OpText, nil, []byte("x"))[2:6]
	k3 := AppendFrame(nil, true, OpText, nil, []byte("x"))[2:6]
	if bytes.Equal(k1, k2) && bytes.Equal(k2, k3) {
		t.Fatalf("three frames masked with the same key %x", k1)
	}
	// The method masks on the client side only, and every opcode passes.
	for _, client := range []bool{false, true} {
		c := NewConn(&memConn{r: bytes.NewReader(nil)}, client, 1<<10, nil)
		for _, op := range []byte{OpText, OpBinary, OpPing, OpPong, OpClose} {
			fs := parseFrames(t, c.AppendFrame(nil, op, []byte("h"), []byte("ello")))
			if len(fs) != 1 || fs[0].Header.OpCode != gobwas.OpCode(op) || string(fs[0].Payload) != "hello" {
				t.Fatalf("client=%v op=%d: decoded %+v", client, op, fs)
			}
		}
		b := c.AppendFrame(nil, OpBinary, nil, []byte("x"))
		if masked := b[1]&0x80 != 0; masked != client {
			t.Fatalf("client=%v: masked = %v", client, masked)
		}
	}
}

// TestAppendFrameReadBack reads AppendFrame's frames back with a Conn of
// the other side.
func TestAppendFrameReadBack(t *testing.T) {
	for _, client := range []bool{false, true} {
		var stream []byte
		for _, n := range sizes {
			stream = AppendFrame(stream, client, OpBinary, []byte{1, 2, 3}, payload(n, 7))
		}
		msgs, _, err := readStream(stream, !client, 1<<20)
		if !errors.Is(err, io.EOF) {
			t.Fatalf("client=%v: err = %v", client, err)
		}
		if len(msgs) != len(sizes) {
			t.Fatalf("client=%v: %d messages, want %d", client, len(msgs), len(sizes))
		}
		for i, n := range sizes {
			if want := append([]byte{1, 2, 3}, payload(n, 7)...); !bytes.Equal(msgs[i].p, want) {
				t.Fatalf("client=%v: message %d differs", client, i)
			}
		}
	}
}

// TestPreBuffered checks that bytes read past the handshake are consumed
// before the socket, including a message split between them.
func TestPreBuffered(t *testing.T) {
	for _, first := range []int{10, 5000} { // within and beyond one buffer
		t.Run(fmt.Sprint(first), func(t *testing.T) {
			a, b := tcpPair(t)
			m1, m2, m3 := payload(first, 1), payload(300, 2), payload(20, 3)
			f1, f2, f3 := enc(t, gobwas.OpBinary, true, true, m1), enc(t, gobwas.OpBinary, true, true, m2), enc(t, gobwas.OpText, true, true, m3)
			pre := append(bytes.Clone(f1), f2[:100]...)
			pc := newProbeConn(a)
			c := NewConn(pc, false, 1<<20, pre)
			pc.c = c
			clear(pre) // NewConn must have copied it
			r := startReader(t, c, func() { pc.events.Add(1) })
			if m := r.next(t); !bytes.Equal(m.p, m1) {
				t.Fatalf("first message differs (len %d)", len(m.p))
			}
			if _, err := b.Write(append(f2[100:], f3...)); err != nil {
				t.Fatal(err)
			}
			if m := r.next(t); !bytes.Equal(m.p, m2) {
				t.Fatalf("second message differs (len %d)", len(m.p))
			}
			if m := r.next(t); m.op != OpText || !bytes.Equal(m.p, m3) {
				t.Fatalf("third message differs (len %d)", len(m.p))
			}
			if pr := pc.waitProbe(t, 3); pr.held || pr.n != 1 {
				t.Fatalf("idle after the messages: read of %d bytes, buffer held: %v", pr.n, pr.held)
			}
		})
	}
	t.Run("whole messages only", func(t *testing.T) {
		// Nothing ever arrives on the socket: the pre-buffered messages
		// must be delivered without reading it.
		a, _ := tcpPair(t)
		pre := append(enc(t, gobwas.OpBinary, true, true, []byte("one")), enc(t, gobwas.OpBinary, true, true, []byte("two"))...)
		r := startReader(t, NewConn(a, false, 1<<20, pre), nil)
		for _, w := range []string{"one", "two"} {
			if m := r.next(t); string(m.p) != w {
				t.Fatalf("got %q, want %q", m.p, w)
			}
		}
	})
}

// TestBufferReleasedAfterMessage checks, from the reading goroutine, that
// the Conn holds a buffer only while bytes are pending.
func TestBufferReleasedAfterMessage(t *testing.T) {
	one := enc(t, gobwas.OpBinary, true, true, []byte("one"))
	two := enc(t, gobwas.OpBinary, true, true, []byte("two"))
	big := enc(t, gobwas.OpBinary, true, true, payload(10000, 1))
	read := func(t *testing.T, c *Conn) {
		t.Helper()
		if err := c.ReadMessage(func(byte, []byte) error { return errStop }); err != errStop {
			t.Fatalf("err = %v", err)
		}
	}
	t.Run("pending then drained", func(t *testing.T) {
		c := NewConn(&memConn{r: bytes.NewReader(append(bytes.Clone(one), two...))}, false, 1<<20, nil)
		if c.buf != nil {
			t.Fatal("new Conn holds a buffer")
		}
		read(t, c)
		if c.buf == nil {
			t.Fatal("buffer released while the second message was pending")
		}
		read(t, c)
		if c.buf != nil {
			t.Fatal("buffer held after the last message")
		}
	})
	t.Run("tcp", func(t *testing.T) {
		a, b := tcpPair(t)
		c := NewConn(a, false, 1<<20, nil)
		for _, f := range [][]byte{one, big, one} {
			if _, err := b.Write(f); err != nil {
				t.Fatal(err)
			}
			read(t, c)
			if c.buf != nil {
				t.Fatalf("buffer held after a %d-byte frame", len(f))
			}
		}
	})
	t.Run("pre-buffered", func(t *testing.T) {
		a, _ := tcpPair(t)
		c := NewConn(a, false, 1<<20, one)
		read(t, c)
		if c.buf != nil {
			t.Fatal("buffer held after the pre-buffered message")
		}
	})
	t.Run("fragmented", func(t *testing.T) {
		stream := append(enc(t, gobwas.OpBinary, false, true, []byte("frag")), enc(t, gobwas.OpContinuation, true, true, []byte("ment"))...)
		c := NewConn(&memConn{r: bytes.NewReader(stream)}, false, 1<<20, nil)
		read(t, c)
		if c.buf != nil {
			t.Fatal("buffer held after a fragmented message with nothing pending")
		}
	})
}

// TestNoBufferWhileBlocked checks, with a probe on the reading goroutine,
// that a ReadMessage waiting for data does so with a one-byte read and no
// buffer.
func TestNoBufferWhileBlocked(t *testing.T) {
	type step struct {
		stream []byte
		events int64 // events (writes by the Conn, messages) it causes
	}
	small := enc(t, gobwas.OpBinary, true, true, []byte("hello"))
	tests := []struct {
		name  string
		pipe  bool // net.Pipe: each read returns what one write wrote, deterministically
		steps func(t *testing.T) []step
	}{
		{name: "small message", steps: func(t *testing.T) []step { return []step{{small, 1}} }},
		{name: "large message", steps: func(t *testing.T) []step {
			return []step{{enc(t, gobwas.OpBinary, true, true, payload(9000, 1)), 1}}
		}},
		{name: "batch", steps: func(t *testing.T) []step {
			var s []byte
			for i := range 50 {
				s = append(s, enc(t, gobwas.OpText, true, true, textPayload(i*7, 1))...)
			}
			return []step{{s, 50}, {small, 1}}
		}},
		{name: "batch of exactly one buffer", pipe: true,
			steps: func(t *testing.T) []step {
				var s []byte
				for range 8 { // 8 frames of 8+504 bytes = 4096
					s = append(s, enc(t, gobwas.OpBinary, true, true, payload(504, 1))...)
				}
				if len(s) != bufSize {
					t.Fatalf("stream is %d bytes", len(s))
				}
				return []step{{s, 8}}
			}},
		{name: "ping",
			steps: func(t *testing.T) []step {
				return []step{{enc(t, gobwas.OpPing, true, true, []byte("p")), 1}}
			}},
		{name: "fragmented message",
			steps: func(t *testing.T) []step {
				return []step{{append(enc(t, gobwas.OpBinary, false, true, []byte("frag")), enc(t, gobwas.OpContinuation, true, true, []byte("ment"))...), 1}}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a, b net.Conn
			if tt.pipe {
				a, b = pipePair(t)
			} else {
				a, b = tcpPair(t)
			}
			go func() { _, _ = io.Copy(io.Discard, b) }() // pongs
			pc := newProbeConn(a)
			c := NewConn(pc, false, 1<<20, nil)
			pc.c = c
			r := startReader(t, c, func() { pc.events.Add(1) })
			if pr := pc.waitProbe(t, 0); pr.held || pr.n != 1 {
				t.Fatalf("idle before any data: read of %d bytes, buffer held: %v", pr.n, pr.held)
			}
			var events int64
			for i, s := range tt.steps(t) {
				if _, err := b.Write(s.stream); err != nil {
					t.Fatal(err)
				}
				events += s.events
				if pr := pc.waitProbe(t, events); pr.held || pr.n != 1 {
					t.Fatalf("idle after step %d: read of %d bytes, buffer held: %v", i, pr.n, pr.held)
				}
			}
			for range len(r.msgs) {
				<-r.msgs
			}
		})
	}
}

// TestWriteCloseOnce checks that only the first close frame is sent, even
// when racing, and that a close frame from the peer is then not echoed.
func TestWriteCloseOnce(t *testing.T) {
	collect := func(t *testing.T, a *net.TCPConn, b *net.TCPConn) []gobwas.Frame {
		t.Helper()
		if err := a.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		_ = b.SetReadDeadline(time.Now().Add(prompt))
		all, err := io.ReadAll(b)
		if err != nil {
			t.Fatal(err)
		}
		return parseFrames(t, all)
	}
	checkOne := func(t *testing.T, fs []gobwas.Frame, code gobwas.StatusCode, reason string) {
		t.Helper()
		if len(fs) != 1 || fs[0].Header.OpCode != gobwas.OpClose {
			t.Fatalf("peer got %d frames, want one close frame: %+v", len(fs), fs)
		}
		if c, r := gobwas.ParseCloseFrameData(fs[0].Payload); c != code || r != reason {
			t.Fatalf("close %d %q, want %d %q", c, r, code, reason)
		}
	}
	t.Run("twice", func(t *testing.T) {
		a, b := tcpPair(t)
		c := NewConn(a, true, 1<<10, nil)
		if err := c.WriteClose(4000, "first"); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteClose(4002, "second"); err != nil {
			t.Fatal(err)
		}
		checkOne(t, collect(t, a, b), 4000, "first")
	})
	t.Run("concurrent", func(t *testing.T) {
		a, b := tcpPair(t)
		c := NewConn(a, false, 1<<10, nil)
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() { _ = c.WriteClose(4000, "racer") })
		}
		wg.Wait()
		checkOne(t, collect(t, a, b), 4000, "racer")
	})
	t.Run("shutdown during a close write", func(t *testing.T) {
		a, b := tcpPair(t)
		gc := &gateConn{TCPConn: a, entered: make(chan struct{}), release: make(chan struct{})}
		c := NewConn(gc, false, 1<<10, nil)
		werr := make(chan error, 1)
		go func() { werr <- c.WriteClose(4000, "first") }()
		<-gc.entered // the echo (or any close) is being written...
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Shutdown(4001, "second", time.Minute) // ...when the writer shuts down
		}()
		select {
		case <-done:
		case <-time.After(100 * time.Millisecond):
			// Shutdown waits for the write in progress: the fix.
		}
		close(gc.release)
		<-done
		if err := <-werr; err != nil {
			t.Errorf("WriteClose: %v", err)
		}
		_ = b.SetReadDeadline(time.Now().Add(prompt))
		all, err := io.ReadAll(b)
		if err != nil {
			t.Fatal(err)
		}
		checkOne(t, parseFrames(t, all), 4000, "first")
	})
	t.Run("long reason", func(t *testing.T) {
		a, b := tcpPair(t)
		c := NewConn(a, false, 1<<10, nil)
		if err := c.WriteClose(1001, strings.Repeat("é", 100)); err != nil {
			t.Fatal(err)
		}
		fs := collect(t, a, b)
		checkOne(t, fs, 1001, strings.Repeat("é", 61)) // 122 bytes: 123 would split a rune
	})
	t.Run("no echo after ours", func(t *testing.T) {
		a, b := tcpPair(t)
		c := NewConn(a, true, 1<<10, nil) // a client echoes by itself
		r := startReader(t, c, nil)
		if err := c.WriteClose(1000, "done"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Write(enc(t, gobwas.OpClose, true, false, gobwas.NewCloseFrameBody(1001, "ack"))); err != nil {
			t.Fatal(err)
		}
		var ce *CloseError
		if err := r.wait(t, prompt); !errors.As(err, &ce) || ce.Code != 1001 || ce.Reason != "ack" {
			t.Fatalf("err = %v, want CloseError 1001 ack", err)
		}
		checkOne(t, collect(t, a, b), 1000, "done")
	})
}

// TestShutdown checks that Shutdown sends a close frame, half-closes and
// makes a blocked ReadMessage return after the linger time.
func TestShutdown(t *testing.T) {
	t.Run("silent peer", func(t *testing.T) {
		a, b := tcpPair(t)
		c := NewConn(a, false, 1<<10, nil)
		r := startReader(t, c, nil)
		time.Sleep(10 * time.Millisecond) // let it block
		const linger = 100 * time.Millisecond
		start := time.Now()
		c.Shutdown(1001, "going away", linger)
		// The peer sees the close frame, then EOF from the half-close.
		f, _ := peerFrame(t, b)
		if code, reason := gobwas.ParseCloseFrameData(f.Payload); f.Header.OpCode != gobwas.OpClose || code != 1001 || reason != "going away" {
			t.Fatalf("peer got op %v payload %q", f.Header.OpCode, f.Payload)
		}
		_ = b.SetReadDeadline(time.Now().Add(prompt))
		if n, err := b.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("peer read after close frame: %d, %v; want EOF", n, err)
		}
		err := r.wait(t, 2*time.Second)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("err = %v, want a deadline error", err)
		}
		if d := time.Since(start); d < linger*8/10 {
			t.Fatalf("returned after %v, before the linger of %v", d, linger)
		}
	})
	t.Run("peer answers", func(t *testing.T) {
		a, b := tcpPair(t)
		c := NewConn(a, true, 1<<10, nil)
		r := startReader(t, c, nil)
		c.Shutdown(1000, "", time.Minute)
		if f, masked := peerFrame(t, b); f.Header.OpCode != gobwas.OpClose || !masked {
			t.Fatalf("peer got op %v masked %v", f.Header.OpCode, masked)
		}
		if _, err := b.Write(enc(t, gobwas.OpClose, true, false, gobwas.NewCloseFrameBody(1000, ""))); err != nil {
			t.Fatal(err)
		}
		var ce *CloseError
		if err := r.wait(t, prompt); !errors.As(err, &ce) || ce.Code != 1000 {
			t.Fatalf("err = %v, want CloseError 1000", err)
		}
		_ = b.SetReadDeadline(time.Now().Add(prompt))
		if rest, err := io.ReadAll(b); err != nil || len(rest) != 0 {
			t.Fatalf("after the close frame the peer read %x, %v; want nothing then EOF", rest, err)
		}
	})
	t.Run("pipe", func(t *testing.T) {
		// No CloseWrite on net.Pipe: the deadline alone ends the wait.
		a, b := pipePair(t)
		go func() { _, _ = io.Copy(io.Discard, b) }()
		c := NewConn(a, false, 1<<10, nil)
		r := startReader(t, c, nil)
		c.Shutdown(1000, "", 100*time.Millisecond)
		if err := r.wait(t, 2*time.Second); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("err = %v, want a deadline error", err)
		}
	})
}

// TestConcurrentWrites runs writers and a reader answering pings at once
// over a connection that splits writes: no frame may interleave another.
func TestConcurrentWrites(t *testing.T) {
	a, b := tcpPair(t)
	c := NewConn(chunkConn{a}, false, 1<<10, nil)
	r := startReader(t, c, nil)

	const writers, each, pings = 4, 40, 40
	framePayload := func(w, i int) []byte {
		return bytes.Repeat([]byte{byte('a' + w), byte(i)}, 100)
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := c.Write(c.AppendFrame(nil, OpBinary, nil, framePayload(w, i)), prompt); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range pings {
			if _, err := b.Write(enc(t, gobwas.OpPing, true, true, []byte{byte(i)})); err != nil {
				t.Error(err)
				return
			}
		}
	})

	seen := make(map[[2]int]bool)
	var pongs int
	for len(seen) < writers*each || pongs < pings {
		f, _ := peerFrame(t, b)
		switch f.Header.OpCode {
		case gobwas.OpPong:
			if len(f.Payload) != 1 || int(f.Payload[0]) != pongs {
				t.Fatalf("pong %d carries %x", pongs, f.Payload)
			}
			pongs++
		case gobwas.OpBinary:
			if len(f.Payload) != 200 {
				t.Fatalf("frame of %d bytes", len(f.Payload))
			}
			w, i := int(f.Payload[0]-'a'), int(f.Payload[1])
			if w < 0 || w >= writers || !bytes.Equal(f.Payload, framePayload(w, i)) || seen[[2]int{w, i}] {
				t.Fatalf("corrupt or repeated frame %x", f.Payload[:8])
			}
			seen[[2]int{w, i}] = true
		default:
			t.Fatalf("unexpected frame %v", f.Header.OpCode)
		}
	}
	wg.Wait()
	r.noMessage(t)
}

// TestWriteTimeout checks that Write gives up when the peer does not read.
func TestWriteTimeout(t *testing.T) {
	a, _ := tcpPair(t)
	c := NewConn(a, false, 1<<10, nil)
	done := make(chan error, 1)
	go func() { done <- c.Write(make([]byte, 64<<20), 200*time.Millisecond) }()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("err = %v, want a deadline error", err)
		}
	case <-time.After(prompt):
		a.Close()
		<-done
		t.Fatal("Write did not time out")
	}
}

// TestWriteNoTimeoutAfterTimeout checks that Write with no timeout is not
// bound by the deadline an earlier Write (or a pong) set.
func TestWriteNoTimeoutAfterTimeout(t *testing.T) {
	a, b := tcpPair(t)
	go func() { _, _ = io.Copy(io.Discard, b) }()
	c := NewConn(a, false, 1<<10, nil)
	f := c.AppendFrame(nil, OpBinary, nil, []byte("x"))
	if err := c.Write(f, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := c.Write(f, 0); err != nil {
		t.Fatalf("Write(p, 0) = %v, want nil", err)
	}
}

// TestWriteTimeoutMoves checks that a deadline an earlier Write set, now
// passed, does not fail a later Write with a timeout: the deadline moves.
func TestWriteTimeoutMoves(t *testing.T) {
	a, b := tcpPair(t)
	go func() { _, _ = io.Copy(io.Discard, b) }()
	c := NewConn(a, false, 1<<10, nil)
	f := c.AppendFrame(nil, OpBinary, nil, []byte("x"))
	for i := range 3 {
		if err := c.Write(f, 50*time.Millisecond); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		time.Sleep(80 * time.Millisecond)
	}
}

// TestBuffers checks the pool helpers.
func TestBuffers(t *testing.T) {
	p := GetBuffer()
	if len(*p) != 0 || cap(*p) < bufSize {
		t.Fatalf("GetBuffer: len %d cap %d", len(*p), cap(*p))
	}
	*p = append(*p, "dirty"...)
	PutBuffer(p)
	for range 10 {
		q := GetBuffer()
		if len(*q) != 0 || cap(*q) < bufSize {
			t.Fatalf("GetBuffer: len %d cap %d", len(*q), cap(*q))
		}
		defer PutBuffer(q)
	}
}

// TestErrorText pins the error messages callers may log.
func TestErrorText(t *testing.T) {
	if got := (&CloseError{4001, "bye"}).Error(); got != `peer closed the connection: 4001 "bye"` {
		t.Errorf("CloseError: %s", got)
	}
	if got := (&ProtocolError{"x"}).Error(); got != "websocket protocol error: x" {
		t.Errorf("ProtocolError: %s", got)
	}
	a, _ := tcpPair(t)
	if c := NewConn(a, false, 1, nil); c.NetConn() != net.Conn(a) {
		t.Errorf("NetConn does not return the connection")
	}
}

// TestDrop checks that Drop releases the buffer and a half-built message.
func TestDrop(t *testing.T) {
	stream := append(enc(t, gobwas.OpBinary, false, true, []byte("frag")), enc(t, gobwas.OpBinary, true, true, []byte("x"))[:3]...)
	c := NewConn(&memConn{r: bytes.NewReader(stream)}, false, 1<<10, nil)
	if err := c.ReadMessage(func(byte, []byte) error { return nil }); !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v", err)
	}
	if c.buf == nil || c.frag == nil {
		t.Fatalf("test setup: buf %v frag %v", c.buf != nil, c.frag != nil)
	}
	c.Drop()
	if c.buf != nil || c.frag != nil {
		t.Fatal("Drop kept the buffer or the fragment")
	}
}

// TestDiscard checks that Discard drops the read buffer and consumes raw
// bytes until the peer closes or the read deadline passes.
func TestDiscard(t *testing.T) {
	t.Run("until EOF", func(t *testing.T) {
		a, b := tcpPair(t)
		c := NewConn(a, false, 1<<10, []byte{0x82, 0x85}) // half a frame
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Discard()
		}()
		// More than the socket buffers hold: only reading lets it finish.
		if _, err := b.Write(payload(8<<20, 1)); err != nil {
			t.Fatal(err)
		}
		if err := b.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(prompt):
			t.Fatal("Discard did not return after the peer closed")
		}
		if c.buf != nil {
			t.Fatal("Discard kept the read buffer")
		}
	})
	t.Run("until deadline", func(t *testing.T) {
		a, b := tcpPair(t)
		c := NewConn(a, false, 1<<10, nil)
		c.Shutdown(1000, "", 100*time.Millisecond)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Discard()
		}()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatal("Discard did not return at the deadline")
		}
		if f, _ := peerFrame(t, b); f.Header.OpCode != gobwas.OpClose {
			t.Fatalf("peer got op %v, want close", f.Header.OpCode)
		}
	})
}

// TestFragmentedBatch sends many fragmented messages, with pings between
// fragments, in one write: fragments straddle buffer refills and
// compactions, so a fragment that aliased the read buffer would be
// overwritten.
func TestFragmentedBatch(t *testing.T) {
	var stream []byte
	var want [][]byte
	pings := 0
	for i := range 300 {
		var whole []byte
		parts := 2 + i%3
		for j := range parts {
			p := payload(17+(i*31+j*97)%400, uint64(i*8+j))
			whole = append(whole, p...)
			op := gobwas.OpContinuation
			if j == 0 {
				op = gobwas.OpBinary
			}
			stream = append(stream, enc(t, op, j == parts-1, true, p)...)
			if j == 0 && i%4 == 0 {
				stream = append(stream, enc(t, gobwas.OpPing, true, true, payload(i%126, 5))...)
				pings++
			}
		}
		want = append(want, whole)
	}
	check := func(t *testing.T, got []msg) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%d messages, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i].op != OpBinary || !bytes.Equal(got[i].p, want[i]) {
				t.Fatalf("message %d differs (len %d, want %d)", i, len(got[i].p), len(want[i]))
			}
		}
	}
	t.Run("tcp", func(t *testing.T) {
		a, b := tcpPair(t)
		r := startReader(t, NewConn(a, false, 1<<20, nil), nil)
		go func() { _, _ = b.Write(stream) }()
		got := make([]msg, 0, len(want))
		for range want {
			got = append(got, r.next(t))
		}
		check(t, got)
		for i := range pings {
			if f, _ := peerFrame(t, b); f.Header.OpCode != gobwas.OpPong {
				t.Fatalf("frame %d from the Conn is %v, want a pong", i, f.Header.OpCode)
			}
		}
	})
	t.Run("small reads", func(t *testing.T) {
		for _, k := range []int{1, 3, 100, 1000, 4000} {
			var got []msg
			c := NewConn(&memConn{r: bytes.NewReader(stream), chunk: func() int { return k }}, false, 1<<20, nil)
			err := c.ReadMessage(func(op byte, p []byte) error {
				got = append(got, msg{op, bytes.Clone(p)})
				return nil
			})
			if !errors.Is(err, io.EOF) {
				t.Fatalf("chunk %d: err = %v", k, err)
			}
			check(t, got)
		}
	})
}

// TestPutBufferDropsOversized checks that the pool does not keep huge
// buffers (the writers' buffers grow with their batches).
func TestPutBufferDropsOversized(t *testing.T) {
	big := make([]byte, 0, 65*bufSize)
	PutBuffer(&big)
	var got []*[]byte // the pool's private slot comes first, then a stack
	for range 8 {
		q := GetBuffer()
		got = append(got, q)
		if cap(*q) > 64*bufSize {
			t.Fatalf("GetBuffer returned a buffer of %d bytes", cap(*q))
		}
	}
	for _, q := range got {
		PutBuffer(q)
	}
}
