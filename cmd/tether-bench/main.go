// Command tether-bench runs load and chaos scenarios against a Tether
// server and its peers (a raw gobwas/ws server, Centrifugo, Socket.IO),
// checks Tether's guarantees end to end, and measures memory, fan-out
// throughput, latency and CPU, and reconnect storms. See BENCHMARKS.md.
//
//	tether-bench run [flags]                  run scenarios (the default command)
//	tether-bench soak [flags]                 a minute of chaos against Tether alone, zero loss required
//	tether-bench chart -in out.json -out bench/chart.png
//	tether-bench serve [-addr 127.0.0.1:8080] the built-in Tether server
//	tether-bench rawserve [-addr …]           the raw gobwas/ws peer
//
// Clients run in worker processes (this program re-executed, or
// bench/socketio/worker.mjs for Socket.IO), at most 9,500 each, each
// dialling from its own source address 127.0.0.x; chaos is a
// fault-injecting proxy process (internal/faultproxy) per worker between
// its clients and the server. Every message is numbered by its sender and
// checked by its receiver; see checker.go and proto.go.
//
// All traffic stays on 127.0.0.0/8, and every phase is bounded in time.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	os.Exit(mainRole(os.Args[1:]))
}

// mainRole dispatches on the role a re-executed copy plays, then on the
// subcommand.
func mainRole(args []string) int {
	switch os.Getenv(roleEnv) {
	case "worker":
		return runWorker(args)
	case "proxy":
		return runProxy(args)
	case "serve":
		return runServe(args)
	case "rawserve":
		return runRawServe(args)
	}
	sub := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "run":
		return runMain(args)
	case "soak":
		return runMain(soakArgs(args))
	case "chart":
		return chartMain(args)
	case "serve":
		return runServe(args)
	case "rawserve":
		return runRawServe(args)
	case "help":
		usage()
		return 0
	}
	fmt.Fprintf(os.Stderr, "tether-bench: unknown command %q\n", sub)
	usage()
	return 2
}

// soakArgs are the run flags of "soak", the short chaos run CI makes
// (TestSoak): a few hundred sessions for about a minute, random cuts,
// blackholes and slow links, zero loss required. Flags given after
// "soak" override them (the last occurrence of a flag wins).
func soakArgs(args []string) []string {
	return append([]string{"-targets", "tether", "-scenarios", "chaos", "-chaos-n", "300", "-chaos-for", "40s"}, args...)
}

func usage() {
	fmt.Fprint(os.Stderr, `Usage:
  tether-bench [run] [flags]     run scenarios; "tether-bench run -h" lists the flags
  tether-bench soak [flags]      the CI soak: chaos, 300 Tether sessions, 40 s (flags as run's)
  tether-bench chart -in out.json -out chart.png
  tether-bench serve [-addr 127.0.0.1:0] [-heartbeat-interval d] ...
  tether-bench rawserve [-addr 127.0.0.1:0]
`)
}

