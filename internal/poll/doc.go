// Package poll reads and writes many sockets from a few goroutines, with
// Linux's epoll: a connection with nothing to read or write costs its
// Conn (about a hundred bytes) and two map entries — no goroutine, no
// buffer. Each poller goroutine waits in epoll_wait and reads into one
// 64 KiB buffer it shares with all its connections; a Write from any
// goroutine goes straight to the socket, and only what the kernel does
// not take is queued, and flushed when the socket is writable again.
//
// It exists for Tether's server (docs/DESIGN.md, "I/O layer: the choice"):
// the library's only dependency for it is golang.org/x/sys. Other
// platforms have no poller; the server reads with a goroutine there.
package poll
