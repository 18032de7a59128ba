package standalone

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Development mode: with no client authentication configured, the server
// generates an ephemeral HS256 secret and hands out guest tokens at
// GET /demo/token, so that the demo page works with no setup.
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

// devSecretBytes is the size of a development secret.
const devSecretBytes = 32

func newDevMode(secret []byte) *devMode {
	return &devMode{
		secret:  secret,
		limiter: newIPLimiter(tokenRate, tokenBurst),
		now:     time.Now,
	}
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
// become (GET /demo/token), and it must survive a restart of the server,
// whose development secret is new each time.
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
