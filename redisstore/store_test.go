package redisstore

import (
	"testing"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tether.Store {
		return open(t, Options{Prefix: newPrefix(t)})
	})
}

// TestConformanceOwner runs the suite on a store named like the owner of
// the suite's sessions ("node-1"), so that its appends are cached, its
// reads answered from the cache and its acks coalesced.
func TestConformanceOwner(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tether.Store {
		return open(t, Options{Prefix: newPrefix(t), Node: "node-1"})
	})
}
