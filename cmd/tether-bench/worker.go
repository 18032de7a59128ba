package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-ws/tether/cmd/tether-bench/internal/loadtest"
)

// The worker role: clients of one kind, driven over stdin/stdout (see
// proto.go). It is this program re-executed with TETHER_BENCH_ROLE=worker.

// driverConn is one client as a driver exposes it.
type driverConn interface {
	// send queues one message for the server; it must not block for long.
	send(ctx context.Context, p []byte) error
	// pending counts sent messages the server has not acknowledged.
	pending() int
	close(ctx context.Context)
}

// dialer connects one client; the driver calls c's on* methods.
type dialer func(ctx context.Context, c *bclient, url string, nd netDialFunc) (driverConn, error)

type netDialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

var drivers = map[string]dialer{
	"tether":     dialTether,
	"raw":        dialRaw,
	"centrifugo": dialCentrifugo,
}

// histShards spreads latency recording over locks.
const histShards = 16

type shardedHist struct {
	mu [histShards]sync.Mutex
	h  [histShards]hist
}

func (s *shardedHist) add(i int, d time.Duration) {
	i %= histShards
	s.mu[i].Lock()
	s.h[i].add(d)
	s.mu[i].Unlock()
}

func (s *shardedHist) reset() {
	for i := range s.h {
		s.mu[i].Lock()
		s.h[i] = hist{}
		s.mu[i].Unlock()
	}
}

func (s *shardedHist) merged() hist {
	var out hist
	for i := range s.h {
		s.mu[i].Lock()
		out.merge(s.h[i])
		s.mu[i].Unlock()
	}
	return out
}

type worker struct {
	outMu sync.Mutex
	out   *json.Encoder

	kind    string
	dial    dialer
	clients []*bclient
	fanLat  shardedHist
	echoLat shardedHist

	nClients                                             atomic.Int64 // len(clients), for the tick goroutine
	connected, disconnects, resumed, sessionLost, failed atomic.Int64
	sent, recv                                           atomic.Uint64
	lastAt                                               atomic.Int64
	armed                                                atomic.Bool

	trafficStop chan struct{}
	trafficDone chan struct{}
	expect      map[string]uint64
	expectRooms map[string]roomExpect
	ident       roomIdent

	errMu  sync.Mutex
	errors []string
}

// bclient is one benchmark client and its checker.
type bclient struct {
	w    *worker
	idx  int
	cid  uint64
	conn driverConn

	mu          sync.Mutex
	fan         map[uint64]*seqCheck
	echo        seqCheck
	sent        uint64
	unsent      map[uint64]struct{}
	lostTo      int64
	lostUnknown int
	lostFrom    int64
	carried     int64
	up          bool // connected now
	sessions    int  // sessions started (Tether Connected, peers' first subscribe)
	discAt      int64
	resumeAt    int64
	recovered   bool
	buf         []byte
	session     string                // the current session's ID (Tether)
	rooms       map[string]*roomCheck // room streams (Tether with the rooms feature)
	returns     []roomReturn          // what each return into a room reported
	trace       []string              // recent history (TETHER_BENCH_TRACE)
}

func (w *worker) emit(ev event) {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	_ = w.out.Encode(ev)
}

func (w *worker) noteErr(err error) {
	w.errMu.Lock()
	if len(w.errors) < 5 {
		w.errors = append(w.errors, err.Error())
	}
	w.errMu.Unlock()
}

// onMessage checks one message from the server; a room message has the
// room's offset (> 0).
func (c *bclient) onMessage(p []byte, room string, offset uint64) {
	now := time.Now()
	h, err := parsePayload(p)
	c.w.recv.Add(1)
	c.w.lastAt.Store(now.UnixNano())
	if err != nil {
		c.w.noteErr(fmt.Errorf("client %d: %w: %.40q", c.cid, err, p))
		return
	}
	lat := now.Sub(time.Unix(0, h.ts))
	var epoch string
	c.mu.Lock()
	switch {
	case h.kind == kindUp && h.stream == c.cid:
		if tracing && h.seq != c.echo.highest()+1 {
			c.traceLocked("echo %d after %d (session %s)", h.seq, c.echo.highest(), c.session)
		}
		c.echo.see(h.seq)
		c.mu.Unlock()
		c.w.echoLat.add(c.idx, lat)
		return
	case h.kind == kindFan:
		s := c.fan[h.stream]
		if s == nil {
			if c.fan == nil {
				c.fan = make(map[uint64]*seqCheck, 1)
			}
			s = &seqCheck{}
			c.fan[h.stream] = s
		}
		s.see(h.seq)
		if offset > 0 {
			epoch = c.roomMessageLocked(room, offset)
		}
	default:
		c.mu.Unlock()
		c.w.noteErr(fmt.Errorf("client %d got another client's message %c:%d", c.cid, h.kind, h.stream))
		return
	}
	c.mu.Unlock()
	if offset > 0 && c.w.ident.see(room, epoch, offset, payloadKey(h)) {
		c.w.noteErr(fmt.Errorf("client %d got %c:%d:%d at offset %d of %q, where another client got another message (or it got it at another offset)",
			c.cid, h.kind, h.stream, h.seq, offset, room))
	}
	c.w.fanLat.add(c.idx, lat)
}

