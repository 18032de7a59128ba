package link

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// step is a step of a table of cases: its transition's name.
type step interface{ name() string }

// runTable runs the cases in testdata/file, each on the state that
// newCase makes, through the apply func it returns (an error message,
// or ""), and fails if a transition in want is in no case.
func runTable[S step](t *testing.T, file string, want []string, newCase func() func(S) string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []struct {
			Name  string
			Steps []S
		}
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("no cases")
	}
	done := map[string]bool{}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			apply := newCase()
			for i, st := range c.Steps {
				done[st.name()] = true
				if err := apply(st); err != "" {
					t.Fatalf("step %d (%s): %s", i, st.name(), err)
				}
			}
		})
	}
	for _, do := range want {
		if !done[do] {
			t.Errorf("no case does %q", do)
		}
	}
}
