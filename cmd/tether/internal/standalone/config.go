// Package standalone is the Tether server as a program: configuration,
// authentication, the HTTP API, webhooks, metrics, the demo page and a
// graceful restart. cmd/tether is its thin main.
package standalone

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// Config is the server's configuration after flags, environment and
// config file have been merged (in that order of precedence).
type Config struct {
	Addr       string
	ConfigFile string
	Demo       bool

	APIKey       string
	JWTSecret    string
	JWTPublicKey string // path to a PEM file
	JWTAudience  string
	JWTIssuer    string
	Anonymous    bool

	AllowedOrigins string

	WebhookURL         string
	WebhookSecret      string
	WebhookTimeout     time.Duration
	WebhookMaxInFlight int

	MaxMessageSize       int
	MaxSessions          int
	MaxSessionsPerUser   int
	MaxRoomsPerSession   int
	ReplayBufferBytes    int
	ReplayBufferMessages int
	RateLimit            float64
	RateBurst            int
	GraceWindow          time.Duration
	HeartbeatInterval    time.Duration
	HeartbeatTimeout     time.Duration
	RestartJitter        time.Duration
	ShutdownTimeout      time.Duration

	// Room streams.
	RoomHistoryMessages int // 0: keep none
	RoomHistoryBytes    int
	RoomHistoryAge      time.Duration
	RoomRecoveryLimit   int
	UserStreams         bool
	Readmit             string        // auto, claims, webhook or all
	Rooms               []RoomPattern // per room-name pattern

	LogFormat   string
	LogLevel    string
	LogSessions string // info, debug or off

	Admin         bool   // serve /admin
	AdminPassword string // "": the API key signs in

	RedisAddr     string // comma-separated; empty: the in-memory store
	RedisPassword string
	RedisPrefix   string
	NodeName      string
	NodeLiveness  time.Duration

	// Derived by Parse.
	Origins       []string
	ReadmitPolicy string            // -readmit resolved: claims, webhook or all
	Warnings      []string          // logged once the logger exists
	Sources       map[string]string // setting name → "flag", "env", "file" or "default"
}

// EnvPrefix starts every environment variable the server reads.
const EnvPrefix = "TETHER_"

// EnvName returns the environment variable of a setting:
// TETHER_<NAME_IN_UPPER_SNAKE_CASE>.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ConfigError is a configuration that cannot be used; it names the setting.
type ConfigError struct {
	Setting string // flag name
	Source  string // where the value came from
	Err     error
}

