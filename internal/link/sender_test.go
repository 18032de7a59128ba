package link

import (
	"testing"
	"time"
)

// TestSender runs every transition of Sender through cases: each step
// changes the state, and plan steps check what the next write carries.
func TestSender(t *testing.T) {
	pol := AckPolicy{Delay: 10 * time.Millisecond, Window: 100}
	type step struct {
		do   func(*Sender) bool // a transition; its result checked against ok
		ok   bool
		plan *Plan // a Plan(ctrl) step: want this, or nothing (nil)
		ctrl bool
	}
	do := func(f func(*Sender)) step { return step{do: func(s *Sender) bool { f(s); return true }, ok: true} }
	try := func(f func(*Sender) bool, ok bool) step { return step{do: f, ok: ok} }
	plan := func(p *Plan) step { return step{plan: p} }
	planCtrl := func(p *Plan) step { return step{plan: p, ctrl: true} }
	none := step{}
	noneCtrl := step{ctrl: true}
	ready := do((*Sender).Ready)
	exists := func(n uint64) step { return do(func(s *Sender) { s.Exists(n) }) }
	wrote := func(n uint64) step { return do(func(s *Sender) { s.Wrote(n) }) }
	sent := func(n uint64) step {
		return step{do: func(s *Sender) bool { return s.Acks.Sent() == n }, ok: true}
	}
	processed := func(seq uint64, urgent bool) step {
		return do(func(s *Sender) {
			p := pol
			if urgent {
				p.Window = 1
			}
			s.Acks.Processed(p, seq, 10)
		})
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"nothing before ready, not even data", []step{exists(3), none, noneCtrl}},
		{"ready with nothing to send", []step{ready, none}},
		{"control frames go alone once ready", []step{ready, planCtrl(&Plan{}), none}},
		{"data after ready, from what was written", []step{exists(3), ready, plan(&Plan{Data: true}), wrote(3), none}},
		{"data resumes after Begin", []step{do(func(s *Sender) { s.Begin(2) }), exists(5), ready, plan(&Plan{Data: true, From: 2})}},
		{"resume sets from and target", []step{do(func(s *Sender) { s.Resume(4, 9) }), plan(&Plan{Data: true, From: 4}), wrote(9), none}},
		{"resume keeps a higher target", []step{exists(12), do(func(s *Sender) { s.Resume(4, 9) }), plan(&Plan{Data: true, From: 4}), wrote(9), plan(&Plan{Data: true, From: 9})}},
		{"exhausted stops looking", []step{exists(5), ready, plan(&Plan{Data: true}), wrote(2), do((*Sender).Exhausted), none, exists(6), plan(&Plan{Data: true, From: 2})}},
		{"skip moves past what the peer acknowledged", []step{exists(5), ready, do(func(s *Sender) { s.Skip(3) }), plan(&Plan{Data: true, From: 3}), do(func(s *Sender) { s.Skip(1) }), plan(&Plan{Data: true, From: 3})}},
		{"a ping goes once, with the ack", []step{ready, do((*Sender).PingDue), plan(&Plan{Ping: true}), none}},
		{"a pending ack rides on the ping", []step{ready, processed(4, false), do((*Sender).PingDue), plan(&Plan{Ping: true, Ack: 4}), none}},
		{"a delayed ack waits for a carrier", []step{ready, processed(4, false), none, exists(1), plan(&Plan{Data: true, AckFrame: true, Ack: 4})}},
		{"a delayed ack rides on control frames", []step{ready, processed(4, false), planCtrl(&Plan{AckFrame: true, Ack: 4}), none}},
		{"an urgent ack goes alone", []step{ready, processed(4, true), plan(&Plan{AckFrame: true, Ack: 4}), none}},
		{"an urgent ack waits for ready", []step{processed(4, true), none, ready, plan(&Plan{AckFrame: true, Ack: 4})}},
		{"seal stops data, not the rest", []step{exists(5), ready, try((*Sender).Seal, true), try((*Sender).Seal, false), none, do((*Sender).PingDue), plan(&Plan{Ping: true})}},
		{"close goes after control frames, without data or ping", []step{exists(5), ready, do((*Sender).PingDue), try((*Sender).Close, true), try((*Sender).Close, false), planCtrl(&Plan{Close: true})}},
		{"close before ready still goes", []step{exists(5), try((*Sender).Close, true), plan(&Plan{Close: true})}},
		{"close carries an urgent ack in a frame", []step{ready, processed(3, true), try((*Sender).Close, true), plan(&Plan{Close: true, AckFrame: true, Ack: 3})}},
		{"ended writes nothing", []step{exists(5), ready, do((*Sender).End), none, noneCtrl, try((*Sender).Close, false), try((*Sender).Seal, false), try((*Sender).Abort, false)}},
		{"abort ends at once", []step{exists(5), ready, try((*Sender).Abort, true), none, try((*Sender).Abort, false), try((*Sender).Close, false)}},
		{"one writer: a claim while one runs gets nothing", []step{try((*Sender).Claim, true), try((*Sender).Claim, false)}},
		{"the writer's claim ends when Plan has nothing", []step{ready, try((*Sender).Claim, true), none, try((*Sender).Claim, true)}},
		{"the writer keeps its claim while Plan has something", []step{exists(3), ready, try((*Sender).Claim, true), plan(&Plan{Data: true}), try((*Sender).Claim, false), wrote(3), none, try((*Sender).Claim, true)}},
		{"held: nobody claims until Release, which claims", []step{do((*Sender).Hold), try((*Sender).Claim, false), try((*Sender).Release, true), try((*Sender).Claim, false)}},
		{"Release while a writer runs claims nothing", []step{try((*Sender).Claim, true), do((*Sender).Hold), try((*Sender).Release, false), none, try((*Sender).Claim, true)}},
		{"ended: never claimed again", []step{try((*Sender).Claim, true), do((*Sender).End), try((*Sender).Claim, false), do((*Sender).Hold), try((*Sender).Release, false)}},
		{"abort ends the claim", []step{try((*Sender).Claim, true), try((*Sender).Abort, true), try((*Sender).Claim, false), none}},
		{"the window starts at the last ack taken", []step{ready, processed(4, true), plan(&Plan{AckFrame: true, Ack: 4}), sent(4), processed(6, false), sent(4), exists(1), plan(&Plan{Data: true, AckFrame: true, Ack: 6}), sent(6)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s Sender
			for i, st := range c.steps {
				if st.do != nil {
					if got := st.do(&s); got != st.ok {
						t.Fatalf("step %d: got %v, want %v", i, got, st.ok)
					}
					continue
				}
				p, ok := s.Plan(st.ctrl)
				switch {
				case st.plan == nil && ok:
					t.Fatalf("step %d: Plan(%v) = %+v, want nothing", i, st.ctrl, p)
				case st.plan != nil && !ok:
					t.Fatalf("step %d: Plan(%v) = nothing, want %+v", i, st.ctrl, *st.plan)
				case st.plan != nil && p != *st.plan:
					t.Fatalf("step %d: Plan(%v) = %+v, want %+v", i, st.ctrl, p, *st.plan)
				}
			}
		})
	}
}
