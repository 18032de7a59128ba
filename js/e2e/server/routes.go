package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-ws/tether/internal/faultproxy"
)

// routes serves the demo, the package, the Tether endpoint and the test
// controls.
func routes(dir string, room *room, proxy *faultproxy.Proxy) http.Handler {
	var blocked atomic.Bool
	var blockedTokens sync.Map // token → struct{}: upgrades carrying ?token= one of these are refused
	mux := http.NewServeMux()
	files := http.FileServer(http.Dir(filepath.Join(dir, "demo")))
	mux.Handle("/", noCache(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && r.URL.Path != "/index.html" {
			files.ServeHTTP(w, r)
			return
		}
		// The demo page, marked so that it shows this server's test
		// controls (the tether binary serves it unmarked: no probe for
		// them, so no failed request in the console).
		page, err := os.ReadFile(filepath.Join(dir, "demo", "index.html"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page = bytes.Replace(page, []byte("</head>"), []byte(`  <meta name="tether-test-controls" content="on">`+"\n</head>"), 1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})))
	mux.Handle("/dist/", noCache(http.StripPrefix("/dist/", http.FileServer(http.Dir(filepath.Join(dir, "dist"))))))
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		_, tokenBlocked := blockedTokens.Load(r.URL.Query().Get("token"))
		if blocked.Load() || tokenBlocked {
			http.Error(w, "blocked by /_test/block", http.StatusServiceUnavailable)
			return
		}
		room.current().ServeHTTP(w, r)
	})
	mux.HandleFunc("POST /_test/cut", func(w http.ResponseWriter, r *http.Request) {
		// The response goes out before the cut: the browser's fetch of
		// this endpoint travels through the proxy too.
		w.Header().Set("Connection", "close")
		writeJSON(w, map[string]any{"cut": proxy.Conns()})
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		go func() {
			time.Sleep(20 * time.Millisecond)
			proxy.CutAll()
		}()
	})
	mux.HandleFunc("POST /_test/block", func(w http.ResponseWriter, r *http.Request) {
		on := r.URL.Query().Get("on") != "0"
		if token := r.URL.Query().Get("token"); token != "" {
			// One page only: the demo passes its ?token= on to /ws.
			if on {
				blockedTokens.Store(token, struct{}{})
			} else {
				blockedTokens.Delete(token)
			}
			writeJSON(w, map[string]any{"blocked": on, "token": token})
			return
		}
		blocked.Store(on)
		writeJSON(w, map[string]any{"blocked": on})
	})
	mux.HandleFunc("POST /_test/restart", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		err := room.restart(ctx)
		res := map[string]any{"restarted": err == nil}
		if err != nil {
			res["error"] = err.Error()
		}
		writeJSON(w, res)
	})
	mux.HandleFunc("GET /_test/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, room.snapshot())
	})
	return mux
}

func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
