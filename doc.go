// Package tether is a WebSocket server for which a dropped connection is a
// non-event. A Session outlives its connections: every message in either
// direction is numbered and acknowledged, and a client that reconnects
// within the grace window resumes its session with the missed messages
// replayed exactly once, in order. When that is impossible both sides are
// told how much was lost and why.
//
// Server is an http.Handler; mount it on any router. The Go client is in
// package client, the protocol in docs/PROTOCOL.md.
package tether
