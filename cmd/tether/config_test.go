package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// every setting, as docs/API.md lists them.
var allFlags = []string{
	"addr", "config", "demo", "api-key", "jwt-secret", "jwt-public-key", "jwt-audience", "jwt-issuer",
	"anonymous", "allowed-origins", "webhook-url", "webhook-secret", "webhook-timeout", "webhook-max-in-flight",
	"max-message-size", "max-sessions", "max-sessions-per-user", "max-rooms-per-session",
	"replay-buffer-bytes", "replay-buffer-messages", "rate-limit", "rate-burst", "grace-window",
	"heartbeat-interval", "heartbeat-timeout", "restart-jitter", "shutdown-timeout", "log-format", "log-level",
	"room-history-messages", "room-history-bytes", "room-history-age", "room-recovery-limit", "user-streams", "readmit", "rooms",
	"log-sessions", "admin", "admin-password",
}

func TestHelpListsEverySetting(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"--help", "-h"} {
		code, out, _ := runOnce(t, []string{arg})
		if code != 0 {
			t.Fatalf("%s: exit %d", arg, code)
		}
		for _, f := range allFlags {
			env := "TETHER_" + strings.ToUpper(strings.ReplaceAll(f, "-", "_"))
			i := strings.Index(out, "\n  -"+f+"\n")
			if i < 0 {
				i = strings.Index(out, "\n  -"+f+" ")
			}
			if i < 0 {
				t.Fatalf("%s: -%s missing:\n%s", arg, f, out)
			}
			entry := out[i+1:]
			if j := strings.Index(entry[2:], "\n  -"); j >= 0 {
				entry = entry[:j+2]
			}
			if !strings.Contains(entry, "env "+env) || !strings.Contains(entry, "default ") {
				t.Errorf("%s: -%s entry lacks its env name or default:\n%s", arg, f, entry)
			}
		}
		for _, s := range []string{"flags > environment > config file > defaults", "default :8080", "DEVELOPMENT MODE"} {
			if !strings.Contains(out, s) {
				t.Errorf("%s: help lacks %q", arg, s)
			}
		}
	}
}

