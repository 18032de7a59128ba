package standalone

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/internal/webhook"
)

// App is one standalone server: a tether.Server with its hooks, the HTTP
// API, webhooks, metrics and the demo page, behind one http.Handler.
type App struct {
	cfg      *Config
	log      *slog.Logger
	srv      *tether.Server
	hooks    *webhook.Dispatcher // nil without -webhook-url
	metrics  *metrics
	dev      *devMode // nil unless development mode
	apiKey   string
	draining atomic.Bool
	handler  http.Handler
	mux      *routeMux // handler, with the routes it serves (the API's are in api.mux)
	api      *api
	redis    *redisBackend // nil with the in-memory store
	nodes    *nodeBoard    // the admin page's per-server counts in Redis; nil without
	// adminStop ends the admin page's live streams at shutdown.
	adminStop chan struct{}
	// stopMessages makes awaited message webhooks give up (shutdown).
	stopMessages context.CancelFunc
}

// ErrLosses is what Serve and Run return after a shutdown that gave up
// webhook events (each is logged, and listed in one line at the end):
// the backend never heard of them. cmd/tether then exits with code 1.
var ErrLosses = errors.New("shut down with losses: webhook events given up (listed in the log)")

// NewLogger returns the logger -log-format and -log-level ask for.
func NewLogger(cfg *Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// New builds the server. assets holds dist/, demo/ and package.json (nil:
// the embedded ones).
func New(cfg *Config, log *slog.Logger, assets fs.FS) (*App, error) {
	a := &App{cfg: cfg, log: log, apiKey: cfg.APIKey, adminStop: make(chan struct{})}
	log.Info("tether: config", cfg.Redacted()...)
	for _, w := range cfg.Warnings {
		log.Warn("tether: config: " + w)
	}
	if cfg.RedisAddr != "" {
		st, err := openRedis(cfg, log)
		if err != nil {
			return nil, err
		}
		a.redis = st
	}
	fail := func(err error) (*App, error) {
		if a.redis != nil {
			a.redis.close()
		}
		return nil, err
	}
	if cfg.DevMode() {
		var rdb redis.UniversalClient
		if a.redis != nil {
			rdb = a.redis.rdb
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		secret, where, err := devSecret(ctx, rdb, cfg.RedisPrefix)
		cancel()
		if err != nil {
			return fail(&ConfigError{Setting: "redis-addr", Err: err})
		}
		a.dev = newDevMode(secret)
		log.Warn("tether: DEVELOPMENT MODE: no -jwt-secret, -jwt-public-key or -anonymous; "+
			"clients authenticate with tokens that GET /demo/token hands to anyone, signed with the development secret kept in "+where+
			" (for development only: it survives restarts and is shared by the servers of one Redis; delete it to void every guest token). "+
			"Configure authentication before exposing this server.", "dev_secret", where)
		if a.apiKey == "" {
			a.apiKey = randomString(24)
			log.Warn("tether: DEVELOPMENT MODE: generated an API key for this run; use -api-key to set one", "api_key", a.apiKey)
		}
	} else if a.apiKey == "" {
		log.Warn("tether: no -api-key: the HTTP API is disabled")
	}
	var guestKey []byte
	if a.dev != nil {
		guestKey = a.dev.secret
	}
	auth, err := newAuthenticator(cfg, guestKey)
	if err != nil {
		return fail(err)
	}

	var srvPtr atomic.Pointer[tether.Server]
	a.metrics = newMetrics(srvPtr.Load, func() *webhook.Dispatcher { return a.hooks })
	sessions := newSessionTable()
	rec := newRecorder(func(id string) bool { return srvPtr.Load().Session(id) != nil })
	h := &hooks{srv: srvPtr.Load, m: a.metrics, rec: rec, slog: newSessionLog(log, cfg.LogSessions), sessions: sessions, log: log,
		rooms: roomHooks{policy: cfg.ReadmitPolicy, readmitTimeout: 2 * cfg.WebhookTimeout}}
	h.stop, a.stopMessages = context.WithCancel(context.Background())
	if cfg.WebhookURL != "" {
		d, err := webhook.New(webhook.Config{
			URL: cfg.WebhookURL, Secret: []byte(cfg.WebhookSecret),
			Timeout: cfg.WebhookTimeout, MaxInFlight: cfg.WebhookMaxInFlight,
			Logger: log, OnAttempt: a.metrics.onAttempt,
		})
		if err != nil {
			return fail(&ConfigError{Setting: "webhook-url", Err: err})
		}
		a.hooks, h.d = d, d
	}
	var store tether.Store
	if a.redis != nil {
		store = a.redis.store
		h.epoch = randomString(6) + "."
	}
	a.srv = tether.NewServer(h.options(&tether.Options{
		Store:              store,
		GraceWindow:        cfg.GraceWindow,
		HeartbeatInterval:  cfg.HeartbeatInterval,
		HeartbeatTimeout:   cfg.HeartbeatTimeout,
		MaxMessageSize:     cfg.MaxMessageSize,
		MaxReplayMessages:  cfg.ReplayBufferMessages,
		MaxReplayBytes:     cfg.ReplayBufferBytes,
		MaxSessions:        cfg.MaxSessions,
		MaxSessionsPerUser: cfg.MaxSessionsPerUser,
		MaxRoomsPerSession: cfg.MaxRoomsPerSession,
		RateLimit:          cfg.RateLimit,
		RateBurst:          cfg.RateBurst,
		RestartJitter:      cfg.RestartJitter,
		RoomHistory:        cfg.RoomHistory(),
		Rooms:              cfg.RoomOptions(),
		RoomRecoveryLimit:  cfg.RoomRecoveryLimit,
		UserStreams:        cfg.UserStreams,
		OriginPatterns:     cfg.Origins,
		Logger:             slog.New(demoteLifecycle{log.Handler()}),
		Authenticate:       auth.authenticate,
	}))
	srvPtr.Store(a.srv)

	mux := newRouteMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) { a.srv.ServeHTTP(w, withIdentity(r)) })
	apiH := newAPI(a.srv, a.apiKey, cfg, a.metrics, log, a.draining.Load)
	mux.Handle("/api/", apiH)
	mux.Handle("/api", apiH)
	mux.Handle("/api/openapi.json", methods{http.MethodGet: serveOpenAPI})
	mux.Handle("/metrics", methods{http.MethodGet: a.metrics.handler().ServeHTTP})
	mux.HandleFunc("/healthz", a.healthz)
	mux.HandleFunc("/readyz", a.readyz)
	a.adminRoutes(mux, rec)
	if a.dev != nil {
		mux.HandleFunc("/demo/token", a.dev.serveToken)
	} else {
		mux.HandleFunc("/demo/token", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "not_found", "/demo/token exists only in development mode (no client authentication configured)")
		})
	}
	if ch, err := newClientHandler(assets, cfg.Origins); err != nil {
		mux.Handle(clientPrefix, clientUnavailable(err, log))
	} else {
		mux.Handle(clientPrefix, ch)
		log.Info("tether: browser client", "path", ch.Path(), "also", clientPrefix+"tether.js")
	}
	if cfg.Demo {
		page := staticHandler(assets)
		if a.dev != nil {
			page = a.dev.page(page)
		}
		mux.Handle("/", page)
	}
	a.handler, a.mux, a.api = mux, mux, apiH
	return a, nil
}

