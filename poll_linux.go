//go:build linux && !tether_portable

package tether

import (
	"io"
	"net"
	"runtime"
	"sync"

	"github.com/tether-ws/tether/internal/link"
	"github.com/tether-ws/tether/internal/poll"
)

// poller is the server's internal/poll, started with the first
// connection it takes (a server that never gets one runs no poller
// goroutine) and stopped by Shutdown. See docs/DESIGN.md, "I/O layer".
type poller struct {
	mu      sync.RWMutex // guards p and stopped
	p       *poll.Poller
	stopped bool
	// inline: frames are handled on the poller goroutine, which a store
	// of this process never blocks; otherwise each connection's go, in
	// order, to a goroutine that lives while they are pending.
	inline bool
}

// adoptSocket hands c's socket to the poller if it is a plain TCP or
// Unix socket (a *tls.Conn or a wrapped connection has no socket of its
// own to hand over); c then gets no reader goroutine. What arrives before
// start waits. Call it before c is shared with the session's hooks or
// Shutdown; writes already in progress finish first.
func (srv *Server) adoptSocket(c *conn) {
	switch c.ws.NetConn().(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return
	}
	p := srv.startPoller()
	if p == nil {
		return
	}
	c.rd.mu.Lock() // the poller's first feed comes after this set-up
	defer c.rd.mu.Unlock()
	var pc *poll.Conn
	early, err := c.ws.Adopt(func(nc net.Conn) (net.Conn, error) {
		var err error
		// Take refuses once the poller is stopping. Its before func runs
		// before the socket is watched: the poller may hand over its
		// close (a peer gone at once) as soon as it is, before Adopt
		// returns, so the inbox must exist by then.
		if pc, err = p.Take(nc, func(pc *poll.Conn) {
			pc.Session = c
			if !srv.inlineStore() {
				c.rd.box = new(inbox)
			}
		}); err != nil {
			return nil, err
		}
		return pc, nil
	})
	if err != nil {
		srv.log.Debug("tether: connection not pollable; reading it on a goroutine", "err", err)
		return
	}
	// Nothing was fed meanwhile: the poller's first feed waits for c.rd.mu.
	c.rd.polled, c.rd.sock = true, pc
	if len(early) > 0 {
		c.rd.extra().early = early
	}
}

// startPoller returns the running poller, starting it if needed; nil
// once the server shut down or if it cannot start.
func (srv *Server) startPoller() *poll.Poller {
	srv.pl.mu.RLock()
	p, stopped := srv.pl.p, srv.pl.stopped
	srv.pl.mu.RUnlock()
	if p != nil || stopped {
		return p
	}
	srv.pl.mu.Lock()
	defer srv.pl.mu.Unlock()
	if srv.pl.p != nil || srv.pl.stopped {
		return srv.pl.p
	}
	inline := srv.inlineStore()
	p, err := poll.New(poll.Options{
		Pollers: runtime.GOMAXPROCS(0),
		// A client that does not read: what the kernel does not take
		// queues up to the replay buffer's size for at most WriteTimeout,
		// then the connection is closed (the session waits for a resume).
		MaxQueued:    max(srv.o.MaxReplayBytes, 1<<20) + 2*maxBatch,
		WriteTimeout: srv.o.WriteTimeout,
		OnData: func(pc *poll.Conn, data []byte) {
			c := pc.Session.(*conn)
			if inline {
				if c.fed(data, true) {
					// The message's hooks run here, so the reply is written
					// on the goroutine that read the message. A hook may
					// block: past maxHold the poller's watchdog gives the
					// loop to another goroutine and OnSlow lifts the hold on
					// the writes. A hook that does not block costs neither
					// a hand-off nor a timer.
					pc.MayBlock()
					c.runHooks(false)
					c.srv.active.done()
				}
				return
			}
			c.enqueue(append([]byte(nil), data...), nil, false)
		},
		OnWake:    func(pc *poll.Conn) { pc.Session.(*conn).writeLoop() },
		SlowAfter: maxHold,
		OnSlow:    func(pc *poll.Conn) { pc.Session.(*conn).flush() },
		OnClose: func(pc *poll.Conn, err error) {
			c := pc.Session.(*conn)
			if inline {
				c.closed(err)
				return
			}
			c.enqueue(nil, err, true)
		},
	})
	if err != nil {
		srv.log.Warn("tether: cannot start the poller; reading connections on goroutines", "err", err)
		srv.pl.stopped = true
		return nil
	}
	srv.pl.p, srv.pl.inline = p, inline
	return p
}

// inlineStore reports whether the store never blocks (the memory store):
// the poller then handles frames on its own goroutines; otherwise each
// connection's go through its inbox.
func (srv *Server) inlineStore() bool {
	_, ok := srv.store.(*MemoryStore)
	return ok
}

// wakeWriter has the poller run c's writer, which kickData claimed
// (link.Sender.Claim): a broadcast costs each poller one wake-up, however many
// of its connections it reaches, and each connection's pending frames go
// out in one write.
func (c *conn) wakeWriter() { c.rd.sock.Wake() }

// stopPoller closes what the poller still holds and stops it.
func (srv *Server) stopPoller() {
	srv.pl.mu.Lock()
	p := srv.pl.p
	srv.pl.stopped = true
	srv.pl.mu.Unlock()
	if p != nil {
		p.Close()
	}
}

// pollerPath reports whether this build reads plain connections with the
// poller (tests check what each path promises).
const pollerPath = true

