package standalone

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/tether-ws/tether/client"
	tetherjs "github.com/tether-ws/tether/js"
)

// serveApp runs the standalone server with the embedded assets on a
// loopback port until the test ends; it returns its base URL.
func serveApp(t *testing.T, args ...string) string {
	t.Helper()
	c := mustParse(t, append([]string{"-anonymous", "-api-key", "k0123456789abcdef", "-restart-jitter", "10ms", "-shutdown-timeout", "5s"}, args...), nil)
	a, err := New(c, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

// fetch does one request with the given headers (name, value, ...).
// It asks for no compression unless the headers do.
func fetch(t *testing.T, method, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func embeddedVersion(t *testing.T) string {
	t.Helper()
	raw, err := fs.ReadFile(tetherjs.Assets, "package.json")
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Version string }
	if err := json.Unmarshal(raw, &p); err != nil || p.Version == "" {
		t.Fatalf("package.json: version %q, %v", p.Version, err)
	}
	return p.Version
}

func hasVary(resp *http.Response, name string) bool {
	for _, v := range resp.Header.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), name) {
				return true
			}
		}
	}
	return false
}

// TestClientBundleWithoutDemo: with -demo=false the demo and /dist/ are
// gone, and the bundle is still served, under both names, as JavaScript,
// the versioned one immutable and naming its own source map.
func TestClientBundleWithoutDemo(t *testing.T) {
	base := serveApp(t, "-demo=false")
	v := embeddedVersion(t)
	want, err := fs.ReadFile(tetherjs.Assets, "dist/tether.js")
	if err != nil {
		t.Fatal(err)
	}
	for path, code := range map[string]int{"/": 404, "/dist/index.js": 404, "/client/tether-0.0.0-not.js": 404, "/client/index.js": 404} {
		if resp, _ := fetch(t, "GET", base+path); resp.StatusCode != code {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, code)
		}
	}

	resp, body := fetch(t, "GET", base+"/client/tether.js")
	if resp.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Fatalf("GET /client/tether.js: %d, %d bytes; want 200 and the %d bytes of dist/tether.js", resp.StatusCode, len(body), len(want))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" || resp.Header.Get("ETag") == "" {
		t.Errorf("the unversioned name: Cache-Control %q, ETag %q; want no-cache and an ETag", cc, resp.Header.Get("ETag"))
	}

	vresp, vbody := fetch(t, "GET", base+"/client/tether-"+v+".js")
	if vresp.StatusCode != 200 {
		t.Fatalf("GET /client/tether-%s.js: %d", v, vresp.StatusCode)
	}
	if cc := vresp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=31536000") {
		t.Errorf("the versioned name: Cache-Control %q, want a year and immutable", cc)
	}
	if ct := vresp.Header.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("versioned Content-Type %q", ct)
	}
	wantV := bytes.Replace(want, []byte("sourceMappingURL=tether.js.map"), []byte("sourceMappingURL=tether-"+v+".js.map"), 1)
	if bytes.Equal(wantV, want) || !bytes.Equal(vbody, wantV) {
		t.Errorf("the versioned bundle is not the bundle naming tether-%s.js.map: ends %q", v, vbody[max(0, len(vbody)-60):])
	}

	for _, name := range []string{"tether.js.map", "tether-" + v + ".js.map"} {
		resp, body := fetch(t, "GET", base+"/client/"+name)
		var m struct{ Sources []string }
		if resp.StatusCode != 200 || json.Unmarshal(body, &m) != nil || len(m.Sources) == 0 {
			t.Errorf("GET /client/%s: %d, not a source map", name, resp.StatusCode)
		}
	}
	if resp, _ := fetch(t, "POST", base+"/client/tether.js"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

// TestClientBundleETag: the unversioned name is revalidated: its ETag
// gets a 304, another gets the file; the gzip encoding has its own ETag.
func TestClientBundleETag(t *testing.T) {
	base := serveApp(t)
	resp, body := fetch(t, "GET", base+"/client/tether.js")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || etag == "" {
		t.Fatalf("GET: %d, ETag %q", resp.StatusCode, etag)
	}
	nm, nmBody := fetch(t, "GET", base+"/client/tether.js", "If-None-Match", etag)
	if nm.StatusCode != http.StatusNotModified || len(nmBody) != 0 {
		t.Errorf("If-None-Match the ETag: %d with %d bytes, want 304 and none", nm.StatusCode, len(nmBody))
	}
	if r, _ := fetch(t, "GET", base+"/client/tether.js", "If-None-Match", `"something-else"`); r.StatusCode != 200 {
		t.Errorf("If-None-Match another ETag: %d, want 200", r.StatusCode)
	}

	gz, gzBody := fetch(t, "GET", base+"/client/tether.js", "Accept-Encoding", "gzip, deflate, br")
	if gz.Header.Get("Content-Encoding") != "gzip" || gz.Header.Get("ETag") == etag || !hasVary(gz, "Accept-Encoding") {
		t.Fatalf("gzip: Content-Encoding %q, ETag %q (identity %q), Vary %q", gz.Header.Get("Content-Encoding"), gz.Header.Get("ETag"), etag, gz.Header.Values("Vary"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gzBody))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, body) {
		t.Errorf("the gzip body does not decode to the bundle (%v)", err)
	}
	if r, _ := fetch(t, "GET", base+"/client/tether.js", "Accept-Encoding", "gzip", "If-None-Match", gz.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match the gzip ETag: %d, want 304", r.StatusCode)
	}
	if r, _ := fetch(t, "GET", base+"/client/tether.js", "Accept-Encoding", "gzip;q=0, identity"); r.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 got Content-Encoding %q", r.Header.Get("Content-Encoding"))
	}
}

