//go:build linux

package ws

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// kernelUnread is SIOCINQ (FIONREAD) on nc's socket.
func kernelUnread(nc net.Conn) int {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return 0
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = rc.Control(func(fd uintptr) {
		if v, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ); err == nil {
			n = v
		}
	})
	return n
}
