package tetherjs

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestBundleIsFresh checks the committed bundle against src/ without
// Node: its source map carries the TypeScript it was built from, which
// must be today's src/ (scripts/test.sh also rebuilds dist/ and fails on
// any difference, when npm is installed).
func TestBundleIsFresh(t *testing.T) {
	raw, err := Assets.ReadFile("dist/tether.js.map")
	if err != nil {
		t.Fatalf("the bundle's source map is missing (cd js && npm run build): %v", err)
	}
	var m struct {
		Sources        []string `json:"sources"`
		SourcesContent []string `json:"sourcesContent"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Sources) == 0 || len(m.Sources) != len(m.SourcesContent) {
		t.Fatalf("the source map has %d sources and %d contents", len(m.Sources), len(m.SourcesContent))
	}
	for i, s := range m.Sources {
		name, ok := strings.CutPrefix(s, "../src/")
		if !ok {
			t.Errorf("source %q is not under src/", s)
			continue
		}
		src, err := os.ReadFile("src/" + name)
		if err != nil {
			t.Errorf("dist/tether.js was built from src/%s, which is gone: run 'cd js && npm run build' and commit dist/", name)
			continue
		}
		if string(src) != m.SourcesContent[i] {
			t.Errorf("dist/tether.js is stale: src/%s changed since it was built; run 'cd js && npm run build' and commit dist/", name)
		}
	}
}

// TestBundleIsSelfContained: a page imports the bundle by URL, so it may
// import nothing itself, and it names its source map.
func TestBundleIsSelfContained(t *testing.T) {
	js, err := Assets.ReadFile("dist/tether.js")
	if err != nil {
		t.Fatal(err)
	}
	if loc := regexp.MustCompile(`(?:\bfrom|\bimport)\s*\(?\s*["'][./]`).FindIndex(js); loc != nil {
		t.Errorf("dist/tether.js imports another file: %q", js[loc[0]:min(loc[1]+40, len(js))])
	}
	if !strings.HasSuffix(strings.TrimSpace(string(js)), "//# sourceMappingURL=tether.js.map") {
		t.Error("dist/tether.js does not end with its sourceMappingURL")
	}
	for _, name := range []string{"TetherClient", "TetherError", "CloseCode"} {
		if !regexp.MustCompile(`export\s*\{[^}]*\bas ` + name + `\b|export\s*\{[^}]*\b` + name + `\b`).Match(js) {
			t.Errorf("dist/tether.js does not export %s", name)
		}
	}
}

// TestVersion: package.json's version names the served file
// (/client/tether-<version>.js), so it must be a plain semantic version.
func TestVersion(t *testing.T) {
	raw, err := Assets.ReadFile("package.json")
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Version string }
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(p.Version) {
		t.Errorf("package.json version %q is not a semantic version", p.Version)
	}
}

// TestDocsNameTheVersion: the documentation's examples of the versioned
// URL (/client/tether-<version>.js) name package.json's version.
func TestDocsNameTheVersion(t *testing.T) {
	raw, err := Assets.ReadFile("package.json")
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Version string }
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`/client/tether-(\d+\.\d+\.\d+[0-9A-Za-z.-]*?)\.js`)
	for _, doc := range []string{"README.md", "../docs/API.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		found := re.FindAllSubmatch(b, -1)
		if len(found) == 0 {
			t.Errorf("%s has no example of /client/tether-<version>.js", doc)
		}
		for _, m := range found {
			if string(m[1]) != p.Version {
				t.Errorf("%s names /client/tether-%s.js; package.json's version is %s", doc, m[1], p.Version)
			}
		}
	}
}
