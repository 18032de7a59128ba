// Command server is the test server for the browser client's end-to-end
// tests and its demo: a chat room (a Tether room stream, "lobby") on a
// Tether server, behind a fault proxy that can cut every connection
// abruptly.
//
//	go run ./js/e2e/server -addr 127.0.0.1:0
//
// It prints the URL to open (the proxy's) on the first line of stdout.
// Routes: / serves js/demo, /dist/ serves js/dist, /ws is the Tether
// endpoint, and /_test/ has the test controls:
//
//	POST /_test/cut           abruptly close every connection (TCP reset)
//	POST /_test/block?on=1    refuse /ws upgrades with HTTP 503 (on=0 to stop); with &token=T,
//	                          only those of the page opened with ?token=T
//	POST /_test/restart       drain the Tether server (GOAWAY) and start a new one, with a new memory store
//	GET  /_test/stats         JSON: per session, the messages received, in order, its room
//	                          recoveries and presence changes; the room's last publication
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/tether-ws/tether/internal/faultproxy"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address of the HTTP server behind the fault proxy (the printed URL is the proxy's)")
	root := flag.String("root", "", "the js/ directory holding demo/ and dist/ (default: found next to this source file or in the working directory)")
	grace := flag.Duration("grace", 2*time.Minute, "grace window of disconnected sessions")
	history := flag.Int("room-history", 0, "messages kept in the room's history (tether.Options.RoomHistory.MaxMessages; 0: Tether's default, -1: none)")
	presence := flag.Bool("presence", false, "presence events in the room (members are told who enters and leaves)")
	verbose := flag.Bool("v", false, "log debug messages")
	flag.Parse()

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	dir, err := jsDir(*root)
	if err != nil {
		log.Fatal(err)
	}
	room := newRoom(roomOptions{grace: *grace, history: *history, presence: *presence}, logger)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	proxy, err := faultproxy.New(ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Handler: routes(dir, room, proxy), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	fmt.Printf("http://%s/\n", proxy.Addr())
	fmt.Fprintf(os.Stderr, "tether e2e server: open http://%s/ (backend %s, files from %s)\n", proxy.Addr(), ln.Addr(), dir)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = room.current().Shutdown(ctx)
	_ = proxy.Close()
	_ = hs.Shutdown(ctx)
}

// jsDir finds the js/ directory: the flag, else two levels above this
// source file, else js/ or . in the working directory.
func jsDir(flagValue string) (string, error) {
	var candidates []string
	if flagValue != "" {
		candidates = append(candidates, flagValue)
	} else {
		if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
			candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", ".."))
		}
		candidates = append(candidates, "js", ".")
	}
	for _, c := range candidates {
		if st, err := os.Stat(filepath.Join(c, "demo", "index.html")); err == nil && !st.IsDir() {
			return filepath.Abs(c)
		}
	}
	return "", fmt.Errorf("cannot find the js/ directory (with demo/index.html); tried %v: pass -root", candidates)
}