func (e *ConfigError) Error() string {
	if e.Source == "" {
		return fmt.Sprintf("invalid -%s: %v", e.Setting, e.Err)
	}
	return fmt.Sprintf("invalid -%s (from %s): %v", e.Setting, e.Source, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// flagSet declares every setting on a new FlagSet bound to c, with the
// defaults.
func (c *Config) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("tether", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}

	fs.StringVar(&c.Addr, "addr", ":8080", "listen address (host:port) of the HTTP server: WebSocket endpoint /ws, API /api/, /metrics, /admin, /healthz, /readyz, demo page /")
	fs.StringVar(&c.ConfigFile, "config", "", "JSON config file whose keys are these flag names, e.g. {\"max-sessions\": 1000}; flags and environment override it")
	fs.BoolVar(&c.Demo, "demo", true, "serve the demo chat page at / and the browser client at /dist/")

	fs.StringVar(&c.APIKey, "api-key", "", "key of the HTTP API, sent as \"Authorization: Bearer <key>\"; without it the API is disabled (generated in development mode)")
	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "HS256 secret that client JWTs are signed with")
	fs.StringVar(&c.JWTPublicKey, "jwt-public-key", "", "PEM file with the RSA (RS256), ECDSA (ES256/384/512) or Ed25519 (EdDSA) public key that client JWTs are signed with")
	fs.StringVar(&c.JWTAudience, "jwt-audience", "", "if set, client JWTs must have this aud")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", "", "if set, client JWTs must have this iss")
	fs.BoolVar(&c.Anonymous, "anonymous", false, "accept clients without a token, as user \"\" in the rooms named by ?room= (default lobby)")
	fs.StringVar(&c.AllowedOrigins, "allowed-origins", "", "comma-separated Origin host patterns (path.Match, e.g. *.example.com, or *) whose pages may connect; the server's own host is always allowed")

	fs.StringVar(&c.WebhookURL, "webhook-url", "", "backend URL that receives open, message, disconnect, resume and close events (and readmit, room_recovery and presence events); without it client messages are broadcast to the sender's rooms")
	fs.StringVar(&c.WebhookSecret, "webhook-secret", "", "HMAC-SHA256 key that signs webhook requests (Tether-Signature); required with -webhook-url")
	fs.DurationVar(&c.WebhookTimeout, "webhook-timeout", 5*time.Second, "timeout of one webhook request")
	fs.IntVar(&c.WebhookMaxInFlight, "webhook-max-in-flight", 64, "webhook requests in flight at most, over all sessions")

	c.MaxMessageSize = 64 << 10
	fs.Var(sizeVar{&c.MaxMessageSize}, "max-message-size", "largest message payload, both ways (bytes, or with KiB/MiB/GiB); a bigger client message ends the session with close 4413")
	fs.IntVar(&c.MaxSessions, "max-sessions", 100_000, "sessions held at most, connected or not; new clients beyond it are closed with 4004 (try again)")
	fs.IntVar(&c.MaxSessionsPerUser, "max-sessions-per-user", 100, "sessions of one user at most; beyond it a new session is refused with 4429")
	fs.IntVar(&c.MaxRoomsPerSession, "max-rooms-per-session", 100, "rooms one session may be in; beyond it a join fails (API 409 too_many_rooms, token 4403)")
	c.ReplayBufferBytes = 1 << 20
	fs.Var(sizeVar{&c.ReplayBufferBytes}, "replay-buffer-bytes", "bytes of unacknowledged server messages kept per session; beyond it the session ends with 4003 and the loss is reported")
	fs.IntVar(&c.ReplayBufferMessages, "replay-buffer-messages", 4096, "unacknowledged server messages kept per session; beyond it the session ends with 4003 and the loss is reported")
	fs.Float64Var(&c.RateLimit, "rate-limit", 100, "client messages per second per session; a faster client is disconnected with 4006 and resumes without loss; 0 means no limit")
	fs.IntVar(&c.RateBurst, "rate-burst", 0, "burst of client messages above -rate-limit; 0 means 2 × rate-limit")
	fs.DurationVar(&c.GraceWindow, "grace-window", 2*time.Minute, "how long a disconnected session waits for its client to resume")
	fs.DurationVar(&c.HeartbeatInterval, "heartbeat-interval", 15*time.Second, "time between server pings")
	fs.DurationVar(&c.HeartbeatTimeout, "heartbeat-timeout", 10*time.Second, "silence beyond the heartbeat interval after which a connection is dead (close 4002)")
	fs.DurationVar(&c.RestartJitter, "restart-jitter", 2*time.Second, "on shutdown, clients are told to reconnect after a random delay up to this")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM/SIGINT, time allowed before exiting: the first half to drain clients, the rest to deliver webhooks")

	fs.IntVar(&c.RoomHistoryMessages, "room-history-messages", 1000, "messages kept in each room's history, for members that lost their session and for GET /api/rooms/{room}/history; 0 keeps none (a returning member is still told exactly how many it missed)")
	c.RoomHistoryBytes = 1 << 20
	fs.Var(sizeVar{&c.RoomHistoryBytes}, "room-history-bytes", "payload bytes kept in each room's history (at least -max-message-size)")
	fs.DurationVar(&c.RoomHistoryAge, "room-history-age", 10*time.Minute, "how long a message stays in its room's history")
	fs.IntVar(&c.RoomRecoveryLimit, "room-recovery-limit", 1000, "room messages replayed per room to a client that returns after losing its session; older ones are reported as skipped (the history API still has them)")
	fs.BoolVar(&c.UserStreams, "user-streams", false, "give every authenticated user a stream of its own: POST /api/users/{user}/send to a user with no session stores the message for its next session (room history bounds) instead of 404")
	fs.StringVar(&c.Readmit, "readmit", readmitAuto, "rooms a client that lost its session rejoins besides those of its token (which it always rejoins): claims (none), webhook (the backend decides, room by room: readmit event), all (every room the client names: only when every room is public); auto means webhook with -webhook-url, else claims")
	fs.Var(roomsVar{&c.Rooms}, "rooms", "per room-name options, a JSON array (in the config file, the array itself): [{\"pattern\":\"chat.*\",\"history-messages\":5000,\"history-bytes\":\"4MiB\",\"history-age\":\"1h\",\"presence\":true}]; path.Match patterns, the first match wins; omitted bounds are the -room-history-* ones; presence sends join/leave events to members and presence webhooks")

	fs.StringVar(&c.RedisAddr, "redis-addr", "", "Redis address(es), host:port, comma-separated for Sentinel or Cluster; sessions then live in Redis, several servers share them and a client may resume on any; empty means the in-memory store (one process)")
	fs.StringVar(&c.RedisPassword, "redis-password", "", "Redis password")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "tether", "prefix of every Redis key and channel; servers that share sessions use the same one")
	fs.StringVar(&c.NodeName, "node-name", "", "this server's name among those sharing Redis; empty means a random one")
	fs.DurationVar(&c.NodeLiveness, "node-liveness", 5*time.Second, "a server that has not renewed its liveness in Redis for this long is dead: others take its sessions over")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.LogSessions, "log-sessions", "info", "level of the one-line log of each disconnect, resume, session end and failed resume (cause, offline time, replayed and lost counts): info, debug or off")
	fs.BoolVar(&c.Admin, "admin", true, "serve the operator's page at /admin (sign-in with -admin-password, else the API key; open without sign-in only in development mode with neither set)")
	fs.StringVar(&c.AdminPassword, "admin-password", "", "password of the admin page /admin; empty means the API key (-api-key) is the password, and without either the page is disabled (open in development mode)")
	return fs
}

