//go:build !linux

package ws

import "net"

// kernelUnread cannot tell here.
func kernelUnread(net.Conn) int { return 0 }
