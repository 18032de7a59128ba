package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// traceEnv, when set to 1, makes each worker print, for every client whose
// losses its reports do not explain, the client's recent history: the
// sessions it had, what each lost session reported, and where its echoes
// broke off. For finding the cause of an unexplained loss; off by default.
const traceEnv = "TETHER_BENCH_TRACE"

var tracing = os.Getenv(traceEnv) == "1"

const maxTrace = 64

// traceLocked records one line of the client's history (c.mu held).
func (c *bclient) traceLocked(format string, args ...any) {
	if !tracing {
		return
	}
	if len(c.trace) >= maxTrace {
		copy(c.trace, c.trace[1:])
		c.trace = c.trace[:maxTrace-1]
	}
	c.trace = append(c.trace, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
}

// dumpTraceLocked prints the client's history (c.mu held).
func (c *bclient) dumpTraceLocked(seen uint64) {
	if !tracing {
		return
	}
	var miss []string
	c.echo.lost(c.sent, func(q uint64) {
		if _, ok := c.unsent[q]; !ok && len(miss) < 40 {
			miss = append(miss, fmt.Sprint(q))
		}
	})
	fmt.Fprintf(os.Stderr, "TRACE client %d: lost %d, told %d (unknown %d), sent %d, echo highest %d, missing %s\n%s\n",
		c.cid, seen, c.lostTo, c.lostUnknown, c.sent, c.echo.highest(), strings.Join(miss, ","),
		"    "+strings.Join(c.trace, "\n    "))
}