// sizeVar is a byte count: an integer with an optional KiB, MiB or GiB
// suffix (K, M, G and B also accepted).
type sizeVar struct{ p *int }

func (v sizeVar) String() string {
	if v.p == nil {
		return ""
	}
	return formatSize(*v.p)
}

func (v sizeVar) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

func parseSize(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(t, "%d", &n); err != nil || fmt.Sprint(n) != t {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with KiB, MiB or GiB)", s)
	}
	if n < 0 || n > (1<<40)/int64(mult) {
		return 0, fmt.Errorf("size %q out of range", s)
	}
	return int(n) * mult, nil
}

func formatSize(n int) string {
	switch {
	case n != 0 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n != 0 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n != 0 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprint(n)
}

// Parse builds the configuration from command-line arguments, the
// environment (KEY=value strings, as os.Environ) and the config file named
// by -config or TETHER_CONFIG. Precedence: flags > environment > file >
// defaults. It returns flag.ErrHelp after writing the help to out when
// asked for it, and a *ConfigError naming the setting for a bad value.
func Parse(args, environ []string, out io.Writer) (*Config, error) {
	c := &Config{Sources: make(map[string]string)}
	fs := c.flagSet()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			Usage(out)
			return nil, flag.ErrHelp
		}
		// "invalid value "x" for flag -name: parse error"
		msg := err.Error()
		if q, rest, ok := strings.Cut(strings.TrimPrefix(msg, "invalid value "), " for flag -"); ok && strings.HasPrefix(msg, "invalid value ") {
			name, why, _ := strings.Cut(rest, ": ")
			if f := fs.Lookup(name); f != nil {
				return nil, &ConfigError{Setting: name, Source: "command line", Err: fmt.Errorf("%s: %s%s", q, why, wantType(f))}
			}
		}
		return nil, fmt.Errorf("%w (see tether --help)", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: settings are flags, e.g. -addr :8080 (see tether --help)", fs.Arg(0))
	}
	setByFlag := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setByFlag[f.Name] = true })

	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	known := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { known[EnvName(f.Name)] = true })
	for k := range env {
		if !known[k] && k != "TETHER_REQUIRE_ALL" {
			c.Warnings = append(c.Warnings, fmt.Sprintf("environment variable %s is not a tether setting; ignored", k))
		}
	}
	sort.Strings(c.Warnings)

	if !setByFlag["config"] {
		if v, ok := env[EnvName("config")]; ok {
			c.ConfigFile = v
			c.Sources["config"] = "env"
		}
	}
	file := map[string]string{}
	if c.ConfigFile != "" {
		var err error
		if file, err = readConfigFile(fs, c.ConfigFile); err != nil {
			return nil, err
		}
	}

	var firstErr error
	fs.VisitAll(func(f *flag.Flag) {
		if firstErr != nil || f.Name == "config" {
			return
		}
		name := f.Name
		src, val, from := "default", "", ""
		switch {
		case setByFlag[name]:
			src = "flag"
		case hasKey(env, EnvName(name)):
			src, val, from = "env", env[EnvName(name)], "environment variable "+EnvName(name)
		case hasKey(file, name):
			src, val, from = "file", file[name], fmt.Sprintf("key %q of %s", name, c.ConfigFile)
		}
		c.Sources[name] = src
		if from == "" {
			return
		}
		if err := fs.Set(name, val); err != nil {
			firstErr = &ConfigError{Setting: name, Source: from, Err: fmt.Errorf("%q: %w%s", val, err, wantType(f))}
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	if setByFlag["config"] {
		c.Sources["config"] = "flag"
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// wantType says what kind of value a flag takes, for error messages.
func wantType(f *flag.Flag) string {
	switch f.Value.(type) {
	case sizeVar, roomsVar:
		return ""
	}
	typ, _ := flag.UnquoteUsage(f)
	switch typ {
	case "":
		return " (want true or false)"
	case "int":
		return " (want an integer)"
	case "float":
		return " (want a number)"
	case "duration":
		return " (want a duration such as 30s or 2m)"
	}
	return ""
}

// readConfigFile reads a JSON object whose keys are flag names. Values may
// be strings, numbers, booleans, or (for lists) arrays of strings.
func readConfigFile(fs *flag.FlagSet, path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{Setting: "config", Err: err}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, &ConfigError{Setting: "config", Err: fmt.Errorf("%s is not a JSON object: %w", path, err)}
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		if k == "config" {
			return nil, &ConfigError{Setting: "config", Err: fmt.Errorf("%s: a config file cannot name another one", path)}
		}
		f := fs.Lookup(k)
		if f == nil {
			return nil, &ConfigError{Setting: "config", Err: fmt.Errorf("%s: unknown setting %q (keys are flag names, see tether --help)", path, k)}
		}
		if _, ok := f.Value.(roomsVar); ok {
			// An array of objects, kept as JSON text (a string holding
			// that text is accepted too).
			var str string
			if json.Unmarshal(v, &str) == nil {
				out[k] = str
			} else {
				out[k] = string(v)
			}
			continue
		}
		s, err := jsonScalar(v)
		if err != nil {
			return nil, &ConfigError{Setting: k, Source: fmt.Sprintf("key %q of %s", k, path), Err: err}
		}
		out[k] = s
	}
	return out, nil
}

func jsonScalar(v json.RawMessage) (string, error) {
	var x any
	d := json.NewDecoder(strings.NewReader(string(v)))
	d.UseNumber()
	if err := d.Decode(&x); err != nil {
		return "", err
	}
	switch t := x.(type) {
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	case bool:
		return fmt.Sprint(t), nil
	case []any:
		parts := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("%s: arrays must hold strings", v)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("%s: want a string, number, boolean or array of strings", v)
}

// Usage writes the help: every setting with its environment variable and
// default.
func Usage(out io.Writer) {
	c := &Config{}
	fs := c.flagSet()
	fmt.Fprint(out, `Usage: tether [flags]

Tether server: WebSocket sessions that survive dropped connections.
Endpoints: /ws (WebSocket), /api/ (HTTP API, see docs/API.md), /metrics,
/admin (the operator's page), /healthz (liveness), /readyz (readiness), the
browser client at /client/tether-<version>.js and /client/tether.js (CORS as
-allowed-origins), and the demo page at /.

Every setting is a flag, an environment variable TETHER_<FLAG_UPPER_SNAKE>,
or a key of the JSON file named by -config. Precedence:
flags > environment > config file > defaults.

With no -jwt-secret, -jwt-public-key or -anonymous the server runs in
DEVELOPMENT MODE: tokens for anyone at GET /demo/token, signed with a
development secret kept in $XDG_STATE_HOME/tether/dev-secret (by default
~/.local/state/tether/dev-secret; in Redis with -redis-addr), and a
generated API key printed in the log.

tether -version prints the version and the commit it was built from.

Exit codes: 0 after a clean shutdown, 1 if webhook events were given up
at shutdown (listed in the log) or the server failed, 2 for a bad setting.

Flags:
`)
	fs.VisitAll(func(f *flag.Flag) {
		typ, _ := flag.UnquoteUsage(f)
		switch f.Value.(type) {
		case sizeVar:
			typ = "size"
		case roomsVar:
			typ = "json"
		}
		if typ == "value" {
			typ = ""
		}
		fmt.Fprintf(out, "  -%s\n", strings.TrimSpace(f.Name+" "+typ))
		fmt.Fprintf(out, "\t%s\n", f.Usage)
		def := f.DefValue
		if def == "" {
			def = "none"
		}
		fmt.Fprintf(out, "\tenv %s, default %s\n", EnvName(f.Name), def)
	})
}
