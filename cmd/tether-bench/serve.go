package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/tether-ws/tether"
)

// upChecker is the server side of the checker: it verifies each client's
// numbered stream as the server application receives it.
type upChecker struct {
	mu      sync.Mutex
	streams map[uint64]*seqCheck
	rep     upReport
}

func newUpChecker() *upChecker { return &upChecker{streams: make(map[uint64]*seqCheck)} }

// see checks one client message; it reports whether p is a benchmark
// client message.
func (u *upChecker) see(p []byte) bool {
	h, err := parsePayload(p)
	if err != nil || h.kind != kindUp {
		return false
	}
	u.mu.Lock()
	s := u.streams[h.stream]
	if s == nil {
		s = &seqCheck{}
		u.streams[h.stream] = s
	}
	s.see(h.seq)
	u.mu.Unlock()
	return true
}

// lost records a Previous loss reported by OnOpen.
func (u *upChecker) lost(l *tether.Loss) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if l.ToClient >= 0 {
		u.rep.ReportedToClient += l.ToClient
	} else {
		u.rep.ReportedUnknown++
	}
	if l.FromClient > 0 {
		u.rep.ReportedFromClient += l.FromClient
	}
}

// roomReturn records what the server application was told of a return
// into a room (OnRoomRecovery).
func (u *upChecker) roomReturn(session string, r tether.RoomRecovery) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.rep.RoomReports = true
	u.rep.RoomReturns = append(u.rep.RoomReturns, roomReturn{Session: session, Room: r.Room, Readmit: r.Readmitted,
		Recovered: r.Recovered, Skipped: r.Skipped, Lost: r.Lost})
}

func (u *upChecker) report() upReport {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.rep
	r.RoomReturns = slices.Clone(u.rep.RoomReturns)
	r.Streams = make([]upStream, 0, len(u.streams))
	for cid, s := range u.streams {
		st := upStream{CID: cid, Highest: s.highest(), Recv: s.recv, Dup: s.dup, Reorder: s.reorder}
		for q := range s.missing {
			st.Missing = append(st.Missing, q)
		}
		slices.Sort(st.Missing)
		r.Streams = append(r.Streams, st)
	}
	return r
}

// benchServer is the built-in Tether server: the library with default
// options unless told otherwise, anonymous clients joining the rooms named
// by ?room= ("bench" by default), client messages checked and echoed, and
// a control endpoint that broadcasts numbered messages from inside the
// process.
type benchServer struct {
	srv  *tether.Server
	up   *upChecker
	echo bool
	mux  *http.ServeMux
}

type serveOptions struct {
	Grace             time.Duration
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	MaxSessions       int
	Echo              bool
	RoomHistory       int // messages kept per room (0: the library's default; -1: none)
}

func newBenchServer(o serveOptions) *benchServer {
	bs := &benchServer{up: newUpChecker(), echo: o.Echo, mux: http.NewServeMux()}
	bs.up.rep.RoomReports = true // OnRoomRecovery below
	bs.srv = tether.NewServer(&tether.Options{
		GraceWindow:       o.Grace,
		HeartbeatInterval: o.HeartbeatInterval,
		HeartbeatTimeout:  o.HeartbeatTimeout,
		MaxSessions:       o.MaxSessions,
		RoomHistory:       tether.HistoryLimits{MaxMessages: o.RoomHistory},
		Logger:            discardLog,
		// OnOpen's Joins readmit a client that lost its session to its
		// rooms, which recovers them; the server is told what came back.
		OnRoomRecovery: func(_ context.Context, s *tether.Session, r tether.RoomRecovery) {
			bs.up.roomReturn(s.ID(), r)
		},
		OnOpen: func(ctx context.Context, s *tether.Session, info tether.OpenInfo) {
			rooms := []string{"bench"}
			if info.Request != nil {
				if q := info.Request.URL.Query()["room"]; len(q) > 0 {
					rooms = q
				}
			}
			for _, r := range rooms {
				_ = s.Join(ctx, r)
			}
			if info.Previous != nil {
				bs.up.lost(info.Previous)
			}
		},
		OnMessage: func(ctx context.Context, s *tether.Session, m tether.Message) error {
			if bs.up.see(m.Data) && bs.echo {
				_ = s.Send(ctx, m.Type, m.Data)
			}
			return nil
		},
	})
	bs.mux.Handle("/ws", bs.srv)
	bs.mux.HandleFunc("POST /bench/publish", bs.publish)
	bs.mux.HandleFunc("GET /bench/up", func(w http.ResponseWriter, r *http.Request) {
		writeJSONResponse(w, bs.up.report())
	})
	bs.mux.HandleFunc("GET /bench/room", func(w http.ResponseWriter, r *http.Request) {
		writeJSONResponse(w, map[string]int{"members": len(bs.srv.RoomMembers(r.Context(), r.URL.Query().Get("room"))), "sessions": bs.srv.Len()})
	})
	return bs
}

