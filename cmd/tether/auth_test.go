package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

func writePublicKey(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "jwt.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestJWT(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		method jwt.SigningMethod
		key    any
	}{
		{"HS256", []string{"-jwt-secret", testSecret}, jwt.SigningMethodHS256, []byte(testSecret)},
		{"RS256", []string{"-jwt-public-key", writePublicKey(t, &rsaKey.PublicKey)}, jwt.SigningMethodRS256, rsaKey},
		{"ES256", []string{"-jwt-public-key", writePublicKey(t, &ecKey.PublicKey)}, jwt.SigningMethodES256, ecKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := start(t, procOpts{args: append(tc.args, "-api-key", "test-api-key-0123456789")})
			p.apiKey = "test-api-key-0123456789"

			// A valid token: user from sub, rooms from the claim.
			tok := token(t, tc.method, tc.key, "alice", []string{"red", "blue"}, time.Hour)
			c, _ := dial(t, p.wsURL(), tok)
			var s map[string]any
			waitUntil(t, "rooms joined", func() bool {
				_, s = p.call("GET", "/api/sessions/"+c.SessionID(), nil)
				return len(s["rooms"].([]any)) == 2
			})
			if s["user"] != "alice" {
				t.Fatalf("session = %v", s)
			}
			// Also from the token query parameter.
			c2, _ := dial(t, p.wsURL()+"?token="+url.QueryEscape(tok), "")
			if _, s := p.call("GET", "/api/sessions/"+c2.SessionID(), nil); s["user"] != "alice" {
				t.Fatalf("session = %v", s)
			}

			// Refusals: 4401 for a bad or missing token.
			for name, bad := range map[string]string{
				"expired":   token(t, tc.method, tc.key, "alice", nil, -time.Hour),
				"wrong key": token(t, jwt.SigningMethodHS256, []byte("another secret, 32 bytes long!!!"), "alice", nil, time.Hour),
				"no sub":    token(t, tc.method, tc.key, "", nil, time.Hour),
				"garbage":   "not.a.jwt",
				"none":      "",
			} {
				err := dialErr(t, p.wsURL(), (&rec{}).options(bad))
				if code := tether.CloseStatus(err); code != tether.CloseUnauthorized {
					t.Errorf("%s token: code %d (%v), want 4401", name, code, err)
				}
			}
			err := dialErr(t, p.wsURL(), (&rec{}).options(token(t, tc.method, tc.key, "alice", nil, -time.Hour)))
			if !strings.Contains(err.Error(), "token expired") {
				t.Errorf("expired: %v", err)
			}
			// Not before.
			nbf := jwt.MapClaims{"sub": "alice", "nbf": time.Now().Add(time.Hour).Unix()}
			early, _ := jwt.NewWithClaims(tc.method, nbf).SignedString(tc.key)
			if code := tether.CloseStatus(dialErr(t, p.wsURL(), (&rec{}).options(early))); code != tether.CloseUnauthorized {
				t.Errorf("nbf in the future: code %d", code)
			}
		})
	}
}

// swapConn rewrites one token into another in what the client writes, so
// a test can make a client present another user's token on its resume.
type swapConn struct {
	net.Conn
	from, to *string
	mu       *sync.Mutex
}

