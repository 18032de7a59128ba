package main

import (
	"os"
	"os/signal"
	"syscall"
)

// signalled returns a channel closed by SIGINT or SIGTERM.
func signalled() <-chan struct{} {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { <-ch; close(done) }()
	return done
}
