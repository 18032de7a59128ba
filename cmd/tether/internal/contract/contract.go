// Package contract holds the tests of the standalone server to its
// OpenAPI 3.1 document, docs/openapi.yaml: an http.RoundTripper that
// validates every request a test makes and every answer it gets, a check
// of every webhook a test backend receives, and a record of what was
// exercised, so that a test can fail on an operation nobody exercised.
//
// It is imported by tests only (cmd/tether, internal/standalone): the
// validator (github.com/pb33f/libopenapi-validator, which implements
// OpenAPI 3.1 with JSON Schema 2020-12) is never linked into the binary.
package contract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// DocPath is the document's path from the repository's root.
const DocPath = "docs/openapi.yaml"

// Contract is the loaded document, its validator, and what the tests
// exercised of it. It is safe for concurrent use.
type Contract struct {
	// Source is the document as read (YAML).
	Source []byte
	// Model is the document's model.
	Model *v3.Document

	v       validator.Validator
	schemas schema_validation.SchemaValidator
	opts    *config.ValidationOptions
	mu      sync.Mutex // guards the validator (its caches) and seen
	seen    map[string]int
}

// FindDoc returns the path of docs/openapi.yaml, looked for in the working
// directory and its parents (tests run in their package's directory, which
// may move within the repository).
func FindDoc() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("failed to find %s: %w", DocPath, err)
	}
	for {
		p := filepath.Join(dir, DocPath)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("failed to find %s in the working directory or above", DocPath)
		}
		dir = up
	}
}

// Load reads docs/openapi.yaml, checks it against the OpenAPI 3.1
// specification's schema and builds its validator.
func Load() (*Contract, error) {
	p, err := FindDoc()
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("failed to read the document: %w", err)
	}
	return Parse(src)
}

// Parse builds a Contract from a document's text.
func Parse(src []byte) (*Contract, error) {
	doc, err := libopenapi.NewDocument(src)
	if err != nil {
		return nil, fmt.Errorf("failed to parse the document: %w", err)
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1") {
		return nil, fmt.Errorf("failed to load the document: it is OpenAPI %q, want 3.1", v)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("failed to build the document's model: %w", err)
	}
	// Formats (date-time, …) are asserted too: a server sending a
	// malformed time is a mismatch.
	opts := []config.Option{config.WithFormatAssertions()}
	v, errs := validator.NewValidator(doc, opts...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("failed to build the validator: %w", errors.Join(errs...))
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		return nil, fmt.Errorf("the document is not valid OpenAPI 3.1:\n%s", describe(verrs))
	}
	return &Contract{Source: src, Model: &m.Model, v: v, schemas: schema_validation.NewSchemaValidator(opts...), opts: config.NewValidationOptions(opts...), seen: map[string]int{}}, nil
}

// Operations lists the document's operations as "METHOD /path", and its
// webhooks as "WEBHOOK name".
func (c *Contract) Operations() []string {
	var out []string
	for p, item := range c.Model.Paths.PathItems.FromOldest() {
		for m := range item.GetOperations().KeysFromOldest() {
			out = append(out, strings.ToUpper(m)+" "+p)
		}
	}
	if c.Model.Webhooks != nil {
		for name := range c.Model.Webhooks.KeysFromOldest() {
			out = append(out, "WEBHOOK "+name)
		}
	}
	return out
}

// Unexercised lists the operations and webhooks no test exercised.
func (c *Contract) Unexercised() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, op := range c.Operations() {
		if c.seen[op] == 0 {
			out = append(out, op)
		}
	}
	return out
}

// Exercised returns how many times each operation and webhook was
// exercised.
func (c *Contract) Exercised() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.seen))
	for k, v := range c.seen {
		out[k] = v
	}
	return out
}

// Client returns an HTTP client whose every exchange is checked against
// the document; a mismatch fails t (see Transport).
func (c *Contract) Client(t testing.TB) *http.Client {
	return &http.Client{Transport: c.Transport(t, nil)}
}

// Transport wraps base (nil: http.DefaultTransport) so that each
// exchange is checked against the document, and t fails on a mismatch:
//
//   - a path the document lacks must be answered 404 not_found (or 401
//     before routing), and a method it lacks on a path it has 405
//     method_not_allowed: anything else means the server serves a route
//     the document does not describe;
//   - a request the document allows must get an answer the document lists
//     for the operation, valid against its schema and headers;
//   - a request the document refuses (a test of the server's checks) must
//     be refused with a 4xx the operation lists: a 2xx means the document
//     is stricter than the server.
func (c *Contract) Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{c: c, t: t, base: base}
}

type transport struct {
	c    *Contract
	t    testing.TB
	base http.RoundTripper
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("failed to read the request body: %w", err)
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	resp, err := tr.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err != nil {
		// The exchange failed midway (a test cutting the server): nothing
		// to hold to the document.
		return resp, nil
	}
	if msg := tr.c.Check(req, reqBody, resp, respBody); msg != "" {
		tr.t.Errorf("contract (%s): %s", DocPath, msg)
	}
	return resp, nil
}

