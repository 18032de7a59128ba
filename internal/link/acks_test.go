package link

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

// casesPath is shared with the TypeScript client's tests.
const casesPath = "../../testdata/ack-cases.json"

type ackStep struct {
	Do      string `json:"do"`
	Seq     uint64 `json:"seq"`
	N       int    `json:"n"`
	Carrier bool   `json:"carrier"`
	Effect  string `json:"effect"`
	Woke    bool   `json:"woke"`
	Ack     uint64 `json:"ack"`
	Due     bool   `json:"due"`
}

type ackCase struct {
	Name   string `json:"name"`
	Policy struct {
		Window uint64 `json:"window"`
		Bytes  int    `json:"bytes"`
	} `json:"policy"`
	Steps []ackStep `json:"steps"`
}

func loadAckCases(t *testing.T) []ackCase {
	t.Helper()
	b, err := os.ReadFile(casesPath)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []ackCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("no cases")
	}
	return f.Cases
}

func TestAckCases(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range loadAckCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			p := AckPolicy{Window: c.Policy.Window, Bytes: c.Policy.Bytes}
			var a Acks
			for i, st := range c.Steps {
				var got, want string
				switch st.Do {
				case "processed":
					e := a.Processed(p, st.Seq, st.N)
					got, want = e.String(), st.Effect
					seen["processed:"+got] = true
				case "due":
					w := a.Due()
					got, want = fmt.Sprint(w), fmt.Sprint(st.Woke)
					seen[fmt.Sprint("due:", w)] = true
				case "take":
					seq, due := a.Take(st.Carrier)
					got, want = fmt.Sprint(seq, due), fmt.Sprint(st.Ack, st.Due)
					seen[fmt.Sprint("take:", st.Carrier, due)] = true
				case "start":
					a.Start(st.Seq)
				default:
					t.Fatalf("step %d: unknown step %q", i, st.Do)
				}
				if got != want {
					t.Fatalf("step %d (%s %+v): got %s, want %s", i, st.Do, st, got, want)
				}
			}
		})
	}
	// Every outcome of every transition is in the table.
	for _, k := range []string{"processed:none", "processed:arm", "processed:write", "due:true", "due:false",
		"take:true true", "take:true false", "take:false true", "take:false false"} {
		if !seen[k] {
			t.Errorf("no case yields %s", k)
		}
	}
}

func TestSentAndPending(t *testing.T) {
	var a Acks
	p := AckPolicy{Window: 64}
	a.Processed(p, 3, 0)
	if !a.Pending() || a.Sent() != 0 {
		t.Fatalf("pending %v sent %d, want true 0", a.Pending(), a.Sent())
	}
	a.Take(true)
	if a.Pending() || a.Sent() != 3 {
		t.Fatalf("pending %v sent %d, want false 3", a.Pending(), a.Sent())
	}
}

// TestAcksBytesSaturate: the byte count is 32 bits; what does not fit
// saturates instead of wrapping below the byte rule.
func TestAcksBytesSaturate(t *testing.T) {
	p := AckPolicy{Window: 1 << 20, Bytes: AckBytes}
	var a Acks
	if e := a.Processed(p, 1, 1<<32+10); e != Write {
		t.Fatalf("a batch of 4 GiB: %v, want write", e)
	}
	var b Acks
	b.Processed(p, 1, 1<<31-1)
	if _, due := b.Take(false); !due {
		t.Fatal("ack not urgent after 2 GiB")
	}
	if e := b.Processed(p, 2, 10); e != Arm {
		t.Fatalf("after the take: %v, want arm (the count starts again)", e)
	}
}
