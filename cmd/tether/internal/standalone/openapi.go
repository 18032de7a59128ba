package standalone

import (
	_ "embed"
	"net/http"
	"sort"
)

// openAPIDoc is docs/openapi.yaml as JSON, served at /api/openapi.json.
// It is generated from the YAML, and a test fails when it no longer
// matches: go test ./internal/standalone -run TestOpenAPIJSON -update
//
//go:embed openapi.json
var openAPIDoc []byte

// serveOpenAPI answers GET /api/openapi.json: public, like the document in
// the repository (it holds no secret, and tools fetch it without
// credentials), whether the API is enabled or not.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	h.Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(openAPIDoc)
}

// route is a pattern a mux serves and the methods it answers (nil: any).
type route struct {
	pattern string
	methods []string
}

// routeMux is an http.ServeMux that remembers what it serves, so that a
// test can hold the routes to docs/openapi.yaml.
type routeMux struct {
	*http.ServeMux
	routes []route
}

func newRouteMux() *routeMux { return &routeMux{ServeMux: http.NewServeMux()} }

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	var ms []string
	if mh, ok := h.(methods); ok {
		for k := range mh {
			ms = append(ms, k)
		}
		sort.Strings(ms)
	}
	m.routes = append(m.routes, route{pattern, ms})
}

func (m *routeMux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}
