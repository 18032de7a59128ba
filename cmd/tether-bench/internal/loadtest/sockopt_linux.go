package loadtest

import "syscall"

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT from linux/in.h.
const ipBindAddressNoPort = 24

// BindNoPort, as a net.Dialer's Control, lets the kernel pick the source
// port at connect time, by the whole 4-tuple, instead of at bind time:
// binding thousands of sockets to one source address otherwise searches a
// crowded port range.
func BindNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
