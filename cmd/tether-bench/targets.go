package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tether-ws/tether"
)

// needs says what a scenario asks of a server.
type needs struct {
	upstream          bool          // clients send, and the server should check and echo
	heartbeatInterval time.Duration // 0: the server's default
	heartbeatTimeout  time.Duration
	grace             time.Duration // session grace window; 0: the server's default
	roomHistory       int           // messages kept per room; 0: the server's default
}

// api says how a target is published to and asked about its rooms.
type api int

const (
	apiBench      api = iota // POST /bench/publish, GET /bench/room (built-in servers, Socket.IO script)
	apiTether                // the standalone server's HTTP API, /metrics
	apiCentrifugo            // Centrifugo's HTTP API
)

// target is a server under test.
type target struct {
	name  string // label in reports: tether, raw, centrifugo, socketio
	kind  string // worker client kind
	path  string // WebSocket path and query the clients use
	api   api
	peer  bool   // a peer: its losses are reported, not fatal
	label string // what exactly runs, for the report
	// noUpstream: the server cannot be told to check and echo client
	// messages (a running server, or a command without {webhook}).
	noUpstream bool
	alwaysHook bool // the spawn command names {webhook}
	// roomReports: the server sends a room_recovery webhook for every
	// return into a room (a standalone binary whose -help mentions it).
	roomReports bool

	// spawn builds the server command for a scenario; it returns the
	// address to poll when the command does not print "listening <addr>".
	// Nil means a server that is already running at addr (pid may be 0).
	spawn func(need needs, hook string) (*exec.Cmd, string, error)

	apiKey  string
	addr    string
	pidHint int

	srv  *server
	hook *webhookReceiver
	http *http.Client
}

// pid returns the server's process ID, or 0 if unknown.
func (t *target) pid() int {
	if t.srv != nil {
		return t.srv.pid()
	}
	return t.pidHint
}

// clientURL returns the URL a client uses to reach the server through
// hostport (the server itself, or a proxy in front of it).
func (t *target) clientURL(hostport string) string {
	scheme := "ws"
	if t.kind == "socketio" {
		scheme = "http"
	}
	return scheme + "://" + hostport + t.path
}

// start starts a fresh server for a scenario (a remote one is reused).
func (t *target) start(ctx context.Context, need needs) error {
	t.http = &http.Client{Timeout: 5 * time.Minute}
	if t.spawn == nil {
		if t.addr == "" {
			return fmt.Errorf("%s: no server address", t.name)
		}
		return nil
	}
	hook := ""
	if (need.upstream && t.api == apiTether && !t.noUpstream) || t.alwaysHook {
		var err error
		if t.hook, err = startWebhookReceiver(); err != nil {
			return err
		}
		hook = t.hook.url
	}
	cmd, addr, err := t.spawn(need, hook)
	if err != nil {
		return err
	}
	if t.srv, err = startServer(ctx, t.name+" server", cmd, addr); err != nil {
		return err
	}
	t.addr = t.srv.addr
	return nil
}

func (t *target) stop() {
	if t.srv != nil {
		t.srv.stop()
		t.srv = nil
	}
	if t.hook != nil {
		t.hook.close()
		t.hook = nil
	}
}

func (t *target) post(ctx context.Context, path string, body any, hdr map[string]string, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+t.addr+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return t.do(req, out)
}

func (t *target) get(ctx context.Context, path string, hdr map[string]string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.addr+path, nil)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return t.do(req, out)
}

