package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tether-ws/tether/cmd/tether-bench/internal/loadtest"
)

// runner runs scenarios and collects their results.
type runner struct {
	cfg  config
	logw io.Writer
	src  srcAddrs

	mu      sync.Mutex
	cidNext uint64
}

// nextCIDs reserves client IDs for k workers (a million each).
func (r *runner) nextCIDs(k int) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cidNext == 0 {
		r.cidNext = 1_000_000
	}
	base := r.cidNext
	r.cidNext += uint64(k) * 1_000_000
	return base
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.logw, format+"\n", args...)
}

// scenarioResult is one run of one scenario against one target.
type scenarioResult struct {
	Scenario string             `json:"scenario"` // idle, fanout, storm, chaos
	Param    int                `json:"param"`    // sessions (idle, storm, chaos) or members (fanout)
	Target   string             `json:"target"`
	Run      int                `json:"run"`
	Started  time.Time          `json:"started"`
	Seconds  float64            `json:"seconds"`
	Figures  map[string]float64 `json:"figures"`
	Check    *check             `json:"check,omitempty"`
	Error    string             `json:"error,omitempty"`
}

// check is the end-to-end verdict of a run.
type check struct {
	Fan  tally  `json:"fan"`          // fan-out messages, server → clients
	Echo tally  `json:"echo"`         // echoes of the clients' messages (a round trip)
	Up   *tally `json:"up,omitempty"` // client → server, as the server application saw them
	// Up losses the clients were told are of unknown fate (explained) or not.
	UpLostExplained   uint64 `json:"up_lost_explained"`
	UpLostUnexplained uint64 `json:"up_lost_unexplained"`
	// Not settled when the clients reported (the drain's deadline): client
	// messages the server did not have that their clients still held, and
	// the echoes of messages still held. Not lost — the clients send them
	// again — but not delivered either: the run fails, apart from loss.
	UpHeld   uint64 `json:"up_held,omitempty"`
	EchoHeld uint64 `json:"echo_held,omitempty"`

	// What the clients were told on failed resumes.
	ClientReportedToClient   int64 `json:"client_reported_to_client"`
	ClientReportedFromClient int64 `json:"client_reported_from_client"`
	ClientReportedUnknown    int   `json:"client_reported_unknown"`
	// What the server reported (OpenInfo.Previous, webhooks or /metrics).
	ServerReportedToClient   *int64 `json:"server_reported_to_client,omitempty"`
	ServerReportedFromClient *int64 `json:"server_reported_from_client,omitempty"`

	UnexplainedDownLost int64 `json:"unexplained_down_lost"`
	OverReportedDown    int64 `json:"over_reported_down"`

	Disconnects int `json:"disconnects"`
	Resumed     int `json:"resumed"`
	SessionLost int `json:"session_lost"`
	Failed      int `json:"failed"`

	// Room streams, checked by offset (roomcheck.go); nil when no client
	// was in one. RoomReturnsMismatched counts returns into a room whose
	// counts the server application was told otherwise (or, for an
	// unknown count, not at all); RoomReturnsUnseen returns the server
	// reported that no client saw (their RoomJoined went with a session
	// lost right after).
	Rooms                 *roomTally `json:"rooms,omitempty"`
	RoomReturnsServer     *int       `json:"room_returns_server,omitempty"`
	RoomReturnsMismatched int        `json:"room_returns_mismatched"`
	RoomReturnsUnseen     int        `json:"room_returns_unseen"`

	// Unexplained is every violation: losses nobody reported, duplicates
	// and reorders, both ways.
	Unexplained int64    `json:"unexplained"`
	Notes       []string `json:"notes,omitempty"`
}

func (c *check) pass() bool { return c.Unexplained == 0 && c.settled() }

// roomAway is Rooms.Away, 0 without rooms.
func (c *check) roomAway() uint64 {
	if c.Rooms == nil {
		return 0
	}
	return c.Rooms.Away
}