func (bs *benchServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { bs.mux.ServeHTTP(w, r) }

// publishRequest asks a server to broadcast n numbered messages of size
// bytes to room, at rate messages per second (0: as fast as it takes
// them), message i to every member before message i+1.
type publishRequest struct {
	Room   string  `json:"room"`
	Stream uint64  `json:"stream"`
	From   uint64  `json:"from"` // first seq; 0 means 1
	N      int     `json:"n"`
	Size   int     `json:"size"`
	Rate   float64 `json:"rate"`
}

type publishResult struct {
	Published  int    `json:"published"`
	Deliveries int64  `json:"deliveries"`
	Last       uint64 `json:"last,omitempty"` // the room's offset of the last message published, if the server says
	Error      string `json:"error,omitempty"`
}

func (bs *benchServer) publish(w http.ResponseWriter, r *http.Request) {
	var req publishRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var res publishResult
	err := pace(r.Context(), req, func(_ uint64, p []byte) error {
		n, err := bs.srv.Broadcast(r.Context(), req.Room, tether.Text, p)
		if err == nil {
			res.Published++
			res.Last = n.Offset
		}
		res.Deliveries += int64(n.Members)
		return err
	})
	if err != nil {
		res.Error = err.Error()
	}
	writeJSONResponse(w, res)
}

// pace calls fn with the number and payload of each message of req, at
// req.Rate.
func pace(ctx context.Context, req publishRequest, fn func(seq uint64, p []byte) error) error {
	size := max(req.Size, minPayload)
	from := max(req.From, 1)
	start := time.Now()
	var buf []byte
	for i := range req.N {
		if req.Rate > 0 {
			due := start.Add(time.Duration(float64(i) / req.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		seq := from + uint64(i)
		buf = appendPayload(buf[:0], kindFan, req.Stream, seq, time.Now().UnixNano(), size)
		if err := fn(seq, buf); err != nil {
			return err
		}
	}
	return nil
}

func writeJSONResponse(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// runServe is the serve role: the built-in Tether server as a process of
// its own, so that its memory and CPU can be measured alone. It prints
// "listening <addr>" and runs until stdin ends, SIGTERM or -timeout.
func runServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	var o serveOptions
	fs.DurationVar(&o.Grace, "grace-window", 0, "session grace window (0: the library default, 2m)")
	fs.DurationVar(&o.HeartbeatInterval, "heartbeat-interval", 0, "server ping interval (0: 15s)")
	fs.DurationVar(&o.HeartbeatTimeout, "heartbeat-timeout", 0, "heartbeat timeout (0: 10s)")
	fs.IntVar(&o.MaxSessions, "max-sessions", 0, "most sessions (0: 100,000)")
	fs.BoolVar(&o.Echo, "echo", true, "send each client message back to its sender")
	fs.IntVar(&o.RoomHistory, "room-history", 0, "messages kept in each room's history (0: the library's default, 1,000; -1: none)")
	timeout := fs.Duration("timeout", 2*time.Hour, "exit after this long in any case")
	stdinEOF := fs.Bool("exit-on-eof", false, "exit when stdin ends (how tether-bench run stops it)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	_ = fs.Parse(args)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tether-bench serve:", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "tether-bench serve:", err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	ln, code := listenLoopback("serve", *addr)
	if ln == nil {
		return code
	}
	bs := newBenchServer(o)
	hs := &http.Server{Handler: bs, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening %s\n", ln.Addr())
	return serveUntilDone(hs, ln, *timeout, *stdinEOF, func(ctx context.Context) { _ = bs.srv.Shutdown(ctx) })
}

// listenLoopback listens on addr, which must be on loopback; on failure
// it says why, as command cmd, and returns the exit status.
func listenLoopback(cmd, addr string) (net.Listener, int) {
	if err := checkLoopbackAddr(addr); err != nil {
		fmt.Fprintf(os.Stderr, "tether-bench %s: %v\n", cmd, err)
		return nil, 2
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tether-bench %s: %v\n", cmd, err)
		return nil, 1
	}
	return ln, 0
}

// serveUntilDone serves until a signal, the timeout or (stdinEOF) the end
// of stdin.
func serveUntilDone(hs *http.Server, ln net.Listener, timeout time.Duration, stdinEOF bool, shutdown func(context.Context)) int {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	stdin := make(chan struct{})
	if stdinEOF {
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdin) }()
	}
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "tether-bench:", err)
			return 1
		}
	case <-stdin:
	case <-signalled():
	case <-time.After(timeout):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if shutdown != nil {
		shutdown(ctx)
	}
	_ = hs.Shutdown(ctx)
	return 0
}

func checkLoopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	return nil
}
