//go:build linux

package main

import (
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	gobwas "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// peer is one server-side connection as the broadcaster sees it.
type peer interface {
	write(frame []byte) error
}

// backend is one prototype: an http.Handler that upgrades, then holds and
// echoes connections, and lists them for a broadcast.
type backend interface {
	http.Handler
	count() int
	peers() []peer
	close()
}

// registry is the set of live connections every backend keeps.
type registry struct {
	mu    sync.Mutex
	conns map[peer]struct{}
}

func (r *registry) add(p peer) {
	r.mu.Lock()
	if r.conns == nil {
		r.conns = make(map[peer]struct{})
	}
	r.conns[p] = struct{}{}
	r.mu.Unlock()
}

func (r *registry) remove(p peer) {
	r.mu.Lock()
	delete(r.conns, p)
	r.mu.Unlock()
}

func (r *registry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

func (r *registry) peers() []peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := make([]peer, 0, len(r.conns))
	for p := range r.conns {
		ps = append(ps, p)
	}
	return ps
}

// upgrade does the WebSocket handshake with gobwas/ws and hijacks the
// connection. It returns the bytes the client sent after its request,
// already read into net/http's buffer (usually none), which the caller
// must parse before anything read from the socket.
func upgrade(w http.ResponseWriter, r *http.Request) (net.Conn, []byte, bool) {
	nc, rw, _, err := gobwas.HTTPUpgrader{}.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		return nil, nil, false
	}
	var early []byte
	if rw != nil && rw.Reader.Buffered() > 0 {
		early, _ = rw.Reader.Peek(rw.Reader.Buffered())
		early = append([]byte(nil), early...)
	}
	return nc, early, true
}

// rawBackend is the floor of tether-bench's rawserve: gobwas/ws, one
// goroutine per connection blocked in a read with no buffer held, writes
// under a mutex with a deadline.
type rawBackend struct{ registry }

type rawPeer struct {
	mu sync.Mutex
	nc net.Conn
}

func (p *rawPeer) write(frame []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := p.nc.Write(frame)
	return err
}

func (b *rawBackend) close() {}

func (b *rawBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	nc, early, ok := upgrade(w, r)
	if !ok {
		return
	}
	p := &rawPeer{nc: nc}
	b.add(p)
	go func() {
		defer func() {
			b.remove(p)
			nc.Close()
		}()
		var src io.ReadWriter = nc
		if len(early) > 0 {
			src = struct {
				io.Reader
				io.Writer
			}{&prefixReader{early, nc}, nc}
		}
		for {
			msg, op, err := wsutil.ReadClientData(src)
			if err != nil {
				return
			}
			p.mu.Lock()
			err = wsutil.WriteServerMessage(nc, op, msg)
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
}

type prefixReader struct {
	pre []byte
	nc  net.Conn
}

func (r *prefixReader) Read(b []byte) (int, error) {
	if len(r.pre) > 0 {
		n := copy(b, r.pre)
		r.pre = r.pre[n:]
		return n, nil
	}
	return r.nc.Read(b)
}