// TestClientBundleCORS: the bundle's CORS follows -allowed-origins as the
// WebSocket endpoint does: for each Origin, the bundle carries
// Access-Control-Allow-Origin exactly when /ws accepts a connection from
// that Origin. Every answer varies by Origin.
func TestClientBundleCORS(t *testing.T) {
	base := serveApp(t, "-demo=false", "-allowed-origins", "app.example.com, *.example.org:8443")
	host := strings.TrimPrefix(base, "http://")
	cases := []struct {
		origin string
		ok     bool
	}{
		{"http://app.example.com", true},
		{"https://APP.example.com", true},
		{"https://shop.example.org:8443", true},
		{base, true}, // the server's own host
		{"https://example.org:8443", false},
		{"https://shop.example.org", false},
		{"http://app.example.com.evil.net", false},
		{"http://evil.example", false},
		{"null", false},
	}
	for _, c := range cases {
		resp, _ := fetch(t, "GET", base+"/client/tether.js", "Origin", c.origin)
		acao := resp.Header.Get("Access-Control-Allow-Origin")
		if resp.StatusCode != 200 || !hasVary(resp, "Origin") {
			t.Errorf("Origin %s: %d, Vary %q; want 200 and Vary: Origin", c.origin, resp.StatusCode, resp.Header.Values("Vary"))
		}
		if c.ok && acao != c.origin || !c.ok && acao != "" {
			t.Errorf("Origin %s: Access-Control-Allow-Origin %q, allowed %v", c.origin, acao, c.ok)
		}
		if got := wsAccepts(t, host, c.origin); got != c.ok {
			t.Errorf("Origin %s: /ws accepts %v, but the bundle's CORS says %v", c.origin, got, c.ok)
		}

		pre, _ := fetch(t, "OPTIONS", base+"/client/tether.js", "Origin", c.origin, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "x-trace")
		if c.ok {
			if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != c.origin ||
				!strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), "GET") || pre.Header.Get("Access-Control-Allow-Headers") != "x-trace" {
				t.Errorf("preflight from %s: %d %v", c.origin, pre.StatusCode, pre.Header)
			}
		} else if pre.StatusCode != http.StatusForbidden || pre.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %s: %d, ACAO %q; want 403 and none", c.origin, pre.StatusCode, pre.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	if resp, _ := fetch(t, "GET", base+"/client/tether.js"); resp.Header.Get("Access-Control-Allow-Origin") != "" || !hasVary(resp, "Origin") {
		t.Errorf("no Origin: ACAO %q, Vary %q", resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Values("Vary"))
	}
	if pre, _ := fetch(t, "OPTIONS", base+"/client/tether.js", "Origin", "http://app.example.com", "Access-Control-Request-Method", "POST"); pre.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("preflight for POST: %d, want 405", pre.StatusCode)
	}

	star := serveApp(t, "-allowed-origins", "*")
	if resp, _ := fetch(t, "GET", star+"/client/tether.js", "Origin", "https://anywhere.test"); resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("-allowed-origins '*': ACAO %q, want *", resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

// wsAccepts reports whether /ws lets a client in from origin.
func wsAccepts(t *testing.T, host, origin string) bool {
	t.Helper()
	cl, err := client.Dial(context.Background(), "ws://"+host+"/ws", &client.Options{
		MaxAttempts: 1,
		Header:      http.Header{"Origin": {origin}},
	})
	if err != nil {
		return false
	}
	if err := cl.Close(context.Background()); err != nil {
		t.Errorf("closing the client from %s: %v", origin, err)
	}
	<-cl.Done()
	return true
}
