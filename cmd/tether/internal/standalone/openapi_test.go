package standalone

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ws/tether/cmd/tether/internal/contract"
	"github.com/tether-ws/tether/internal/webhook"
)

var update = flag.Bool("update", false, "rewrite openapi.json from docs/openapi.yaml")

var (
	docOnce sync.Once
	doc     *contract.Contract
	docErr  error
)

// loadDoc loads docs/openapi.yaml once (it is checked against the OpenAPI
// 3.1 schema as it loads).
func loadDoc(t *testing.T) *contract.Contract {
	t.Helper()
	docOnce.Do(func() { doc, docErr = contract.Load() })
	if docErr != nil {
		t.Fatal(docErr)
	}
	return doc
}

// TestOpenAPIJSON: the JSON the server serves is docs/openapi.yaml.
func TestOpenAPIJSON(t *testing.T) {
	d := loadDoc(t)
	want, err := contract.ToJSON(d.Source)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("openapi.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Skip("openapi.json rewritten: run the tests again (it is embedded at build time)")
	}
	if !bytes.Equal(openAPIDoc, want) {
		t.Fatalf("openapi.json does not match %s: run go test ./internal/standalone -run TestOpenAPIJSON -update", contract.DocPath)
	}
	if _, err := contract.Parse(openAPIDoc); err != nil {
		t.Fatalf("the JSON form: %v", err)
	}
}

// testApp builds a server (not listening) and stops it at the end.
func testApp(t testing.TB, args ...string) *App {
	t.Helper()
	c := mustParse(t, append([]string{"-anonymous", "-restart-jitter", "10ms", "-shutdown-timeout", "2s"}, args...), nil)
	a, err := New(c, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.srv.Shutdown(ctx)
	})
	return a
}

// notInContract are the routes the server registers that are not part of
// the HTTP API's contract, and why.
var notInContract = map[string]string{
	"/ws":      "the WebSocket endpoint: docs/PROTOCOL.md",
	"/":        "the demo page and the browser client (static files)",
	"/api/":    "routes into the API's own mux (its routes are checked one by one)",
	"/api":     "routes into the API's own mux (404 not_found)",
	"/admin":   "the operator's page (HTML, with its own sign-in and session cookie): docs/API.md, Admin page",
	"/admin/":  "the operator's page and the JSON/SSE it reads, for that page only: docs/API.md, Admin page",
	"/client/": "the browser client bundle (static files): docs/API.md, The browser client",
}

// TestOpenAPIRoutes: every route the server registers is in
// docs/openapi.yaml with each method it answers, and every path and
// method of the document is a route the server registers.
func TestOpenAPIRoutes(t *testing.T) {
	d := loadDoc(t)
	a := testApp(t, "-api-key", "k0123456789abcdef")
	docOps := map[string]bool{}
	for _, op := range d.Operations() {
		docOps[op] = true
	}
	served := map[string]bool{}
	check := func(routes []route, skip map[string]string) {
		for _, r := range routes {
			if _, ok := skip[r.pattern]; ok {
				continue
			}
			ms := r.methods
			if ms == nil {
				ms = []string{http.MethodGet} // a handler for any method: the document has its GET
			}
			for _, m := range ms {
				op := m + " " + r.pattern
				served[op] = true
				if !docOps[op] {
					t.Errorf("the server registers %s; %s lacks it (or add it to notInContract with the reason)", op, contract.DocPath)
				}
			}
		}
	}
	check(a.mux.routes, notInContract)
	check(a.api.mux.routes, map[string]string{"/": "the API's 404 not_found for any other path"})
	for op := range docOps {
		if !strings.HasPrefix(op, "WEBHOOK ") && !served[op] {
			t.Errorf("%s has %s; the server registers no such route", contract.DocPath, op)
		}
	}
	if len(served) < 15 {
		t.Fatalf("only %d routes found: %v", len(served), served)
	}
}

