package loadtest

import (
	"os"
	"runtime"
	"testing"
)

func TestRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	self, err := RSS(0)
	if err != nil || self <= 0 {
		t.Fatalf("RSS(0) = %d, %v", self, err)
	}
	byPID, err := RSS(os.Getpid())
	if err != nil || byPID <= 0 {
		t.Fatalf("RSS(own pid) = %d, %v", byPID, err)
	}
	if _, err := RSS(-5); err == nil {
		t.Fatal("RSS of no process succeeded")
	}
}
