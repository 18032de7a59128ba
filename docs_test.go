package tether_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocSnippets: every Go snippet of README.md and docs/ stands, line
// for line, in an Example function, which `go test` compiles (and runs
// when it has an Output comment): a snippet that no longer compiles, or
// that drifted from its example, fails here.
func TestDocSnippets(t *testing.T) {
	var examples []string
	for _, f := range []string{"example_test.go", "client/example_test.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		examples = append(examples, normLines(string(b))...)
	}
	docs, _ := filepath.Glob("docs/*.md")
	docs = append(docs, "README.md")
	block := regexp.MustCompile("(?s)```go\n(.*?)```")
	n := 0
	for _, d := range docs {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllStringSubmatch(string(b), -1) {
			n++
			if !contains(examples, normLines(m[1])) {
				t.Errorf("%s: this snippet is in no Example function:\n%s", d, m[1])
			}
		}
	}
	if n == 0 {
		t.Fatal("no Go snippet found: the test reads nothing")
	}
}

// normLines returns s's lines trimmed, without blank ones.
func normLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// contains reports whether sub is a run of consecutive lines of all.
func contains(all, sub []string) bool {
	for i := 0; i+len(sub) <= len(all); i++ {
		ok := true
		for j := range sub {
			if all[i+j] != sub[j] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
