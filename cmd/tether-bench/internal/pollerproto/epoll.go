//go:build linux

package main

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"golang.org/x/sys/unix"
)

// epollBackend is the minimal hand-written layer: npoll goroutines, each
// blocked in epoll_wait on its own epoll instance (level-triggered), a
// 64 KiB read buffer per poller shared by all its connections, and per
// connection only epConn. A write from any goroutine goes straight to the
// socket when nothing is queued; what the kernel refuses (EAGAIN or a
// short write) is copied into out and the connection is registered for
// EPOLLOUT until it drains.
type epollBackend struct {
	registry
	pollers []*epPoller
}

type epPoller struct {
	epfd  int
	wake  int // eventfd: ends the loop
	mu    sync.RWMutex
	conns map[int32]*epConn
	buf   []byte // used by the loop goroutine only
	done  chan struct{}
}

type epConn struct {
	b       *epollBackend
	p       *epPoller
	mu      sync.Mutex
	fd      int
	closed  bool
	out     []byte // bytes the kernel has not taken yet; nil when none
	partial []byte // start of a frame not complete yet; loop goroutine only
}

// maxQueued bounds out: a connection that cannot take this much is closed.
const maxQueued = 4 << 20

func newEpollBackend(npoll int) (*epollBackend, error) {
	b := &epollBackend{}
	for range npoll {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return nil, err
		}
		wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			return nil, err
		}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
			return nil, err
		}
		p := &epPoller{epfd: epfd, wake: wake, conns: make(map[int32]*epConn), buf: make([]byte, 64<<10), done: make(chan struct{})}
		b.pollers = append(b.pollers, p)
		go p.loop()
	}
	return b, nil
}

func (b *epollBackend) close() {
	for _, p := range b.pollers {
		_, _ = unix.Write(p.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		<-p.done
		p.mu.Lock()
		for _, c := range p.conns {
			c.mu.Lock()
			c.closeLocked()
			c.mu.Unlock()
		}
		p.mu.Unlock()
		unix.Close(p.wake)
		unix.Close(p.epfd)
	}
}

func (b *epollBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	nc, early, ok := upgrade(w, r)
	if !ok {
		return
	}
	fd, err := detachFD(nc)
	if err != nil {
		// A real server keeps nc on the portable path here (TLS).
		slog.Debug("epoll: no fd", "err", err)
		nc.Close()
		return
	}
	p := b.pollers[fd%len(b.pollers)]
	c := &epConn{b: b, p: p, fd: fd}
	p.mu.Lock()
	p.conns[int32(fd)] = c
	p.mu.Unlock()
	b.add(c)
	if len(early) > 0 {
		c.mu.Lock() // the loop cannot see fd yet: registered below
		c.partial, err = consume(nil, early, c.writeLocked)
		c.mu.Unlock()
		if err != nil {
			b.drop(c)
			return
		}
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}); err != nil {
		b.drop(c)
	}
}

func (b *epollBackend) drop(c *epConn) {
	c.mu.Lock()
	c.closeLocked()
	c.mu.Unlock()
	b.remove(c)
}

func (c *epConn) write(frame []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeLocked(frame)
}

func (c *epConn) writeLocked(frame []byte) error {
	if c.closed {
		return errClosed
	}
	if len(c.out) > 0 { // queued already: keep the order
		if len(c.out)+len(frame) > maxQueued {
			c.closeLocked()
			return errTooLarge
		}
		c.out = append(c.out, frame...)
		return nil
	}
	n, err := unix.Write(c.fd, frame)
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		c.closeLocked()
		return err
	}
	if n < 0 {
		n = 0
	}
	if n == len(frame) {
		return nil
	}
	c.out = append([]byte(nil), frame[n:]...)
	return unix.EpollCtl(c.p.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLOUT, Fd: int32(c.fd)})
}

// flush runs on EPOLLOUT: it writes what is queued and, once empty,
// stops asking for writability.
func (c *epConn) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.out) == 0 {
		return
	}
	n, err := unix.Write(c.fd, c.out)
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		c.closeLocked()
		return
	}
	if n > 0 {
		c.out = c.out[n:]
	}
	if len(c.out) == 0 {
		c.out = nil
		_ = unix.EpollCtl(c.p.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd)})
	}
}

func (c *epConn) closeLocked() {
	if c.closed {
		return
	}
	c.closed = true
	c.out, c.partial = nil, nil
	_ = unix.EpollCtl(c.p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	c.p.mu.Lock()
	delete(c.p.conns, int32(c.fd))
	c.p.mu.Unlock()
	unix.Close(c.fd)
}

func (p *epPoller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		for i := range n {
			ev := events[i]
			if int(ev.Fd) == p.wake {
				return
			}
			p.mu.RLock()
			c := p.conns[ev.Fd]
			p.mu.RUnlock()
			if c == nil {
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				c.flush()
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				p.readable(c)
			}
		}
	}
}

// readable reads once into the poller's buffer (level-triggered: more
// data raises another event), parses, echoes, and keeps only a partial
// frame.
func (p *epPoller) readable(c *epConn) {
	n, err := unix.Read(c.fd, p.buf)
	if n <= 0 {
		if err != nil && (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)) {
			return
		}
		c.mu.Lock()
		c.closeLocked()
		c.mu.Unlock()
		c.b.remove(c)
		return
	}
	c.mu.Lock()
	c.partial, err = consume(c.partial, p.buf[:n], c.writeLocked)
	if err != nil {
		c.closeLocked()
	}
	closed := c.closed
	c.mu.Unlock()
	if closed {
		c.b.remove(c)
	}
}