// settled reports whether every client message and echo arrived or was
// accounted for by the end.
func (c *check) settled() bool {
	return c.UpHeld == 0 && c.EchoHeld == 0 && (c.Rooms == nil || c.Rooms.Away == 0)
}

// verdict merges the workers' reports and the server side's into a check.
func verdict(reps []*workerReport, up *upReport, metrics *[2]float64) *check {
	c := &check{}
	sent := map[uint64]upSent{}
	var rooms roomTally
	var returns []roomReturn
	var idents [][]identRun
	for _, r := range reps {
		rooms.add(r.Rooms)
		returns = append(returns, r.RoomReturns...)
		idents = append(idents, r.RoomIdent)
		c.Fan.add(r.Fan)
		c.Echo.add(r.Echo)
		c.EchoHeld += r.EchoHeld
		c.ClientReportedToClient += r.ReportedToClient
		c.ClientReportedFromClient += r.ReportedFromClient
		c.ClientReportedUnknown += r.ReportedUnknown
		c.UnexplainedDownLost += r.UnexplainedDownLost
		c.OverReportedDown += r.OverReportedDown
		c.Disconnects += r.Disconnects
		c.Resumed += r.Resumed
		c.SessionLost += r.SessionLost
		c.Failed += r.Failed
		for _, u := range r.Up {
			sent[u.CID] = u
		}
		for _, e := range r.Errors {
			c.note("client: %s", e)
		}
	}
	c.Unexplained = c.UnexplainedDownLost + int64(c.Fan.Dup+c.Fan.Reorder+c.Echo.Dup+c.Echo.Reorder)
	if c.EchoHeld > 0 {
		c.note("not settled: %d echoes of messages their clients still held had not come", c.EchoHeld)
	}
	if rooms.Members > 0 {
		rooms.Conflicts += identConflicts(idents)
		c.Rooms = &rooms
		c.Unexplained += int64(rooms.violations())
		if rooms.Unexplained+rooms.Uncounted > 0 {
			c.note("%d room messages never arrived and no return into the room counted them (%d outside any gap, %d beyond a gap's count)",
				rooms.Unexplained+rooms.Uncounted, rooms.Unexplained, rooms.Uncounted)
		}
		if rooms.Away > 0 {
			c.note("not settled: %d room messages after the last their clients got had not reached clients away at the end (their next session recovers or counts them)", rooms.Away)
		}
		if rooms.Overcounted > 0 {
			c.note("returns into rooms counted %d messages lost or skipped beyond their gaps", rooms.Overcounted)
		}
		if rooms.Conflicts > 0 {
			c.note("%d room offsets carried different messages for different clients (or a message came at two offsets)", rooms.Conflicts)
		}
		if up != nil && up.RoomReports {
			n := len(up.RoomReturns)
			c.RoomReturnsServer = &n
			c.RoomReturnsMismatched, c.RoomReturnsUnseen = reconcileReturns(returns, up.RoomReturns, c.note)
			c.Unexplained += int64(c.RoomReturnsMismatched)
		} else if len(returns) > 0 {
			// Nobody can confirm a loss of unknown count.
			unknown := 0
			for _, r := range returns {
				if r.Lost < 0 {
					unknown++
				}
			}
			c.Unexplained += int64(unknown)
			c.note("the server reported no return into a room (clients saw %d, %d of unknown count, unexplained): checked from the clients' side only", len(returns), unknown)
		}
	}
	if up != nil {
		t := &tally{}
		byCID := make(map[uint64]upStream, len(up.Streams))
		for _, s := range up.Streams {
			byCID[s.CID] = s
			t.Recv += s.Recv
			t.Dup += s.Dup
			t.Reorder += s.Reorder
		}
		for cid, u := range sent {
			s := byCID[cid]
			unsent := make(map[uint64]bool, len(u.Unsent))
			for _, q := range u.Unsent {
				unsent[q] = true
			}
			lost := func(q uint64) {
				if q+u.Held > u.Sent && !unsent[q] {
					c.UpHeld++ // its client still holds it
					return
				}
				t.Lost++
				if unsent[q] {
					c.UpLostExplained++
				} else {
					c.UpLostUnexplained++
				}
			}
			for _, q := range s.Missing {
				if q <= u.Sent {
					lost(q)
				}
			}
			for q := s.Highest + 1; q <= u.Sent; q++ {
				lost(q)
			}
			if s.Highest > u.Sent {
				c.note("client %d sent %d messages, the server got up to %d", cid, u.Sent, s.Highest)
				c.Unexplained++
			}
		}
		c.Up = t
		c.Unexplained += int64(c.UpLostUnexplained + t.Dup + t.Reorder)
		if c.UpHeld > 0 {
			c.note("not settled: %d client messages the server did not have were still held by their clients (not lost: sent again on their next connection)", c.UpHeld)
		}
		to, from := up.ReportedToClient, up.ReportedFromClient
		c.ServerReportedToClient, c.ServerReportedFromClient = &to, &from
	}
	if metrics != nil {
		to, from := int64(metrics[0]), int64(metrics[1])
		if c.ServerReportedToClient == nil {
			c.ServerReportedToClient, c.ServerReportedFromClient = &to, &from
		} else if to != *c.ServerReportedToClient || from != *c.ServerReportedFromClient {
			c.note("/metrics lost counters (%d to client, %d from client) differ from the webhooks' (%d, %d)",
				to, from, *c.ServerReportedToClient, *c.ServerReportedFromClient)
		}
	}
	if s := c.ServerReportedToClient; s != nil && c.ClientReportedUnknown == 0 && *s != c.ClientReportedToClient {
		c.note("the server reported %d messages lost to clients, the clients %d", *s, c.ClientReportedToClient)
	}
	if c.OverReportedDown > 0 {
		c.note("%d messages were reported lost to clients but arrived (or were lost before the session's loss was counted)", c.OverReportedDown)
	}
	return c
}

