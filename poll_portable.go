//go:build !linux || tether_portable

package tether

// poller is empty on the portable path: every connection is read by its
// own goroutine (conn.readLoop). The tether_portable build tag selects
// this path on Linux too, so that tests can run on both.
type poller struct{ inline bool }

func (srv *Server) adoptSocket(*conn) {}

// pollRead is the poller path's reading state; never polled here.
type pollRead struct{ polled, mayRunHooks, hooksHere bool }

func (c *conn) poll() {}

func (c *conn) wakeWriter() {}

func (srv *Server) stopPoller() {}

const pollerPath = false