// onSessionID notes the ID of the session the client is in now.
func (c *bclient) onSessionID(id string) {
	c.mu.Lock()
	c.session = id
	c.traceLocked("session %s (sent %d, echo %d)", id, c.sent, c.echo.highest())
	c.mu.Unlock()
}

// onRoomJoined applies a RoomJoined: a first join, or a return into the
// room after a lost session (lost -1: unknown).
func (c *bclient) onRoomJoined(room, epoch string, at uint64, recovered, skipped int, lost int64) {
	c.mu.Lock()
	ret, isReturn := c.joinedLocked(room, epoch, at, roomReturn{Session: c.session, Room: room, Recovered: recovered, Skipped: skipped, Lost: lost})
	if isReturn && len(c.returns) < maxReturns {
		c.returns = append(c.returns, ret)
	}
	c.mu.Unlock()
}

// onRoomLeft applies a RoomLeft.
func (c *bclient) onRoomLeft(room string, notReadmitted bool) {
	c.mu.Lock()
	if ret, ok := c.leftLocked(room, notReadmitted); ok && len(c.returns) < maxReturns {
		c.returns = append(c.returns, ret)
	}
	c.mu.Unlock()
}

// onSession notes a session started: the first, or one replacing a lost
// one (recovered false), or a resumed one (recovered true).
func (c *bclient) onSession(recovered bool) {
	now := time.Now().UnixNano()
	c.mu.Lock()
	if recovered {
		c.traceLocked("resumed (sent %d, echo %d)", c.sent, c.echo.highest())
	}
	first := c.sessions == 0
	if !recovered || first {
		c.sessions++
	}
	wasUp := c.up
	c.up = true
	if !first && c.w.armed.Load() && c.resumeAt == 0 && c.discAt != 0 {
		c.resumeAt, c.recovered = now, recovered
	}
	c.mu.Unlock()
	if !wasUp {
		c.w.connected.Add(1)
	}
	if !first && recovered {
		c.w.resumed.Add(1)
	}
}

// onDisconnect notes a lost connection.
func (c *bclient) onDisconnect() {
	now := time.Now().UnixNano()
	c.mu.Lock()
	c.traceLocked("disconnected (sent %d, echo %d)", c.sent, c.echo.highest())
	wasUp := c.up
	c.up = false
	if wasUp && c.w.armed.Load() && c.discAt == 0 {
		c.discAt = now
	}
	c.mu.Unlock()
	if wasUp {
		c.w.connected.Add(-1)
		c.w.disconnects.Add(1)
	}
}

// onLost notes a session that could not be resumed: toClient messages
// lost (-1 unknown), unsent the client's messages of unknown fate.
func (c *bclient) onLost(toClient int64, unsent [][]byte, carried int64) {
	c.mu.Lock()
	c.traceLocked("lost session: toClient %d, unsent %d, carried %d (sent %d, echo %d)", toClient, len(unsent), carried, c.sent, c.echo.highest())
	if toClient >= 0 {
		c.lostTo += toClient
	} else {
		c.lostUnknown++
	}
	c.lostFrom += int64(len(unsent))
	c.carried += carried
	for _, p := range unsent {
		if h, err := parsePayload(p); err == nil && h.kind == kindUp {
			if c.unsent == nil {
				c.unsent = make(map[uint64]struct{})
			}
			c.unsent[h.seq] = struct{}{}
		}
	}
	c.mu.Unlock()
	c.w.sessionLost.Add(1)
}