// TestOpenAPIEnums: the document's causes and loss reasons are those of
// testdata/protocol-table.json, and its error codes are every code the
// server's code answers.
func TestOpenAPIEnums(t *testing.T) {
	d := loadDoc(t)
	docPath, _ := contract.FindDoc()
	root := filepath.Dir(filepath.Dir(docPath))
	raw, err := os.ReadFile(filepath.Join(root, "testdata", "protocol-table.json"))
	if err != nil {
		t.Fatal(err)
	}
	var table map[string]json.RawMessage
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	names := func(key string) []string {
		var rows []struct{ Name string }
		if err := json.Unmarshal(table[key], &rows); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, r.Name)
		}
		return out
	}
	enum := func(schema string) []string {
		s := d.Model.Components.Schemas.GetOrZero(schema)
		if s == nil {
			t.Fatalf("no schema %s", schema)
		}
		var out []string
		for _, n := range s.Schema().Enum {
			out = append(out, n.Value)
		}
		return out
	}
	same := func(what string, got, want []string) {
		g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
		if !slices.Equal(g, w) {
			t.Errorf("%s: the document has %q, want %q", what, g, w)
		}
	}
	same("Cause", enum("Cause"), names("causes"))
	same("LossReason", enum("LossReason"), names("lossReasons"))
	same("RoomReason", enum("RoomReason"), names("roomReasons"))

	// Every error code the code answers with, and no other.
	re := regexp.MustCompile(`(?:writeError\(w, |errorf\()http\.Status\w+, "([a-z_]+)"|Code: "([a-z_]+)"`)
	files, _ := filepath.Glob("*.go")
	codes := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || strings.HasPrefix(f, "admin") {
			continue // the admin page's own answers are not the API's (notInContract)
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			codes[m[1]+m[2]] = true
		}
	}
	if len(codes) < 15 {
		t.Fatalf("only %d error codes found in the code: %v", len(codes), codes)
	}
	same("ErrorCode", enum("ErrorCode"), slices.Collect(func(yield func(string) bool) {
		for c := range codes {
			if !yield(c) {
				return
			}
		}
	}))
}

// exchange is a request made and the answer it got.
type exchange struct {
	req      *http.Request
	reqBody  []byte
	resp     *http.Response
	respBody []byte
}

func exchangeWith(t testing.TB, h http.Handler, method, path, key, body string) exchange {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "http://tether.test"+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return exchange{req: req, reqBody: []byte(body), resp: rec.Result(), respBody: rec.Body.Bytes()}
}

// hookRequest is a webhook request as the dispatcher sends it.
func hookRequest(t *testing.T, ev *webhook.Event) exchange {
	t.Helper()
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "http://backend.test/hooks", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Tether-Event", ev.Type)
	req.Header.Set("Tether-Idempotency-Key", ev.ID)
	m := hmac.New(sha256.New, []byte("secret"))
	m.Write([]byte("1700000000." + string(body)))
	req.Header.Set("Tether-Signature", "t=1700000000,v1="+hex.EncodeToString(m.Sum(nil)))
	return exchange{req: req, reqBody: body}
}

