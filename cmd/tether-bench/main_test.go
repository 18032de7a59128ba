package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"math"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets the test binary play the roles the coordinator starts
// (worker, proxy): the scenarios under test run through the same code as
// the command.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) != "" {
		os.Exit(mainRole(os.Args[1:]))
	}
	code := m.Run()
	if breakDir != "" {
		os.RemoveAll(breakDir)
	}
	os.Exit(code)
}

func TestPayloadRoundTrip(t *testing.T) {
	p := appendPayload(nil, kindFan, 3, 12345, 1700000000123456789, 100)
	if len(p) != 100 {
		t.Fatalf("payload of %d bytes, want 100", len(p))
	}
	for _, in := range [][]byte{p, append(append([]byte{'"'}, p...), '"')} {
		h, err := parsePayload(in)
		if err != nil {
			t.Fatal(err)
		}
		if h.kind != kindFan || h.stream != 3 || h.seq != 12345 || h.ts != 1700000000123456789 {
			t.Fatalf("parsed %+v", h)
		}
	}
	for _, bad := range []string{"", "X:1:2:3:", "F:1:0:3:", "F:1:2", "F:a:2:3:", "hello"} {
		if _, err := parsePayload([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestSoakArgs(t *testing.T) {
	c, err := parseRunFlags(soakArgs([]string{"-chaos-n", "50"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.targets) != 1 || c.targets[0] != "tether" || len(c.scenarios) != 1 || c.scenarios[0] != "chaos" {
		t.Fatalf("targets %v scenarios %v", c.targets, c.scenarios)
	}
	if len(c.chaosN) != 1 || c.chaosN[0] != 50 || c.chaos.Dur != 40*time.Second {
		t.Fatalf("chaos n %v for %v: the later -chaos-n must win", c.chaosN, c.chaos.Dur)
	}
}

func TestSeqCheck(t *testing.T) {
	var s seqCheck
	for _, q := range []uint64{1, 2, 5, 3, 3, 6, 1} {
		s.see(q)
	}
	// 4 missing; 3 came late (reorder), then again (dup); 1 again (dup).
	if s.reorder != 1 || s.dup != 2 || s.recv != 7 {
		t.Fatalf("reorder %d dup %d recv %d", s.reorder, s.dup, s.recv)
	}
	var lost []uint64
	if n := s.lost(8, func(q uint64) { lost = append(lost, q) }); n != 3 {
		t.Fatalf("lost %d (%v), want 3: 4, 7, 8", n, lost)
	}
	if s.complete(6) {
		t.Fatal("complete with 4 missing")
	}
	s.see(4)
	if !s.complete(6) || s.complete(7) {
		t.Fatal("complete is wrong")
	}
}

func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}} {
		got := h.quantile(c.q)
		if math.Abs(float64(got-c.want))/float64(c.want) > 0.05 {
			t.Errorf("q%.2f = %v, want %v ± 5%%", c.q, got, c.want)
		}
	}
	var m hist
	m.merge(h)
	m.merge(h)
	if m.total() != 2000 {
		t.Fatalf("merged total %d", m.total())
	}
}

// TestVerdict checks the reconciliation: a loss the client was told about
// is explained, one it was not told about is not, and duplicates never are.
func TestVerdict(t *testing.T) {
	reps := []*workerReport{{
		Fan:                 tally{Recv: 10, Lost: 2},
		ReportedToClient:    2,
		UnexplainedDownLost: 0,
		Up:                  []upSent{{CID: 7, Sent: 5, Unsent: []uint64{4}}, {CID: 8, Sent: 3}},
	}}
	up := &upReport{Streams: []upStream{
		{CID: 7, Highest: 3, Recv: 3},                       // 4 of unknown fate, 5 lost
		{CID: 8, Highest: 3, Recv: 4, Dup: 1, Missing: nil}, // one duplicate
	}, ReportedToClient: 2}
	c := verdict(reps, up, nil)
	if c.UpLostExplained != 1 || c.UpLostUnexplained != 1 {
		t.Fatalf("up lost explained %d unexplained %d, want 1 and 1", c.UpLostExplained, c.UpLostUnexplained)
	}
	if c.Unexplained != 2 || c.pass() {
		t.Fatalf("unexplained %d, want 2 (one loss, one duplicate)", c.Unexplained)
	}
	c = verdict([]*workerReport{{Fan: tally{Recv: 10}}}, nil, nil)
	if !c.pass() {
		t.Fatalf("a clean run failed: %+v", c)
	}
}

// TestVerdictHeld: client messages the server does not have, among the
// last its client still holds, are not lost but not settled either; one
// before them is lost, held or not.
func TestVerdictHeld(t *testing.T) {
	reps := []*workerReport{{
		Up:       []upSent{{CID: 7, Sent: 6, Held: 2}, {CID: 8, Sent: 4, Held: 3}},
		EchoHeld: 1,
	}}
	up := &upReport{Streams: []upStream{
		{CID: 7, Highest: 4, Recv: 4},                       // 5 and 6 held
		{CID: 8, Highest: 4, Recv: 3, Missing: []uint64{1}}, // 1 lost: before the 3 held
	}}
	c := verdict(reps, up, nil)
	if c.UpHeld != 2 || c.Up.Lost != 1 || c.UpLostUnexplained != 1 || c.EchoHeld != 1 {
		t.Fatalf("held %d, lost %d (unexplained %d), echoes held %d; want 2, 1 (1), 1", c.UpHeld, c.Up.Lost, c.UpLostUnexplained, c.EchoHeld)
	}
	if c.settled() || c.pass() {
		t.Fatal("a run with messages still held passed")
	}
	reps[0].Up[1].Held, reps[0].EchoHeld = 0, 0
	up.Streams[1] = upStream{CID: 8, Highest: 4, Recv: 4}
	if c = verdict(reps, up, nil); c.UpHeld != 2 || c.Unexplained != 0 || c.pass() {
		t.Fatalf("held %d, unexplained %d, pass %v: want 2, 0, false", c.UpHeld, c.Unexplained, c.pass())
	}
	reps[0].Up[0].Held = 0
	if c = verdict(reps, up, nil); c.UpHeld != 0 || c.UpLostUnexplained != 2 || c.pass() {
		t.Fatalf("not held: held %d, unexplained %d; want 0, 2", c.UpHeld, c.UpLostUnexplained)
	}
	reps[0].Up[0].Sent = 4
	if c = verdict(reps, up, nil); !c.pass() {
		t.Fatalf("a settled run failed: %+v", c)
	}
}

func TestSummaryAndChart(t *testing.T) {
	runs := []scenarioResult{
		{Scenario: "idle", Param: 5000, Target: "tether", Figures: map[string]float64{"rss_kb_per_session": 7}},
		{Scenario: "idle", Param: 5000, Target: "tether", Run: 2, Figures: map[string]float64{"rss_kb_per_session": 8}},
		{Scenario: "idle", Param: 5000, Target: "centrifugo", Figures: map[string]float64{"rss_kb_per_session": 48}},
		{Scenario: "fanout", Param: 2000, Target: "tether", Figures: map[string]float64{"cpu_s_per_1m": 2, "deliveries_per_s": 1e6}},
		{Scenario: "fanout", Param: 2000, Target: "socketio", Figures: map[string]float64{"cpu_s_per_1m": 11.8, "deliveries_per_s": 2e5}},
	}
	rows := summarize(runs)
	if len(rows) != 3 || rows[0].Median["tether"] != 7.5 || rows[0].Min["tether"] != 7 || rows[0].Max["tether"] != 8 {
		t.Fatalf("rows %+v", rows)
	}
	var b bytes.Buffer
	writeTable(&b, rows, []string{"tether", "centrifugo", "socketio"})
	if !strings.Contains(b.String(), "6.40×") || !strings.Contains(b.String(), "7.50 (7.00–8.00)") {
		t.Fatalf("table:\n%s", b.String())
	}
	img := renderChart(rows, []string{"tether", "centrifugo", "socketio"})
	if err := png.Encode(&bytes.Buffer{}, img); err != nil {
		t.Fatal(err)
	}
}

// soakConfig is the CI soak: a few hundred sessions, traffic both ways,
// random cuts, half-open links and slow links.
func soakConfig(n int, dur time.Duration) config {
	c := config{per: maxPerWorker, shards: 16, conc: 32, timeout: 10 * time.Minute}
	c.chaos = defaultChaos()
	c.chaos.N, c.chaos.Dur = n, dur
	c.chaos.BlackholeEvery = dur / 3
	c.chaos.SlowEvery = dur / 4
	c.chaos.Drain = 60 * time.Second
	return c
}

// inProcessTarget serves the built-in Tether server from this process.
func inProcessTarget(t *testing.T, o serveOptions) *target {
	bs := newBenchServer(o)
	hs := httptest.NewUnstartedServer(bs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs.Listener = ln
	hs.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = bs.srv.Shutdown(ctx)
		hs.Close()
	})
	return &target{name: "tether", kind: "tether", path: "/ws?room=bench", api: apiBench,
		addr: ln.Addr().String(), pidHint: os.Getpid(), label: "in-process library server"}
}

func runSoak(t *testing.T, n int, dur time.Duration) {
	c := soakConfig(n, dur)
	tg := inProcessTarget(t, serveOptions{HeartbeatInterval: c.chaos.Heartbeat, HeartbeatTimeout: c.chaos.HeartbeatTimeout, Echo: true})
	r := &runner{cfg: c, logw: os.Stderr}
	if !testing.Verbose() {
		r.cfg.quiet = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	res := r.run(ctx, tg, "chaos", n, 1)
	if res.Error != "" {
		t.Fatalf("soak: %s", res.Error)
	}
	ck := res.Check
	t.Logf("%s", summaryLine(&res))
	if !ck.pass() {
		t.Fatalf("soak: %d unexplained: fan %+v echo %+v up %+v, notes %q", ck.Unexplained, ck.Fan, ck.Echo, ck.Up, ck.Notes)
	}
	if ck.Fan.Lost+ck.Echo.Lost != 0 || ck.Up == nil || ck.Up.Lost != 0 || ck.SessionLost != 0 {
		t.Fatalf("soak lost messages or sessions: fan %+v echo %+v up %+v, %d sessions lost", ck.Fan, ck.Echo, ck.Up, ck.SessionLost)
	}
	if ck.Fan.Recv == 0 || ck.Up.Recv == 0 || ck.Disconnects == 0 || ck.Resumed == 0 {
		t.Fatalf("the soak did not exercise anything: fan %+v up %+v, %d disconnects, %d resumes", ck.Fan, ck.Up, ck.Disconnects, ck.Resumed)
	}
}

// TestQuickChaos is a small chaos run, for -short.
func TestQuickChaos(t *testing.T) {
	runSoak(t, 24, 4*time.Second)
}

// TestSoak is the CI soak: about a minute, a few hundred sessions, random
// cuts both ways, zero lost, duplicated or reordered messages.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("about a minute; skipped with -short")
	}
	runSoak(t, 300, 40*time.Second)
}

// TestLostSessionsAreExplained makes every session expire (a 1 s grace
// window, every link blackholed for longer) while clients send and get
// echoes: the losses the checker sees must be exactly those the clients
// and the server reported, so the run passes although messages were lost.
func TestLostSessionsAreExplained(t *testing.T) {
	if testing.Short() {
		t.Skip("about 30 s; skipped with -short")
	}
	c := soakConfig(20, 8*time.Second)
	c.chaos.Rate, c.chaos.FanRate = 5, 0
	c.chaos.CutEvery, c.chaos.SlowEvery = 0, 0
	c.chaos.BlackholeEvery, c.chaos.BlackholeFrac, c.chaos.BlackholeFor = time.Second, 1, 4*time.Second
	c.chaos.Heartbeat, c.chaos.HeartbeatTimeout = time.Second, time.Second
	c.quiet = !testing.Verbose()
	tg := inProcessTarget(t, serveOptions{Grace: time.Second, HeartbeatInterval: time.Second, HeartbeatTimeout: time.Second, Echo: true})
	r := &runner{cfg: c, logw: os.Stderr}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	res := r.run(ctx, tg, "chaos", 20, 1)
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	ck := res.Check
	t.Logf("%s", summaryLine(&res))
	if ck.SessionLost == 0 {
		t.Fatalf("no session was lost: %+v", ck)
	}
	if !ck.pass() {
		t.Fatalf("reported losses do not explain the losses seen: %+v", ck)
	}
	if s := ck.ServerReportedToClient; s == nil || *s != ck.ClientReportedToClient {
		t.Fatalf("server reported %v lost to clients, clients %d", s, ck.ClientReportedToClient)
	}
}

var (
	breakOnce sync.Once
	breakDir  string // removed by TestMain
	breakBin  string
	breakErr  error
)

// breakBuild builds this command with the tether_testbreak tag, whose
// library has the TETHER_TEST_BREAK_* switches (testbreak.go), once.
func breakBuild(t *testing.T) string {
	breakOnce.Do(func() {
		if breakDir, breakErr = os.MkdirTemp("", "tether-bench-break-"); breakErr != nil {
			return
		}
		breakBin = filepath.Join(breakDir, "tether-bench-break")
		build := exec.Command("go", "build", "-tags", "tether_testbreak", "-o", breakBin, ".")
		if out, err := build.CombinedOutput(); err != nil {
			breakErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if breakErr != nil {
		t.Fatal(breakErr)
	}
	return breakBin
}

// runBench runs the command bin with args and the environment env added,
// and returns its exit status and results.
func runBench(t *testing.T, bin string, env []string, args ...string) (int, *results, string) {
	out := filepath.Join(t.TempDir(), "out.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(append([]string{"run"}, args...), "-quiet", "-json", out)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("tether-bench: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("tether-bench exited with %d and no results: %v\n%s", code, err, stderr.String())
	}
	var res results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 1 || res.Runs[0].Check == nil {
		t.Fatalf("exit %d, runs %+v\n%s", code, res.Runs, stderr.String())
	}
	return code, &res, stderr.String()
}

// TestCheckerCatchesBrokenReplay builds this command with the
// tether_testbreak tag, runs a chaos scenario against its built-in server
// with replay turned off, and expects the checker to report the loss and
// the command to fail.
func TestCheckerCatchesBrokenReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command; skipped with -short")
	}
	bin := breakBuild(t)
	code, res, stderr := runBench(t, bin, []string{"TETHER_TEST_BREAK_REPLAY=1"}, "-targets", "tether", "-tether", "serve", "-scenarios", "chaos",
		"-chaos-n", "60", "-chaos-for", "8s", "-blackhole-every", "0", "-slow-every", "0", "-chaos-drain", "20s")
	ck := res.Runs[0].Check
	if code != 1 || res.Pass {
		t.Fatalf("tether-bench exited with %d (pass %v), want status 1 (loss found)\n%s", code, res.Pass, stderr)
	}
	if ck.Unexplained == 0 || ck.Fan.Lost+ck.Echo.Lost == 0 {
		t.Fatalf("with replay off the checker saw no unexplained loss: %+v", ck)
	}
	t.Logf("replay off: %d unexplained (fan %+v, echo %+v, up %+v)", ck.Unexplained, ck.Fan, ck.Echo, ck.Up)
}

// roomChaosArgs is chaos in which sessions expire while the room gets
// broadcasts: a 1 s grace window, and every 3 s the clients of a quarter
// of the shards lose their connections and cannot connect for 2.5 s.
var roomChaosArgs = []string{"-targets", "tether", "-tether", "serve", "-scenarios", "chaos", "-chaos-n", "60", "-chaos-for", "9s",
	"-chaos-grace", "1s", "-away-every", "3s", "-away-frac", "0.25", "-away-for", "2.5s", "-blackhole-every", "0", "-slow-every", "0"}

// TestCheckerCatchesBrokenRooms runs chaos in which sessions expire
// against the built-in server built with the tether_testbreak tag: with
// TETHER_TEST_BREAK_ROOMS=1, a client that lost its session is treated as
// new in its rooms (no recovery, nothing counted), and the checker must
// report the room messages it missed as unexplained and the command fail;
// without it (the real recovery), the same run must pass with every room
// message recovered.
func TestCheckerCatchesBrokenRooms(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command; skipped with -short")
	}
	bin := breakBuild(t)
	code, res, stderr := runBench(t, bin, []string{"TETHER_TEST_BREAK_ROOMS=1"}, roomChaosArgs...)
	ck := res.Runs[0].Check
	if code != 1 || res.Pass {
		t.Fatalf("tether-bench exited with %d (pass %v), want status 1 (room messages lost uncounted)\n%s", code, res.Pass, stderr)
	}
	if ck.Rooms == nil || ck.Rooms.Returns == 0 || ck.Rooms.Uncounted == 0 || ck.Unexplained < int64(ck.Rooms.Uncounted) {
		t.Fatalf("with room recovery off the checker saw no uncounted room message: %+v rooms %+v", ck, ck.Rooms)
	}
	t.Logf("room recovery off: %d unexplained, rooms %+v, notes %q", ck.Unexplained, *ck.Rooms, ck.Notes)

	code, res, stderr = runBench(t, bin, nil, roomChaosArgs...)
	ck = res.Runs[0].Check
	if code != 0 || !res.Pass {
		t.Fatalf("the real recovery: tether-bench exited with %d, failures %q\n%s", code, res.Failures, stderr)
	}
	if ck.SessionLost == 0 || ck.Rooms == nil || ck.Rooms.Returns == 0 || ck.Rooms.Recovered == 0 || ck.Rooms.missed() != 0 ||
		ck.RoomReturnsServer == nil || *ck.RoomReturnsServer < ck.Rooms.Returns || ck.RoomReturnsMismatched != 0 {
		t.Fatalf("the real recovery: %d sessions lost, rooms %+v, server returns %v, mismatched %d", ck.SessionLost, ck.Rooms, ck.RoomReturnsServer, ck.RoomReturnsMismatched)
	}
	t.Logf("room recovery on: %d sessions lost, rooms %+v", ck.SessionLost, *ck.Rooms)
}

// TestRoomsAcrossLostSessions: sessions expire while the room gets
// broadcasts, and the room keeps only 15 messages, so that a client away
// for 2.5 s gets some of what it missed back and is told exactly how many
// others are gone; the clients' counts must match the gaps and what the
// server application was told (OnRoomRecovery), return by return.
func TestRoomsAcrossLostSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("about 20 s; skipped with -short")
	}
	c := soakConfig(60, 9*time.Second)
	c.chaos.BlackholeEvery, c.chaos.SlowEvery = 0, 0
	c.chaos.AwayEvery, c.chaos.AwayFrac, c.chaos.AwayFor = 3*time.Second, 0.25, 2500*time.Millisecond
	c.quiet = !testing.Verbose()
	tg := inProcessTarget(t, serveOptions{Grace: time.Second, HeartbeatInterval: c.chaos.Heartbeat, HeartbeatTimeout: c.chaos.HeartbeatTimeout,
		Echo: true, RoomHistory: 15})
	r := &runner{cfg: c, logw: os.Stderr}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	res := r.run(ctx, tg, "chaos", 60, 1)
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	ck := res.Check
	t.Logf("%s", summaryLine(&res))
	if !ck.pass() {
		t.Fatalf("%d unexplained: rooms %+v, notes %q", ck.Unexplained, ck.Rooms, ck.Notes)
	}
	rt := ck.Rooms
	if ck.SessionLost == 0 || rt == nil || rt.Returns == 0 || rt.Recovered == 0 || rt.Lost == 0 {
		t.Fatalf("no session expired, or nothing was recovered, or history was never short: %d sessions lost, rooms %+v", ck.SessionLost, rt)
	}
	if s := ck.RoomReturnsServer; s == nil || *s < rt.Returns || ck.RoomReturnsMismatched != 0 {
		t.Fatalf("the server reported %v returns into rooms (%d mismatched), the clients saw %d", s, ck.RoomReturnsMismatched, rt.Returns)
	}
}

// TestFanoutBurstOnly: -fanout-msgs 0 runs the burst alone (it panicked
// once, reading the paced phase's results that were never made).
func TestFanoutBurstOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command; skipped with -short")
	}
	code, res, stderr := runBench(t, breakBuild(t), nil, "-targets", "tether", "-tether", "serve", "-scenarios", "fanout",
		"-fanout-members", "20", "-fanout-msgs", "0", "-fanout-burst-msgs", "50")
	f := res.Runs[0].Figures
	if code != 0 || f["burst_deliveries"] != 20*50 || f["burst_lost"] != 0 {
		t.Fatalf("exit %d, figures %v\n%s", code, f, stderr)
	}
	if _, ok := f["cpu_s_per_1m"]; ok {
		t.Fatalf("a paced figure without a paced phase: %v", f)
	}
}
