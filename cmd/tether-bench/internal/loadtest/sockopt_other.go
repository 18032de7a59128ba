//go:build !linux

package loadtest

import "syscall"

// BindNoPort does nothing where IP_BIND_ADDRESS_NO_PORT does not exist.
func BindNoPort(_, _ string, _ syscall.RawConn) error { return nil }