// config is what "run" does.
type config struct {
	targets   []string
	scenarios []string
	repeat    int

	idleN   []int
	idleFor time.Duration

	fanMembers []int
	fanMsgs    int
	fanSize    int
	fanRate    float64

	fanBurstMsgs int

	stormN    []int
	stormMsgs int

	chaosN []int
	chaos  chaosConfig

	per     int
	shards  int
	conc    int
	timeout time.Duration
	quiet   bool

	tether       string
	baseline     string
	tetherAPIKey string
	tetherPID    int
	centrifugo   string
	node         string
	socketioDir  string
	jsonOut      string
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// defaultConfig is the soak preset as a base; runMain's flags override it.
func defaultChaos() chaosConfig {
	return chaosConfig{
		N: 300, Dur: 45 * time.Second, Rate: 2, Size: 100, FanRate: 10,
		CutEvery: 3 * time.Second, CutFrac: 0.25,
		BlackholeEvery: 15 * time.Second, BlackholeFrac: 0.125, BlackholeFor: 3 * time.Second,
		SlowEvery: 10 * time.Second, SlowFrac: 0.125, SlowDelay: 150 * time.Millisecond, SlowFor: 4 * time.Second,
		AwayFrac: 0.125, AwayFor: 3 * time.Second,
		Heartbeat: 2 * time.Second, HeartbeatTimeout: 2 * time.Second, Drain: 90 * time.Second,
	}
}

func parseRunFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var c config
	c.chaos = defaultChaos()
	targets := fs.String("targets", "tether,raw,centrifugo,socketio", "servers to run the scenarios against: tether, raw, centrifugo, socketio")
	scenarios := fs.String("scenarios", "idle,fanout,storm", "scenarios: idle, fanout, storm, chaos")
	fs.IntVar(&c.repeat, "repeat", 1, "runs of each scenario per target, interleaved across targets")
	idleN := fs.String("idle-n", "5000,19000", "idle: sessions held")
	fs.DurationVar(&c.idleFor, "idle-for", 10*time.Second, "idle: how long sessions idle before the measurement")
	fanMembers := fs.String("fanout-members", "2000", "fanout: room members")
	fs.IntVar(&c.fanMsgs, "fanout-msgs", 2000, "fanout: messages of the paced phase (CPU per delivery, latency)")
	fs.Float64Var(&c.fanRate, "fanout-rate", 10, "fanout: messages per second of the paced phase (0: as fast as the server takes them)")
	fs.IntVar(&c.fanBurstMsgs, "fanout-burst-msgs", 1000, "fanout: messages of the burst, published as fast as the server takes them (deliveries/s); 0: no burst")
	fs.IntVar(&c.fanSize, "fanout-size", 100, "fanout: bytes per message (at least 64)")
	stormN := fs.String("storm-n", "1000,10000", "storm: sessions cut at once")
	fs.IntVar(&c.stormMsgs, "storm-msgs", 10, "storm: messages broadcast before the cut, and again during it")
	chaosN := fs.String("chaos-n", "300", "chaos: sessions")
	fs.DurationVar(&c.chaos.Dur, "chaos-for", c.chaos.Dur, "chaos: duration of traffic and faults")
	fs.Float64Var(&c.chaos.Rate, "chaos-rate", c.chaos.Rate, "chaos: messages per second each client sends (Tether)")
	fs.Float64Var(&c.chaos.FanRate, "chaos-fan-rate", c.chaos.FanRate, "chaos: messages per second broadcast to the room")
	fs.DurationVar(&c.chaos.CutEvery, "cut-every", c.chaos.CutEvery, "chaos: cut connections this often (0: never)")
	fs.Float64Var(&c.chaos.CutFrac, "cut-frac", c.chaos.CutFrac, "chaos: fraction of the proxy shards cut each time")
	fs.DurationVar(&c.chaos.BlackholeEvery, "blackhole-every", c.chaos.BlackholeEvery, "chaos: blackhole connections this often (0: never)")
	fs.Float64Var(&c.chaos.BlackholeFrac, "blackhole-frac", c.chaos.BlackholeFrac, "chaos: fraction of the shards blackholed")
	fs.DurationVar(&c.chaos.BlackholeFor, "blackhole-for", c.chaos.BlackholeFor, "chaos: new connections of blackholed shards fail for this long")
	fs.DurationVar(&c.chaos.SlowEvery, "slow-every", c.chaos.SlowEvery, "chaos: slow connections down this often (0: never)")
	fs.Float64Var(&c.chaos.SlowFrac, "slow-frac", c.chaos.SlowFrac, "chaos: fraction of the shards slowed down")
	fs.DurationVar(&c.chaos.SlowDelay, "slow-delay", c.chaos.SlowDelay, "chaos: delay added to every chunk of a slowed connection")
	fs.DurationVar(&c.chaos.SlowFor, "slow-for", c.chaos.SlowFor, "chaos: how long the slowdown lasts")
	fs.DurationVar(&c.chaos.AwayEvery, "away-every", c.chaos.AwayEvery, "chaos: send clients away this often (0: never): their connections cut and new ones refused for -away-for")
	fs.Float64Var(&c.chaos.AwayFrac, "away-frac", c.chaos.AwayFrac, "chaos: fraction of the shards sent away")
	fs.DurationVar(&c.chaos.AwayFor, "away-for", c.chaos.AwayFor, "chaos: how long clients stay away (longer than -chaos-grace: their sessions expire)")
	fs.DurationVar(&c.chaos.Grace, "chaos-grace", c.chaos.Grace, "chaos: the Tether server's session grace window (0: its default, 2m)")
	fs.IntVar(&c.chaos.RoomHistory, "chaos-room-history", c.chaos.RoomHistory, "chaos: messages the Tether server keeps per room (0: its default, 1,000; -1: none)")
	fs.DurationVar(&c.chaos.Drain, "chaos-drain", c.chaos.Drain, "chaos: the longest wait, after the faults, for every client to have everything (or be told why not)")
	fs.DurationVar(&c.chaos.Heartbeat, "chaos-heartbeat", c.chaos.Heartbeat, "chaos: server heartbeat interval (finds blackholed links)")
	fs.DurationVar(&c.chaos.HeartbeatTimeout, "chaos-heartbeat-timeout", c.chaos.HeartbeatTimeout, "chaos: server heartbeat timeout")
	fs.IntVar(&c.per, "per", maxPerWorker, "most clients per worker process")
	fs.IntVar(&c.shards, "shards", 16, "proxies per worker under chaos: faults hit a random fraction of them")
	fs.IntVar(&c.conc, "conc", 64, "concurrent dials per worker")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Hour, "bound on the whole run")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress lines")
	fs.StringVar(&c.tether, "tether", "auto", `the Tether server: "serve" (built-in, library), "bin:<path>" (cmd/tether binary, started per scenario), "spawn:<command>" (see -spawn), "url:ws://127.0.0.1:P/ws" (already running; with -tether-pid and -tether-api-key), or "auto" (build ./cmd/tether if it exists here, else serve)`)
	fs.StringVar(&c.baseline, "baseline", "", `a second Tether server, as -tether says it ("bin:<path>", ...), run as target "baseline" beside "tether" (add it to -targets, e.g. -targets baseline,tether): the same scenarios in the same invocation, interleaved, to compare two builds`)
	spawn := fs.String("spawn", "", `shorthand for -tether "spawn:<command>": start the Tether server with this shell command per scenario; {addr}, {apikey}, {webhook} and {secret} are replaced (e.g. "./bin/tether -addr {addr} -anonymous -api-key {apikey} -rate-limit 0")`)
	fs.StringVar(&c.tetherAPIKey, "tether-api-key", "", "API key of a running Tether server (url:)")
	fs.IntVar(&c.tetherPID, "tether-pid", 0, "PID of a running Tether server (url:), for memory and CPU")
	fs.IntVar(&c.tetherPID, "server-pid", 0, "the same as -tether-pid")
	fs.StringVar(&c.centrifugo, "centrifugo", "bench/.bin/centrifugo", "Centrifugo v6.9.1 binary (GOBIN=bench/.bin go install github.com/centrifugal/centrifugo/v6@v6.9.1)")
	fs.StringVar(&c.node, "node", "node", "Node.js for the Socket.IO peer")
	fs.StringVar(&c.socketioDir, "socketio-dir", "bench/socketio", "directory of server.mjs and worker.mjs, with node_modules installed")
	fs.StringVar(&c.jsonOut, "json", "", "write every figure to this JSON file")
	ackDelay := fs.Duration("client-ack-delay", 0, "Tether clients' AckDelay (0: the client's default, 10ms)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if *ackDelay > 0 {
		// The workers, started later, inherit it.
		if err := os.Setenv(ackDelayEnv, ackDelay.String()); err != nil {
			return c, err
		}
	}
	c.targets, c.scenarios = list(*targets), list(*scenarios)
	if *spawn != "" {
		c.tether = "spawn:" + *spawn
	}
	var err error
	var errs []error
	if c.idleN, err = intList(*idleN); err != nil {
		errs = append(errs, err)
	}
	if c.fanMembers, err = intList(*fanMembers); err != nil {
		errs = append(errs, err)
	}
	if c.stormN, err = intList(*stormN); err != nil {
		errs = append(errs, err)
	}
	if c.chaosN, err = intList(*chaosN); err != nil {
		errs = append(errs, err)
	}
	if c.repeat < 1 || c.repeat > 20 {
		errs = append(errs, errors.New("-repeat must be 1 to 20"))
	}
	return c, errors.Join(errs...)
}