// TestContractCatchesDrift: the checks fail when the document and the
// server part: each change below breaks the document in one way, and an
// exchange with the real server (or a webhook as the dispatcher sends it)
// that the true document accepts must then fail.
func TestContractCatchesDrift(t *testing.T) {
	d := loadDoc(t)
	const key = "k0123456789abcdef"
	a := testApp(t, "-api-key", key)
	h := a.Handler()
	text := `{"type":"text","text":"hello"}`
	broadcast := exchangeWith(t, h, "POST", "/api/rooms/r1/broadcast", key, text)
	history := exchangeWith(t, h, "GET", "/api/rooms/r1/history?limit=10", key, "")
	noRoom := exchangeWith(t, h, "GET", "/api/rooms/nope", key, "")
	noKey := exchangeWith(t, h, "GET", "/api/sessions", "", "")
	room := "r1"
	kicked := hookRequest(t, &webhook.Event{Type: "close", ID: "s1:close", Time: time.Now().UTC(), Session: "s1", User: "alice",
		Cause: "kicked", Reason: "bye", Counts: map[string]int64{"unacked": 0}, Meta: map[string]string{"remote_addr": "127.0.0.1:5"}})
	recovered := hookRequest(t, &webhook.Event{Type: "room_recovery", ID: "s1:room_recovery:r1", Time: time.Now().UTC(), Session: "s1", User: "alice",
		Room: &room, Reason: "epoch-changed", Recovery: &webhook.RoomRecovery{Readmitted: true}})
	exchanges := map[string]exchange{"broadcast": broadcast, "history": history, "noRoom": noRoom, "noKey": noKey, "kicked": kicked, "recovered": recovered}
	check := func(c *contract.Contract, name string) string {
		e := exchanges[name]
		if e.resp == nil {
			return c.CheckWebhook(e.req, e.reqBody)
		}
		return c.Check(e.req, e.reqBody, e.resp, e.respBody)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range exchanges {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		if msg := check(d, n); msg != "" {
			t.Fatalf("%s, with the true document: %s", n, msg)
		}
	}
	if broadcast.resp.StatusCode != 200 || history.resp.StatusCode != 200 || noRoom.resp.StatusCode != 404 || noKey.resp.StatusCode != 401 {
		t.Fatalf("statuses %d %d %d %d", broadcast.resp.StatusCode, history.resp.StatusCode, noRoom.resp.StatusCode, noKey.resp.StatusCode)
	}

	src := string(d.Source)
	for _, tc := range []struct {
		what, old, new, exchange string
	}{
		{"a field the server sends, removed", "                  stored: {type: boolean}\n", "", "broadcast"},
		{"a status changed", "        \"200\":\n          description: A page of history.", "        \"201\":\n          description: A page of history.", "history"},
		{"a path removed", "  /api/rooms/{room}/history:", "  /api/rooms/{room}/log:", "history"},
		{"an error code changed", "code: {const: room_not_found}", "code: {const: no_such_room}", "noRoom"},
		{"a header's pattern changed", "        WWW-Authenticate:\n          required: true\n          schema: {type: string, pattern: \"^Bearer \"}",
			"        WWW-Authenticate:\n          required: true\n          schema: {type: string, pattern: \"^Basic \"}", "noKey"},
		{"a request the server takes, refused", "            type: {const: text}\n            text: {type: string}", "            type: {const: text}\n            text: {type: string, maxLength: 3}", "broadcast"},
		{"a webhook field removed", "        reason: {type: string, description: \"The kick reason (cause `kicked`).\"}\n", "", "kicked"},
		{"a webhook header changed", `pattern: "^t=[0-9]+,v1=[0-9a-f]{64}$"`, `pattern: "^t=[0-9]+,v2=[0-9a-f]{64}$"`, "kicked"},
		{"null no longer allowed", "              type: [integer, \"null\"]\n", "              type: integer\n", "recovered"},
		{"a webhook removed", "  room_recovery:\n    post:", "  room_recovered:\n    post:", "recovered"},
	} {
		if n := strings.Count(src, tc.old); n != 1 {
			t.Errorf("%s: %q is in the document %d times, want once", tc.what, tc.old, n)
			continue
		}
		broken, err := contract.Parse([]byte(strings.Replace(src, tc.old, tc.new, 1)))
		if err != nil {
			t.Errorf("%s: %v", tc.what, err)
			continue
		}
		msg := check(broken, tc.exchange)
		if msg == "" {
			t.Errorf("%s: the %s exchange still passes", tc.what, tc.exchange)
			continue
		}
		t.Logf("%s: caught: %s", tc.what, firstLine(msg))
	}
}

func firstLine(s string) string {
	lines := strings.SplitN(s, "\n", 3)
	return strings.Join(lines[:min(2, len(lines))], " | ")
}

// BenchmarkContractCheck is what validating one exchange costs the tests
// (a broadcast: request body and answer).
func BenchmarkContractCheck(b *testing.B) {
	d, err := contract.Load()
	if err != nil {
		b.Fatal(err)
	}
	a := testApp(b, "-api-key", "k0123456789abcdef")
	e := exchangeWith(b, a.Handler(), "POST", "/api/rooms/r1/broadcast", "k0123456789abcdef", `{"type":"text","text":"hello"}`)
	for b.Loop() {
		if msg := d.Check(e.req, e.reqBody, e.resp, e.respBody); msg != "" {
			b.Fatal(msg)
		}
	}
}
