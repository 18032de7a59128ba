// Command tether is the standalone Tether server: WebSocket sessions that
// survive dropped connections, with an HTTP API, webhooks, metrics and a
// demo page. Run it with no setup:
//
//	go run ./cmd/tether
//
// and see tether --help for its settings, docs/API.md for its API;
// tether -version prints the version and the commit it was built from.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/tether-ws/tether/cmd/tether/internal/standalone"
)

func main() {
	os.Exit(run())
}

func run() int {
	if isVersionFlag(os.Args[1:]) {
		fmt.Println(versionString(debug.ReadBuildInfo()))
		return 0
	}
	cfg, err := standalone.Parse(os.Args[1:], os.Environ(), os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tether: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	if err := standalone.Run(ctx, cfg, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "tether: %v\n", err)
		var ce *standalone.ConfigError
		if errors.As(err, &ce) {
			return 2
		}
		return 1
	}
	return 0
}
