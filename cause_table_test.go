package tether_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tether-ws/tether"
)

// TestCausesTable checks the causes (the names hooks, webhooks and
// metrics use) against the shared table in testdata/protocol-table.json.
func TestCausesTable(t *testing.T) {
	b, err := os.ReadFile("testdata/protocol-table.json")
	if err != nil {
		t.Fatal(err)
	}
	var pt struct {
		Causes []struct {
			Value uint8  `json:"value"`
			Name  string `json:"name"`
		} `json:"causes"`
	}
	if err := json.Unmarshal(b, &pt); err != nil {
		t.Fatal(err)
	}
	for i, c := range pt.Causes {
		if int(c.Value) != i+1 || tether.Cause(c.Value).String() != c.Name {
			t.Errorf("cause %d is %s; the table says %s", c.Value, tether.Cause(c.Value), c.Name)
		}
	}
	if n := len(pt.Causes); n != int(tether.CauseRateLimited) {
		t.Errorf("the table has %d causes; the code has %d", n, tether.CauseRateLimited)
	}
	// docs/API.md lists the causes webhooks and metrics carry.
	api, err := os.ReadFile("docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range pt.Causes {
		if c.Name != "unauthorized" && !strings.Contains(string(api), "`"+c.Name+"`") {
			t.Errorf("docs/API.md does not list the cause %q", c.Name)
		}
	}
}
