package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

// checkCoverage is run by TestMain after a full run: every operation and
// webhook of docs/openapi.yaml must have been exercised by a test (through
// openAPI.Client or a test backend), so that none of the document is
// unchecked. A run limited with -run or -skip does not check it.
func checkCoverage() int {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			fmt.Printf("contract: coverage of %s not checked (-%s given)\n", "docs/openapi.yaml", strings.TrimPrefix(name, "test."))
			return 0
		}
	}
	if missing := openAPI.Unexercised(); len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "contract: %d operations or webhooks of docs/openapi.yaml were exercised by no test:\n  %s\n",
			len(missing), strings.Join(missing, "\n  "))
		return 1
	}
	n, seen := 0, openAPI.Exercised()
	for _, op := range openAPI.Operations() {
		n += seen[op]
		if testing.Verbose() {
			fmt.Printf("contract: %5d × %s\n", seen[op], op)
		}
	}
	fmt.Printf("contract: all %d operations and webhooks of docs/openapi.yaml exercised, %d exchanges validated\n", len(openAPI.Operations()), n)
	return 0
}

// TestOpenAPIServed: /api/openapi.json is the document, public (no API
// key), and the same whether the API is enabled or not.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	p := start(t, procOpts{args: []string{"-anonymous"}}) // no -api-key: the API is disabled
	resp, err := openAPI.Client(t).Get(p.url("/api/openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/openapi.json: %d %v", resp.StatusCode, err)
	}
	if doc["openapi"] != "3.1.0" || doc["webhooks"] == nil {
		t.Errorf("served document: openapi %v, webhooks %v", doc["openapi"], doc["webhooks"] != nil)
	}
	// The API itself is disabled: 403 api_disabled, as documented.
	if st, m := p.callKey("", "GET", "/api/sessions", nil); st != 403 || errCode(m) != "api_disabled" {
		t.Errorf("disabled API: %d %v", st, m)
	}
	// Every path of the served document is one of docs/openapi.yaml.
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 || !bytes.Contains(openAPI.Source, []byte("\n  /api/openapi.json:")) {
		t.Fatalf("served paths: %d", len(paths))
	}
	for p := range paths {
		if !bytes.Contains(openAPI.Source, []byte("\n  "+p+":")) {
			t.Errorf("served path %s is not in docs/openapi.yaml", p)
		}
	}
}
