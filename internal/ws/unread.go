package ws

import "net"

// Unread is how many bytes from the peer wait in the kernel, not yet read:
// a sign of life when the reader is behind (a starved process, a stalled
// poller), so that a heartbeat does not call a talking peer silent. It is
// 0 where the platform cannot tell, or while a write holds the connection.
func (c *Conn) Unread() int {
	if !c.wmu.TryLock() {
		return 0 // a write in progress may block: no answer rather than a wait
	}
	nc := c.nc
	c.wmu.Unlock()
	return unread(nc)
}

// unread asks nc, or the connection under it, how many bytes wait.
func unread(nc net.Conn) int {
	for range 4 { // a TLS connection over a wrapper, at most
		switch v := nc.(type) {
		case interface{ Unread() int }:
			return v.Unread()
		case interface{ NetConn() net.Conn }:
			nc = v.NetConn()
		default:
			return kernelUnread(nc)
		}
	}
	return 0
}