func (c *check) note(format string, args ...any) {
	if len(c.Notes) < 20 {
		c.Notes = append(c.Notes, fmt.Sprintf(format, args...))
	}
}

// waitRoom waits until the room has n members, when the server can tell.
func waitRoom(ctx context.Context, t *target, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := t.roomSize(ctx, "bench")
		if got < 0 || got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("room has %d of %d members after %v (last error: %v)", got, n, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// minRSS samples a process's RSS k times, interval apart, and returns the
// smallest sample in KiB.
func minRSS(pid, k int, interval time.Duration) (int64, error) {
	best := int64(math.MaxInt64)
	for i := range k {
		if i > 0 {
			time.Sleep(interval)
		}
		v, err := loadtest.RSS(pid)
		if err != nil {
			return 0, err
		}
		best = min(best, v)
	}
	return best, nil
}

func (r *runner) spec(n int, chaos bool) fleetSpec {
	return fleetSpec{n: n, chaos: chaos, shards: r.cfg.shards, per: r.cfg.per, conc: r.cfg.conc, timeout: r.cfg.timeout}
}

// --- idle ------------------------------------------------------------------

// idle measures the server's resident memory per idle session: RSS with
// n sessions idle for a while, minus RSS before any client, over n. The
// samples are the smallest of three, a second apart; no process is made
// to collect its garbage first, peers and Tether alike.
func (r *runner) idle(ctx context.Context, t *target, n int, res *scenarioResult) error {
	if err := t.start(ctx, needs{}); err != nil {
		return err
	}
	defer t.stop()
	pid := t.pid()
	if pid == 0 {
		return fmt.Errorf("%s: the server's PID is unknown (-tether-pid)", t.name)
	}
	time.Sleep(time.Second)
	rss0, err := minRSS(pid, 3, time.Second)
	if err != nil {
		return err
	}
	f, err := r.startFleet(ctx, t, r.spec(n, false))
	if err != nil {
		return err
	}
	defer f.stop()
	stop := r.progress(fmt.Sprintf("idle/%s %d", t.name, n), t, f)
	defer stop()
	if err := waitRoom(ctx, t, n, 2*time.Minute); err != nil {
		return err
	}
	time.Sleep(r.cfg.idleFor)
	rss1, err := minRSS(pid, 3, time.Second)
	if err != nil {
		return err
	}
	if up := f.ticks().Connected; up != n {
		return fmt.Errorf("%d of %d clients connected after idling", up, n)
	}
	res.Figures["rss_kb_per_session"] = float64(rss1-rss0) / float64(n)
	res.Figures["rss_before_mib"] = float64(rss0) / 1024
	res.Figures["rss_after_mib"] = float64(rss1) / 1024
	return nil
}

// --- fan-out ---------------------------------------------------------------

// fanout broadcasts numbered messages to a room of members sessions, in
// two phases, each message one HTTP request to the server (see publish).
//
// The paced phase, the reference, publishes -fanout-msgs messages at
// -fanout-rate per second, a load every server here sustains, so that
// all get the same message spacing and so the same chances to batch
// writes. It measures the server's CPU time per million deliveries and
// the latency from the sender's timestamp to the receiving application.
//
// The burst then publishes -fanout-burst-msgs as fast as the server takes
// them: deliveries per second, and what happens to latency (and to the
// messages, when a server takes them faster than its clients read).
func (r *runner) fanout(ctx context.Context, t *target, members int, res *scenarioResult) error {
	if err := t.start(ctx, needs{}); err != nil {
		return err
	}
	defer t.stop()
	f, err := r.startFleet(ctx, t, r.spec(members, false))
	if err != nil {
		return err
	}
	defer f.stop()
	stop := r.progress(fmt.Sprintf("fanout/%s %d", t.name, members), t, f)
	defer stop()
	if err := waitRoom(ctx, t, members, 2*time.Minute); err != nil {
		return err
	}
	time.Sleep(time.Second) // let the connect burst settle
	pid := t.pid()
	expect := map[string]uint64{}
	var room roomPublished
	// phase publishes n messages of stream at rate and returns the
	// server CPU time, the deliveries, the latencies and how long from the
	// first publish to the last delivery.
	phase := func(stream uint64, n int, rate float64) (cpu time.Duration, recv float64, lat hist, took time.Duration, err error) {
		if _, err = f.all(command{Cmd: "reset"}, 30*time.Second); err != nil {
			return
		}
		before := uint64(0)
		if reps, err := f.reports(); err == nil {
			before = verdict(reps, nil, nil).Fan.Recv
		}
		cpu0, err0 := procCPU(pid)
		t0 := time.Now()
		p, err := t.publish(ctx, publishRequest{Room: "bench", Stream: stream, N: n, Size: r.cfg.fanSize, Rate: rate})
		room.add(p)
		if err != nil {
			err = fmt.Errorf("publish: %w", err)
			return
		}
		expect[fmt.Sprint(stream)] = uint64(n)
		if _, err = f.all(command{Cmd: "drain", Expect: expect, ExpectRooms: room.expect(t, "bench"), TimeoutMS: 180_000}, 4*time.Minute); err != nil {
			return
		}
		cpu1, err1 := procCPU(pid)
		var reps []*workerReport
		if reps, err = f.reports(); err != nil {
			return
		}
		res.Check = verdict(reps, nil, nil)
		recv = float64(res.Check.Fan.Recv - before)
		var last int64
		lat, last = mergeLatency(reps)
		took = time.Unix(0, last).Sub(t0)
		if err0 != nil || err1 != nil {
			cpu = -1
		} else {
			cpu = cpu1 - cpu0
		}
		return
	}
	if r.cfg.fanMsgs > 0 {
		cpu, recv, lat, took, err := phase(0, r.cfg.fanMsgs, r.cfg.fanRate)
		if err != nil {
			return err
		}
		res.Figures["deliveries"] = recv
		res.Figures["latency_p50_ms"] = ms(lat.quantile(0.50))
		res.Figures["latency_p99_ms"] = ms(lat.quantile(0.99))
		res.Figures["latency_max_ms"] = ms(lat.quantile(1))
		res.Figures["paced_deliveries_per_s"] = recv / took.Seconds()
		if cpu >= 0 && recv > 0 {
			res.Figures["server_cpu_s"] = cpu.Seconds()
			res.Figures["cpu_s_per_1m"] = cpu.Seconds() / recv * 1e6
		}
		res.Figures["lost"] = float64(res.Check.Fan.Lost)
	}
	if r.cfg.fanBurstMsgs > 0 {
		var lostBefore uint64 // what the paced phase lost, if it ran
		if res.Check != nil {
			lostBefore = res.Check.Fan.Lost
		}
		cpu, recv, lat, took, err := phase(1, r.cfg.fanBurstMsgs, 0)
		if err != nil {
			return err
		}
		res.Figures["burst_deliveries"] = recv
		res.Figures["deliveries_per_s"] = recv / took.Seconds()
		res.Figures["burst_latency_p50_ms"] = ms(lat.quantile(0.50))
		res.Figures["burst_latency_p99_ms"] = ms(lat.quantile(0.99))
		if cpu >= 0 && recv > 0 {
			res.Figures["burst_cpu_s_per_1m"] = cpu.Seconds() / recv * 1e6
		}
		res.Figures["burst_lost"] = float64(res.Check.Fan.Lost - lostBefore)
	}
	return nil
}

func mergeLatency(reps []*workerReport) (hist, int64) {
	var lat hist
	var last int64
	for _, rep := range reps {
		lat.merge(rep.FanLatency)
		last = max(last, rep.LastAt)
	}
	return lat, last
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// --- reconnect storm -------------------------------------------------------

// storm connects n sessions through proxies, publishes a few messages so
// that every client has a position, cuts every connection at once,
// publishes more while they are away, and measures when each client is
// back in its session (resumed, or recovered for the peers), then checks
// that everything arrived exactly once.
func (r *runner) storm(ctx context.Context, t *target, n int, res *scenarioResult) error {
	if err := t.start(ctx, needs{}); err != nil {
		return err
	}
	defer t.stop()
	f, err := r.startFleet(ctx, t, r.spec(n, true))
	if err != nil {
		return err
	}
	defer f.stop()
	stop := r.progress(fmt.Sprintf("storm/%s %d", t.name, n), t, f)
	defer stop()
	if err := waitRoom(ctx, t, n, 2*time.Minute); err != nil {
		return err
	}
	k := r.cfg.stormMsgs
	var room roomPublished
	p, err := t.publish(ctx, publishRequest{Room: "bench", N: k, Size: r.cfg.fanSize})
	room.add(p)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if _, err := f.all(command{Cmd: "drain", Expect: map[string]uint64{"0": uint64(k)}, ExpectRooms: room.expect(t, "bench"), TimeoutMS: 60_000}, 2*time.Minute); err != nil {
		return err
	}
	before := f.ticks()
	if _, err := f.all(command{Cmd: "arm"}, 30*time.Second); err != nil {
		return err
	}
	evs, err := f.chaos(command{Cmd: "cut", Frac: 1})
	if err != nil {
		return err
	}
	var cutAt int64 = math.MaxInt64
	for _, ev := range evs {
		cutAt = min(cutAt, ev.At)
	}
	p, err = t.publish(ctx, publishRequest{Room: "bench", From: uint64(k + 1), N: k, Size: r.cfg.fanSize})
	room.add(p)
	if err != nil {
		return fmt.Errorf("publish during the storm: %w", err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		s := f.ticks()
		if s.Resumed+s.SessionLost-before.Resumed-before.SessionLost >= n && s.Connected >= n {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := f.all(command{Cmd: "drain", Expect: map[string]uint64{"0": uint64(2 * k)}, ExpectRooms: room.expect(t, "bench"), TimeoutMS: 120_000}, 3*time.Minute); err != nil {
		return err
	}
	reps, err := f.reports()
	if err != nil {
		return err
	}
	res.Check = verdict(reps, nil, nil)
	var back, offline []float64
	cut, recovered := 0, 0
	for _, rep := range reps {
		for i, at := range rep.ResumeAt {
			if rep.DiscAt[i] > 0 {
				cut++
			}
			if at > 0 {
				back = append(back, time.Duration(at-cutAt).Seconds())
				if rep.DiscAt[i] > 0 {
					offline = append(offline, time.Duration(at-rep.DiscAt[i]).Seconds())
				}
				if rep.Recovered[i] {
					recovered++
				}
			}
		}
	}
	slices.Sort(back)
	slices.Sort(offline)
	if len(offline) > 0 {
		// Each client's own time offline: from noticing the cut to resumed.
		res.Figures["offline_p50_s"] = quantileSorted(offline, len(offline), 0.5)
		res.Figures["offline_p99_s"] = quantileSorted(offline, len(offline), 0.99)
	}
	res.Figures["cut"] = float64(cut)
	res.Figures["resumed"] = float64(len(back))
	res.Figures["recovered"] = float64(recovered)
	if len(back) > 0 {
		res.Figures["first_s"] = back[0]
		res.Figures["p50_s"] = quantileSorted(back, n, 0.50)
		res.Figures["p99_s"] = quantileSorted(back, n, 0.99)
		res.Figures["all_s"] = quantileSorted(back, n, 1)
	}
	res.Figures["lost"] = float64(res.Check.Fan.Lost)
	res.Figures["dup"] = float64(res.Check.Fan.Dup)
	res.Figures["reorder"] = float64(res.Check.Fan.Reorder)
	if cut < n {
		res.Check.note("only %d of %d clients saw the cut", cut, n)
	}
	if recovered < n {
		res.Check.note("%d of %d clients recovered their session", recovered, n)
	}
	return nil
}

// quantileSorted returns the time by which a fraction q of n clients was
// back, from the sorted times of those that came back; NaN if fewer did.
func quantileSorted(v []float64, n int, q float64) float64 {
	rank := int(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > len(v) {
		return math.NaN()
	}
	return v[rank-1]
}

// --- chaos (and the soak) --------------------------------------------------

// chaosConfig shapes the chaos scenario.
type chaosConfig struct {
	N              int
	Dur            time.Duration
	Rate           float64 // messages per second each client sends (Tether only)
	Size           int
	FanRate        float64 // messages per second broadcast to the room
	CutEvery       time.Duration
	CutFrac        float64
	BlackholeEvery time.Duration
	BlackholeFrac  float64
	BlackholeFor   time.Duration
	SlowEvery      time.Duration
	SlowFrac       float64
	SlowDelay      time.Duration
	SlowFor        time.Duration
	// Away: every AwayEvery, the clients of a fraction of the shards
	// lose their connections and cannot connect again for AwayFor; with
	// a Grace window shorter than that (Tether), their sessions expire
	// while broadcasts go on, and they come back in new sessions that
	// recover their rooms.
	AwayEvery        time.Duration
	AwayFrac         float64
	AwayFor          time.Duration
	Grace            time.Duration // the server's session grace window; 0: its default
	RoomHistory      int           // messages kept per room; 0: the server's default, -1: none
	Heartbeat        time.Duration
	HeartbeatTimeout time.Duration
	Drain            time.Duration
}

// chaos runs traffic both ways while it cuts a random fraction of the
// connections every CutEvery, blackholes some (half-open links only
// heartbeats find) and slows some down; then it stops the faults, drains,
// and checks every message both ways.
func (r *runner) chaos(ctx context.Context, t *target, cc chaosConfig, res *scenarioResult) error {
	up := t.kind == "tether" && cc.Rate > 0 && !t.noUpstream
	need := needs{upstream: up, heartbeatInterval: cc.Heartbeat, heartbeatTimeout: cc.HeartbeatTimeout, grace: cc.Grace, roomHistory: cc.RoomHistory}
	if err := t.start(ctx, need); err != nil {
		return err
	}
	defer t.stop()
	var m0 [2]float64
	m0[0], m0[1], _ = t.lossCounters(ctx)
	f, err := r.startFleet(ctx, t, r.spec(cc.N, true))
	if err != nil {
		return err
	}
	defer f.stop()
	stop := r.progress(fmt.Sprintf("chaos/%s %d", t.name, cc.N), t, f)
	defer stop()
	if err := waitRoom(ctx, t, cc.N, 2*time.Minute); err != nil {
		return err
	}
	if up {
		if _, err := f.all(command{Cmd: "traffic", Rate: cc.Rate, Size: cc.Size}, 30*time.Second); err != nil {
			return err
		}
	}
	nFan := int(cc.FanRate * cc.Dur.Seconds())
	pubErr := make(chan error, 1)
	var pub publishResult
	go func() {
		p, err := t.publish(ctx, publishRequest{Room: "bench", N: nFan, Size: cc.Size, Rate: cc.FanRate})
		pub = p
		pubErr <- err
	}()
	faults := map[string]int{}
	start := time.Now()
	tk := time.NewTicker(100 * time.Millisecond)
	var nextCut, nextHole, nextSlow, nextAway, healAt time.Duration = cc.CutEvery, cc.BlackholeEvery, cc.SlowEvery, cc.AwayEvery, 0
	for range int(cc.Dur/(100*time.Millisecond)) + 1 {
		<-tk.C
		el := time.Since(start)
		if el >= cc.Dur {
			break
		}
		if cc.CutEvery > 0 && el >= nextCut {
			nextCut += cc.CutEvery
			if _, err := f.chaos(command{Cmd: "cut", Frac: cc.CutFrac}); err != nil {
				return err
			}
			faults["cut"]++
		}
		if cc.BlackholeEvery > 0 && el >= nextHole {
			nextHole += cc.BlackholeEvery
			if _, err := f.chaos(command{Cmd: "blackhole", Frac: cc.BlackholeFrac}); err != nil {
				return err
			}
			faults["blackhole"]++
			healAt = max(healAt, el+cc.BlackholeFor)
		}
		if cc.AwayEvery > 0 && el >= nextAway {
			nextAway += cc.AwayEvery
			if _, err := f.chaos(command{Cmd: "away", Frac: cc.AwayFrac}); err != nil {
				return err
			}
			faults["away"]++
			healAt = max(healAt, el+cc.AwayFor)
		}
		if cc.SlowEvery > 0 && el >= nextSlow {
			nextSlow += cc.SlowEvery
			if _, err := f.chaos(command{Cmd: "delay", Frac: cc.SlowFrac, DelayMS: cc.SlowDelay.Milliseconds()}); err != nil {
				return err
			}
			faults["slow"]++
			healAt = max(healAt, el+cc.SlowFor)
		}
		if healAt > 0 && el >= healAt {
			healAt = 0
			if _, err := f.chaos(command{Cmd: "heal"}); err != nil {
				return err
			}
		}
	}
	tk.Stop()
	if _, err := f.chaos(command{Cmd: "heal"}); err != nil {
		return err
	}
	if up {
		if _, err := f.all(command{Cmd: "traffic"}, 30*time.Second); err != nil {
			return err
		}
	}
	if err := <-pubErr; err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	published := pub.Published
	var room roomPublished
	room.add(pub)
	if _, err := f.all(command{Cmd: "drain", Expect: map[string]uint64{"0": uint64(published)}, ExpectRooms: room.expect(t, "bench"),
		TimeoutMS: cc.Drain.Milliseconds()}, cc.Drain+time.Minute); err != nil {
		return err
	}
	reps, err := f.reports()
	if err != nil {
		return err
	}
	upr, err := t.upReport(ctx)
	if err != nil {
		return err
	}
	var mp *[2]float64
	if to, from, ok := t.lossCounters(ctx); ok {
		mp = &[2]float64{to - m0[0], from - m0[1]}
	}
	res.Check = verdict(reps, upr, mp)
	for k, v := range faults {
		res.Figures["faults_"+k] = float64(v)
	}
	res.Figures["published"] = float64(published)
	res.Figures["sent"] = float64(f.ticks().Sent)
	res.Figures["lost"] = float64(res.Check.Fan.Lost + res.Check.Echo.Lost)
	res.Figures["dup"] = float64(res.Check.Fan.Dup + res.Check.Echo.Dup)
	res.Figures["reorder"] = float64(res.Check.Fan.Reorder + res.Check.Echo.Reorder)
	if res.Check.Up != nil {
		res.Figures["up_lost"] = float64(res.Check.Up.Lost)
		res.Figures["up_dup"] = float64(res.Check.Up.Dup)
		res.Figures["up_reorder"] = float64(res.Check.Up.Reorder)
	}
	res.Figures["up_held"] = float64(res.Check.UpHeld)
	res.Figures["echo_held"] = float64(res.Check.EchoHeld)
	if rt := res.Check.Rooms; rt != nil {
		res.Figures["room_away"] = float64(rt.Away)
	}
	res.Figures["unexplained"] = float64(res.Check.Unexplained)
	res.Figures["sessions_lost"] = float64(res.Check.SessionLost)
	if rt := res.Check.Rooms; rt != nil {
		res.Figures["room_returns"] = float64(rt.Returns)
		res.Figures["room_recovered"] = float64(rt.Recovered)
		res.Figures["room_lost_counted"] = float64(rt.Lost + rt.Skipped)
		res.Figures["room_lost_unknown"] = float64(rt.LostUnknown)
		res.Figures["room_unexplained"] = float64(rt.violations() + rt.Dup + rt.Reorder)
	}
	return nil
}

// roomPublished tracks what was published to a room in a scenario.
type roomPublished struct {
	n    uint64
	last uint64
}

func (p *roomPublished) add(r publishResult) {
	p.n += uint64(r.Published)
	p.last = max(p.last, r.Last)
}

// expect is what a drain expects of the room's stream: its last offset
// when the server says offsets, else n messages after each client's
// first position (every client joins before the first publish). Nil for
// the peers, which have no room streams.
func (p *roomPublished) expect(t *target, room string) map[string]roomExpect {
	if t.kind != "tether" {
		return nil
	}
	return map[string]roomExpect{room: {Last: p.last, N: p.n}}
}

// run runs one scenario against one target and records the result.
func (r *runner) run(ctx context.Context, t *target, scenario string, param, rep int) scenarioResult {
	res := scenarioResult{Scenario: scenario, Param: param, Target: t.name, Run: rep, Started: time.Now(), Figures: map[string]float64{}}
	r.logf("== %s %d against %s (run %d): %s", scenario, param, t.name, rep, t.label)
	var err error
	switch scenario {
	case "idle":
		err = r.idle(ctx, t, param, &res)
	case "fanout":
		err = r.fanout(ctx, t, param, &res)
	case "storm":
		err = r.storm(ctx, t, param, &res)
	case "chaos":
		cc := r.cfg.chaos
		cc.N = param
		err = r.chaos(ctx, t, cc, &res)
	default:
		err = fmt.Errorf("unknown scenario %q", scenario)
	}
	res.Seconds = time.Since(res.Started).Seconds()
	if err != nil {
		res.Error = err.Error()
		r.logf("   %s %d against %s failed: %v", scenario, param, t.name, err)
	} else {
		r.logf("   %s", summaryLine(&res))
	}
	return res
}

func summaryLine(res *scenarioResult) string {
	keys := make([]string, 0, len(res.Figures))
	for k := range res.Figures {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%.4g ", k, res.Figures[k])
	}
	if res.Check != nil {
		fmt.Fprintf(&b, "| fan %+v echo %+v", res.Check.Fan, res.Check.Echo)
		if res.Check.Up != nil {
			fmt.Fprintf(&b, " up %+v", *res.Check.Up)
		}
		fmt.Fprintf(&b, " unexplained=%d", res.Check.Unexplained)
		for _, n := range res.Check.Notes {
			fmt.Fprintf(&b, "\n     note: %s", n)
		}
	}
	return b.String()
}