func (c *bclient) onFailed(err error) {
	c.w.failed.Add(1)
	c.w.noteErr(fmt.Errorf("client %d failed: %w", c.cid, err))
}

// sendUp sends the client's next numbered message.
func (c *bclient) sendUp(ctx context.Context, size int) {
	c.mu.Lock()
	seq := c.sent + 1
	c.buf = appendPayload(c.buf[:0], kindUp, c.cid, seq, time.Now().UnixNano(), size)
	p := c.buf
	c.mu.Unlock()
	if err := c.conn.send(ctx, p); err != nil {
		return // not queued: the number is used again
	}
	c.mu.Lock()
	c.sent = seq
	c.mu.Unlock()
	c.w.sent.Add(1)
}

// settled reports whether the client has everything it should have:
// every expected fan-out message, the echo of each message it sent that
// is not of unknown fate, and acknowledgements of all it sent.
func (c *bclient) settled(expect map[string]uint64, expectRooms map[string]roomExpect, echo bool) bool {
	if c.conn != nil && c.conn.pending() > 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.rooms) > 0 && len(expectRooms) > 0 {
		// Room streams: checked by offset, gaps the server counted
		// included.
		return c.roomSettledLocked(expectRooms) && (!echo || c.echoLostLocked() == 0)
	}
	for k, n := range expect {
		id, _ := strconv.ParseUint(k, 10, 64)
		s := c.fan[id]
		if n > 0 && (s == nil || !s.complete(n)) {
			return false
		}
	}
	return !echo || c.echoLostLocked() == 0
}

// echoLostLocked counts sent messages whose echo never came, leaving out
// those the client was told are of unknown fate; c.mu held.
func (c *bclient) echoLostLocked() uint64 {
	lost, _ := c.echoMissingLocked(0)
	return lost
}

// echoMissingLocked counts sent messages whose echo never came, leaving
// out those of unknown fate, apart: those among the last held sent, which
// the client still holds (no echo is due), and the others; c.mu held.
func (c *bclient) echoMissingLocked(held uint64) (lost, pending uint64) {
	c.echo.lost(c.sent, func(seq uint64) {
		switch _, unknown := c.unsent[seq]; {
		case unknown:
		case seq+held > c.sent:
			pending++
		default:
			lost++
		}
	})
	return lost, pending
}

func (w *worker) tick() *tick {
	return &tick{
		Clients:     int(w.nClients.Load()),
		Connected:   int(w.connected.Load()),
		Sent:        w.sent.Load(),
		Recv:        w.recv.Load(),
		Disconnects: int(w.disconnects.Load()),
		Resumed:     int(w.resumed.Load()),
		SessionLost: int(w.sessionLost.Load()),
		Failed:      int(w.failed.Load()),
	}
}

// runWorker is the worker role's main.
func runWorker(args []string) int {
	timeout := 30 * time.Minute
	if len(args) > 0 {
		if d, err := time.ParseDuration(args[0]); err == nil {
			timeout = d
		}
	}
	time.AfterFunc(timeout, func() {
		fmt.Fprintln(os.Stderr, "tether-bench worker: timed out")
		os.Exit(3)
	})
	w := &worker{out: json.NewEncoder(os.Stdout)}
	stopTicks := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				w.emit(event{Ev: "tick", Tick: w.tick()})
			case <-stopTicks:
				return
			}
		}
	}()
	defer close(stopTicks)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var cmd command
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			w.emit(event{Ev: "error", Err: "bad command: " + err.Error()})
			continue
		}
		ev, quit := w.handle(cmd)
		w.emit(ev)
		if quit {
			return 0
		}
	}
	// stdin ended: the coordinator is gone.
	w.closeAll(2 * time.Second)
	return 0
}

