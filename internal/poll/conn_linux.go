//go:build linux

package poll

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is a socket owned by a Poller. It is a net.Conn for writing: Write
// never blocks. Reads arrive through Options.OnData; Read fails.
type Conn struct {
	l  *loop
	fd int
	// raddr by value: the *net.TCPAddr of the adopted net.Conn, with the
	// sockaddr its IP points into, cost 80 bytes per connection.
	raddr netip.AddrPort

	// Session is the user's: set it in Take's before func.
	Session any

	mu     sync.Mutex
	err    error
	out    []byte      // what the kernel has not taken yet; nil when none
	wTimer *time.Timer // the poller's WriteTimeout, while bytes are queued
	dTimer *time.Timer // SetWriteDeadline's, until it passes or is moved
	rTimer *time.Timer

	// Together, so that a Conn is one size class smaller (144 bytes).
	woken  bool // in its loop's woken list; guarded by the loop's mu
	closed bool // guarded by mu
	shutWr bool // guarded by mu: CloseWrite once out is empty
}

// Unread is how many bytes the kernel holds that the poller has not read
// yet (SIOCINQ); 0 once closed. The fd is valid while mu is held and the
// connection open: closeErr marks it closed under mu before closing it.
func (c *Conn) Unread() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0
	}
	n, err := unix.IoctlGetInt(c.fd, unix.SIOCINQ)
	if err != nil {
		return 0
	}
	return n
}

var errRead = errors.New("poll: a polled connection is read by its poller")

// Read fails: a poller reads the connection.
func (c *Conn) Read([]byte) (int, error) { return 0, errRead }

// Write writes b, or queues what the kernel does not take and flushes it
// when the socket is writable. A queue over the poller's MaxQueued, or
// older than its WriteTimeout, closes the connection.
func (c *Conn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	if len(c.out) > 0 { // queued already: keep the order
		if len(c.out)+len(b) > c.l.p.o.MaxQueued {
			c.mu.Unlock()
			c.closeErr(ErrQueueFull)
			return 0, ErrQueueFull
		}
		c.out = append(c.out, b...)
		c.mu.Unlock()
		return len(b), nil
	}
	n, err := unix.Write(c.fd, b)
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		c.mu.Unlock()
		c.closeErr(err)
		return 0, err
	}
	n = max(n, 0)
	if n < len(b) {
		if len(b)-n > c.l.p.o.MaxQueued {
			c.mu.Unlock()
			c.closeErr(ErrQueueFull)
			return n, ErrQueueFull
		}
		c.out = append([]byte(nil), b[n:]...)
		if d := c.l.p.o.WriteTimeout; d > 0 && c.wTimer == nil {
			c.wTimer = time.AfterFunc(d, func() { c.closeErr(ErrWriteTimeout) })
		}
		_ = unix.EpollCtl(c.l.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLOUT, Fd: int32(c.fd)})
	}
	c.mu.Unlock()
	return len(b), nil
}

// flush writes what is queued; once all is written it stops watching
// for writability (and half-closes, if CloseWrite asked).
func (c *Conn) flush() {
	c.mu.Lock()
	if c.closed || len(c.out) == 0 {
		c.mu.Unlock()
		return
	}
	n, err := unix.Write(c.fd, c.out)
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		c.mu.Unlock()
		c.closeErr(err)
		return
	}
	c.out = c.out[max(n, 0):]
	if len(c.out) == 0 {
		c.out = nil
		if c.wTimer != nil {
			c.wTimer.Stop()
			c.wTimer = nil
		}
		_ = unix.EpollCtl(c.l.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd)})
		if c.shutWr {
			_ = unix.Shutdown(c.fd, unix.SHUT_WR)
		}
	}
	c.mu.Unlock()
}

// Wake has the poller call OnWake for c soon, on its goroutine: work
// handed to the poller costs one wake-up of it for any number of
// connections woken before it runs, not a goroutine each.
func (c *Conn) Wake() {
	l := c.l
	l.mu.Lock()
	if c.woken {
		l.mu.Unlock()
		return
	}
	c.woken = true
	if len(l.woken) == 0 {
		l.signal()
	}
	l.woken = append(l.woken, c)
	l.mu.Unlock()
}

// CloseWrite half-closes the connection once everything queued is out.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	if len(c.out) > 0 {
		c.shutWr = true
		return nil
	}
	return unix.Shutdown(c.fd, unix.SHUT_WR)
}

// Close closes the connection at once; what is queued is dropped.
func (c *Conn) Close() error {
	if !c.closeErr(nil) {
		return net.ErrClosed
	}
	return nil
}

// closeErr closes the connection for err and has its loop call OnClose;
// it reports false if it was closed already.
func (c *Conn) closeErr(err error) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.closed, c.err, c.out = true, err, nil
	for _, t := range []*time.Timer{c.wTimer, c.dTimer, c.rTimer} {
		if t != nil {
			t.Stop()
		}
	}
	c.wTimer, c.dTimer, c.rTimer = nil, nil, nil
	c.mu.Unlock()
	l := c.l
	l.mu.Lock()
	delete(l.conns, int32(c.fd))
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	l.closed = append(l.closed, c)
	l.signal()
	l.mu.Unlock()
	return true
}

// SetReadDeadline closes the connection at t (ErrReadTimeout); the zero
// time cancels it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	if c.rTimer != nil {
		c.rTimer.Stop()
		c.rTimer = nil
	}
	if !t.IsZero() {
		c.rTimer = time.AfterFunc(time.Until(t), func() { c.closeErr(ErrReadTimeout) })
	}
	return nil
}

// SetWriteDeadline closes the connection at t if bytes are still queued
// then; the zero time cancels it. The poller's WriteTimeout applies
// without it.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	if c.dTimer != nil {
		c.dTimer.Stop()
		c.dTimer = nil
	}
	if !t.IsZero() {
		c.dTimer = time.AfterFunc(time.Until(t), func() {
			c.mu.Lock()
			queued := len(c.out) > 0
			c.mu.Unlock()
			if queued {
				c.closeErr(ErrWriteTimeout)
			}
		})
	}
	return nil
}

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// LocalAddr returns the local address, asked of the kernel (it is rarely
// needed, so a connection does not keep it).
func (c *Conn) LocalAddr() net.Addr { return c.askAddr(unix.Getsockname) }

// RemoteAddr returns the peer's address: a TCP peer's, kept from Take;
// a Unix socket's, asked of the kernel while open (its name is empty
// after Close).
func (c *Conn) RemoteAddr() net.Addr {
	if c.raddr.IsValid() {
		return net.TCPAddrFromAddrPort(c.raddr)
	}
	if a := c.askAddr(unix.Getpeername); a != nil {
		return a
	}
	return &net.UnixAddr{Net: "unix"} // never nil: callers print it
}

// askAddr returns the address get reads of the socket; nil once closed.
func (c *Conn) askAddr(get func(fd int) (unix.Sockaddr, error)) net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	sa, err := get(c.fd)
	if err != nil {
		return nil
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return nil
}
