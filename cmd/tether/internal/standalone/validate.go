package standalone

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path"
	"strings"
	"time"
)

// maxMessageSizeLimit bounds -max-message-size: one message is held in
// memory whole, on both sides.
const maxMessageSizeLimit = 64 << 20

// validate checks every setting and derives Origins and the JWT public
// key. The first problem is returned as a *ConfigError.
func (c *Config) validate() error {
	bad := func(name string, format string, args ...any) error {
		src := c.Sources[name]
		switch src {
		case "env":
			src = "environment variable " + EnvName(name)
		case "file":
			src = fmt.Sprintf("key %q of %s", name, c.ConfigFile)
		case "flag":
			src = "command line"
		}
		return &ConfigError{Setting: name, Source: src, Err: fmt.Errorf(format, args...)}
	}

	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return bad("addr", "%q is not host:port (e.g. :8080 or 127.0.0.1:8080): %v", c.Addr, err)
	}

	switch c.LogFormat {
	case "text", "json":
	default:
		return bad("log-format", "%q: want text or json", c.LogFormat)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return bad("log-level", "%q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogSessions {
	case "info", "debug", "off":
	default:
		return bad("log-sessions", "%q: want info, debug or off", c.LogSessions)
	}
	if c.RedisAddr != "" {
		if strings.ContainsAny(c.RedisPrefix, "{}") || c.RedisPrefix == "" {
			return bad("redis-prefix", "%q: must be non-empty and without { or }", c.RedisPrefix)
		}
		if c.NodeLiveness < 500*time.Millisecond {
			return bad("node-liveness", "%v: must be at least 500ms", c.NodeLiveness)
		}
		if c.NodeLiveness >= c.GraceWindow {
			return bad("node-liveness", "%v: must be shorter than -grace-window (%v)", c.NodeLiveness, c.GraceWindow)
		}
	}

	if c.AdminPassword != "" && len(c.AdminPassword) < 12 {
		c.Warnings = append(c.Warnings, "-admin-password is shorter than 12 characters: easy to guess")
	}
	if c.APIKey != "" && len(c.APIKey) < 16 {
		c.Warnings = append(c.Warnings, "-api-key is shorter than 16 characters: easy to guess")
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		c.Warnings = append(c.Warnings, "-jwt-secret is shorter than 32 bytes: weak for HS256")
	}
	if c.JWTPublicKey != "" {
		pem, err := os.ReadFile(c.JWTPublicKey)
		if err != nil {
			return bad("jwt-public-key", "%v", err)
		}
		if _, err := parsePublicKey(pem); err != nil {
			return bad("jwt-public-key", "%s: %v", c.JWTPublicKey, err)
		}
	}
	if c.JWTSecret == "" && c.JWTPublicKey == "" {
		if c.JWTAudience != "" {
			return bad("jwt-audience", "needs -jwt-secret or -jwt-public-key")
		}
		if c.JWTIssuer != "" {
			return bad("jwt-issuer", "needs -jwt-secret or -jwt-public-key")
		}
	}

	c.Origins = nil
	for _, p := range strings.Split(c.AllowedOrigins, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if strings.Contains(p, "://") {
			return bad("allowed-origins", "%q: give host patterns (example.com, *.example.com:8443), not URLs", p)
		}
		if _, err := path.Match(p, ""); err != nil {
			return bad("allowed-origins", "%q: %v", p, err)
		}
		c.Origins = append(c.Origins, p)
	}

	if c.WebhookURL != "" {
		u, err := url.Parse(c.WebhookURL)
		switch {
		case err != nil:
			return bad("webhook-url", "%v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			return bad("webhook-url", "%q: scheme must be http or https", c.WebhookURL)
		case u.Host == "":
			return bad("webhook-url", "%q: must be an absolute URL with a host", c.WebhookURL)
		}
		if c.WebhookSecret == "" {
			return bad("webhook-secret", "required with -webhook-url (requests are signed with it)")
		}
	} else if c.WebhookSecret != "" {
		c.Warnings = append(c.Warnings, "-webhook-secret is set without -webhook-url: no webhooks are sent")
	}
	if c.WebhookTimeout <= 0 {
		return bad("webhook-timeout", "%v: must be positive", c.WebhookTimeout)
	}
	if c.WebhookMaxInFlight < 1 {
		return bad("webhook-max-in-flight", "%d: must be at least 1", c.WebhookMaxInFlight)
	}

	for _, v := range []struct {
		name string
		n    int
	}{
		{"max-message-size", c.MaxMessageSize},
		{"max-sessions", c.MaxSessions},
		{"max-sessions-per-user", c.MaxSessionsPerUser},
		{"max-rooms-per-session", c.MaxRoomsPerSession},
		{"replay-buffer-bytes", c.ReplayBufferBytes},
		{"replay-buffer-messages", c.ReplayBufferMessages},
	} {
		if v.n < 1 {
			return bad(v.name, "%d: must be at least 1", v.n)
		}
	}
	if c.MaxMessageSize > maxMessageSizeLimit {
		return bad("max-message-size", "%s: at most %s", formatSize(c.MaxMessageSize), formatSize(maxMessageSizeLimit))
	}
	if c.ReplayBufferBytes < c.MaxMessageSize {
		return bad("replay-buffer-bytes", "%s: must be at least -max-message-size (%s), or one message would overflow it",
			formatSize(c.ReplayBufferBytes), formatSize(c.MaxMessageSize))
	}
	if math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) || c.RateLimit < 0 {
		return bad("rate-limit", "%v: must be 0 (no limit) or a positive number", c.RateLimit)
	}
	if c.RateBurst < 0 {
		return bad("rate-burst", "%d: must be 0 (2 × rate-limit) or positive", c.RateBurst)
	}
	if c.RateLimit == 0 && c.RateBurst > 0 {
		c.Warnings = append(c.Warnings, "-rate-burst is set but -rate-limit is 0 (no limit): ignored")
	}
	for _, v := range []struct {
		name string
		d    time.Duration
	}{
		{"grace-window", c.GraceWindow},
		{"heartbeat-interval", c.HeartbeatInterval},
		{"heartbeat-timeout", c.HeartbeatTimeout},
		{"restart-jitter", c.RestartJitter},
		{"shutdown-timeout", c.ShutdownTimeout},
	} {
		if v.d <= 0 {
			return bad(v.name, "%v: must be positive", v.d)
		}
	}
	return c.validateRooms(bad)
}

// DevMode reports whether no client authentication was configured: the
// server then issues tokens itself (see auth.go).
func (c *Config) DevMode() bool {
	return c.JWTSecret == "" && c.JWTPublicKey == "" && !c.Anonymous
}