func (c swapConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	from, to := *c.from, *c.to
	c.mu.Unlock()
	if to != "" && bytes.Contains(p, []byte(from)) {
		if _, err := c.Conn.Write(bytes.ReplaceAll(p, []byte(from), []byte(to))); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// TestResumeByAnotherUserRefused: the token is checked again on resume and
// a session cannot be taken over by another user (4403).
func TestResumeByAnotherUserRefused(t *testing.T) {
	t.Parallel()
	p := start(t, procOpts{args: []string{"-jwt-secret", testSecret, "-api-key", "test-api-key-0123456789"}})
	p.apiKey = "test-api-key-0123456789"
	alice, mallory := hs(t, "alice"), hs(t, "mallory")
	var mu sync.Mutex
	to := ""
	r := &rec{}
	o := r.options(alice)
	o.NetDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return swapConn{Conn: c, from: &alice, to: &to, mu: &mu}, nil
	}
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, p.wsURL(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close(ctx); <-c.Done() }()
	id := c.SessionID()

	// A resume with alice's token again works.
	c.ForceReconnect()
	waitUntil(t, "resume", func() bool { return len(eventsOf[client.Resumed](r)) == 1 })

	mu.Lock()
	to = mallory
	mu.Unlock()
	c.ForceReconnect()
	waitUntil(t, "refusal", func() bool { return len(eventsOf[client.Failed](r)) == 1 })
	if code := tether.CloseStatus(eventsOf[client.Failed](r)[0].Err); code != tether.CloseForbidden {
		t.Fatalf("failed with %v, want 4403", eventsOf[client.Failed](r)[0].Err)
	}
	if _, s := p.call("GET", "/api/sessions/"+id, nil); s["user"] != "alice" || s["state"] != "disconnected" {
		t.Fatalf("alice's session = %v", s)
	}
}

func TestAnonymousOnlyWhenEnabled(t *testing.T) {
	t.Parallel()
	t.Run("enabled", func(t *testing.T) {
		t.Parallel()
		p := start(t, procOpts{args: []string{"-anonymous", "-api-key", "test-api-key-0123456789"}})
		p.apiKey = "test-api-key-0123456789"
		c1, _ := dial(t, p.wsURL(), "")
		c2, _ := dial(t, p.wsURL()+"?room=red&room=blue", "")
		waitUntil(t, "rooms", func() bool {
			return len(p.sessionIDs("?room=lobby")) == 1 && len(p.sessionIDs("?room=red")) == 1 && len(p.sessionIDs("?room=blue")) == 1
		})
		if got := p.sessionIDs("?room=lobby"); got[0] != c1.SessionID() {
			t.Fatalf("lobby = %v", got)
		}
		if got := p.sessionIDs("?room=red"); got[0] != c2.SessionID() {
			t.Fatalf("red = %v", got)
		}
		if _, s := p.call("GET", "/api/sessions/"+c1.SessionID(), nil); s["user"] != "" {
			t.Fatalf("anonymous user = %v", s["user"])
		}
		if st, _ := p.callKey("", "GET", "/demo/token", nil); st != 404 {
			t.Fatalf("/demo/token: %d, want 404 outside development mode", st)
		}
		// A bad room name is refused (4403).
		if code := tether.CloseStatus(dialErr(t, p.wsURL()+"?room=", nil)); code != tether.CloseForbidden {
			t.Fatalf("empty room: %d", code)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		p := start(t, procOpts{args: []string{"-jwt-secret", testSecret}})
		if code := tether.CloseStatus(dialErr(t, p.wsURL(), nil)); code != tether.CloseUnauthorized {
			t.Fatalf("anonymous client: code %d, want 4401", code)
		}
	})
}

// TestDevelopmentMode: with no authentication configured the server
// hands out guest tokens, generates an API key, and still refuses
// anonymous clients.
func TestDevelopmentMode(t *testing.T) {
	t.Parallel()
	p := start(t, procOpts{})
	p.waitLog("warning", func(l map[string]any) bool {
		return l["level"] == "WARN" && strings.Contains(l["msg"].(string), "DEVELOPMENT MODE")
	})
	if p.apiKey == "" {
		t.Fatal("no generated API key in the log")
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	getToken := func() (int, map[string]any) {
		resp, err := hc.Get(p.url("/demo/token"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	st, tok := getToken()
	if st != 200 || !strings.HasPrefix(tok["user"].(string), "guest-") {
		t.Fatalf("/demo/token: %d %v", st, tok)
	}
	exp, _ := time.Parse(time.RFC3339, tok["expires_at"].(string))
	if d := time.Until(exp); d < 50*time.Minute || d > 61*time.Minute {
		t.Fatalf("token expires in %v, want 1h", d)
	}
	// The same browser (cookie) keeps its guest identity, so that a token
	// fetched for a reconnect resumes the session.
	if _, again := getToken(); again["user"] != tok["user"] {
		t.Fatalf("second token for %v, first for %v", again["user"], tok["user"])
	}
	c, _ := dial(t, p.wsURL()+"?token="+url.QueryEscape(tok["token"].(string)), "")
	waitUntil(t, "lobby", func() bool { return len(p.sessionIDs("?room=lobby")) == 1 })
	if _, s := p.call("GET", "/api/sessions/"+c.SessionID(), nil); s["user"] != tok["user"] {
		t.Fatalf("session = %v", s)
	}
	if code := tether.CloseStatus(dialErr(t, p.wsURL(), nil)); code != tether.CloseUnauthorized {
		t.Fatalf("anonymous in development mode: code %d, want 4401", code)
	}
	// Rate limited.
	limited := false
	for range 40 {
		if st, m := getToken(); st == 429 {
			limited = errCode(m) == "rate_limited"
			break
		}
	}
	if !limited {
		t.Fatal("/demo/token is not rate limited")
	}
	// The demo page is served, and gives the browser its guest cookie, with
	// which the page's WebSocket (no token) is accepted.
	resp, err := hc.Get(p.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	u, _ := url.Parse(p.url("/ws"))
	var cookie string
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "tether_guest" {
			cookie = ck.String()
		}
	}
	if cookie == "" {
		t.Fatal("no guest cookie")
	}
	o := (&rec{}).options("")
	o.Header = http.Header{"Cookie": {cookie}}
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	gc, err := client.Dial(ctx, p.wsURL(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = gc.Close(ctx); <-gc.Done() }()
	if _, s := p.call("GET", "/api/sessions/"+gc.SessionID(), nil); s["user"] != tok["user"] {
		t.Fatalf("cookie session = %v, want user %v", s, tok["user"])
	}
	waitUntil(t, "lobby", func() bool { return len(p.sessionIDs("?room=lobby")) == 2 })
}

func TestOriginChecked(t *testing.T) {
	t.Parallel()
	p := start(t, procOpts{args: []string{"-jwt-secret", testSecret, "-allowed-origins", "*.good.example, other.example:8443"}})
	for origin, ok := range map[string]bool{
		"http://evil.example":        false,
		"http://good.example.evil":   false,
		"https://other.example":      false,
		"http://" + p.addr:           true, // same host
		"https://app.good.example":   true,
		"https://other.example:8443": true,
	} {
		r := &rec{}
		o := r.options(hs(t, "alice"))
		o.Header.Set("Origin", origin)
		ctx, cancel := context.WithTimeout(bg, waitTimeout)
		c, err := client.Dial(ctx, p.wsURL(), o)
		switch {
		case ok && err != nil:
			t.Errorf("Origin %s refused: %v", origin, err)
		case !ok && err == nil:
			t.Errorf("Origin %s accepted", origin)
		case !ok && tether.CloseStatus(err) != tether.CloseForbidden:
			t.Errorf("Origin %s: %v, want close 4403", origin, err)
		}
		if c != nil {
			_ = c.Close(ctx)
			<-c.Done()
		}
		cancel()
	}
}
