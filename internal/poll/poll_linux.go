//go:build linux

package poll

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrQueueFull closes a connection whose peer does not read: more than
// the poller's limit of bytes waited for the kernel to take them.
var ErrQueueFull = errors.New("poll: write queue full: the peer does not read")

// ErrWriteTimeout closes a connection whose queued bytes waited longer
// than the write timeout.
var ErrWriteTimeout = errors.New("poll: write timed out: the peer does not read")

// ErrReadTimeout closes a connection whose read deadline passed.
var ErrReadTimeout = errors.New("poll: read deadline passed")

// Options configure a Poller; zero fields take the defaults given.
type Options struct {
	Pollers      int           // goroutines waiting in epoll_wait; 0 means 1
	MaxQueued    int           // bytes a connection may queue; 0 means 4 MiB
	WriteTimeout time.Duration // how long queued bytes may wait; 0 means no limit
	// OnData gets what a connection read; data is valid until it returns,
	// or until it calls Handoff.
	OnData func(c *Conn, data []byte)
	// OnClose runs once per connection, after its last OnData, with why
	// it closed (io.EOF when the peer did; nil when Close was called).
	OnClose func(c *Conn, err error)
	// OnWake runs on the connection's poller goroutine after Wake, once
	// for any number of Wakes before it runs (also on a closed Conn).
	OnWake func(c *Conn)
	// SlowAfter is how long an OnData that called MayBlock keeps its
	// loop: past it, a watchdog hands the loop to another goroutine (as
	// Handoff does) and calls OnSlow. The loop's other connections then
	// wait at most about twice this for a blocked callback, and a callback
	// that does not block costs no hand-off. 0 means MayBlock hands off at
	// once.
	SlowAfter time.Duration
	// OnSlow runs on the watchdog's goroutine for a connection whose
	// OnData passed SlowAfter after MayBlock; it must not block.
	OnSlow func(c *Conn)
}

// Poller owns the epoll instances and their goroutines.
type Poller struct {
	o       Options
	loops   []*loop
	next    atomic.Uint32 // the loop the next Take goes to
	mu      sync.Mutex
	stopped bool
	dog     watchdog // SlowAfter's
}

type loop struct {
	p      *Poller
	epfd   int
	ep     *os.File           // epfd, parked on in Go's own netpoller
	rc     syscall.RawConn    // ep's
	poller func(uintptr) bool // l.poll, made once
	events []unix.EpollEvent
	n      int           // what poll found
	err    error         // the loop goroutine's only, like events and n
	at     int           // the event being handled; the loop goroutine's only
	gen    atomic.Uint64 // Handoffs so far: OnData's goroutine sees it move and leaves the loop
	// Guarded by hmu: the leader's OnData, which Handoff and the watchdog
	// hand off.
	hmu      sync.Mutex
	inData   bool   // OnData runs on the leader's goroutine
	mayBlock bool   // and called MayBlock: done with its data
	from     int    // the next event, for the next leader
	cur      *Conn  // whose OnData runs
	calls    uint64 // OnData calls that called MayBlock, for the watchdog
	seen     uint64 // calls when the watchdog last found one running
	wake     int    // eventfd: new closes to report, or stop
	mu       sync.Mutex
	conns    map[int32]*Conn
	closed   []*Conn // closed, OnClose not called yet
	woken    []*Conn // Wake called, OnWake not yet
	stop     bool
	buf      []byte // the loop goroutine's only
	done     chan struct{}
	// Handoff's: a goroutine that handed the loop off and is done with its
	// OnData waits here to lead again (at most maxFollowers of them), so a
	// hand-off per message starts no goroutine and grows no new stack. What
	// it receives is the index of the next event to handle.
	follow    chan int
	followers atomic.Int32
}

// maxFollowers bounds the goroutines a loop keeps waiting to lead: one
// is enough for a hand-off per message; more come back from blocked
// callbacks only to leave.
const maxFollowers = 2

// New starts a Poller.
func New(o Options) (*Poller, error) {
	if o.Pollers <= 0 {
		o.Pollers = 1
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = 4 << 20
	}
	p := &Poller{o: o}
	for range o.Pollers {
		l, err := p.newLoop()
		if err != nil {
			p.Close()
			return nil, err
		}
		p.loops = append(p.loops, l)
		go l.run(0)
	}
	if o.SlowAfter > 0 {
		p.startWatchdog()
	}
	return p, nil
}

