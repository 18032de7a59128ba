//go:build linux

package main

import (
	"context"
	"net/http"
	"sync"

	"github.com/cloudwego/netpoll"
	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/panjf2000/gnet/v2"
)

// ---- lesismal/nbio: Engine.AddConn adopts the hijacked net.Conn (it
// dups the fd and closes the net.Conn). Reads land in the poller's
// shared buffer and reach OnData; Conn.Write from any goroutine writes
// to the socket at once when nothing is queued, queues on EAGAIN and
// flushes on writability.

type nbioBackend struct {
	registry
	eng *nbio.Engine
	// handoff, in race-detector builds only, orders the handler's
	// set-up of a connection before the poller's first OnData. The
	// kernel orders them (the fd reaches epoll after the set-up) but the
	// race detector cannot see that, and nbio hides its own accesses with
	// //go:norace.
	handoff sync.Map
}

type nbioPeer struct {
	c       *nbio.Conn
	partial []byte // poller goroutine only (and the handler before AddConn)
}

func (p *nbioPeer) write(frame []byte) error {
	_, err := p.c.Write(frame)
	return err
}

func newNbioBackend(npoll int) (*nbioBackend, error) {
	logging.SetLevel(logging.LevelNone)
	b := &nbioBackend{eng: nbio.NewEngine(nbio.Config{Name: "proto", NPoller: npoll, ReadBufferSize: 64 << 10})}
	b.eng.OnData(func(c *nbio.Conn, data []byte) {
		if raceEnabled {
			b.handoff.Load(c)
		}
		p, _ := c.Session().(*nbioPeer)
		if p == nil {
			c.Close()
			return
		}
		var err error
		p.partial, err = consume(p.partial, data, p.write)
		if err != nil {
			c.Close()
		}
	})
	b.eng.OnClose(func(c *nbio.Conn, _ error) {
		b.handoff.Delete(c)
		if p, _ := c.Session().(*nbioPeer); p != nil {
			b.remove(p)
		}
	})
	if err := b.eng.Start(); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *nbioBackend) close() { b.eng.Stop() }

func (b *nbioBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	nc, early, ok := upgrade(w, r)
	if !ok {
		return
	}
	c, err := nbio.NBConn(nc) // dups the fd, closes nc; fails for *tls.Conn
	if err != nil {
		nc.Close()
		return
	}
	p := &nbioPeer{c: c}
	c.SetSession(p)
	b.add(p)
	if len(early) > 0 {
		if p.partial, err = consume(nil, early, p.write); err != nil {
			c.Close()
			b.remove(p)
			return
		}
	}
	if raceEnabled {
		b.handoff.Store(c, p)
	}
	if _, err := b.eng.AddConn(c); err != nil {
		c.Close()
		b.remove(p)
	}
}

// ---- panjf2000/gnet v2: Client.EnrollContext adopts a net.Conn (dups
// the fd, closes the net.Conn). Conn.Write is only allowed on the event
// loop; another goroutine must use AsyncWrite, which queues a task and
// wakes the loop's goroutine for every call.

type gnetBackend struct {
	registry
	gnet.BuiltinEventEngine
	cli *gnet.Client
}

type gnetPeer struct {
	c       gnet.Conn
	partial []byte // event loop only
}

func (p *gnetPeer) write(frame []byte) error { return p.c.AsyncWrite(frame, nil) }

func newGnetBackend(npoll int) (*gnetBackend, error) {
	b := &gnetBackend{}
	cli, err := gnet.NewClient(b, gnet.WithMulticore(true), gnet.WithNumEventLoop(npoll), gnet.WithReadBufferCap(64<<10), gnet.WithLogLevel(4))
	if err != nil {
		return nil, err
	}
	if err := cli.Start(); err != nil {
		return nil, err
	}
	b.cli = cli
	return b, nil
}

func (b *gnetBackend) close() { _ = b.cli.Stop() }

func (b *gnetBackend) OnTraffic(c gnet.Conn) gnet.Action {
	p, _ := c.Context().(*gnetPeer)
	if p == nil {
		return gnet.Close
	}
	data, _ := c.Next(-1)
	var err error
	p.partial, err = consume(p.partial, data, func(f []byte) error { _, err := c.Write(f); return err })
	if err != nil {
		return gnet.Close
	}
	return gnet.None
}

func (b *gnetBackend) OnClose(c gnet.Conn, _ error) gnet.Action {
	if p, _ := c.Context().(*gnetPeer); p != nil {
		b.remove(p)
	}
	return gnet.None
}

func (b *gnetBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	nc, early, ok := upgrade(w, r)
	if !ok {
		return
	}
	p := &gnetPeer{}
	if len(early) > 0 {
		// Echo replies would need the gnet.Conn: keep the bytes as the
		// partial frame; the first OnTraffic parses them.
		p.partial = early
	}
	c, err := b.cli.EnrollContext(nc, p) // fails for *tls.Conn
	if err != nil {
		nc.Close()
		return
	}
	p.c = c
	b.add(p)
}

// ---- cloudwego/netpoll: no API adopts a net.Conn, but NewFDConnection
// takes any fd (meant for tests): we dup the hijacked socket's fd
// ourselves. OnRequest runs on a goroutine from netpoll's pool; the
// connection owns input and output LinkBuffers. Write/Flush from
// another goroutine writes at once, but on EAGAIN it blocks the caller
// until the socket drains (waitFlush), and concurrent writers get
// ErrConcurrentAccess, so a mutex per connection is needed.

type netpollBackend struct{ registry }

type netpollPeer struct {
	mu      sync.Mutex // writers
	c       netpoll.Connection
	rmu     sync.Mutex // the reader (OnRequest), and early bytes before it
	partial []byte
}

func (p *netpollPeer) write(frame []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.c.Write(frame)
	return err
}

func (b *netpollBackend) close() {
	for _, p := range b.peers() {
		_ = p.(*netpollPeer).c.Close()
	}
}

func (b *netpollBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	nc, early, ok := upgrade(w, r)
	if !ok {
		return
	}
	fd, err := detachFD(nc)
	if err != nil {
		nc.Close()
		return
	}
	c, err := netpoll.NewFDConnection(fd)
	if err != nil {
		return
	}
	p := &netpollPeer{c: c, partial: early}
	_ = c.AddCloseCallback(func(netpoll.Connection) error { b.remove(p); return nil })
	b.add(p)
	_ = c.SetOnRequest(func(_ context.Context, c netpoll.Connection) error {
		p.rmu.Lock()
		defer p.rmu.Unlock()
		rd := c.Reader()
		data, err := rd.Next(rd.Len())
		if err != nil {
			return err
		}
		p.partial, err = consume(p.partial, data, p.write)
		_ = rd.Release()
		if err != nil {
			return c.Close()
		}
		return nil
	})
}
