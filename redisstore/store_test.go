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
