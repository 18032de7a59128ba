// Package ws frames WebSocket messages over a net.Conn for Tether's two
// sides. It holds no buffer while a connection is idle: a reader blocks on
// a one-byte read and borrows a pooled buffer only while bytes are
// arriving, and writers encode every pending frame into one pooled buffer
// and hand it to the kernel in a single write. The opening handshake is
// gobwas/ws's; everything after it is here.
package ws

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	gobwas "github.com/gobwas/ws"
)

// Opcodes (RFC 6455 §5.2).
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// bufSize is the size of the pooled read and write buffers.
const bufSize = 4096

// ErrTooBig is returned by ReadMessage when a message exceeds the limit.
var ErrTooBig = errors.New("message too big")

// ProtocolError is a violation of RFC 6455 by the peer.
type ProtocolError struct{ Reason string }

func (e *ProtocolError) Error() string { return "websocket protocol error: " + e.Reason }

// CloseError is returned by ReadMessage when the peer sent a close frame.
type CloseError struct {
	Code   uint16
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("peer closed the connection: %d %q", e.Code, e.Reason)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// GetBuffer borrows a pooled buffer of at least bufSize bytes, length 0.
func GetBuffer() *[]byte { p := bufPool.Get().(*[]byte); *p = (*p)[:0]; return p }

// PutBuffer returns a buffer to the pool. Oversized buffers are dropped.
func PutBuffer(p *[]byte) {
	if cap(*p) > 64*bufSize {
		return
	}
	bufPool.Put(p)
}

// Conn is one side of a WebSocket connection. ReadMessage must be called
// from one goroutine; Write and the close methods from any.
type Conn struct {
	nc     net.Conn
	maxMsg int

	// Reader state: owned by the reading goroutine.
	buf  *[]byte // borrowed read buffer; nil while idle
	r, w int
	frag []byte // data of a fragmented message being assembled
	pend []byte // Feed: the start of a frame that has not fully arrived

	wmu sync.Mutex // serializes Write calls so frames never interleave
	// wdl is the write deadline in force, as time since clock (monotonic,
	// in 8 bytes where a time.Time takes 24); zero when none. Guarded by wmu.
	wdl time.Duration

	// Small fields together, so that a Conn is 128 bytes, not 160.
	closeSent   atomic.Bool
	client      bool // we mask what we write and expect unmasked frames
	full        bool // the last read filled buf: more bytes are probably waiting (reader's)
	one         [1]byte
	fop         byte // opcode of the fragmented message (reader's)
	nonBlocking bool // nc is a poller's: writes queue instead of blocking; guarded by wmu
}

// clock is the origin of Conn.wdl.
var clock = time.Now()

// NewConn wraps nc after a completed handshake. pre holds bytes that were
// read past the handshake. maxMsg bounds a message's payload.
func NewConn(nc net.Conn, client bool, maxMsg int, pre []byte) *Conn {
	c := &Conn{nc: nc, client: client, maxMsg: maxMsg}
	if len(pre) > 0 {
		c.buf = GetBuffer()
		if cap(*c.buf) < len(pre) {
			*c.buf = make([]byte, len(pre))
		}
		*c.buf = (*c.buf)[:cap(*c.buf)]
		c.w = copy(*c.buf, pre)
	}
	return c
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.nc
}

// release gives the read buffer back when nothing is buffered.
func (c *Conn) release() {
	if c.buf != nil && c.r == c.w {
		PutBuffer(c.buf)
		c.buf, c.r, c.w = nil, 0, 0
		c.full = false
	}
}

// ensure makes n ≤ bufSize bytes available at buf[r:w].
func (c *Conn) ensure(n int) error {
	for c.w-c.r < n {
		if c.buf == nil {
			if !c.full {
				// Idle: wait for a byte without holding a buffer.
				k, err := c.nc.Read(c.one[:])
				if k == 0 {
					if err == nil {
						continue
					}
					return err
				}
			}
			c.buf = GetBuffer()
			*c.buf = (*c.buf)[:cap(*c.buf)]
			c.r, c.w = 0, 0
			if !c.full {
				(*c.buf)[0] = c.one[0]
				c.w = 1
				continue
			}
		}
		b := *c.buf
		if len(b)-c.r < n {
			c.w = copy(b, b[c.r:c.w])
			c.r = 0
		}
		k, err := c.nc.Read(b[c.w:])
		c.w += k
		c.full = c.w == len(b)
		if c.w-c.r >= n {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// FrameBuffered reports whether a whole frame is already buffered, so
// that reading it will not block. Only the reading goroutine may call it.
func (c *Conn) FrameBuffered() bool {
	if c.buf == nil {
		return false
	}
	b := (*c.buf)[c.r:c.w]
	if len(b) < 2 {
		return false
	}
	hl := 2
	var n uint64
	switch l7 := b[1] & 0x7f; l7 {
	case 126:
		hl += 2
	case 127:
		hl += 8
	default:
		n = uint64(l7)
	}
	if b[1]&0x80 != 0 {
		hl += 4
	}
	if len(b) < hl {
		return false
	}
	switch hl - int(b[1]>>7)*4 {
	case 4:
		n = uint64(binary.BigEndian.Uint16(b[2:]))
	case 10:
		n = binary.BigEndian.Uint64(b[2:])
	}
	return uint64(len(b)-hl) >= n
}

// readInto reads exactly len(p) bytes, using buffered bytes first.
func (c *Conn) readInto(p []byte) error {
	if c.buf != nil {
		k := copy(p, (*c.buf)[c.r:c.w])
		c.r += k
		p = p[k:]
	}
	if len(p) == 0 {
		return nil
	}
	c.full = false
	_, err := io.ReadFull(c.nc, p)
	return err
}

// ReadMessage reads the next data message and calls fn with its payload,
// which is valid only until fn returns. It answers pings itself. It
// returns a *CloseError when the peer closes, ErrTooBig when a message
// exceeds the limit, and a *ProtocolError on malformed framing.
func (c *Conn) ReadMessage(fn func(op byte, p []byte) error) error {
	for {
		c.release()
		fin, op, payload, _, err := c.readFrame()
		if err != nil {
			return err
		}
		err = c.handle(fin, op, payload, fn)
		if op != OpPing && op != OpPong {
			c.release() // before the next read blocks: an idle reader holds no buffer
		}
		if err != nil {
			return err
		}
	}
}

// handle acts on one frame read by ReadMessage or Feed: it answers a
// ping, assembles fragments and calls fn with each complete data message.
// A close frame returns its *CloseError.
func (c *Conn) handle(fin bool, op byte, payload []byte, fn func(op byte, p []byte) error) error {
	switch op {
	case OpPing:
		return c.writeControl(OpPong, payload)
	case OpPong:
		return nil
	case OpClose:
		ce := &CloseError{Code: 1005}
		if len(payload) >= 2 {
			ce.Code = binary.BigEndian.Uint16(payload)
			ce.Reason = string(payload[2:])
			if !utf8.ValidString(ce.Reason) {
				return &ProtocolError{"close reason is not UTF-8"}
			}
		} else if len(payload) == 1 {
			return &ProtocolError{"close frame with 1-byte payload"}
		}
		if c.client {
			// A server echoes itself once it has acted on the close,
			// so the peer cannot reconnect before the server knows.
			_ = c.EchoClose(ce)
		}
		return ce
	case OpContinuation:
		if c.frag == nil {
			return &ProtocolError{"continuation without a start"}
		}
		if len(c.frag)+len(payload) > c.maxMsg {
			return ErrTooBig
		}
		c.frag = append(c.frag, payload...)
		if !fin {
			return nil
		}
		p := c.frag
		c.frag = nil
		return fn(c.fop, p)
	}
	if c.frag != nil {
		return &ProtocolError{"new message inside a fragmented one"}
	}
	if !fin {
		c.fop = op
		c.frag = append(make([]byte, 0, len(payload)*2), payload...)
		return nil
	}
	return fn(op, payload)
}

// readFrame reads one frame. payload aliases the read buffer unless owned.
func (c *Conn) readFrame() (fin bool, op byte, payload []byte, owned bool, err error) {
	if err = c.ensure(2); err != nil {
		return
	}
	h, err := c.parseHeader((*c.buf)[c.r:c.w])
	if err == nil && h.size == 0 {
		if err = c.ensure(h.need); err != nil {
			return
		}
		h, err = c.parseHeader((*c.buf)[c.r:c.w])
	}
	if err != nil {
		return
	}
	fin, op = h.fin, h.op
	c.r += h.size
	if n := int(h.n); n <= bufSize {
		if err = c.ensure(n); err != nil {
			return
		}
		payload = (*c.buf)[c.r : c.r+n]
		c.r += n
	} else {
		payload = make([]byte, n)
		owned = true
		if err = c.readInto(payload); err != nil {
			return
		}
	}
	if h.masked {
		gobwas.Cipher(payload, h.mask, 0)
	}
	return
}

// AppendFrame appends one complete frame (header, head, payload) to b,
// masking it when c is a client.
func (c *Conn) AppendFrame(b []byte, op byte, head, payload []byte) []byte {
	return AppendFrame(b, c.client, op, head, payload)
}

// AppendFrame appends one final frame carrying head followed by payload.
func AppendFrame(b []byte, masked bool, op byte, head, payload []byte) []byte {
	n := len(head) + len(payload)
	b = append(b, 0x80|op)
	var m byte
	if masked {
		m = 0x80
	}
	switch {
	case n <= 125:
		b = append(b, m|byte(n))
	case n <= 0xffff:
		b = append(b, m|126, byte(n>>8), byte(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !masked {
		b = append(b, head...)
		return append(b, payload...)
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, head...)
	b = append(b, payload...)
	gobwas.Cipher(b[start:], key, 0)
	return b
}

// Write writes already-encoded frames in one call, within timeout.
func (c *Conn) Write(p []byte, timeout time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(p, timeout)
}

// writeLocked writes p within timeout (none if zero). Moving a deadline
// costs a runtime timer update, so it moves only when less than half of
// timeout is left: a write may get between timeout/2 and timeout.
func (c *Conn) writeLocked(p []byte, timeout time.Duration) error {
	switch {
	case c.nonBlocking:
		// The poller queues what the kernel does not take, and bounds how
		// long it waits and how much of it there is.
	case timeout > 0:
		now := time.Since(clock)
		if left := c.wdl - now; c.wdl == 0 || left < timeout/2 || left > timeout {
			c.wdl = now + timeout
			_ = c.nc.SetWriteDeadline(clock.Add(c.wdl))
		}
	case c.wdl != 0:
		c.wdl = 0
		_ = c.nc.SetWriteDeadline(time.Time{})
	}
	_, err := c.nc.Write(p)
	return err
}

func (c *Conn) writeControl(op byte, payload []byte) error {
	bp := GetBuffer()
	defer PutBuffer(bp)
	*bp = c.AppendFrame(*bp, op, nil, payload)
	return c.Write(*bp, 5*time.Second)
}

// EchoClose answers the peer's close frame with the same code.
func (c *Conn) EchoClose(ce *CloseError) error {
	code := ce.Code
	if code == 1005 {
		code = 1000
	}
	return c.WriteClose(code, "")
}

// WriteClose sends a close frame once; later calls do nothing.
func (c *Conn) WriteClose(code uint16, reason string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.closeSent.CompareAndSwap(false, true) {
		return nil
	}
	if len(reason) > 123 {
		reason = reason[:123]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	var p [125]byte
	binary.BigEndian.PutUint16(p[:], code)
	n := 2 + copy(p[2:], reason)
	bp := GetBuffer()
	defer PutBuffer(bp)
	*bp = c.AppendFrame(*bp, OpClose, nil, p[:n])
	return c.writeLocked(*bp, 5*time.Second)
}

// Shutdown starts a clean close: it sends a close frame, half-closes the
// TCP connection and bounds the wait for the peer's close to linger. The
// reading goroutine sees the peer's close, EOF or the deadline and must
// then call Close.
func (c *Conn) Shutdown(code uint16, reason string, linger time.Duration) {
	_ = c.WriteClose(code, reason)
	nc := c.NetConn()
	if tc, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = nc.SetReadDeadline(time.Now().Add(linger))
}

// Discard reads and drops raw bytes until the peer closes or the read
// deadline passes, so closing afterwards does not reset the connection
// before the peer has read our close frame. Use it when framing is lost.
func (c *Conn) Discard() {
	c.Drop()
	_, _ = io.Copy(io.Discard, c.nc)
}

// Close closes the connection at once; Drop returns the read buffer.
func (c *Conn) Close() error {
	return c.NetConn().Close()
}

// Drop releases the read buffer; only the reading goroutine may call it,
// after its last ReadMessage.
func (c *Conn) Drop() {
	if c.buf != nil {
		PutBuffer(c.buf)
		c.buf = nil
	}
	c.frag = nil
	c.pend = nil
}
