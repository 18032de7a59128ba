package standalone

import (
	"io/fs"
	"net/http"
	"path"
	"strings"

	tetherjs "github.com/tether-ws/tether/js"
)

// demoIndex is the demo page inside the embedded assets.
const demoIndex = "demo/index.html"

// staticHandler serves the demo page and the browser client from fsys
// (normally tetherjs.Assets): / is demo/index.html, /dist/* and /demo/*
// are the files, and other top-level paths are looked up in demo/ (the
// page links its style sheet and script relatively).
func staticHandler(fsys fs.FS) http.Handler {
	if fsys == nil {
		fsys = tetherjs.Assets
	}
	if _, err := fs.Stat(fsys, demoIndex); err != nil {
		return http.HandlerFunc(placeholder)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := path.Clean("/" + r.URL.Path)
		var name string
		switch {
		case p == "/":
			name = demoIndex
		case strings.HasPrefix(p, "/dist/"), strings.HasPrefix(p, "/demo/"):
			name = p[1:]
		default:
			name = "demo" + p
		}
		if st, err := fs.Stat(fsys, name); err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeFileFS(w, r, fsys, name)
	})
}

// placeholder is served at / when the binary was built without the demo.
func placeholder(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(`<!doctype html>
<meta charset="utf-8"><title>Tether</title>
<h1>Tether server</h1>
<p>The WebSocket endpoint is <code>/ws</code>; the HTTP API is under <code>/api/</code> (docs/API.md).
This build has no demo page (js/demo was missing when it was built).</p>
`))
}