func (c config) params(scenario string) []int {
	switch scenario {
	case "idle":
		return c.idleN
	case "fanout":
		return c.fanMembers
	case "storm":
		return c.stormN
	case "chaos":
		return c.chaosN
	}
	return nil
}

// makeTargets builds the targets asked for.
func makeTargets(c config, tmp string) ([]*target, error) {
	var out []*target
	for _, name := range c.targets {
		switch name {
		case "tether":
			t, err := tetherTarget(c, tmp)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		case "baseline":
			if c.baseline == "" {
				return nil, errors.New(`target "baseline" needs -baseline`)
			}
			bc := c
			bc.tether = c.baseline
			t, err := tetherTarget(bc, tmp)
			if err != nil {
				return nil, err
			}
			t.name, t.label = "baseline", "baseline: "+t.label+" at "+strings.TrimPrefix(c.baseline, "bin:")
			out = append(out, t)
		case "raw":
			out = append(out, newRawTarget())
		case "centrifugo":
			bin, err := filepath.Abs(c.centrifugo)
			if err != nil {
				return nil, err
			}
			if _, err := os.Stat(bin); err != nil {
				return nil, fmt.Errorf("centrifugo: %w (install it: GOBIN=$PWD/bench/.bin go install github.com/centrifugal/centrifugo/v6@v6.9.1)", err)
			}
			out = append(out, newCentrifugoTarget(bin, tmp))
		case "socketio":
			dir, err := filepath.Abs(c.socketioDir)
			if err != nil {
				return nil, err
			}
			if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io")); err != nil {
				return nil, fmt.Errorf("socketio: %w (run: cd %s && npm ci)", err, c.socketioDir)
			}
			out = append(out, newSocketIOTarget(c.node, dir))
		default:
			return nil, fmt.Errorf("unknown target %q", name)
		}
	}
	return out, nil
}