func (w *worker) handle(cmd command) (event, bool) {
	fail := func(err error) event { return event{Ev: "error", Err: err.Error()} }
	switch cmd.Cmd {
	case "start":
		if err := w.start(cmd); err != nil {
			return fail(err), false
		}
		return event{Ev: "start", N: len(w.clients)}, false
	case "traffic":
		w.traffic(cmd.Rate, cmd.Size)
		return event{Ev: "traffic"}, false
	case "arm":
		for _, c := range w.clients {
			c.mu.Lock()
			c.discAt, c.resumeAt, c.recovered = 0, 0, false
			c.mu.Unlock()
		}
		w.armed.Store(true)
		return event{Ev: "arm", At: time.Now().UnixNano()}, false
	case "drain":
		w.traffic(0, 0)
		w.expect, w.expectRooms = cmd.Expect, cmd.ExpectRooms
		done, left := w.drain(time.Duration(cmd.TimeoutMS) * time.Millisecond)
		return event{Ev: "drain", Complete: done, Incomplete: left}, false
	case "report":
		return event{Ev: "report", Report: w.report()}, false
	case "reset":
		w.fanLat.reset()
		w.echoLat.reset()
		return event{Ev: "reset"}, false
	case "quit":
		w.traffic(0, 0)
		w.closeAll(5 * time.Second)
		return event{Ev: "quit"}, true
	}
	return fail(fmt.Errorf("unknown command %q", cmd.Cmd)), false
}

func (w *worker) start(cmd command) error {
	if w.clients != nil {
		return errors.New("already started")
	}
	w.kind = cmd.Kind
	w.dial = drivers[cmd.Kind]
	if w.dial == nil {
		return fmt.Errorf("unknown client kind %q", cmd.Kind)
	}
	if cmd.N <= 0 || len(cmd.URLs) == 0 {
		return errors.New("start needs n > 0 and urls")
	}
	if cmd.N > maxPerWorker {
		return fmt.Errorf("at most %d clients per worker, asked %d", maxPerWorker, cmd.N)
	}
	for _, u := range cmd.URLs {
		if err := checkLoopbackURL(u); err != nil {
			return err
		}
	}
	src := net.ParseIP(cmd.Src)
	if cmd.Src == "" {
		src = net.IPv4(127, 0, 0, 1)
	}
	if src == nil || !src.IsLoopback() {
		return fmt.Errorf("source address %q is not a loopback address", cmd.Src)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second, Control: loadtest.BindNoPort}
	conc := max(1, cmd.Conc)
	w.clients = make([]*bclient, cmd.N)
	for i := range w.clients {
		w.clients[i] = &bclient{w: w, idx: i, cid: cmd.CIDBase + uint64(i)}
	}
	w.nClients.Store(int64(cmd.N))
	channel = cmd.Channel
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	for range min(conc, cmd.N) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= cmd.N || ctx.Err() != nil {
					return
				}
				c := w.clients[i]
				conn, err := w.dial(ctx, c, cmd.URLs[i%len(cmd.URLs)], d.DialContext)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("client %d of %d: %w", i, cmd.N, err); cancel() })
					return
				}
				c.mu.Lock()
				c.conn = conn
				c.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// channel is the Centrifugo channel the clients subscribe to.
var channel = "bench"

// traffic starts (rate > 0) or stops each client's sending.
func (w *worker) traffic(rate float64, size int) {
	if w.trafficStop != nil {
		close(w.trafficStop)
		<-w.trafficDone
		w.trafficStop, w.trafficDone = nil, nil
	}
	if rate <= 0 || len(w.clients) == 0 {
		return
	}
	size = max(size, minPayload)
	stop, done := make(chan struct{}), make(chan struct{})
	w.trafficStop, w.trafficDone = stop, done
	// One goroutine sends for every client, round robin, at the total
	// rate; a client whose outbox is full skips its turn.
	go func() {
		defer close(done)
		const step = 10 * time.Millisecond
		perStep := rate * float64(len(w.clients)) * step.Seconds()
		t := time.NewTicker(step)
		defer t.Stop()
		var credit float64
		next := 0
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			credit += perStep
			for ; credit >= 1; credit-- {
				c := w.clients[next]
				next = (next + 1) % len(w.clients)
				if c.conn == nil {
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				c.sendUp(ctx, size)
				cancel()
			}
		}
	}()
}