// How a connection is read. The portable path gives each connection a
// reader goroutine blocked in a read (conn.readLoop). The poller path
// (Linux, poll_linux.go) hands the socket to the server's poller after
// the handshake: the kernel says when bytes arrive, ws.Conn.Feed parses
// them and calls conn.frame, and an idle connection holds no goroutine
// and no read buffer. Both paths end in conn.readEnded and conn.finish.

// Reading states of a polled connection; guarded by conn.rd.mu.
const (
	readWait    uint8 = iota // adopted, not started: bytes wait in early
	readOpen                 // frames are fed to conn.frame
	readDiscard              // our close frame is out: bytes are dropped until the poller closes
	readDone                 // finish has run or is running
)

// pollRead is a polled connection's reading state. Its mutex orders the
// handshake goroutine's last feed before the poller's first, and makes
// the feeds of one connection one at a time.
type pollRead struct {
	mu    sync.Mutex
	sock  *poll.Conn // the socket, when polled
	rare  *readRare  // made when first needed: most connections never need it
	box   *inbox     // with a store that may block; made before c is shared
	state uint8
	// polled: the poller has the socket; set before c is shared.
	polled bool
	gone   bool // readWait: the poller closed the socket before start
	// During a feed that may run the session's hooks itself afterwards:
	// hooksHere says it must (receive found no hook goroutine running,
	// took srv.active for the run, and started none).
	mayRunHooks bool
	hooksHere   bool
}

// readRare is what only some connections' reading needs, apart so that a
// connection is one size class smaller (224 bytes, not 256).
type readRare struct {
	early []byte // bytes that came before start: fed first
	err   error  // why reading ended, for finish once the poller closes
}

// extra returns r.rare, made if need be; r.mu held (or c not shared yet).
func (r *pollRead) extra() *readRare {
	if r.rare == nil {
		r.rare = new(readRare)
	}
	return r.rare
}

// inbox is where, with a store that may block, what the poller hands
// over waits, in order, for a goroutine that lives while some is pending.
// A connection has one only then: with the memory store, none.
type inbox struct {
	mu sync.Mutex
	q  link.Serial[handed]
}

// handed is what the poller handed over: bytes, or the socket's close.
type handed struct {
	data []byte
	err  error // shut: why
	shut bool
}

// enqueue hands bytes, or the socket's close, to c's inbox goroutine.
func (c *conn) enqueue(data []byte, err error, shut bool) {
	b := c.rd.box
	b.mu.Lock()
	start := b.q.Push(handed{data: data, err: err, shut: shut})
	b.mu.Unlock()
	if start {
		c.srv.spawn(c.drainInbox)
	}
}

// drainInbox feeds what waits in c's inbox, then the close, in order.
func (c *conn) drainInbox() {
	b := c.rd.box
	for {
		b.mu.Lock()
		batch, ok := b.q.Take()
		b.mu.Unlock()
		if !ok {
			return
		}
		for _, h := range batch {
			if h.shut {
				c.closed(h.err)
			} else {
				c.fed(h.data, false)
			}
		}
		b.mu.Lock()
		b.q.Done(batch)
		b.mu.Unlock()
	}
}

// fed acts on bytes from the poller. With mayRunHooks, the session's
// hooks that the bytes call for may be left to the caller, which must
// then run them (c.runHooks, then srv.active.done) when hooks says so.
func (c *conn) fed(data []byte, mayRunHooks bool) (hooks bool) {
	c.rd.mu.Lock()
	if c.rd.state == readWait {
		r := c.rd.extra()
		r.early = append(r.early, data...)
		c.rd.mu.Unlock()
		return false
	}
	if c.rd.state != readOpen {
		c.rd.mu.Unlock()
		return false
	}
	c.rd.mayRunHooks = mayRunHooks
	err := c.ws.Feed(data, c.onFrame)
	hooks = c.rd.hooksHere
	c.rd.mayRunHooks, c.rd.hooksHere = false, false
	if err == nil {
		c.rd.mu.Unlock()
		return hooks
	}
	c.endRead(err)
	return hooks
}

// endRead ends reading for err; c.rd.mu held, and released.
func (c *conn) endRead(err error) {
	if c.readEnded(err) {
		c.rd.state, c.rd.extra().err = readDiscard, err
		c.rd.mu.Unlock()
		return
	}
	c.rd.state = readDone
	c.rd.mu.Unlock()
	c.finish(err)
}

// closed acts on the poller's close of the socket: by the peer, a
// deadline, or ourselves.
func (c *conn) closed(err error) {
	c.rd.mu.Lock()
	switch c.rd.state {
	case readWait:
		c.rd.gone, c.rd.extra().err = true, err
		c.rd.mu.Unlock()
		return
	case readOpen:
		if err == nil {
			err = io.EOF
		}
		c.rd.state = readDone
		c.rd.mu.Unlock()
		c.readEnded(err)
	case readDiscard:
		err = c.rd.extra().err
		c.rd.state = readDone
		c.rd.mu.Unlock()
	default:
		c.rd.mu.Unlock()
		return
	}
	c.finish(err)
}

// poll starts reading an adopted connection: the bytes that came before
// first, then whatever the poller hands over.
func (c *conn) poll() {
	c.rd.mu.Lock()
	c.rd.state = readOpen
	var early []byte
	var err error
	if r := c.rd.rare; r != nil {
		early, err = r.early, r.err
		r.early = nil
	}
	gone := c.rd.gone
	if len(early) > 0 {
		if err := c.ws.Feed(early, c.onFrame); err != nil {
			c.endRead(err)
			return
		}
	}
	c.rd.mu.Unlock()
	if gone {
		c.closed(err)
	}
}