// Handler returns the server's HTTP handler.
func (a *App) Handler() http.Handler { return a.handler }

// Server returns the tether server.
func (a *App) Server() *tether.Server { return a.srv }

// healthz is liveness: 200 as long as the process serves HTTP, draining
// included (a liveness probe that failed during a drain would have the
// process killed before its clients are drained).
func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	status := "ok"
	if a.draining.Load() {
		status = "draining"
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": status, "sessions": a.srv.Len()})
}

// readyz is readiness: 503 from the first moment of a shutdown, so that a
// load balancer sends no new client here while the clients are drained.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if a.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining", "sessions": a.srv.Len()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "sessions": a.srv.Len()})
}

// Serve serves on ln until ctx ends, then shuts down gracefully within
// -shutdown-timeout (see shutdown). It returns nil after a clean
// shutdown, ErrLosses after one that gave up webhook events.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	a.log.Info("tether: listening", "addr", ln.Addr().String(), "mode", a.mode(),
		"webhook", a.cfg.WebhookURL != "", "demo", a.cfg.Demo)
	select {
	case err := <-errc:
		_ = a.shutdown(hs)
		return err
	case <-ctx.Done():
	}
	return a.shutdown(hs)
}

func (a *App) mode() string {
	switch {
	case a.dev != nil:
		return "development"
	case a.cfg.JWTSecret != "" || a.cfg.JWTPublicKey != "":
		if a.cfg.Anonymous {
			return "jwt+anonymous"
		}
		return "jwt"
	}
	return "anonymous"
}

