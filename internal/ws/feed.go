package ws

import (
	"encoding/binary"
	"fmt"
	"net"

	gobwas "github.com/gobwas/ws"
)

// A Conn read by a poller is fed the bytes the kernel had (Feed) instead
// of blocking in ReadMessage: it then holds no goroutine, and no buffer
// except the bytes of a frame that has not fully arrived.

// Adopt hands c's socket to a poller: take converts the connection into
// the poller's (it may close the one it is given), whose Write never
// blocks (it queues what the kernel does not take). Writes in progress
// finish first; later ones go through the new connection. Only the
// goroutine that reads c may call it. It returns the bytes c had read past
// the last frame it returned, which Feed must get first.
func (c *Conn) Adopt(take func(net.Conn) (net.Conn, error)) ([]byte, error) {
	c.wmu.Lock()
	nc, err := take(c.nc)
	if err != nil {
		c.wmu.Unlock()
		return nil, err
	}
	c.nc = nc
	c.nonBlocking = true
	c.wdl = 0
	c.wmu.Unlock()
	var rest []byte
	if c.buf != nil && c.r < c.w {
		rest = append([]byte(nil), (*c.buf)[c.r:c.w]...)
	}
	if c.buf != nil {
		PutBuffer(c.buf)
		c.buf, c.r, c.w = nil, 0, 0
	}
	return rest, nil
}

// Feed parses data, the next bytes from the peer, and acts on every
// complete frame as ReadMessage does: pings answered, fragments
// assembled, fn called with each data message (its payload valid until fn
// returns). A frame that is not complete yet is kept for the next call.
// Feed returns the first error, as ReadMessage would; after an error the
// connection must not be fed again. Feed may modify data (unmasking).
func (c *Conn) Feed(data []byte, fn func(op byte, p []byte) error) error {
	b := data
	if len(c.pend) > 0 {
		c.pend = append(c.pend, data...)
		b = c.pend
	}
	for len(b) > 0 {
		h, err := c.parseHeader(b)
		if err != nil {
			c.pend = nil
			return err
		}
		if h.size == 0 || uint64(len(b)-h.size) < h.n {
			break // incomplete
		}
		payload := b[h.size : h.size+int(h.n)]
		if h.masked {
			gobwas.Cipher(payload, h.mask, 0)
		}
		b = b[h.size+int(h.n):]
		if err := c.handle(h.fin, h.op, payload, fn); err != nil {
			c.pend = nil
			return err
		}
	}
	switch {
	case len(b) == 0:
		c.pend = nil
	case len(c.pend) > 0:
		// b is the tail of pend: move it to the front.
		c.pend = c.pend[:copy(c.pend, b)]
	default:
		c.pend = append(make([]byte, 0, len(b)), b...)
	}
	return nil
}

// header is a parsed frame header; size is 0 while it is incomplete.
type header struct {
	fin, masked bool
	op          byte
	size        int // header bytes
	need        int // while incomplete: the header's length, once known
	n           uint64
	mask        [4]byte
}

// parseHeader checks the frame header at the start of b, for Feed and
// readFrame: a frame that breaks the rules or exceeds the limit is refused
// as soon as its header is known, before its payload arrives.
func (c *Conn) parseHeader(b []byte) (h header, err error) {
	if len(b) < 2 {
		return h, nil
	}
	h0, h1 := b[0], b[1]
	if h0&0x70 != 0 {
		return h, &ProtocolError{"reserved bits set"}
	}
	h.fin = h0&0x80 != 0
	h.op = h0 & 0x0f
	h.masked = h1&0x80 != 0
	if h.masked == c.client {
		if c.client {
			return h, &ProtocolError{"masked frame from server"}
		}
		return h, &ProtocolError{"unmasked frame from client"}
	}
	size := 2
	l7 := h1 & 0x7f
	switch l7 {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if h.masked {
		size += 4
	}
	if len(b) < size {
		h.need = size
		return h, nil
	}
	switch l7 {
	case 126:
		h.n = uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		h.n = binary.BigEndian.Uint64(b[2:])
	default:
		h.n = uint64(l7)
	}
	if h.masked {
		copy(h.mask[:], b[size-4:size])
	}
	switch h.op {
	case OpClose, OpPing, OpPong:
		if !h.fin || h.n > 125 {
			return h, &ProtocolError{"bad control frame"}
		}
	case OpText, OpBinary, OpContinuation:
		if h.n > uint64(c.maxMsg) {
			return h, ErrTooBig
		}
	default:
		return h, &ProtocolError{fmt.Sprintf("unknown opcode %d", h.op)}
	}
	h.size = size
	return h, nil
}
