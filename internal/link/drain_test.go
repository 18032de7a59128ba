package link

import (
	"encoding/json"
	"os"
	"testing"
)

func TestProbeCases(t *testing.T) {
	b, err := os.ReadFile("testdata/probe-cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []struct {
			Name  string
			Steps []struct {
				Do                  string
				OK, Fence           bool
				Even, Shared, Quiet bool
				Over, Final         bool
				Appending           bool
				Want                string
			}
		}
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			var p Probe
			for i, st := range c.Steps {
				switch st.Do {
				case "start":
					if got := p.Start(); got != st.OK {
						t.Fatalf("step %d: Start = %v, want %v", i, got, st.OK)
					}
					if !p.Draining() {
						t.Fatalf("step %d: not draining after Start", i)
					}
				case "ping":
					p.PingWritten()
				case "pong":
					if got := p.Pong(); got != st.Fence {
						t.Fatalf("step %d: Pong = %v, want %v", i, got, st.Fence)
					}
				case "goaway":
					p.GoAway()
				case "fence":
					if got := p.Fence(); got != st.OK {
						t.Fatalf("step %d: Fence = %v, want %v", i, got, st.OK)
					}
				case "fenced":
					if got := p.Fenced(); got != st.OK {
						t.Fatalf("step %d: Fenced = %v, want %v", i, got, st.OK)
					}
				case "settle":
					was := p.Quiet()
					ok, quiet := p.Settle(st.Even, st.Shared)
					if ok != st.OK || quiet != st.Quiet {
						t.Fatalf("step %d: Settle(even %v, shared %v) = %v, %v; want %v, %v", i, st.Even, st.Shared, ok, quiet, st.OK, st.Quiet)
					}
					if p.Quiet() != (was || quiet) {
						t.Fatalf("step %d: Quiet = %v after Settle said quiet %v (was %v)", i, p.Quiet(), quiet, was)
					}
				case "next":
					v := View{Over: st.Over, Even: st.Even, Shared: st.Shared, Final: st.Final, Appending: st.Appending}
					if got := p.Next(v); got.String() != st.Want {
						t.Fatalf("step %d: Next(%+v) = %v, want %v", i, v, got, st.Want)
					}
				default:
					t.Fatalf("step %d: unknown step %q", i, st.Do)
				}
			}
		})
	}
}

func TestFinish(t *testing.T) {
	for _, c := range []struct {
		shared, found bool
		acked, out    uint64
		want          bool
	}{
		{found: true, acked: 5, out: 5, want: true},               // everything acknowledged
		{found: true, acked: 4, out: 5, want: false},              // its ack checks again
		{found: true, acked: 0, out: 0, want: true},               // nothing was sent
		{found: false, acked: 1, out: 2, want: true},              // the store lost the session: no counts to wait on
		{shared: true, found: true, acked: 4, out: 5, want: true}, // the rest lives on in the store
	} {
		if got := Finish(c.shared, c.found, c.acked, c.out); got != c.want {
			t.Errorf("Finish(shared %v, found %v, acked %d, out %d) = %v, want %v", c.shared, c.found, c.acked, c.out, got, c.want)
		}
	}
}