// drain waits until every client has settled; or until every client is
// connected, nothing is unacknowledged and nothing has arrived for
// drainQuiet (what is missing then will not come); or the timeout.
func (w *worker) drain(timeout time.Duration) (complete, incomplete int) {
	if timeout <= 0 {
		timeout = time.Minute
	}
	deadline := time.Now().Add(timeout)
	echo := w.sent.Load() > 0
	lastRecv, lastChange := w.recv.Load(), time.Now()
	for {
		complete, incomplete = 0, 0
		pending, down := 0, 0
		for _, c := range w.clients {
			if c.settled(w.expect, w.expectRooms, echo) {
				complete++
			} else {
				incomplete++
			}
			if c.conn != nil {
				pending += c.conn.pending()
			}
			c.mu.Lock()
			if !c.up {
				down++
			}
			c.mu.Unlock()
		}
		if incomplete == 0 || time.Now().After(deadline) {
			return complete, incomplete
		}
		if r := w.recv.Load(); r != lastRecv {
			lastRecv, lastChange = r, time.Now()
		} else if pending == 0 && down == 0 && time.Since(lastChange) > drainQuiet {
			return complete, incomplete
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// drainQuiet is how long a drain waits for more when nothing arrives.
const drainQuiet = 10 * time.Second

func (w *worker) report() *workerReport {
	r := &workerReport{tick: *w.tick()}
	r.FanLatency = w.fanLat.merged()
	r.EchoLatency = w.echoLat.merged()
	r.LastAt = w.lastAt.Load()
	armed := w.armed.Load()
	for _, c := range w.clients {
		c.mu.Lock()
		// seen counts the messages lost that only the session-level
		// reports (SessionLost.ToClient) can explain.
		var seen uint64
		roomClient := len(c.rooms) > 0 && len(w.expectRooms) > 0
		if roomClient {
			// Fan-out messages are room messages: checked by offset,
			// explained by the rooms' reports (roomcheck.go).
			var rt roomTally
			c.roomReportLocked(w.expectRooms, &rt)
			var t tally
			for _, s := range c.fan {
				t.Recv += s.recv
				t.Dup += s.dup
				t.Reorder += s.reorder
			}
			t.Dup, t.Reorder = max(t.Dup, rt.Dup), max(t.Reorder, rt.Reorder)
			t.Lost = rt.missed()
			r.Fan.add(t)
			r.Rooms.add(rt)
			r.RoomReturns = append(r.RoomReturns, c.returns...)
		} else {
			for id, s := range c.fan {
				var t tally
				t.Recv, t.Dup, t.Reorder = s.recv, s.dup, s.reorder
				t.Lost = s.lost(w.expect[strconv.FormatUint(id, 10)], nil)
				r.Fan.add(t)
				seen += t.Lost
			}
			for k, n := range w.expect {
				id, _ := strconv.ParseUint(k, 10, 64)
				if _, ok := c.fan[id]; !ok && n > 0 {
					r.Fan.Lost += n
					seen += n
				}
			}
		}
		var held uint64
		if c.conn != nil {
			held = uint64(c.conn.pending())
		}
		el, eh := c.echoMissingLocked(held)
		r.Echo.add(tally{Recv: c.echo.recv, Lost: el, Dup: c.echo.dup, Reorder: c.echo.reorder})
		r.EchoHeld += eh
		seen += el
		r.ReportedToClient += c.lostTo
		r.ReportedUnknown += c.lostUnknown
		r.ReportedFromClient += c.lostFrom
		r.ReportedCarried += c.carried
		switch {
		case c.lostUnknown > 0:
			// The client was told it lost an unknown number.
		case int64(seen) > c.lostTo:
			r.UnexplainedDownLost += int64(seen) - c.lostTo
			c.dumpTraceLocked(seen)
		case int64(seen) < c.lostTo && !roomClient:
			// (A room client's lost sessions took room messages with
			// them too, which its rooms recovered or counted.)
			r.OverReportedDown += c.lostTo - int64(seen)
		}
		if armed {
			r.DiscAt = append(r.DiscAt, c.discAt)
			r.ResumeAt = append(r.ResumeAt, c.resumeAt)
			r.Recovered = append(r.Recovered, c.recovered)
		}
		if c.sent > 0 {
			u := upSent{CID: c.cid, Sent: c.sent, Held: min(held, c.sent)}
			for q := range c.unsent {
				u.Unsent = append(u.Unsent, q)
			}
			r.Up = append(r.Up, u)
		}
		c.mu.Unlock()
	}
	var conflicts uint64
	r.RoomIdent, conflicts = w.ident.runs()
	r.Rooms.Conflicts += conflicts
	w.errMu.Lock()
	r.Errors = append([]string(nil), w.errors...)
	w.errMu.Unlock()
	return r
}

func (w *worker) closeAll(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, c := range w.clients {
		if c.conn == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.conn.close(ctx)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// readLines feeds each line of r to fn until r ends.
func readLines(r io.Reader, fn func([]byte)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		fn(sc.Bytes())
	}
	return sc.Err()
}
