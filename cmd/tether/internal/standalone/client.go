package standalone

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	tetherjs "github.com/tether-ws/tether/js"
)

// The browser client's single-file ESM bundle, as `npm run build` leaves
// it in js/dist, and the file whose version names the served copy.
const (
	bundleFile      = "dist/tether.js"
	bundleMapFile   = "dist/tether.js.map"
	packageJSONFile = "package.json"
	clientPrefix    = "/client/"
	bundleMapLine   = "//# sourceMappingURL=tether.js.map"
)

// Caching: a versioned name never changes, so browsers and CDNs keep it
// for a year without asking; the unversioned one is revalidated on every
// use (a 304 when the ETag still matches), so an upgraded server hands out
// its new client at once.
const (
	cacheImmutable   = "public, max-age=31536000, immutable"
	cacheRevalidate  = "no-cache"
	corsPreflightAge = "7200" // seconds; Chromium's cap
)

var semver = regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

// clientAsset is one served file, kept in memory with its gzip encoding.
type clientAsset struct {
	ctype  string
	cache  string
	body   []byte
	gz     []byte // nil when gzip does not make it smaller
	etag   string
	etagGz string
}

// clientHandler serves the browser client to pages on any allowed origin:
// /client/tether-<version>.js (immutable), /client/tether.js (the same
// bytes, revalidated) and their .js.map source maps. It is on whether the
// demo is or not. CORS follows the WebSocket endpoint's rule
// (-allowed-origins, plus the server's own host): such an origin gets
// Access-Control-Allow-Origin, any other gets the file without it, so its
// browser refuses to run it.
type clientHandler struct {
	files   map[string]*clientAsset // by name under /client/
	origins []string                // host patterns, as tether.Options.OriginPatterns
	anyOK   bool                    // origins holds "*"
	version string
}

// newClientHandler reads the bundle, its map and package.json's version
// from fsys (nil: the embedded assets). Without a bundle it returns an
// error, and the caller serves 404s.
func newClientHandler(fsys fs.FS, origins []string) (*clientHandler, error) {
	if fsys == nil {
		fsys = tetherjs.Assets
	}
	raw, err := fs.ReadFile(fsys, packageJSONFile)
	if err != nil {
		return nil, fmt.Errorf("failed to read the browser client's version: %w", err)
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(raw, &pkg); err != nil {
		return nil, fmt.Errorf("failed to read the browser client's version: %w", err)
	}
	if !semver.MatchString(pkg.Version) {
		return nil, fmt.Errorf("failed to read the browser client's version: %q is not a semantic version", pkg.Version)
	}
	js, err := fs.ReadFile(fsys, bundleFile)
	if err != nil {
		return nil, fmt.Errorf("failed to read the browser client's bundle: %w", err)
	}
	h := &clientHandler{files: map[string]*clientAsset{}, origins: origins, version: pkg.Version}
	for _, p := range origins {
		h.anyOK = h.anyOK || p == "*"
	}
	versioned := "tether-" + pkg.Version + ".js"
	h.files["tether.js"] = newClientAsset(js, "text/javascript; charset=utf-8", cacheRevalidate)
	// The versioned copy names the versioned map, which stays as immutable
	// as it is.
	vjs := js
	if i := bytes.LastIndex(js, []byte(bundleMapLine)); i >= 0 {
		vjs = append(append(append([]byte{}, js[:i]...), "//# sourceMappingURL="+versioned+".map"...), js[i+len(bundleMapLine):]...)
	}
	h.files[versioned] = newClientAsset(vjs, "text/javascript; charset=utf-8", cacheImmutable)
	if m, err := fs.ReadFile(fsys, bundleMapFile); err == nil {
		h.files["tether.js.map"] = newClientAsset(m, "application/json; charset=utf-8", cacheRevalidate)
		h.files[versioned+".map"] = newClientAsset(m, "application/json; charset=utf-8", cacheImmutable)
	}
	return h, nil
}

func newClientAsset(body []byte, ctype, cache string) *clientAsset {
	a := &clientAsset{ctype: ctype, cache: cache, body: body, etag: etagOf(body)}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(body)
	if zw.Close() == nil && buf.Len() < len(body) {
		a.gz = buf.Bytes()
		a.etagGz = etagOf(a.gz)
	}
	return a
}

func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

// Path is the versioned URL path of the bundle.
func (h *clientHandler) Path() string { return clientPrefix + "tether-" + h.version + ".js" }

func (h *clientHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	allowed := origin != "" && h.originAllowed(origin, r.Host)
	if allowed {
		if h.anyOK {
			hdr.Set("Access-Control-Allow-Origin", "*")
		} else {
			hdr.Set("Access-Control-Allow-Origin", origin)
		}
	}
	a := h.files[strings.TrimPrefix(r.URL.Path, clientPrefix)]
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		h.preflight(w, r, a != nil, origin, allowed)
		return
	default:
		hdr.Set("Allow", "GET, HEAD, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if a == nil {
		http.Error(w, "not found: the browser client is at "+h.Path()+" and "+clientPrefix+"tether.js", http.StatusNotFound)
		return
	}
	hdr.Add("Vary", "Accept-Encoding")
	hdr.Set("Content-Type", a.ctype)
	hdr.Set("Cache-Control", a.cache)
	hdr.Set("X-Content-Type-Options", "nosniff")
	body, etag := a.body, a.etag
	if a.gz != nil && acceptsGzip(r) {
		body, etag = a.gz, a.etagGz
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// preflight answers a CORS preflight: GET and HEAD, with any request
// headers, for an allowed origin; 403 for another.
func (h *clientHandler) preflight(w http.ResponseWriter, r *http.Request, found bool, origin string, allowed bool) {
	hdr := w.Header()
	hdr.Set("Allow", "GET, HEAD, OPTIONS")
	method := r.Header.Get("Access-Control-Request-Method")
	if origin == "" || method == "" { // not a preflight
		w.WriteHeader(http.StatusNoContent)
		return
	}
	switch {
	case !allowed:
		http.Error(w, "origin not allowed: the browser client is served to the server's own host and -allowed-origins", http.StatusForbidden)
		return
	case !found:
		http.Error(w, "not found", http.StatusNotFound)
		return
	case method != http.MethodGet && method != http.MethodHead:
		http.Error(w, "method not allowed: GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	hdr.Add("Vary", "Access-Control-Request-Method")
	hdr.Add("Vary", "Access-Control-Request-Headers")
	hdr.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
		hdr.Set("Access-Control-Allow-Headers", rh)
	}
	hdr.Set("Access-Control-Max-Age", corsPreflightAge)
	w.WriteHeader(http.StatusNoContent)
}

// originAllowed is the WebSocket endpoint's rule (tether.Server's
// originAllowed, fed the same -allowed-origins patterns): the Origin's
// host is the request's Host or matches one of the patterns.
func (h *clientHandler) originAllowed(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	for _, p := range h.origins {
		if p == "*" {
			return true
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); ok {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether Accept-Encoding lists gzip (or *) without
// q=0.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "gzip" && name != "*" {
				continue
			}
			if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
					return false
				}
			}
			return true
		}
	}
	return false
}

// clientUnavailable serves /client/ when the binary has no bundle.
func clientUnavailable(err error, log *slog.Logger) http.Handler {
	log.Warn("tether: the browser client is not served at "+clientPrefix, "error", err)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "this build has no browser client bundle (js/dist/tether.js was missing when it was built)", http.StatusNotFound)
	})
}