// The shutdown budget (-shutdown-timeout, T) is shared out so that
// webhooks are never left without time by a client:
//
//   - at once: /readyz answers 503, the API refuses changes (503
//     shutting_down), and every client is told to go (the drain). The
//     HTTP server keeps serving: a client arriving now is upgraded and
//     told to come back later (close 4001), as PROTOCOL.md §2.1 says.
//   - T/4: a client message still waiting for the backend (an awaited
//     message webhook, retried while the backend fails) is given up: its
//     session ends with 4005 and the client keeps the message.
//   - T/2: the drain's deadline. A client that ignored it is cut then
//     (costing only itself: the others were done as soon as they were);
//     its session ends. The HTTP server closes.
//   - T: every session event queued for the backend has been delivered,
//     or what was not is given up, listed in the log, and the process
//     exits non-zero (ErrLosses).
func (a *App) shutdown(hs *http.Server) error {
	start := time.Now()
	budget := a.cfg.ShutdownTimeout
	a.draining.Store(true)
	close(a.adminStop)
	a.log.Info("tether: shutting down: draining clients", "sessions", a.srv.Len(), "timeout", budget,
		"messages_by", budget/4, "drain_by", budget/2, "webhooks_by", budget)
	stopMessages := time.AfterFunc(budget/4, a.stopMessages)
	defer stopMessages.Stop()
	dctx, dcancel := context.WithDeadline(context.Background(), start.Add(budget/2))
	defer dcancel()
	if err := a.srv.Shutdown(dctx); err != nil && !errors.Is(err, tether.ErrServerClosed) {
		a.log.Warn("tether: drain incomplete: clients that ignored it were cut, their sessions ended", "err", err)
	} else {
		a.log.Info("tether: clients drained", "took", time.Since(start).Round(time.Millisecond))
	}
	a.stopMessages() // every hook has returned: nothing is waiting any more
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(budget))
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Stops accepting, then waits for API calls in progress.
		// WebSocket connections are hijacked: the tether server had them.
		if err := hs.Shutdown(ctx); err != nil {
			_ = hs.Close()
		}
	}()
	var lost []webhook.Lost
	if a.hooks != nil {
		var ce *webhook.CloseError
		if err := a.hooks.Close(ctx); errors.As(err, &ce) {
			lost = ce.Lost
		} else if err != nil {
			a.log.Error("tether: webhooks not all delivered", "err", err)
		}
	}
	wg.Wait()
	if a.nodes != nil {
		a.nodes.close()
	}
	if a.redis != nil {
		a.redis.close()
	}
	took := time.Since(start).Round(time.Millisecond)
	if len(lost) > 0 {
		// Exactly what the backend will never hear of, by session.
		bySession := map[string][]string{}
		ids := make([]string, len(lost))
		for i, l := range lost {
			bySession[l.Session] = append(bySession[l.Session], l.Type)
			ids[i] = l.ID
		}
		a.log.Error("tether: shut down, with losses: webhook events given up", "took", took,
			"given_up", len(lost), "events", ids, "sessions", bySession)
		return ErrLosses
	}
	a.log.Info("tether: shut down", "took", took)
	return nil
}

// Run builds the server from cfg, listens on -addr and serves until ctx
// ends (cmd/tether cancels it on SIGTERM or SIGINT).
func Run(ctx context.Context, cfg *Config, logw io.Writer) error {
	log := NewLogger(cfg, logw)
	a, err := New(cfg, log, nil)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if a.hooks != nil {
			_ = a.hooks.Close(context.Background())
		}
		if a.nodes != nil {
			a.nodes.close()
		}
		if a.redis != nil {
			a.redis.close()
		}
		return &ConfigError{Setting: "addr", Err: err}
	}
	return a.Serve(ctx, ln)
}

// Redacted returns the settings for the start-up log, secrets hidden.
func (c *Config) Redacted() []any {
	secret := func(s string) string {
		if s == "" {
			return ""
		}
		return "<redacted>"
	}
	return []any{
		"addr", c.Addr, "config", c.ConfigFile, "demo", c.Demo,
		"api_key", secret(c.APIKey), "jwt_secret", secret(c.JWTSecret), "jwt_public_key", c.JWTPublicKey,
		"jwt_audience", c.JWTAudience, "jwt_issuer", c.JWTIssuer, "anonymous", c.Anonymous,
		"allowed_origins", strings.Join(c.Origins, ","),
		"webhook_url", c.WebhookURL, "webhook_secret", secret(c.WebhookSecret),
		"webhook_timeout", c.WebhookTimeout.String(), "webhook_max_in_flight", c.WebhookMaxInFlight,
		"max_message_size", c.MaxMessageSize, "max_sessions", c.MaxSessions,
		"max_sessions_per_user", c.MaxSessionsPerUser, "max_rooms_per_session", c.MaxRoomsPerSession,
		"replay_buffer_bytes", c.ReplayBufferBytes, "replay_buffer_messages", c.ReplayBufferMessages,
		"rate_limit", c.RateLimit, "rate_burst", c.RateBurst,
		"grace_window", c.GraceWindow.String(), "heartbeat_interval", c.HeartbeatInterval.String(),
		"heartbeat_timeout", c.HeartbeatTimeout.String(), "restart_jitter", c.RestartJitter.String(),
		"shutdown_timeout", c.ShutdownTimeout.String(),
		"room_history_messages", c.RoomHistoryMessages, "room_history_bytes", c.RoomHistoryBytes,
		"room_history_age", c.RoomHistoryAge.String(), "room_recovery_limit", c.RoomRecoveryLimit,
		"user_streams", c.UserStreams, "readmit", c.ReadmitPolicy, "rooms", roomsVar{&c.Rooms}.String(),
		"log_format", c.LogFormat, "log_level", c.LogLevel, "log_sessions", c.LogSessions,
		"admin", c.Admin, "admin_password", secret(c.AdminPassword),
		"redis_addr", c.RedisAddr, "redis_password", secret(c.RedisPassword), "redis_prefix", c.RedisPrefix,
		"node_name", c.NodeName, "node_liveness", c.NodeLiveness.String(),
	}
}