func tetherTarget(c config, tmp string) (*target, error) {
	spec := c.tether
	switch {
	case spec == "serve":
		return newServeTarget(), nil
	case strings.HasPrefix(spec, "bin:"):
		bin, err := filepath.Abs(strings.TrimPrefix(spec, "bin:"))
		if err != nil {
			return nil, err
		}
		return newTetherBinTarget(bin), nil
	case strings.HasPrefix(spec, "spawn:"):
		return newSpawnTarget(strings.TrimPrefix(spec, "spawn:")), nil
	case strings.HasPrefix(spec, "url:"):
		return newRemoteTetherTarget(strings.TrimPrefix(spec, "url:"), c.tetherAPIKey, c.tetherPID)
	case spec == "auto":
		if _, err := os.Stat("cmd/tether/main.go"); err == nil {
			bin := filepath.Join(tmp, "tether")
			cmd := exec.Command("go", "build", "-o", bin, "./cmd/tether")
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err == nil {
				return newTetherBinTarget(bin), nil
			}
			fmt.Fprintln(os.Stderr, "tether-bench: cannot build ./cmd/tether; using the built-in server")
		}
		return newServeTarget(), nil
	}
	return nil, fmt.Errorf("bad -tether %q", spec)
}

func runMain(args []string) int {
	c, err := parseRunFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "tether-bench:", err)
		return 2
	}
	res, err := runAll(context.Background(), c, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-bench:", err)
		return 2
	}
	names := make([]string, 0, len(res.Targets))
	for _, n := range c.targets {
		if _, ok := res.Targets[n]; ok {
			names = append(names, n)
		}
	}
	fmt.Println()
	writeTable(os.Stdout, res.Summary, names)
	if c.jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(c.jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "tether-bench:", err)
			return 2
		}
	}
	if !res.Pass {
		fmt.Fprintln(os.Stderr, "\ntether-bench: FAIL")
		for _, f := range res.Failures {
			fmt.Fprintln(os.Stderr, "  ", f)
		}
		return 1
	}
	return 0
}

