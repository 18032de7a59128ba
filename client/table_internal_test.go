package client

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/tether-ws/tether"
)

// TestCloseCausesTable: the cause the client reports for each close code
// is the shared table's (testdata/protocol-table.json), as the browser
// client's is.
func TestCloseCausesTable(t *testing.T) {
	b, err := os.ReadFile("../testdata/protocol-table.json")
	if err != nil {
		t.Fatal(err)
	}
	var pt struct {
		CloseCodes []struct {
			Code        uint16 `json:"code"`
			ClientCause string `json:"clientCause"`
		} `json:"closeCodes"`
	}
	if err := json.Unmarshal(b, &pt); err != nil {
		t.Fatal(err)
	}
	for _, c := range pt.CloseCodes {
		if got := causeOf(tether.CloseCode(c.Code)); got.String() != c.ClientCause {
			t.Errorf("close %d: the client reports %s; the table says %s", c.Code, got, c.ClientCause)
		}
	}
}
