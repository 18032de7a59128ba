// Package faultproxy is a loopback TCP proxy that injects network faults
// (abrupt cuts, silent half-open links, latency, mid-frame cuts, refused
// connections) so tests can check how sessions survive a broken network
// without touching real interfaces or sleeping on real timeouts.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// bufSize bounds the memory held per direction of a proxied connection.
const bufSize = 32 << 10

// Directions index a connection's per-direction byte budgets.
const (
	dirToServer = 0
	dirToClient = 1
)

// Proxy forwards loopback TCP connections to one target and lets a test
// break them on demand. The zero value is not usable; call New.
type Proxy struct {
	ln     *net.TCPListener
	target string
	ctx    context.Context // cancelled by Close; parent of every conn's ctx
	cancel context.CancelFunc
	delay  atomic.Int64 // time.Duration added before each forwarded chunk
	wg     sync.WaitGroup

	mu        sync.Mutex
	conns     map[*conn]struct{}
	blackhole bool
	refuse    bool
	closed    bool
}

// conn is one proxied client connection and its upstream.
type conn struct {
	p          *Proxy
	client     *net.TCPConn
	ctx        context.Context // done once the conn is torn down
	cancel     context.CancelFunc
	blackholed atomic.Bool // sticky: a link that lost data never recovers

	mu     sync.Mutex
	server *net.TCPConn // nil until the upstream dial succeeds
	dead   bool
	budget [2]int // bytes still allowed per direction; negative = unlimited
}

// New starts a proxy on 127.0.0.1:0 forwarding to target, so a test can
// point its client at Addr and break the link from the outside. target must
// be a loopback host:port: the proxy exists for tests only and must never
// relay traffic off the machine.
func New(target string) (*Proxy, error) {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: bad target %q: %w", target, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("faultproxy: target %q is not a loopback address", target)
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		ln:     ln,
		target: target,
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[*conn]struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr returns the listen address (host:port) that clients should dial
// instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// CutAll resets every live proxied connection on both sides (RST, no
// close frame), simulating an abrupt network loss. The proxy keeps
// accepting new connections so reconnects can be tested.
func (p *Proxy) CutAll() {
	for _, c := range p.snapshot() {
		c.shutdown(true)
	}
}

// Blackhole, while on, makes every live connection and every connection
// accepted meanwhile read and silently discard bytes in both directions
// without closing anything, so both peers see a silent half-open link and
// must rely on their own timeouts. Turning it off only affects connections
// accepted later: a connection that was blackholed stays broken (keeps
// dropping bytes) forever, because data was lost and its stream is
// corrupted, exactly like a real half-open link that never recovers.
func (p *Proxy) Blackhole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blackhole = on
	if on {
		for c := range p.conns {
			c.blackholed.Store(true)
		}
	}
}

// SetDelay adds latency d before each forwarded chunk in both directions
// (order is preserved per direction), to simulate a slow link. Zero or a
// negative d removes the delay.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// CutAfter arms a one-shot fault on every currently live connection so a
// test can cut a link in the middle of a frame: at most toServer more bytes
// are forwarded client→server and at most toClient more bytes server→client
// (negative means no limit in that direction). As soon as a direction would
// exceed its budget, only the fitting part of the chunk is forwarded and
// the connection is reset on both sides. CutAfter(-1, 3) delivers 3 bytes
// of the next server frame and then cuts. Later connections are unaffected.
func (p *Proxy) CutAfter(toServer, toClient int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.mu.Lock()
		c.budget = [2]int{toServer, toClient}
		c.mu.Unlock()
	}
}

// Refuse, while on, resets every newly accepted connection immediately,
// simulating a server that is down while the proxy port stays open.
// Existing connections are untouched.
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

// Conns reports how many proxied connections are live, so tests can wait
// for a client to connect or check that a fault tore links down.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops listening, resets every connection and waits for every
// goroutine the proxy started to return, so tests can check for leaks.
// Calling it again is a no-op.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.cancel()
	p.CutAll()
	p.wg.Wait()
	return err
}

func (p *Proxy) snapshot() []*conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	cs := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	return cs
}

func (p *Proxy) remove(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		tc, err := p.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient failure (e.g. out of descriptors): back off briefly.
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		p.mu.Lock()
		if p.closed || p.refuse {
			p.mu.Unlock()
			abort(tc)
			continue
		}
		ctx, cancel := context.WithCancel(p.ctx)
		c := &conn{p: p, client: tc, ctx: ctx, cancel: cancel, budget: [2]int{-1, -1}}
		c.blackholed.Store(p.blackhole)
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go c.run()
	}
}

// run dials the upstream and forwards both directions until the link ends.
func (c *conn) run() {
	defer c.p.wg.Done()
	var d net.Dialer
	nc, err := d.DialContext(c.ctx, "tcp", c.p.target)
	if err != nil {
		c.shutdown(true)
		return
	}
	server := nc.(*net.TCPConn)
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		abort(server)
		return
	}
	c.server = server
	c.mu.Unlock()

	other := make(chan struct{})
	c.p.wg.Add(1)
	go func() {
		defer c.p.wg.Done()
		defer close(other)
		c.pipe(dirToClient, server, c.client)
	}()
	c.pipe(dirToServer, c.client, server)
	<-other
	if c.blackholed.Load() {
		// Keep the half-open link until a cut or Close tears it down.
		<-c.ctx.Done()
	}
	c.shutdown(false)
}

// pipe copies src to dst through the fault hooks until src ends.
func (c *conn) pipe(dir int, src, dst *net.TCPConn) {
	buf := make([]byte, bufSize)
	for {
		n, err := src.Read(buf)
		if n > 0 && !c.forward(dir, buf[:n], dst) {
			return
		}
		if err != nil {
			switch {
			case c.blackholed.Load():
				// Stay silent: the other peer must not learn anything.
			case errors.Is(err, io.EOF):
				_ = dst.CloseWrite() // propagate a clean half-close
			default:
				c.shutdown(true) // propagate a reset (or our own teardown)
			}
			return
		}
	}
}

// forward applies blackhole, delay and budget to one chunk and writes what
// is left. It reports false once the connection has been torn down.
func (c *conn) forward(dir int, chunk []byte, dst *net.TCPConn) bool {
	if c.blackholed.Load() {
		return true
	}
	if d := time.Duration(c.p.delay.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		if c.blackholed.Load() {
			return true
		}
	}
	c.mu.Lock()
	over := false
	if b := c.budget[dir]; b >= 0 {
		if len(chunk) > b {
			chunk, over = chunk[:b], true
		} else {
			c.budget[dir] = b - len(chunk)
		}
	}
	c.mu.Unlock()
	if len(chunk) > 0 {
		if _, err := dst.Write(chunk); err != nil {
			c.shutdown(true)
			return false
		}
	}
	if over {
		c.shutdown(true)
		return false
	}
	return true
}

// shutdown tears the connection down once: abruptly (RST on both sides)
// or gracefully (plain close after both directions ended).
func (c *conn) shutdown(abrupt bool) {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	c.dead = true
	server := c.server
	c.mu.Unlock()
	// Deregister before closing so Conns is already accurate when peers
	// observe the loss.
	c.p.remove(c)
	c.cancel()
	for _, tc := range []*net.TCPConn{c.client, server} {
		if tc == nil {
			continue
		}
		if abrupt {
			abort(tc)
		} else {
			_ = tc.Close()
		}
	}
}

// abort closes tc with SO_LINGER 0 so the peer sees a reset, not a FIN.
func abort(tc *net.TCPConn) {
	_ = tc.SetLinger(0)
	_ = tc.Close()
}
