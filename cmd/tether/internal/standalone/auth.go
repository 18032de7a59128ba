package standalone

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tether-ws/tether"
)

// jwtLeeway is the clock skew allowed on exp and nbf.
const jwtLeeway = 30 * time.Second

// defaultRoom is where anonymous clients and demo guests go.
const defaultRoom = "lobby"

// claims are what a client token may say.
type claims struct {
	jwt.RegisteredClaims
	// Rooms the session joins when it starts.
	Rooms []string `json:"rooms,omitempty"`
}

// identity is what authentication found out about an upgrade request. The
// /ws handler puts an empty one in the request's context; Authenticate
// fills it; OnOpen reads it (the same request is handed to both).
type identity struct {
	user  string
	rooms []string
}

type identityKey struct{}

func withIdentity(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), identityKey{}, &identity{}))
}

func identityOf(r *http.Request) *identity {
	if r == nil {
		return nil
	}
	id, _ := r.Context().Value(identityKey{}).(*identity)
	return id
}

// authenticator checks clients: JWTs (HS256 with a secret, RS/ES/EdDSA
// with a public key) and, if enabled, anonymous clients.
type authenticator struct {
	parser    *jwt.Parser
	secret    []byte // HS256; in development mode, generated
	public    any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	anonymous bool
	devGuests bool // development mode: a guest cookie stands for a token
	maxRooms  int
}

func newAuthenticator(c *Config, devSecret []byte) (*authenticator, error) {
	a := &authenticator{anonymous: c.Anonymous, maxRooms: c.MaxRoomsPerSession}
	var methods []string
	switch {
	case c.JWTSecret != "":
		a.secret = []byte(c.JWTSecret)
	case devSecret != nil:
		a.secret = devSecret
		a.devGuests = true
	}
	if a.secret != nil {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if c.JWTPublicKey != "" {
		pem, err := os.ReadFile(c.JWTPublicKey)
		if err != nil {
			return nil, &ConfigError{Setting: "jwt-public-key", Err: err}
		}
		key, err := parsePublicKey(pem)
		if err != nil {
			return nil, &ConfigError{Setting: "jwt-public-key", Err: err}
		}
		a.public = key
		methods = append(methods, keyMethods(key)...)
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithLeeway(jwtLeeway)}
	if c.JWTAudience != "" {
		opts = append(opts, jwt.WithAudience(c.JWTAudience))
	}
	if c.JWTIssuer != "" {
		opts = append(opts, jwt.WithIssuer(c.JWTIssuer))
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

// parsePublicKey reads an RSA, ECDSA or Ed25519 public key (or
// certificate) in PEM.
func parsePublicKey(pem []byte) (any, error) {
	if k, err := jwt.ParseRSAPublicKeyFromPEM(pem); err == nil {
		return k, nil
	}
	if k, err := jwt.ParseECPublicKeyFromPEM(pem); err == nil {
		if len(keyMethods(k)) == 0 {
			return nil, fmt.Errorf("unsupported ECDSA curve %s (want P-256, P-384 or P-521)", k.Curve.Params().Name)
		}
		return k, nil
	}
	if k, err := jwt.ParseEdPublicKeyFromPEM(pem); err == nil {
		return k, nil
	}
	if !strings.Contains(string(pem), "-----BEGIN") {
		return nil, errors.New("no PEM block found")
	}
	return nil, errors.New("not an RSA, ECDSA or Ed25519 public key in PEM (PKIX \"PUBLIC KEY\", \"RSA PUBLIC KEY\" or a certificate)")
}

// keyMethods lists the JWT algorithms a public key verifies.
func keyMethods(key any) []string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}
		case elliptic.P384():
			return []string{"ES384"}
		case elliptic.P521():
			return []string{"ES512"}
		}
	case ed25519.PublicKey:
		return []string{"EdDSA"}
	}
	return nil
}

func (a *authenticator) key(t *jwt.Token) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if a.secret != nil {
			return a.secret, nil
		}
	default:
		if a.public != nil {
			return a.public, nil
		}
	}
	return nil, fmt.Errorf("no key for %s", t.Method.Alg())
}

// verify checks a token and returns its claims.
func (a *authenticator) verify(token string) (*claims, error) {
	var c claims
	if _, err := a.parser.ParseWithClaims(token, &c, a.key); err != nil {
		return nil, tokenError(err)
	}
	if c.Subject == "" {
		return nil, errors.New("tether: token has no sub (user ID)")
	}
	return &c, nil
}

// tokenError turns a JWT error into a short close reason (at most 123
// bytes go on the wire).
func tokenError(err error) error {
	for _, e := range []struct {
		err error
		msg string
	}{
		{jwt.ErrTokenExpired, "token expired"},
		{jwt.ErrTokenNotValidYet, "token not valid yet"},
		{jwt.ErrTokenInvalidAudience, "token audience not accepted"},
		{jwt.ErrTokenInvalidIssuer, "token issuer not accepted"},
		{jwt.ErrTokenSignatureInvalid, "token signature invalid"},
		{jwt.ErrTokenMalformed, "token malformed"},
		{jwt.ErrTokenUnverifiable, "token algorithm not accepted"},
	} {
		if errors.Is(err, e.err) {
			return errors.New("tether: " + e.msg)
		}
	}
	return errors.New("tether: token invalid")
}

// requestToken returns the token of an upgrade request: Authorization:
// Bearer, else the token query parameter (browsers cannot set headers on
// a WebSocket).
func requestToken(r *http.Request) string {
	if t, ok := bearer(r); ok {
		return t
	}
	return r.URL.Query().Get("token")
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// authenticate is tether.Options.Authenticate: it runs on every upgrade,
// new session or resume (the library then refuses a resume by another
// user). Errors close with 4401; those wrapping tether.ErrForbidden 4403.
func (a *authenticator) authenticate(r *http.Request) (string, error) {
	id := identityOf(r)
	if id == nil {
		id = &identity{}
	}
	tok := requestToken(r)
	if tok == "" && a.devGuests {
		if g := guestFrom(r); g != "" {
			id.user, id.rooms = g, []string{defaultRoom}
			return g, nil
		}
	}
	if tok == "" {
		if !a.anonymous {
			return "", errors.New("tether: token required (Authorization: Bearer or ?token=)")
		}
		rooms := r.URL.Query()["room"]
		if len(rooms) == 0 {
			rooms = []string{defaultRoom}
		}
		if err := a.checkRooms(rooms); err != nil {
			return "", err
		}
		id.user, id.rooms = "", rooms
		return "", nil
	}
	c, err := a.verify(tok)
	if err != nil {
		return "", err
	}
	if err := a.checkRooms(c.Rooms); err != nil {
		return "", err
	}
	id.user, id.rooms = c.Subject, c.Rooms
	return c.Subject, nil
}

func (a *authenticator) checkRooms(rooms []string) error {
	if len(rooms) > a.maxRooms {
		return fmt.Errorf("%w: %d rooms asked, at most %d", tether.ErrForbidden, len(rooms), a.maxRooms)
	}
	for _, r := range rooms {
		if !validRoom(r) {
			return fmt.Errorf("%w: invalid room name", tether.ErrForbidden)
		}
	}
	return nil
}

// validRoom is the library's rule: 1 to 128 bytes of UTF-8.
func validRoom(room string) bool {
	return room != "" && len(room) <= 128 && utf8.ValidString(room)
}