func (p *Poller) newLoop() (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("failed to create epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("failed to create eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("failed to watch eventfd: %w", err)
	}
	// The loop waits for its epoll set to be readable in Go's own
	// netpoller, not in a blocking epoll_wait: a parked goroutine wakes
	// as fast as any reader goroutine does, where a thread blocked in a
	// system call has lost its P and must find one again (the latency of
	// a conversation's every round trip).
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("failed to make epoll non-blocking: %w", err)
	}
	ep := os.NewFile(uintptr(epfd), "tether-epoll")
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		unix.Close(wake)
		return nil, fmt.Errorf("failed to wait on epoll: %w", err)
	}
	l := &loop{p: p, epfd: epfd, ep: ep, rc: rc, wake: wake, conns: make(map[int32]*Conn), buf: make([]byte, 64<<10),
		events: make([]unix.EpollEvent, 128), done: make(chan struct{}), follow: make(chan int)}
	l.poller = l.poll
	return l, nil
}

// wait returns the next events, parking the goroutine until there are.
func (l *loop) wait() (int, error) {
	if err := l.rc.Read(l.poller); err != nil {
		return 0, err
	}
	return l.n, l.err
}

// poll is wait's callback (a method value made once: no allocation per
// wait). It reports whether to stop waiting.
func (l *loop) poll(fd uintptr) bool {
	l.n, l.err = unix.EpollWait(int(fd), l.events, 0)
	if errors.Is(l.err, unix.EINTR) {
		l.n, l.err = 0, nil
		return true // the caller asks again
	}
	return l.n != 0 || l.err != nil
}

// Take adopts nc's socket: it duplicates the descriptor and closes nc.
// Reading starts at once: set the Conn's session first with Adopt's
// before func, which runs before the poller can see the socket.
func (p *Poller) Take(nc net.Conn, before func(*Conn)) (*Conn, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, errors.New("poll: not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("failed to reach the socket: %w", err)
	}
	fd := -1
	cerr := rc.Control(func(s uintptr) { fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) })
	if cerr != nil {
		return nil, fmt.Errorf("failed to reach the socket: %w", cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to duplicate the socket: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("failed to make the socket non-blocking: %w", err)
	}
	c := &Conn{fd: fd}
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		c.raddr = a.AddrPort()
	}
	_ = nc.Close()
	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	if stopped {
		unix.Close(fd)
		return nil, errors.New("poll: poller stopped")
	}
	// In turn, not by descriptor: Take's dup-then-close reuses numbers
	// of one parity, which would crowd one poller.
	c.l = p.loops[int(p.next.Add(1))%len(p.loops)]
	if before != nil {
		before(c)
	}
	// Held until the socket is watched: a Close that came since the check
	// above either refuses it here or, once stopped is set, finds it in
	// conns (with its loop's epoll still open) and closes it.
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		unix.Close(fd)
		return nil, errors.New("poll: poller stopped")
	}
	c.l.mu.Lock()
	c.l.conns[int32(fd)] = c
	c.l.mu.Unlock()
	if err := unix.EpollCtl(c.l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}); err != nil {
		c.l.mu.Lock()
		delete(c.l.conns, int32(fd))
		c.l.mu.Unlock()
		unix.Close(fd)
		return nil, fmt.Errorf("failed to watch the socket: %w", err)
	}
	return c, nil
}

// Close closes every connection (their OnClose runs) and stops the
// goroutines; it returns once they are gone.
func (p *Poller) Close() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	for _, l := range p.loops {
		l.mu.Lock()
		conns := make([]*Conn, 0, len(l.conns))
		for _, c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
		l.mu.Lock()
		l.stop = true
		l.signal()
		l.mu.Unlock()
		<-l.done
		l.mu.Lock()
		unix.Close(l.wake)
		l.wake = -1
		l.mu.Unlock()
		l.ep.Close()
	}
	p.stopWatchdog()
}

// signal wakes the loop's goroutine; l.mu held (the eventfd is closed
// under it once the loop is gone).
func (l *loop) signal() {
	if l.wake < 0 {
		return
	}
	_, _ = unix.Write(l.wake, one)
}

var one = []byte{1, 0, 0, 0, 0, 0, 0, 0} // an eventfd increment

// run is the loop: it waits for events and handles them. One goroutine
// leads it at a time; from is the index of the next event to handle (0:
// wait for new ones). A goroutine that handed the loop off follows: it
// waits to lead again.
func (l *loop) run(from int) {
	for l.lead(from) {
		if l.followers.Add(1) > maxFollowers {
			l.followers.Add(-1)
			return
		}
		select {
		case from = <-l.follow:
			l.followers.Add(-1)
		case <-l.done:
			l.followers.Add(-1)
			return
		}
	}
}