// runAll runs every scenario against every target, -repeat times, with
// the targets interleaved so that a busy moment of the shared machine
// does not fall on one of them only.
func runAll(ctx context.Context, c config, logw io.Writer) (*results, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tmp, err := os.MkdirTemp("", "tether-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	// Interrupted: every child dies with us (Pdeathsig); clean up and go.
	sig := signalled()
	go func() {
		<-sig
		os.RemoveAll(tmp)
		fmt.Fprintln(logw, "tether-bench: interrupted")
		os.Exit(130)
	}()
	targets, err := makeTargets(c, tmp)
	if err != nil {
		return nil, err
	}
	node := ""
	if len(c.targets) > 0 && strings.Contains(strings.Join(c.targets, ","), "socketio") {
		node = c.node
	}
	res := &results{Command: os.Args, Started: time.Now(), Machine: thisMachine(node), Targets: map[string]string{}, Pass: true}
	for _, t := range targets {
		res.Targets[t.name] = t.label
	}
	r := &runner{cfg: c, logw: logw}
	for _, sc := range c.scenarios {
		if _, ok := figureSpecs[sc]; !ok {
			return nil, fmt.Errorf("unknown scenario %q", sc)
		}
	}
	for _, sc := range c.scenarios {
		for _, p := range c.params(sc) {
			for rep := 1; rep <= c.repeat; rep++ {
				for _, t := range targets {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					if t.kind == "raw" && (sc == "storm" || sc == "chaos") {
						continue // no session layer: nothing to resume or check
					}
					out := r.run(ctx, t, sc, p, rep)
					res.Runs = append(res.Runs, out)
					if t.peer {
						continue
					}
					switch {
					case out.Error != "":
						res.Pass = false
						res.Failures = append(res.Failures, fmt.Sprintf("%s %d run %d: %s", sc, p, rep, out.Error))
					case out.Check != nil && out.Check.Unexplained == 0 && !out.Check.settled():
						res.Pass = false
						res.Failures = append(res.Failures, fmt.Sprintf("%s %d run %d: did not settle, nothing unexplained: %d client messages and %d echoes still held by their clients, %d room messages not yet at clients away, at the end",
							sc, p, rep, out.Check.UpHeld, out.Check.EchoHeld, out.Check.roomAway()))
					case out.Check != nil && !out.Check.pass():
						res.Pass = false
						res.Failures = append(res.Failures, fmt.Sprintf("%s %d run %d: %d unexplained (lost %d, dup %d, reordered %d down; up %+v)",
							sc, p, rep, out.Check.Unexplained, out.Check.Fan.Lost+out.Check.Echo.Lost,
							out.Check.Fan.Dup+out.Check.Echo.Dup, out.Check.Fan.Reorder+out.Check.Echo.Reorder, out.Check.Up))
					}
				}
			}
		}
	}
	res.Seconds = time.Since(res.Started).Seconds()
	res.Summary = summarize(res.Runs)
	return res, nil
}
