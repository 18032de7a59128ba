package wire_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tether-ws/tether/internal/wire"
)

// tablePath is the one table of close codes, causes and loss reasons,
// shared with the Go server's, the Go client's and the browser client's
// tests.
const tablePath = "../../testdata/protocol-table.json"

type protocolTable struct {
	CloseCodes []struct {
		Code        uint16 `json:"code"`
		Name        string `json:"name"`
		Reconnect   bool   `json:"reconnect"`
		ClientCause string `json:"clientCause"`
	} `json:"closeCodes"`
	LossReasons []struct {
		Code byte   `json:"code"`
		Name string `json:"name"`
	} `json:"lossReasons"`
	RoomReasons []struct {
		Code byte   `json:"code"`
		Name string `json:"name"`
	} `json:"roomReasons"`
}

func loadTable(t *testing.T) *protocolTable {
	t.Helper()
	b, err := os.ReadFile(tablePath)
	if err != nil {
		t.Fatal(err)
	}
	var pt protocolTable
	if err := json.Unmarshal(b, &pt); err != nil {
		t.Fatalf("%s: %v", tablePath, err)
	}
	return &pt
}

func TestProtocolTable(t *testing.T) {
	pt := loadTable(t)
	seen := map[wire.CloseCode]bool{}
	for _, c := range pt.CloseCodes {
		code := wire.CloseCode(c.Code)
		seen[code] = true
		if code.String() != c.Name || code.Reconnect() != c.Reconnect {
			t.Errorf("close %d: %s, reconnect %v; the table says %s, %v", c.Code, code, code.Reconnect(), c.Name, c.Reconnect)
		}
	}
	for _, c := range []wire.CloseCode{wire.CloseNormal, wire.CloseGoingAway, wire.CloseProtocolErr, wire.CloseNoStatus,
		wire.CloseAbnormal, wire.CloseInternalErr, wire.CloseServiceRetry, wire.CloseDetach, wire.CloseServerRestart,
		wire.CloseHeartbeatTimeout, wire.CloseOverflow, wire.CloseTryAgain, wire.CloseServerError, wire.CloseRateLimited,
		wire.CloseSuperseded, wire.CloseProtocolViolation, wire.CloseUnauthorized, wire.CloseForbidden, wire.CloseReplaced,
		wire.CloseKicked, wire.CloseTooBig, wire.CloseUnsupported, wire.ClosePolicy} {
		if !seen[c] {
			t.Errorf("close %d (%s) is not in the table", c, c)
		}
	}
	for i, r := range pt.LossReasons {
		if int(r.Code) != i || wire.LossReason(r.Code).String() != r.Name {
			t.Errorf("loss reason %d: %s; the table says %s", r.Code, wire.LossReason(r.Code), r.Name)
		}
	}
	if len(pt.LossReasons) != int(wire.ReasonDiverged)+1 {
		t.Errorf("the table has %d loss reasons, the code %d", len(pt.LossReasons), wire.ReasonDiverged+1)
	}
	for i, r := range pt.RoomReasons {
		if int(r.Code) != i || wire.RoomReason(r.Code).String() != r.Name {
			t.Errorf("room reason %d: %s; the table says %s", r.Code, wire.RoomReason(r.Code), r.Name)
		}
	}
	if len(pt.RoomReasons) != int(wire.RoomReasonNotReadmitted)+1 {
		t.Errorf("the table has %d room reasons, the code %d", len(pt.RoomReasons), wire.RoomReasonNotReadmitted+1)
	}
}

// TestProtocolDocCloseCodes checks PROTOCOL.md's table of close codes
// (§11) against the shared table: every code is there, with the action
// the table gives.
func TestProtocolDocCloseCodes(t *testing.T) {
	pt := loadTable(t)
	f, err := os.Open("../../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile(`^\| (\d{4}(?:, \d{4})*) \|`)
	action := map[uint16]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## 11."):
			in = true
		case strings.HasPrefix(line, "## "):
			in = false
		}
		m := row.FindStringSubmatch(line)
		if !in || m == nil {
			continue
		}
		cells := strings.Split(line, "|")
		for _, c := range strings.Split(m[1], ", ") {
			code, _ := strconv.Atoi(c)
			action[uint16(code)] = strings.TrimSpace(cells[len(cells)-2])
		}
	}
	for _, c := range pt.CloseCodes {
		a, ok := action[c.Code]
		switch {
		case !ok:
			t.Errorf("PROTOCOL.md §11 has no row for %d (%s)", c.Code, c.Name)
		case a == "—":
			// Sent by the client only.
		case c.Reconnect && !strings.HasPrefix(a, "reconnect"), !c.Reconnect && !strings.HasPrefix(a, "stop"):
			t.Errorf("PROTOCOL.md §11, %d: client action %q; the table says reconnect=%v", c.Code, a, c.Reconnect)
		}
	}
}

// TestProtocolDocLossReasons checks PROTOCOL.md's table of loss reasons
// (§8) against the shared table: every code, with its name.
func TestProtocolDocLossReasons(t *testing.T) {
	pt := loadTable(t)
	b, err := os.ReadFile("../../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "## 8. ")
	end := strings.Index(doc[start:], "\n### ")
	if start < 0 || end < 0 {
		t.Fatal("PROTOCOL.md has no §8")
	}
	sec := doc[start : start+end]
	for _, r := range pt.LossReasons {
		if !strings.Contains(sec, fmt.Sprintf("| %d | %s |", r.Code, r.Name)) {
			t.Errorf("PROTOCOL.md §8 has no row \"| %d | %s |\"", r.Code, r.Name)
		}
	}
}
