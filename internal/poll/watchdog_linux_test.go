//go:build linux

package poll

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMayBlockSlowHandsOff: an OnData that called MayBlock and blocks
// past SlowAfter has its loop handed off by the watchdog, which calls
// OnSlow for its connection: the loop's other connections are served
// while it blocks, and it goes on on its own goroutine.
func TestMayBlockSlowHandsOff(t *testing.T) {
	slowConns := make(chan *Conn, 4)
	h := newHarness(t, Options{Pollers: 1, SlowAfter: 2 * time.Millisecond,
		OnSlow: func(c *Conn) { slowConns <- c }})
	checkBlockedHandedOff(t, h, (*Conn).MayBlock, func(blocked *Conn) {
		select {
		case c := <-slowConns:
			if c != blocked {
				t.Fatal("OnSlow called for another connection")
			}
		case <-time.After(patience):
			t.Fatal("OnSlow not called for a callback blocked past SlowAfter")
		}
	})
}

// TestMayBlockFastKeepsLoop: an OnData that called MayBlock and returns
// within SlowAfter keeps its loop: no hand-off, no OnSlow.
func TestMayBlockFastKeepsLoop(t *testing.T) {
	var slowCalls atomic.Int32
	h := newHarness(t, Options{Pollers: 1, SlowAfter: time.Hour,
		OnSlow: func(*Conn) { slowCalls.Add(1) }})
	l := h.p.loops[0]
	echoMayBlock(t, h, 20)
	if g := l.gen.Load(); g != 0 {
		t.Fatalf("%d hand-offs for callbacks that returned at once", g)
	}
	if n := slowCalls.Load(); n != 0 {
		t.Fatalf("OnSlow called %d times", n)
	}
}

// TestMayBlockWithoutSlowAfter: without a watchdog, MayBlock hands the
// loop off at once, as Handoff does.
func TestMayBlockWithoutSlowAfter(t *testing.T) {
	h := newHarness(t, Options{Pollers: 1})
	l := h.p.loops[0]
	echoMayBlock(t, h, 3)
	// The last callback calls MayBlock after its echo is written: the
	// echo can arrive before that hand-off is counted.
	deadline := time.Now().Add(patience)
	for l.gen.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d hand-offs for 3 callbacks that called MayBlock", l.gen.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// echoMayBlock sends n one-byte messages to a connection whose OnData
// echoes and calls MayBlock, each after the last one's echo.
func echoMayBlock(t *testing.T, h *harness, n int) {
	t.Helper()
	st := newState(true)
	st.then = func(c *Conn) { c.MayBlock() }
	_, pc := h.connect(st, false)
	for i := range n {
		if _, err := pc.Write([]byte{byte('a' + i)}); err != nil {
			t.Fatal(err)
		}
		sameBytes(t, "echo", await(t, readAsync(pc, 1)), []byte{byte('a' + i)})
	}
}

// TestWatchdogSleepsWhenIdle: with no callback past MayBlock, the
// watchdog stops ticking, and the next MayBlock wakes it.
func TestWatchdogSleepsWhenIdle(t *testing.T) {
	slowConns := make(chan *Conn, 4)
	h := newHarness(t, Options{Pollers: 1, SlowAfter: time.Millisecond,
		OnSlow: func(c *Conn) { slowConns <- c }})
	gate := make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(release)
	var calls atomic.Int32
	st := newState(false)
	st.then = func(c *Conn) {
		c.MayBlock()
		if calls.Add(1) == 2 {
			<-gate
		}
	}
	_, pc := h.connect(st, false)
	if _, err := pc.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	st.waitData(t, 1)
	deadline := time.Now().Add(patience)
	for h.p.dog.awake.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the watchdog still ticks with no callback running")
		}
		time.Sleep(idleTicks * time.Millisecond / 4)
	}
	if _, err := pc.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-slowConns:
	case <-time.After(patience):
		t.Fatal("a sleeping watchdog did not wake for a blocked callback")
	}
	release()
}
