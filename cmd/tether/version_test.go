package main

import (
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionString(t *testing.T) {
	t.Parallel()
	vcs := func(rev, at, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "-buildmode", Value: "exe"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: at},
			{Key: "vcs.modified", Value: modified},
		}
	}
	const rev = "abc1234def5678abc1234def5678abc1234def56"
	for _, tc := range []struct {
		name    string
		info    *debug.BuildInfo
		ok      bool
		version string
	}{
		{"no build info", nil, false, "tether (devel)"},
		{"tagged release (go install @v0.3.0)", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}}, true, "tether v0.3.0"},
		{"no version at all", &debug.BuildInfo{}, true, "tether (devel)"},
		{"checkout, changed", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "2026-12-06T04:24:22Z", "true")}, true,
			"tether (devel) (rev abc1234, 2026-12-06, modified)"},
		{"checkout, clean", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261206042422-abc1234def56"}, Settings: vcs(rev, "2026-12-06T04:24:22Z", "false")}, true,
			"tether v0.0.0-20261206042422-abc1234def56 (rev abc1234, 2026-12-06)"},
		{"commit time in another zone", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.1"}, Settings: vcs(rev, "2026-12-06T23:30:00-02:00", "false")}, true,
			"tether v0.3.1 (rev abc1234, 2026-12-07)"},
	} {
		if got := versionString(tc.info, tc.ok); got != tc.version {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.version)
		}
	}
}

func TestIsVersionFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"-version"}, true},
		{[]string{"--version"}, true},
		{[]string{"-addr", ":1", "-version=true"}, true},
		{nil, false},
		{[]string{"-addr", ":1"}, false},
		{[]string{"--", "-version"}, false},
		{[]string{"-versions"}, false},
	} {
		if got := isVersionFlag(tc.args); got != tc.want {
			t.Errorf("isVersionFlag(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

// TestVersionFlag runs the binary: -version prints one line, the version
// that the binary's own build information gives, and exits 0 without
// starting a server, whatever other settings are given.
func TestVersionFlag(t *testing.T) {
	t.Parallel()
	want := versionOf(t, binary)
	for _, args := range [][]string{{"-version"}, {"--version"}, {"-addr", "256.0.0.1:bad", "-version"}} {
		code, out, errOut := runOnce(t, args)
		if code != 0 || out != want+"\n" || errOut != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 0, stdout %q", args, code, out, errOut, want+"\n")
		}
	}
}

// TestVersionNamesTheCommit builds the binary as a build from a git
// checkout outside the workspace does (the go command stamps no VCS
// information in workspace mode): its -version names the commit that the
// go command recorded, which is the checkout's HEAD.
func TestVersionNamesTheCommit(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "tether")
	build := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want := versionOf(t, bin)
	out, err := exec.Command(bin, "-version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSuffix(string(out), "\n"); got != want {
		t.Fatalf("-version printed %q, want %q", got, want)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var rev string
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			rev = s.Value
		}
	}
	head, gitErr := exec.Command("git", "rev-parse", "HEAD").Output()
	switch {
	case rev != "":
		if gitErr != nil || strings.TrimSpace(string(head)) != rev {
			t.Fatalf("build stamped revision %s, git HEAD is %q (%v)", rev, head, gitErr)
		}
		if !strings.Contains(want, "(rev "+rev[:7]+", ") {
			t.Fatalf("-version %q does not name revision %s", want, rev[:7])
		}
	case gitErr == nil:
		// A git worktree (.git is a file) is not stamped by every go
		// command; a clone, as CI makes, is.
		t.Logf("the go command stamped no VCS information in this checkout (HEAD %s); -version printed %q", strings.TrimSpace(string(head)), want)
	}
}

// versionOf is what -version must print for the binary at path, from the
// build information the go command wrote into it.
func versionOf(t *testing.T, path string) string {
	t.Helper()
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("read build information of %s: %v", path, err)
	}
	return versionString(info, true)
}