// Check checks one exchange (see Transport) and returns what is wrong
// with it, or "" if nothing is.
func (c *Contract) Check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	rs := *resp
	rs.Body = io.NopCloser(bytes.NewReader(respBody))
	exchange := fmt.Sprintf("%s %s → %d %s", req.Method, req.URL.RequestURI(), resp.StatusCode, truncate(respBody))

	item, _, tmpl := paths.FindPath(r, c.Model, c.opts)
	if item == nil {
		return c.offContract(exchange, resp, respBody, "RouteNotFound", "the document has no path for it")
	}
	op := item.GetOperations().GetOrZero(strings.ToLower(req.Method))
	if op == nil {
		return c.offContract(exchange, resp, respBody, "MethodNotAllowed", "the document has no "+req.Method+" on "+tmpl)
	}
	c.seen[req.Method+" "+tmpl]++

	_, reqErrs := c.v.ValidateHttpRequestSyncWithPathItem(r, item, tmpl)
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	_, respErrs := c.v.ValidateHttpResponse(r, &rs)
	var problems []string
	if len(reqErrs) > 0 && resp.StatusCode < 400 {
		problems = append(problems, fmt.Sprintf("the server accepted a request the document refuses (answered %d):\n%s", resp.StatusCode, describe(reqErrs)))
	}
	if len(respErrs) > 0 {
		problems = append(problems, "the answer is not what the document says:\n"+describe(respErrs))
	}
	if len(problems) == 0 {
		return ""
	}
	return exchange + ": " + strings.Join(problems, "\n")
}

// offContract checks the answer to a request for a route the document
// lacks: it must be the named generic answer, or 401 (the API key is
// checked before the route).
func (c *Contract) offContract(exchange string, resp *http.Response, body []byte, name, why string) string {
	want := map[string]int{"RouteNotFound": http.StatusNotFound, "MethodNotAllowed": http.StatusMethodNotAllowed}[name]
	if resp.StatusCode == http.StatusUnauthorized {
		name = "Unauthorized"
		want = http.StatusUnauthorized
	}
	if resp.StatusCode != want {
		return fmt.Sprintf("%s: %s, yet the server answered %d, not %d: a route the document lacks", exchange, why, resp.StatusCode, want)
	}
	r := c.Model.Components.Responses.GetOrZero(name)
	if r == nil {
		return fmt.Sprintf("%s: the document has no components.responses.%s", exchange, name)
	}
	for h, hd := range r.Headers.FromOldest() {
		if hd.Required && resp.Header.Get(h) == "" {
			return fmt.Sprintf("%s: header %s missing (components.responses.%s)", exchange, h, name)
		}
	}
	if msg := c.validateMedia(r.Content, resp.Header.Get("Content-Type"), body); msg != "" {
		return fmt.Sprintf("%s: %s (components.responses.%s)", exchange, msg, name)
	}
	return ""
}

// CheckWebhook checks a webhook request a test backend received against
// the document's webhooks section: the Tether-Event header names a
// webhook the document has, and the headers and body are what it says.
// It returns what is wrong, or "".
func (c *Contract) CheckWebhook(r *http.Request, body []byte) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := r.Header.Get("Tether-Event")
	var item *v3.PathItem
	if c.Model.Webhooks != nil {
		item = c.Model.Webhooks.GetOrZero(name)
	}
	if item == nil {
		return fmt.Sprintf("webhook %q: not in the document's webhooks", name)
	}
	c.seen["WEBHOOK "+name]++
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	// The request as the validator sees it: the webhook's URL is the
	// backend's, and the document's webhooks have no path.
	req.URL.Path = "/"
	if _, errs := c.v.ValidateHttpRequestSyncWithPathItem(req, item, "/"); len(errs) > 0 {
		return fmt.Sprintf("webhook %s %s: not what the document says:\n%s", name, truncate(body), describe(errs))
	}
	return ""
}

// validateMedia validates body against the schema of its media type in
// content.
func (c *Contract) validateMedia(content interface {
	GetOrZero(string) *v3.MediaType
}, contentType string, body []byte) string {
	mt := strings.TrimSpace(strings.Split(contentType, ";")[0])
	m := content.GetOrZero(mt)
	if m == nil {
		return fmt.Sprintf("content type %q not in the document", contentType)
	}
	if m.Schema == nil {
		return ""
	}
	valid, errs := c.schemas.ValidateSchemaBytes(m.Schema.Schema(), body)
	if !valid {
		return "body not valid:\n" + describe(errs)
	}
	return ""
}

// describe formats validation errors, one per line with their schema
// failures.
func describe(errs []*verrors.ValidationError) string {
	var lines []string
	for _, e := range errs {
		line := "  - " + e.Message
		if e.Reason != "" && e.Reason != e.Message {
			line += ": " + e.Reason
		}
		lines = append(lines, line)
		var sub []string
		for _, f := range e.SchemaValidationErrors {
			loc := f.FieldPath
			if loc == "" {
				loc = strings.Join(f.InstancePath, "/")
			}
			sub = append(sub, fmt.Sprintf("      %s: %s (%s)", loc, f.Reason, f.KeywordLocation))
		}
		sort.Strings(sub)
		lines = append(lines, slices.Compact(sub)...)
	}
	return strings.Join(lines, "\n")
}

func truncate(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
