package link

import (
	"encoding/json"
	"testing"
	"time"
)

// connStep is one step of testdata/conn-cases.json: a transition of a
// Conn (or of the session's counters it reads) and what it must return.
type connStep struct {
	Do        string
	Seq       uint64
	To        uint64 // resume: the target
	Live      bool   // deliver
	Ctrl      bool   // plan
	OK        bool   // the transition's report: claim, ok, moved, fence
	Err       bool   // ack: refused
	Code      uint16 // close, seal, closeframe
	Reason    string
	Want      *Plan  // plan: what the write carries; nil: nothing to write
	Step      string // step: the drain's next step
	Even      bool   // step: the session's counters are even (set with take and done)
	Shared    bool
	Final     bool
	Urgent    bool // processed: the ack is urgent (half the window)
	Appending bool // step: a numbering under way
}

// TestConnCases runs the transitions of a connection's protocol state
// through the cases in testdata/conn-cases.json, each from a new Conn and
// new session counters: every event the server's and the Go client's
// connections give it, and what it returns.
func TestConnCases(t *testing.T) {
	runTable(t, "conn-cases.json", []string{"ready", "resume", "deliver", "plan", "wrote", "exhausted", "live",
		"close", "closeframe", "abort", "end", "ack", "drain", "pong", "answered", "fence", "step",
		"seal", "peerdrain", "processed", "claim", "hold", "release", "window", "admits", "processedp"},
		func() func(connStep) string {
			var cs Conn
			var n Counts
			return func(st connStep) string { return connDo(&cs, &n, st) }
		})
}

func (s connStep) name() string { return s.Do }

func connDo(c *Conn, n *Counts, st connStep) string {
	check := func(name string, got, want any) string {
		if got != want {
			return name + ": got " + jsonOf(got) + ", want " + jsonOf(want)
		}
		return ""
	}
	switch st.Do {
	case "ready":
		c.Ready()
	case "resume":
		c.Resume(st.Seq, st.To)
	case "number": // the session numbers a message for the client
		n.Numbered(st.Seq)
	case "deliver":
		return check("claim", c.Deliver(st.Seq, st.Live), st.OK)
	case "live":
		return check("Live", c.Live(), st.Seq)
	case "plan":
		p, ok := c.Plan(st.Ctrl)
		if st.Want == nil {
			return check("plan", ok, false)
		}
		if !ok {
			return "nothing to write, want " + jsonOf(*st.Want)
		}
		return check("plan", p, *st.Want)
	case "wrote":
		c.Wrote(st.Seq)
	case "exhausted":
		c.Exhausted()
	case "close":
		return check("Close", c.Close(st.Code, st.Reason), st.OK)
	case "closeframe":
		code, reason := c.CloseFrame()
		if e := check("code", code, st.Code); e != "" {
			return e
		}
		return check("reason", reason, st.Reason)
	case "abort":
		return check("Abort", c.Abort(), st.OK)
	case "end":
		c.End()
	case "ack":
		moved, err := c.Ack(st.Seq, n)
		if e := check("refused", err != nil, st.Err); e != "" {
			return e
		}
		return check("moved", moved, st.OK)
	case "drain":
		last, ok := c.Drain()
		if e := check("Drain", ok, st.OK); e != "" {
			return e
		}
		if ok {
			return check("last seq", last, st.Seq)
		}
	case "pong":
		return check("fence", c.Pong(), st.OK)
	case "answered":
		c.Answered()
	case "fence":
		return check("Fence", c.Fence(), st.OK)
	case "take": // the session takes client message seq for processing
		n.Take(st.Seq)
	case "done": // its processing ends
		n.Done(st.Seq)
	case "begin": // a Send starts numbering
		n.Begin()
	case "endnumber": // and ends, numbering seq
		n.End(st.Seq)
	case "pingdue":
		c.PingDue()
	case "step":
		return check("step", c.DrainStep(n, st.Shared, st.Final).String(), st.Step)
	case "seal":
		return check("Seal", c.Seal(st.Seq, st.Code, st.Reason), st.OK)
	case "peerdrain":
		c.PeerDrain()
	case "processed":
		p := AckPolicy{Delay: 10 * time.Millisecond, Window: 100}
		if st.Urgent {
			p.Window = 1
		}
		c.Acks.Processed(p, st.Seq, 10)
	case "window":
		c.SetWindow(st.Seq)
		return check("Window", c.Window(), min(st.Seq, 1<<32-1))
	case "admits":
		return check("Admits", c.Admits(st.Seq), st.OK)
	case "processedp": // processed, by the connection's own policy (the peer's window)
		c.Acks.Processed(c.AckPolicy(10*time.Millisecond), st.Seq, 10)
	case "claim":
		return check("Claim", c.Claim(), st.OK)
	case "hold":
		c.Hold()
	case "release":
		return check("Release", c.Release(), st.OK)
	default:
		return "unknown step"
	}
	return ""
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
