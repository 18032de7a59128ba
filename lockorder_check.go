//go:build tether_lockorder

package tether

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"sync"
)

// sessionMutex and serverMutex record, per goroutine, which of them it
// holds; taking a server's lock while holding a session's, or a session's
// while holding another, is recorded as a violation with its stack. For
// tests only: finding the goroutine reads its stack on every Lock.
type (
	sessionMutex struct{ m sync.Mutex }
	serverMutex  struct{ m sync.Mutex }
)

func (m *sessionMutex) Lock()   { m.m.Lock(); lockHeld(lockSession, 1) }
func (m *sessionMutex) Unlock() { lockHeld(lockSession, -1); m.m.Unlock() }
func (m *serverMutex) Lock()    { m.m.Lock(); lockHeld(lockServer, 1) }
func (m *serverMutex) Unlock()  { lockHeld(lockServer, -1); m.m.Unlock() }

const (
	lockSession = iota
	lockServer
)

var lockOrder struct {
	mu         sync.Mutex
	held       map[uint64]*[2]int // goroutine → how many of each it holds
	violations []string
}

func lockHeld(kind, d int) {
	g := goroutineID()
	lockOrder.mu.Lock()
	defer lockOrder.mu.Unlock()
	if lockOrder.held == nil {
		lockOrder.held = make(map[uint64]*[2]int)
	}
	h := lockOrder.held[g]
	if h == nil {
		h = new([2]int)
		lockOrder.held[g] = h
	}
	if d > 0 && h[lockSession] > 0 {
		what := "a server's lock taken while holding a session's"
		if kind == lockSession {
			what = "a session's lock taken while holding another session's"
		}
		buf := make([]byte, 8<<10)
		buf = buf[:runtime.Stack(buf, false)]
		lockOrder.violations = append(lockOrder.violations, fmt.Sprintf("%s:\n%s", what, buf))
	}
	h[kind] += d
	if h[0] == 0 && h[1] == 0 {
		delete(lockOrder.held, g)
	}
}

func goroutineID() uint64 {
	var b [64]byte
	f := bytes.Fields(b[:runtime.Stack(b[:], false)])
	id, _ := strconv.ParseUint(string(f[1]), 10, 64)
	return id
}

// lockOrderViolations returns what was recorded so far.
func lockOrderViolations() []string {
	lockOrder.mu.Lock()
	defer lockOrder.mu.Unlock()
	return append([]string(nil), lockOrder.violations...)
}
