package main

import (
	"runtime/debug"
	"strings"
	"time"
)

// isVersionFlag reports whether args ask for the version (-version or
// --version, also as -version=true), wherever it stands: printing the
// version has no effect, so every other argument is then ignored.
func isVersionFlag(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		switch a {
		case "-version", "--version", "-version=true", "--version=true":
			return true
		}
	}
	return false
}

// versionString describes a build from its build information (ok false
// when the binary has none): the module's version — vX.Y.Z for go install
// …@vX.Y.Z, a pseudo-version or (devel) for a build from a checkout — and,
// when the go command stamped them, the VCS revision, the commit's date
// and whether the work tree had changes, e.g.
//
//	tether v0.3.0
//	tether (devel) (rev abc1234, 2026-12-06, modified)
func versionString(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "tether (devel)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, date string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				date = t.UTC().Format("2006-01-02")
			}
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return "tether " + v
	}
	if len(rev) > 7 {
		rev = rev[:7]
	}
	parts := []string{"rev " + rev}
	if date != "" {
		parts = append(parts, date)
	}
	if modified {
		parts = append(parts, "modified")
	}
	return "tether " + v + " (" + strings.Join(parts, ", ") + ")"
}