func (t *target) do(req *http.Request, out any) error {
	resp, err := t.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", req.Method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// publish broadcasts req's numbered messages to the room, in order: one
// HTTP request per message, each answered once the server has queued the
// message for every member, at req.Rate (0: the next as soon as the last
// is answered). Every target is published to the same way, so that the
// spacing of messages (which decides how much a server can batch) is the
// same for all.
func (t *target) publish(ctx context.Context, req publishRequest) (publishResult, error) {
	var res publishResult
	switch t.api {
	case apiBench:
		err := pace(ctx, req, func(seq uint64, _ []byte) error {
			one := req
			one.From, one.N, one.Rate = seq, 1, 0
			var out publishResult
			err := t.post(ctx, "/bench/publish", one, nil, &out)
			if err == nil && out.Error != "" {
				err = errors.New(out.Error)
			}
			res.Published += out.Published
			res.Deliveries += out.Deliveries
			res.Last = max(res.Last, out.Last)
			return err
		})
		return res, err
	case apiTether:
		auth := map[string]string{"Authorization": "Bearer " + t.apiKey}
		err := pace(ctx, req, func(_ uint64, p []byte) error {
			var out struct {
				Queued int    `json:"queued"`
				Offset uint64 `json:"offset"` // servers with room streams
			}
			err := t.post(ctx, "/api/rooms/"+req.Room+"/broadcast", map[string]string{"type": "text", "text": string(p)}, auth, &out)
			if err == nil {
				res.Published++
				res.Last = max(res.Last, out.Offset)
			}
			res.Deliveries += int64(out.Queued)
			return err
		})
		return res, err
	case apiCentrifugo:
		auth := map[string]string{"X-API-Key": t.apiKey}
		err := pace(ctx, req, func(_ uint64, p []byte) error {
			var out struct {
				Error *struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			err := t.post(ctx, "/api/publish", map[string]any{"channel": centrifugoChannel, "data": string(p)}, auth, &out)
			if err == nil && out.Error != nil {
				err = fmt.Errorf("centrifugo publish: %d %s", out.Error.Code, out.Error.Message)
			}
			res.Published++
			return err
		})
		return res, err
	}
	return res, errors.New("unknown api")
}

// roomSize returns how many sessions are in the room, or -1 if the
// server cannot tell (then a subscription acknowledged is a member).
func (t *target) roomSize(ctx context.Context, room string) (int, error) {
	switch t.api {
	case apiBench:
		var out struct {
			Members int `json:"members"`
		}
		err := t.get(ctx, "/bench/room?room="+room, nil, &out)
		return out.Members, err
	case apiTether:
		var out struct {
			Members []json.RawMessage `json:"members"`
			Size    *int              `json:"size"`
		}
		err := t.get(ctx, "/api/rooms/"+room, map[string]string{"Authorization": "Bearer " + t.apiKey}, &out)
		if out.Size != nil {
			return *out.Size, err
		}
		return len(out.Members), err
	}
	return -1, nil
}

// upReport returns what the server side saw of the clients' messages, or
// nil if this target cannot tell.
func (t *target) upReport(ctx context.Context) (*upReport, error) {
	switch {
	case t.hook != nil:
		r := t.hook.up.report()
		r.RoomReports = r.RoomReports || t.roomReports
		return &r, nil
	case t.api == apiBench && t.kind == "tether":
		var r upReport
		if err := t.get(ctx, "/bench/up", nil, &r); err != nil {
			return nil, err
		}
		return &r, nil
	}
	return nil, nil
}

// lossCounters scrapes the standalone server's lost-message counters.
func (t *target) lossCounters(ctx context.Context) (toClient, fromClient float64, ok bool) {
	if t.api != apiTether {
		return 0, 0, false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.addr+"/metrics", nil)
	if err != nil {
		return 0, 0, false
	}
	resp, err := t.http.Do(req)
	if err != nil {
		return 0, 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, found := strings.CutPrefix(line, "tether_lost_messages_total{")
		if !found {
			continue
		}
		labels, val, _ := strings.Cut(rest, "} ")
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch {
		case strings.Contains(labels, `direction="to_client"`):
			toClient, ok = v, true
		case strings.Contains(labels, `direction="from_client"`):
			fromClient, ok = v, true
		}
	}
	return toClient, fromClient, ok
}

// --- target constructors ---------------------------------------------------

func randomKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// serveArgs are the built-in server's flags for a scenario.
func serveArgs(need needs) []string {
	args := []string{"-addr", "127.0.0.1:0", "-exit-on-eof", "-max-sessions", "200000"}
	if need.heartbeatInterval > 0 {
		args = append(args, "-heartbeat-interval", need.heartbeatInterval.String(), "-heartbeat-timeout", need.heartbeatTimeout.String())
	}
	if need.grace > 0 {
		args = append(args, "-grace-window", need.grace.String())
	}
	if need.roomHistory != 0 {
		args = append(args, "-room-history", strconv.Itoa(need.roomHistory))
	}
	return args
}

// newServeTarget is the built-in Tether server (tether-bench serve).
func newServeTarget() *target {
	return &target{
		name: "tether", kind: "tether", path: "/ws?room=bench", api: apiBench,
		label: "tether-bench serve (library, in-memory store, default options)",
		spawn: func(need needs, _ string) (*exec.Cmd, string, error) {
			cmd, err := selfCommand("serve", serveArgs(need)...)
			return cmd, "", err
		},
	}
}

// newTetherBinTarget is the standalone server, cmd/tether, at bin.
func newTetherBinTarget(bin string) *target {
	t := &target{
		name: "tether", kind: "tether", path: "/ws?room=bench", api: apiTether, apiKey: randomKey(),
		label: "cmd/tether (standalone, in-memory store, anonymous, rate limit off)",
	}
	// -help goes to stderr, with status 0 or 2 (flag.ExitOnError).
	if help, _ := exec.Command(bin, "-help").CombinedOutput(); bytes.Contains(help, []byte("room_recovery")) {
		t.roomReports = true
	}
	t.spawn = func(need needs, hook string) (*exec.Cmd, string, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, "", err
		}
		args := []string{"-addr", addr, "-anonymous", "-demo=false", "-api-key", t.apiKey,
			"-rate-limit", "0", "-log-level", "error", "-max-sessions", "200000"}
		if need.heartbeatInterval > 0 {
			args = append(args, "-heartbeat-interval", need.heartbeatInterval.String(), "-heartbeat-timeout", need.heartbeatTimeout.String())
		}
		if need.grace > 0 {
			args = append(args, "-grace-window", need.grace.String())
		}
		if need.roomHistory != 0 {
			// A binary with room streams; -1 keeps none.
			args = append(args, "-room-history-messages", strconv.Itoa(max(0, need.roomHistory)))
		}
		if hook != "" {
			args = append(args, "-webhook-url", hook, "-webhook-secret", randomKey(), "-webhook-max-in-flight", "256")
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = os.Environ()
		return cmd, addr, nil
	}
	return t
}

// newRemoteTetherTarget is a Tether server started by someone else.
func newRemoteTetherTarget(rawURL, apiKey string, pid int) (*target, error) {
	if err := checkLoopbackURL(rawURL); err != nil {
		return nil, err
	}
	hostport, path, ok := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(rawURL, "ws://"), "http://"), "/")
	if !ok {
		path = "ws"
	}
	t := &target{name: "tether", kind: "tether", path: "/" + path, api: apiTether, apiKey: apiKey,
		addr: hostport, pidHint: pid, label: "Tether server at " + rawURL, noUpstream: true}
	if !strings.Contains(path, "room=") {
		if strings.Contains(path, "?") {
			t.path += "&room=bench"
		} else {
			t.path += "?room=bench"
		}
	}
	// tether-bench serve answers /bench/room: it publishes, checks and
	// echoes by itself.
	hc := &http.Client{Timeout: 5 * time.Second}
	if resp, err := hc.Get("http://" + hostport + "/bench/room"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.api, t.noUpstream, t.label = apiBench, false, "tether-bench serve at "+rawURL
		}
	}
	return t, nil
}

