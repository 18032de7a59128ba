package standalone

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Admin sign-in (docs/API.md, "Admin page").
const (
	adminCookie = "tether_admin"
	// adminSessionTTL is how long a sign-in lasts.
	adminSessionTTL = 12 * time.Hour
	// maxAdminSessions sign-ins are kept at most; the oldest goes first.
	maxAdminSessions = 256
	// adminFailuresPerMinute wrong passwords are allowed per minute,
	// over all clients; beyond it sign-in answers 429 for the minute.
	adminFailuresPerMinute = 10
)

// adminAuth signs operators in with a password (-admin-password, else
// the API key) and keeps their sign-ins in memory: a cookie (HttpOnly,
// SameSite=Strict) names the sign-in, which holds the CSRF token that
// every POST must carry in X-CSRF-Token, with an Origin, if sent, of
// this host.
type adminAuth struct {
	open     bool // development mode without a credential: no password asked
	hash     [32]byte
	mu       sync.Mutex
	sessions map[string]*adminSession
	failures int
	window   time.Time
}

type adminSession struct {
	csrf    string
	expires time.Time
}

func newAdminAuth(password string, open bool) *adminAuth {
	return &adminAuth{open: open, hash: sha256.Sum256([]byte(password)), sessions: map[string]*adminSession{}}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// session returns the request's sign-in, or nil.
func (a *adminAuth) session(r *http.Request) *adminSession {
	c, err := r.Cookie(adminCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[c.Value]
	if s != nil && time.Now().After(s.expires) {
		delete(a.sessions, c.Value)
		return nil
	}
	return s
}

// signIn starts a sign-in and sets its cookie.
func (a *adminAuth) signIn(w http.ResponseWriter, r *http.Request) *adminSession {
	id := randomHex(32)
	s := &adminSession{csrf: randomHex(32), expires: time.Now().Add(adminSessionTTL)}
	a.mu.Lock()
	if len(a.sessions) >= maxAdminSessions {
		var oldest string
		for k, v := range a.sessions {
			if oldest == "" || v.expires.Before(a.sessions[oldest].expires) {
				oldest = k
			}
		}
		delete(a.sessions, oldest)
	}
	a.sessions[id] = s
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: adminCookie, Value: id, Path: "/admin", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: secureRequest(r), MaxAge: int(adminSessionTTL / time.Second),
	})
	return s
}

func (a *adminAuth) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(adminCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: adminCookie, Value: "", Path: "/admin", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secureRequest(r), MaxAge: -1})
}

// checkPassword compares in constant time; it reports false, limited,
// beyond adminFailuresPerMinute wrong ones.
func (a *adminAuth) checkPassword(pw string) (ok, limited bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if now.Sub(a.window) > time.Minute {
		a.window, a.failures = now, 0
	}
	if a.failures >= adminFailuresPerMinute {
		return false, true
	}
	h := sha256.Sum256([]byte(pw))
	if subtle.ConstantTimeCompare(h[:], a.hash[:]) == 1 {
		return true, false
	}
	a.failures++
	return false, false
}

// sameOrigin reports whether a state-changing request comes from a page
// of this server: its Origin (sent by browsers on every POST), if any,
// names this host, and Sec-Fetch-Site, if sent, is same-origin.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// checkCSRF is for POSTs of a signed-in page: same origin and the
// sign-in's token in X-CSRF-Token.
func checkCSRF(r *http.Request, s *adminSession) bool {
	tok := r.Header.Get("X-CSRF-Token")
	return sameOrigin(r) && tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.csrf)) == 1
}

func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
