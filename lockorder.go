//go:build !tether_lockorder

package tether

import "sync"

// The two locks whose order docs/DESIGN.md states: a server's lock may be
// held when a session's is taken, never the reverse, and no goroutine
// holds two sessions' locks. Built with -tags tether_lockorder they record
// every acquisition (lockorder_check.go) and the tests fail on a
// violation; otherwise they are plain mutexes.
type (
	sessionMutex = sync.Mutex
	serverMutex  = sync.Mutex
)