func TestBadConfigNamesTheSetting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badKey := file("badkey.pem", "not a key")
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"flag int", []string{"-max-sessions", "many"}, nil, []string{"-max-sessions"}},
		{"flag zero", []string{"-max-sessions-per-user", "0"}, nil, []string{"-max-sessions-per-user", "at least 1"}},
		{"env", nil, []string{"TETHER_GRACE_WINDOW=soon"}, []string{"-grace-window", "TETHER_GRACE_WINDOW"}},
		{"env bool", nil, []string{"TETHER_ANONYMOUS=perhaps"}, []string{"-anonymous", "TETHER_ANONYMOUS"}},
		{"file value", []string{"-config", file("a.json", `{"rate-limit": "fast"}`)}, nil, []string{"-rate-limit", "a.json"}},
		{"file key", []string{"-config", file("b.json", `{"max-sesions": 3}`)}, nil, []string{"-config", "max-sesions"}},
		{"file json", []string{"-config", file("c.json", `{`)}, nil, []string{"-config", "c.json"}},
		{"file missing", []string{"-config", filepath.Join(dir, "nope.json")}, nil, []string{"-config", "nope.json"}},
		{"webhook secret", []string{"-webhook-url", "http://127.0.0.1:1/hook"}, nil, []string{"-webhook-secret", "required"}},
		{"webhook url", []string{"-webhook-url", "ftp://x", "-webhook-secret", "s"}, nil, []string{"-webhook-url"}},
		{"log format", []string{"-log-format", "xml"}, nil, []string{"-log-format"}},
		{"size", []string{"-max-message-size", "12 bananas"}, nil, []string{"-max-message-size"}},
		{"replay smaller than message", []string{"-replay-buffer-bytes", "1KiB"}, nil, []string{"-replay-buffer-bytes", "-max-message-size"}},
		{"public key", []string{"-jwt-public-key", badKey}, nil, []string{"-jwt-public-key"}},
		{"origins", []string{"-allowed-origins", "https://example.com"}, nil, []string{"-allowed-origins"}},
		{"negative rate", []string{"-rate-limit", "-1"}, nil, []string{"-rate-limit"}},
		{"duration", []string{"-shutdown-timeout", "0s"}, nil, []string{"-shutdown-timeout"}},
		{"unknown flag", []string{"-max-session", "3"}, nil, []string{"max-session"}},
		{"stray argument", []string{"serve"}, nil, []string{"serve"}},
		{"room history messages", []string{"-room-history-messages", "-1"}, nil, []string{"-room-history-messages", "keep no history"}},
		{"room history bytes", nil, []string{"TETHER_ROOM_HISTORY_BYTES=1KiB"}, []string{"-room-history-bytes", "TETHER_ROOM_HISTORY_BYTES", "-max-message-size"}},
		{"room history age", []string{"-room-history-age", "0s"}, nil, []string{"-room-history-age", "positive"}},
		{"room recovery limit", []string{"-room-recovery-limit", "0"}, nil, []string{"-room-recovery-limit", "at least 1"}},
		{"readmit value", []string{"-readmit", "maybe"}, nil, []string{"-readmit", "claims, webhook or all"}},
		{"readmit webhook without one", []string{"-readmit", "webhook"}, nil, []string{"-readmit", "-webhook-url"}},
		{"user streams", nil, []string{"TETHER_USER_STREAMS=sometimes"}, []string{"-user-streams", "TETHER_USER_STREAMS"}},
		{"rooms not an array", []string{"-config", file("r1.json", `{"rooms": {"pattern": "a"}}`)}, nil, []string{"-rooms", "r1.json", "JSON array"}},
		{"rooms bad pattern", []string{"-config", file("r2.json", `{"rooms": [{"pattern": "chat.["}]}`)}, nil, []string{"-rooms", "r2.json", "bad pattern"}},
		{"rooms unknown key", []string{"-config", file("r3.json", `{"rooms": [{"pattern": "a", "history": 3}]}`)}, nil, []string{"-rooms", "r3.json", "history"}},
		{"rooms small history", []string{"-rooms", `[{"pattern":"a","history-bytes":"1KiB"}]`}, nil, []string{"-rooms", "entry 1", "-max-message-size"}},
		{"rooms env", nil, []string{`TETHER_ROOMS=[{"pattern":""}]`}, []string{"-rooms", "TETHER_ROOMS", "pattern"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runOnce(t, append([]string{"-addr", "127.0.0.1:0"}, tc.args...), tc.env...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestConfigPrecedence: flags beat the environment, which beats the
// config file, which beats the defaults.
func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "tether.json")
	err := os.WriteFile(cfg, []byte(`{
		"max-sessions": 10, "rate-limit": 5, "grace-window": "1m", "allowed-origins": ["a.example", "*.b.example"],
		"max-message-size": "32KiB", "jwt-secret": "`+testSecret+`",
		"room-history-messages": 50, "room-history-age": "90s", "readmit": "all",
		"rooms": [{"pattern": "chat.*", "history-messages": 7, "presence": true}]
	}`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, procOpts{
		args: []string{"-config", cfg, "-max-sessions", "30"},
		env:  []string{"TETHER_MAX_SESSIONS=20", "TETHER_RATE_LIMIT=6", "TETHER_MAX_MESSAGE_SIZE=40000", "TETHER_ROOM_HISTORY_MESSAGES=60"},
	})
	line := p.waitLog("config", func(l map[string]any) bool { return l["msg"] == "tether: config" })
	for k, want := range map[string]any{
		"max_sessions":          30.0,    // flag
		"rate_limit":            6.0,     // env over file
		"max_message_size":      40000.0, // env over file
		"grace_window":          "1m0s",  // file
		"allowed_origins":       "a.example,*.b.example",
		"heartbeat_interval":    "15s",        // default
		"jwt_secret":            "<redacted>", // never logged
		"room_history_messages": 60.0,         // env over file
		"room_history_age":      "1m30s",
		"room_history_bytes":    float64(1 << 20),
		"readmit":               "all",
		"user_streams":          false,
		"rooms":                 `[{"history-messages":7,"pattern":"chat.*","presence":true}]`,
	} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v", k, line[k], want)
		}
	}
	// The file's JWT secret is in force: development mode is off.
	if st, _ := p.callKey("", "GET", "/demo/token", nil); st != 404 {
		t.Errorf("/demo/token: %d, want 404", st)
	}
}
