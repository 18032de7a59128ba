// Package loadtest holds what the load tools (cmd/tether-bench and
// cmd/tether-bench/internal/memcheck) share: reading a process's memory, and dialling
// many connections from one source address.
package loadtest

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// RSS returns the resident set size of process pid in KiB (VmRSS in
// /proc/<pid>/status); pid 0 means this process.
func RSS(pid int) (int64, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("failed to read memory: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS in " + path)
}
