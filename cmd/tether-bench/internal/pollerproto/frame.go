//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// WebSocket opcodes the prototypes act on.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

var (
	errUnmasked = errors.New("client frame not masked")
	errTooLarge = errors.New("frame too large")
	errClosed   = errors.New("connection closed")
)

// maxFrame bounds one client frame (and so what a partial frame may hold).
const maxFrame = 1 << 20

// parseFrames parses the complete client frames at the start of b, unmasks
// each payload in place and hands it to fn. It returns how many bytes it
// consumed: the rest, if any, is the start of a frame not yet complete,
// which the caller keeps (and only then holds a buffer for the connection).
// Fragmented messages are passed on frame by frame: enough for a prototype.
func parseFrames(b []byte, fn func(op byte, payload []byte) error) (int, error) {
	consumed := 0
	for {
		p := b[consumed:]
		if len(p) < 2 {
			return consumed, nil
		}
		op := p[0] & 0x0f
		if p[1]&0x80 == 0 {
			return consumed, errUnmasked
		}
		length := uint64(p[1] & 0x7f)
		hdr := 2
		switch length {
		case 126:
			if len(p) < 4 {
				return consumed, nil
			}
			length = uint64(binary.BigEndian.Uint16(p[2:]))
			hdr = 4
		case 127:
			if len(p) < 10 {
				return consumed, nil
			}
			length = binary.BigEndian.Uint64(p[2:])
			hdr = 10
		}
		if length > maxFrame {
			return consumed, errTooLarge
		}
		if uint64(len(p)) < uint64(hdr+4)+length {
			return consumed, nil
		}
		mask := p[hdr : hdr+4]
		payload := p[hdr+4 : hdr+4+int(length)]
		for i := range payload {
			payload[i] ^= mask[i&3]
		}
		if err := fn(op, payload); err != nil {
			return consumed, err
		}
		consumed += hdr + 4 + int(length)
	}
}

// serverFrame returns a final, unmasked server frame.
func serverFrame(op byte, payload []byte) []byte {
	n := len(payload)
	var f []byte
	switch {
	case n < 126:
		f = make([]byte, 2, 2+n)
		f[1] = byte(n)
	case n <= 0xffff:
		f = make([]byte, 4, 4+n)
		f[1] = 126
		binary.BigEndian.PutUint16(f[2:], uint16(n))
	default:
		f = make([]byte, 10, 10+n)
		f[1] = 127
		binary.BigEndian.PutUint64(f[2:], uint64(n))
	}
	f[0] = 0x80 | op
	return append(f, payload...)
}

// reply is what an echo server answers to one client frame: the same
// message back, a pong to a ping, a close to a close (then errClosed).
func reply(op byte, payload []byte) ([]byte, error) {
	switch op {
	case opClose:
		return serverFrame(opClose, nil), errClosed
	case opPing:
		return serverFrame(opPong, payload), nil
	case opPong:
		return nil, nil
	}
	return serverFrame(op, payload), nil
}

// consume appends data to the connection's partial frame (if any), parses
// what is complete, calls send for each reply and returns the new partial
// frame: nil when nothing is left over, so an idle connection holds no
// buffer. data may be a buffer shared by the whole poller: what is kept is
// copied.
func consume(partial, data []byte, send func([]byte) error) ([]byte, error) {
	if len(partial) > 0 {
		partial = append(partial, data...)
		data = partial
	}
	n, err := parseFrames(data, func(op byte, payload []byte) error {
		f, rerr := reply(op, payload)
		if f != nil {
			if werr := send(f); werr != nil {
				return werr
			}
		}
		return rerr
	})
	if err != nil {
		return nil, err
	}
	rest := data[n:]
	if len(rest) == 0 {
		return nil, nil
	}
	if len(partial) > 0 && n == 0 {
		return partial, nil
	}
	return append([]byte(nil), rest...), nil
}

// errNoFD is returned for a connection that has no file descriptor of its
// own to hand to a poller: a *tls.Conn (net/http terminated TLS, and the
// record layer's state lives in the tls.Conn) or any wrapper.
var errNoFD = errors.New("connection has no file descriptor (TLS or wrapped): use the portable path")

// detachFD duplicates the socket under a hijacked connection, closes the
// net.Conn (the Go runtime's poller forgets its descriptor; the socket
// lives on in the duplicate) and returns the duplicate, non-blocking.
func detachFD(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, errNoFD
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	nc.Close()
	return fd, nil
}
