package standalone

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"
)

// Development mode: with no client authentication configured, the server
// signs guest tokens with a development secret and hands them out at
// GET /demo/token, so that the demo page works with no setup. The secret
// outlives the process (a restart must not turn every client's token
// into a 4401) and is shared by the servers of one Redis (a token from
// one node must be good on the others): it is kept in Redis with
// -redis-addr, else in the user's state directory (devSecret).
const (
	demoTokenTTL   = time.Hour
	guestCookie    = "tether_guest"
	guestCookieTTL = 7 * 24 * time.Hour
	tokenRate      = 1.0 / 3 // tokens per second per client address
	tokenBurst     = 20
)

type devMode struct {
	secret  []byte // signs guest JWTs
	limiter *ipLimiter
	now     func() time.Time
}

func newDevMode(secret []byte) *devMode {
	return &devMode{
		secret:  secret,
		limiter: newIPLimiter(tokenRate, tokenBurst),
		now:     time.Now,
	}
}

// devSecretBytes is the size of a development secret.
const devSecretBytes = 32

// devSecretFile is the development secret's file in the state directory.
const devSecretFile = "dev-secret"

// devSecretKey is the development secret's Redis key under the prefix.
func devSecretKey(prefix string) string { return prefix + ":dev-secret" }

// devSecret returns the development secret and where it is kept (for the
// log): in Redis under the prefix when rdb is set, so that every node
// sharing it signs and accepts the same guest tokens; otherwise in
// $XDG_STATE_HOME/tether/dev-secret (~/.local/state/tether/dev-secret),
// made on first use, mode 0600. When neither can be used the secret
// lives as long as the process, and where says so.
func devSecret(ctx context.Context, rdb redis.UniversalClient, prefix string) (secret []byte, where string, err error) {
	fresh := base64.RawURLEncoding.EncodeToString(randomBytes(devSecretBytes))
	if rdb != nil {
		key := devSecretKey(prefix)
		// The first node to start makes it; the others read it.
		if _, err := rdb.SetNX(ctx, key, fresh, 0).Result(); err != nil {
			return nil, "", fmt.Errorf("cannot keep the development secret in Redis: %w", err)
		}
		v, err := rdb.Get(ctx, key).Result()
		if err != nil {
			return nil, "", fmt.Errorf("cannot read the development secret from Redis: %w", err)
		}
		b, err := decodeDevSecret(v)
		if err != nil {
			return nil, "", fmt.Errorf("development secret in Redis key %s: %w (delete the key to make a new one)", key, err)
		}
		return b, "Redis key " + key, nil
	}
	dir, err := stateDir()
	if err != nil {
		return randomBytes(devSecretBytes), "nowhere (" + err.Error() + "): new at each start", nil
	}
	path := filepath.Join(dir, devSecretFile)
	b, err := readDevSecret(path, fresh)
	if err != nil {
		return randomBytes(devSecretBytes), "nowhere (" + err.Error() + "): new at each start", nil
	}
	return b, path, nil
}

// stateDir is where tether keeps state for the user: $XDG_STATE_HOME/tether,
// or ~/.local/state/tether (the XDG Base Directory default).
func stateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "tether"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "state", "tether"), nil
}

// readDevSecret reads the secret at path, or stores fresh there if there
// is none. Servers starting together agree: the file appears whole, and
// only once (a hard link to a complete temporary file).
func readDevSecret(path, fresh string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		s, err := decodeDevSecret(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w (delete it to make a new one)", path, err)
		}
		return s, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".dev-secret-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(fresh + "\n")
	if err := errors.Join(werr, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		// No hard links here: a rename, which another server starting at
		// this very moment might overwrite (then the second start wins).
		if err := os.Rename(tmp.Name(), path); err != nil {
			return nil, err
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeDevSecret(string(b))
}

func decodeDevSecret(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) < devSecretBytes {
		return nil, fmt.Errorf("not a development secret (%d base64url bytes)", devSecretBytes)
	}
	return b, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomString(n int) string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(n))
}

type demoToken struct {
	Token     string    `json:"token"`
	User      string    `json:"user"`
	Rooms     []string  `json:"rooms"`
	ExpiresAt time.Time `json:"expires_at"`
}

// serveToken issues a guest JWT (sub "guest-<random>", rooms ["lobby"],
// valid one hour). A browser keeps its guest ID in a cookie, so that the
// token fetched before each reconnect names the same user and the
// session resumes, even from another tab.
func (d *devMode) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
		return
	}
	if wait, ok := d.limiter.allow(clientIP(r), d.now()); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many token requests from this address; retry later")
		return
	}
	guest := d.guest(w, r)
	now := d.now()
	exp := now.Add(demoTokenTTL)
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject: guest, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
		},
		Rooms: []string{defaultRoom},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(d.secret)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "cannot sign a token")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, demoToken{Token: tok, User: guest, Rooms: c.Rooms, ExpiresAt: exp.UTC().Truncate(time.Second)})
}

// guest returns the guest ID of the request's cookie, or makes one and
// sets the cookie.
func (d *devMode) guest(w http.ResponseWriter, r *http.Request) string {
	if g := guestFrom(r); g != "" {
		return g
	}
	g := "guest-" + randomString(9)
	http.SetCookie(w, &http.Cookie{
		Name: guestCookie, Value: g, Path: "/",
		MaxAge: int(guestCookieTTL / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil,
	})
	return g
}

// guestFrom returns the guest ID in the request's cookie, if well formed.
// It is not signed: it names a development-mode guest, which anyone can
// become (GET /demo/token).
func guestFrom(r *http.Request) string {
	ck, err := r.Cookie(guestCookie)
	if err != nil || !strings.HasPrefix(ck.Value, "guest-") || len(ck.Value) != len("guest-")+12 {
		return ""
	}
	for _, c := range ck.Value[len("guest-"):] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return ""
		}
	}
	return ck.Value
}

// page wraps the demo page: it gives the browser its guest cookie, with
// which the page's WebSocket is accepted (the demo page connects without
// a token).
func (d *devMode) page(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" || r.URL.Path == "/index.html" {
			d.guest(w, r)
		}
		h.ServeHTTP(w, r)
	})
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func retryAfter(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return itoa(s)
}

// ipLimiter is a token bucket per client address.
type ipLimiter struct {
	rate  float64
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the limiter's memory; beyond it full buckets are
// forgotten (a full bucket is what a new one would be).
const maxBuckets = 10_000

func newIPLimiter(rate float64, burst int) *ipLimiter {
	return &ipLimiter{rate: rate, burst: float64(burst), buckets: make(map[string]*bucket)}
}

// allow takes a token for key, or says how long until one is there.
func (l *ipLimiter) allow(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
	}
	b.tokens--
	return 0, true
}

func (l *ipLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