// newSpawnTarget is a Tether server started with a shell command in
// which {addr} is replaced by a free loopback host:port, {apikey} by the
// API key to require, and {webhook} and {secret} by the webhook receiver
// that checks client messages (without {webhook}, the chaos scenario
// sends nothing upstream to this server). Its API must be the standalone
// server's.
func newSpawnTarget(command string) *target {
	t := &target{name: "tether", kind: "tether", path: "/ws?room=bench", api: apiTether, apiKey: randomKey(),
		label: "Tether server started with: " + command, noUpstream: !strings.Contains(command, "{webhook}")}
	t.alwaysHook = !t.noUpstream
	t.spawn = func(need needs, hook string) (*exec.Cmd, string, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, "", err
		}
		c := strings.NewReplacer("{addr}", addr, "{apikey}", t.apiKey, "{webhook}", hook, "{secret}", randomKey()).Replace(command)
		return exec.Command("sh", "-c", "exec "+c), addr, nil
	}
	return t
}

// newRawTarget is the raw gobwas/ws peer (tether-bench rawserve).
func newRawTarget() *target {
	return &target{
		name: "raw", kind: "raw", path: "/ws", api: apiBench, peer: true,
		label: "gobwas/ws, goroutine per connection, no session layer (tether-bench rawserve)",
		spawn: func(needs, string) (*exec.Cmd, string, error) {
			cmd, err := selfCommand("rawserve", "-addr", "127.0.0.1:0", "-exit-on-eof")
			return cmd, "", err
		},
	}
}

const centrifugoChannel = "bench:room"

