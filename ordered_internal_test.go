package tether

import (
	"testing"
	"time"
)

// stubCluster makes a server's store look shared; ordered only asks.
type stubCluster struct{ Cluster }

// TestOrderedStorePanic: a store write that panics raises it on its own
// caller's goroutine, and the writes queued behind it still run: a
// store's bug ends one session's hook, it does not hang the next writer.
func TestOrderedStorePanic(t *testing.T) {
	s := &Session{srv: &Server{cluster: stubCluster{}}}
	release, queued := make(chan struct{}), make(chan struct{})
	first := make(chan any, 1)
	go func() {
		defer func() { first <- recover() }()
		s.ordered(func() {
			close(queued)
			<-release
			panic("store bug")
		})
	}()
	<-queued // the first write runs: the next one waits behind it
	second := make(chan bool, 1)
	go func() {
		ran := false
		s.ordered(func() { ran = true })
		second <- ran
	}()
	for { // until the second write is queued
		s.mu.Lock()
		n := s.waits.writes.Pending()
		s.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if r := <-first; r != "store bug" {
		t.Fatalf("the panicking write's caller recovered %v", r)
	}
	select {
	case ran := <-second:
		if !ran {
			t.Fatal("the write behind it returned without running")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the write behind a panicking one never ran")
	}
}
