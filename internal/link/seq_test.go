package link

import (
	"encoding/json"
	"os"
	"testing"
)

// seqCasesPath is shared with the TypeScript client's tests.
const seqCasesPath = "../../testdata/seq-cases.json"

func TestSeqCases(t *testing.T) {
	b, err := os.ReadFile(seqCasesPath)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Accept []struct {
			Last, Seq uint64
			Want      string
			Error     string
		}
		Ack []struct {
			Ack, Written uint64
			Error        string
		}
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Accept) == 0 || len(f.Ack) == 0 {
		t.Fatal("no cases")
	}
	names := map[Arrival]string{Next: "next", Repeat: "repeat"}
	for _, c := range f.Accept {
		a, err := Accept(c.Last, c.Seq)
		got := names[a]
		if err != nil {
			got = "error"
			if err.Error() != c.Error {
				t.Errorf("Accept(%d, %d) error %q, want %q", c.Last, c.Seq, err, c.Error)
			}
		}
		if got != c.Want {
			t.Errorf("Accept(%d, %d) = %s, want %s", c.Last, c.Seq, got, c.Want)
		}
	}
	for _, c := range f.Ack {
		err := CheckAck(c.Ack, c.Written)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.Error {
			t.Errorf("CheckAck(%d, %d) = %q, want %q", c.Ack, c.Written, got, c.Error)
		}
	}
}

func TestInWindow(t *testing.T) {
	for _, c := range []struct {
		seq, acked, window uint64
		want               bool
	}{
		{1, 0, 1, true}, {2, 0, 1, false}, {100, 36, 64, true}, {101, 36, 64, false}, {5, 10, 0, true}, {11, 10, 0, false},
	} {
		if got := InWindow(c.seq, c.acked, c.window); got != c.want {
			t.Errorf("InWindow(%d, %d, %d) = %v, want %v", c.seq, c.acked, c.window, got, c.want)
		}
	}
}