// lead runs the loop until it stops (false) or is handed off (true).
func (l *loop) lead(from int) bool {
	var drain [8]byte
	for {
		if from == 0 {
			n, err := l.wait()
			if err != nil && !errors.Is(err, unix.EINTR) {
				close(l.done)
				return false
			}
			l.n = n
		}
		for i := from; i < l.n; i++ {
			ev := l.events[i]
			if int(ev.Fd) == l.wake {
				_, _ = unix.Read(l.wake, drain[:])
				continue
			}
			l.mu.Lock()
			c := l.conns[ev.Fd]
			l.mu.Unlock()
			if c == nil {
				continue
			}
			if ev.Events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				c.flush()
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				l.at = i
				if !l.read(c) {
					return true // another goroutine leads now
				}
			}
		}
		from = 0
		l.wakeAll()
		if l.report() {
			close(l.done)
			return false
		}
	}
}

// Handoff, called by OnData on the goroutine that runs it, says that the
// callback goes on to do something that may block: the connections of
// its loop are handled by another goroutine from now on, and this one
// leaves the loop when OnData returns. The data OnData was given is no
// longer valid after Handoff. Call it only from OnData, on its own
// goroutine, at most once.
//
// It lets a server answer a message on the goroutine that read it (no
// hand-off between the read and the reply, as a goroutine per
// connection would) without a blocking reply holding up its loop's
// other connections: the other goroutine takes over the polling instead.
func (c *Conn) Handoff() {
	l := c.l
	l.hmu.Lock()
	defer l.hmu.Unlock()
	if l.inData && l.cur == c {
		l.handOff()
	}
}

// MayBlock, called by OnData on the goroutine that runs it, says that
// the callback is done with its data and goes on to do something that
// may block. With Options.SlowAfter, the loop stays on this goroutine,
// and is handed off (as Handoff does) only if the callback is still
// running after SlowAfter; without it, MayBlock is Handoff. Call it only
// from OnData, on its own goroutine, at most once, instead of Handoff.
func (c *Conn) MayBlock() {
	l := c.l
	if l.p.o.SlowAfter <= 0 {
		c.Handoff()
		return
	}
	l.hmu.Lock()
	if l.inData && l.cur == c && !l.mayBlock {
		l.mayBlock = true
		l.calls++
	}
	l.hmu.Unlock()
	l.p.dog.busy()
}

// handOff gives the loop to another goroutine: the goroutine running
// OnData leaves it when OnData returns; l.hmu held, l.inData true.
func (l *loop) handOff() {
	l.inData, l.mayBlock, l.cur = false, false, nil
	l.gen.Add(1)
	select {
	case l.follow <- l.from: // a follower waited
	default:
		go l.run(l.from)
	}
}

// wakeAll calls OnWake for the connections woken since the last time,
// and for those woken meanwhile, until none is left.
func (l *loop) wakeAll() {
	for {
		l.mu.Lock()
		woken := l.woken
		l.woken = nil
		for _, c := range woken {
			c.woken = false
		}
		l.mu.Unlock()
		if len(woken) == 0 {
			return
		}
		for _, c := range woken {
			if l.p.o.OnWake != nil {
				l.p.o.OnWake(c)
			}
		}
	}
}

// report calls OnClose for the connections closed since the last time;
// it reports whether the loop must stop.
func (l *loop) report() bool {
	for {
		l.mu.Lock()
		closed, stop := l.closed, l.stop
		l.closed = nil
		l.mu.Unlock()
		if len(closed) == 0 {
			return stop
		}
		for _, c := range closed {
			if l.p.o.OnClose != nil {
				l.p.o.OnClose(c, c.err)
			}
		}
	}
}

// read reads once (level-triggered: bytes left raise another event). It
// holds c.mu across the read, so that a Close on another goroutine cannot
// close the descriptor, and a new socket take its number, in between.
func (l *loop) read(c *Conn) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return true
	}
	n, err := unix.Read(c.fd, l.buf)
	c.mu.Unlock()
	if n <= 0 {
		if err != nil && (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)) {
			return true
		}
		if err == nil {
			err = io.EOF
		}
		c.closeErr(err)
		return true
	}
	if l.p.o.OnData == nil {
		return true
	}
	l.hmu.Lock()
	l.inData, l.mayBlock, l.from, l.cur = true, false, l.at+1, c
	gen := l.gen.Load()
	l.hmu.Unlock()
	l.p.o.OnData(c, l.buf[:n])
	l.hmu.Lock()
	defer l.hmu.Unlock()
	if l.gen.Load() != gen {
		return false // handed off: the next leader owns the loop's state
	}
	l.inData, l.mayBlock, l.cur = false, false, nil
	return true
}
