package link

import "testing"

// lifeStep is one step of testdata/life-cases.json: a transition of a
// session's Life, whose connections are numbered (0: none), and what it
// must return.
type lifeStep struct {
	Do        string
	C         int    // the connection given (open, attach, detach, current) or returned (end, leave, conn)
	Old       int    // attach: the connection replaced
	Now       int64  // the moment given (detach, leave, hold)
	Gen       uint32 // the expiry's generation given (expire) or returned (detach, hold)
	OK        bool   // the transition's report
	Away      int64  // attach: since when the client was away
	Connected bool   // leave: one was attached
	Sealed    bool   // route: the tombstone is being written
	Want      string // route: where a Send goes; phase: the phase
}

// TestLifeCases runs the transitions of a session's life through the
// cases in testdata/life-cases.json, each from a new Life: every event
// the server gives it, and what it returns.
func TestLifeCases(t *testing.T) {
	runTable(t, "life-cases.json", []string{"open", "hold", "attach", "detach", "expire", "end", "leave", "finalize",
		"route", "conn", "current", "phase", "since", "moved", "remote", "final"},
		func() func(lifeStep) string {
			var l Life[int]
			return func(st lifeStep) string { return lifeDo(&l, st) }
		})
}

func (s lifeStep) name() string { return s.Do }

func lifeDo(l *Life[int], st lifeStep) string {
	check := func(name string, got, want any) string {
		if got != want {
			return name + ": got " + jsonOf(got) + ", want " + jsonOf(want)
		}
		return ""
	}
	all := func(errs ...string) string {
		for _, e := range errs {
			if e != "" {
				return e
			}
		}
		return ""
	}
	switch st.Do {
	case "open":
		l.Open(st.C)
	case "hold":
		return check("gen", l.Hold(st.Now), st.Gen)
	case "attach":
		old, away, ok := l.Attach(st.C)
		return all(check("ok", ok, st.OK), check("replaced", old, st.Old), check("away", away, st.Away))
	case "detach":
		gen, ok := l.Detach(st.C, st.Now)
		return all(check("ok", ok, st.OK), check("gen", gen, st.Gen))
	case "expire":
		return check("Expire", l.Expire(st.Gen), st.OK)
	case "end":
		c, ok := l.End()
		return all(check("ok", ok, st.OK), check("conn", c, st.C))
	case "leave":
		c, connected, ok := l.Leave(st.Now)
		return all(check("ok", ok, st.OK), check("conn", c, st.C), check("connected", connected, st.Connected))
	case "finalize":
		l.Finalize()
	case "route":
		return check("Route", l.Route(st.Sealed).String(), st.Want)
	case "conn":
		return check("Conn", l.Conn(), st.C)
	case "current":
		return check("Current", l.Current(st.C), st.OK)
	case "phase":
		return check("Phase", l.Phase().String(), st.Want)
	case "since":
		return check("Since", l.Since(), st.Now)
	case "moved":
		return check("Moved", l.Moved(), st.OK)
	case "remote":
		return check("Remote", l.Remote(), st.OK)
	case "final":
		return check("Final", l.Final(), st.OK)
	default:
		return "unknown step"
	}
	return ""
}