// newCentrifugoTarget is Centrifugo at bin with a generated config:
// history and recovery on for namespace "bench", anonymous insecure
// clients, the HTTP API with a key.
func newCentrifugoTarget(bin, dir string) *target {
	t := &target{
		name: "centrifugo", kind: "centrifugo", path: "/connection/websocket", api: apiCentrifugo,
		apiKey: randomKey(), peer: true,
		label: "Centrifugo v6.9.1, memory engine, JSON protocol, namespace with history_size 1000, history_ttl 300s, force_recovery",
	}
	t.spawn = func(need needs, _ string) (*exec.Cmd, string, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, "", err
		}
		_, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		client := map[string]any{"insecure": true, "allow_anonymous_connect_without_token": true, "allowed_origins": []string{"*"}}
		if need.heartbeatInterval > 0 {
			// Centrifugo wants the pong timeout below the ping interval.
			client["ping_interval"] = need.heartbeatInterval.String()
			client["pong_timeout"] = min(need.heartbeatTimeout, need.heartbeatInterval/2).String()
		}
		cfg := map[string]any{
			"http_server": map[string]any{"address": "127.0.0.1", "port": p},
			"log":         map[string]any{"level": "error"},
			"usage_stats": map[string]any{"disabled": true},
			"client":      client,
			"http_api":    map[string]any{"key": t.apiKey},
			"channel": map[string]any{"namespaces": []map[string]any{{
				"name": "bench", "history_size": 1000, "history_ttl": "300s",
				"force_recovery": true, "force_positioning": true,
				"allow_subscribe_for_anonymous": true, "allow_subscribe_for_client": true,
			}}},
		}
		b, _ := json.MarshalIndent(cfg, "", "  ")
		file := filepath.Join(dir, "centrifugo.json")
		if err := os.WriteFile(file, b, 0o600); err != nil {
			return nil, "", err
		}
		cmd := exec.Command(bin, "--config", file)
		cmd.Dir = dir
		return cmd, addr, nil
	}
	return t
}

// newSocketIOTarget is bench/socketio/server.mjs under node.
func newSocketIOTarget(node, dir string) *target {
	return &target{
		name: "socketio", kind: "socketio", path: "/?room=bench", api: apiBench, peer: true,
		label: "Socket.IO 4.8.4 on Node " + nodeVersion(node) + ", WebSocket only, connectionStateRecovery 2 min",
		spawn: func(need needs, _ string) (*exec.Cmd, string, error) {
			args := []string{filepath.Join(dir, "server.mjs"), "--port", "0"}
			if need.heartbeatInterval > 0 {
				args = append(args, "--ping-interval", strconv.FormatInt(need.heartbeatInterval.Milliseconds(), 10),
					"--ping-timeout", strconv.FormatInt(need.heartbeatTimeout.Milliseconds(), 10))
			}
			return exec.Command(node, args...), "", nil
		},
	}
}

func nodeVersion(node string) string {
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// --- the webhook receiver: the server side of the checker for cmd/tether --

// webhookReceiver takes the standalone server's webhooks: it checks each
// client message (deduplicating retries by idempotency key), echoes it
// in its reply, and counts the losses "open" events report.
type webhookReceiver struct {
	url string
	up  *upChecker
	hs  *http.Server

	mu   sync.Mutex
	seen map[string]bool
}

func startWebhookReceiver() (*webhookReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	wr := &webhookReceiver{url: "http://" + ln.Addr().String() + "/hook", up: newUpChecker(), seen: make(map[string]bool)}
	wr.hs = &http.Server{Handler: http.HandlerFunc(wr.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = wr.hs.Serve(ln) }()
	return wr, nil
}

func (wr *webhookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	var ev struct {
		Type    string `json:"type"`
		ID      string `json:"id"`
		Message *struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"message"`
		Counts   map[string]int64 `json:"counts"`
		Session  string           `json:"session"`
		Room     *string          `json:"room"`
		Recovery *struct {
			Readmitted bool   `json:"readmitted"`
			Recovered  int    `json:"recovered"`
			Skipped    int    `json:"skipped"`
			Lost       *int64 `json:"lost"` // null: unknown
		} `json:"recovery"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	wr.mu.Lock()
	retry := wr.seen[ev.ID]
	wr.seen[ev.ID] = true
	wr.mu.Unlock()
	switch ev.Type {
	case "open":
		if c := ev.Counts; c != nil && !retry {
			wr.up.lost(&tether.Loss{ToClient: c["lost_to_client"], FromClient: c["lost_from_client"]})
		}
	case "room_recovery":
		// What a client that lost its session got back of a room.
		if ev.Room != nil && ev.Recovery != nil && !retry {
			r := tether.RoomRecovery{Room: *ev.Room, Readmitted: ev.Recovery.Readmitted, Recovered: ev.Recovery.Recovered,
				Skipped: ev.Recovery.Skipped, Lost: -1}
			if ev.Recovery.Lost != nil {
				r.Lost = *ev.Recovery.Lost
			}
			wr.up.roomReturn(ev.Session, r)
		}
	case "message":
		if ev.Message == nil {
			break
		}
		if !retry {
			wr.up.see([]byte(ev.Message.Text))
		}
		writeJSONResponse(w, map[string]any{"messages": []map[string]string{{"type": "text", "text": ev.Message.Text}}})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (wr *webhookReceiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = wr.hs.Shutdown(ctx)
}
