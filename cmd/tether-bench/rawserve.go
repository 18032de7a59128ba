package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	gobwas "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// rawServer is the floor under Tether: gobwas/ws with one goroutine per
// connection blocked in a read and no buffer held at rest (as
// internal/memcheck -raw and the library's bench_test.go use it), echoing
// client messages; its control endpoint writes numbered messages to every
// connection in live order (message i to everyone before i+1), one
// write system call per message and connection. No sequencing, no acks,
// no resume: what a connection misses is gone.
type rawServer struct {
	mu    sync.Mutex
	conns map[*rawPeer]struct{}
	mux   *http.ServeMux
}

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

func newRawServer() *rawServer {
	rs := &rawServer{conns: make(map[*rawPeer]struct{}), mux: http.NewServeMux()}
	rs.mux.HandleFunc("/ws", rs.upgrade)
	rs.mux.HandleFunc("POST /bench/publish", rs.publish)
	rs.mux.HandleFunc("GET /bench/room", func(w http.ResponseWriter, r *http.Request) {
		writeJSONResponse(w, map[string]int{"members": rs.count(), "sessions": rs.count()})
	})
	return rs
}

func (rs *rawServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { rs.mux.ServeHTTP(w, r) }

func (rs *rawServer) count() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.conns)
}

func (rs *rawServer) upgrade(w http.ResponseWriter, r *http.Request) {
	nc, _, _, err := gobwas.HTTPUpgrader{}.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		return
	}
	p := &rawPeer{nc: nc}
	rs.mu.Lock()
	rs.conns[p] = struct{}{}
	rs.mu.Unlock()
	go func() {
		defer func() {
			rs.mu.Lock()
			delete(rs.conns, p)
			rs.mu.Unlock()
			nc.Close()
		}()
		for {
			msg, op, err := wsutil.ReadClientData(nc)
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

func (rs *rawServer) publish(w http.ResponseWriter, r *http.Request) {
	var req publishRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rs.mu.Lock()
	peers := make([]*rawPeer, 0, len(rs.conns))
	for p := range rs.conns {
		peers = append(peers, p)
	}
	rs.mu.Unlock()
	var res publishResult
	var frame []byte
	err := pace(r.Context(), req, func(_ uint64, p []byte) error {
		frame, _ = gobwas.CompileFrame(gobwas.NewTextFrame(p))
		for _, peer := range peers {
			if peer.write(frame) == nil {
				res.Deliveries++
			}
		}
		res.Published++
		return nil
	})
	if err != nil {
		res.Error = err.Error()
	}
	writeJSONResponse(w, res)
}

// runRawServe is the rawserve role: the raw gobwas/ws peer as a process
// of its own. It prints "listening <addr>".
func runRawServe(args []string) int {
	fs := flag.NewFlagSet("rawserve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	timeout := fs.Duration("timeout", 2*time.Hour, "exit after this long in any case")
	stdinEOF := fs.Bool("exit-on-eof", false, "exit when stdin ends")
	_ = fs.Parse(args)
	ln, code := listenLoopback("rawserve", *addr)
	if ln == nil {
		return code
	}
	hs := &http.Server{Handler: newRawServer(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening %s\n", ln.Addr())
	return serveUntilDone(hs, ln, *timeout, *stdinEOF, func(context.Context) {})
}
