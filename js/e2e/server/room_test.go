package main

import "testing"

func TestParseChat(t *testing.T) {
	for _, c := range []struct {
		in, name, text string
	}{
		{`{"name":"Ada","text":"hi"}`, "Ada", "hi"},
		{`{"name":"","text":"no name chosen"}`, "", "no name chosen"},
		{`{"text":"hi"}`, "", `{"text":"hi"}`}, // not the demo's envelope: the text as sent
		{`{"name":"Ada"}`, "", `{"name":"Ada"}`},
		{`{"name":1,"text":"hi"}`, "", `{"name":1,"text":"hi"}`},
		{`plain text`, "", `plain text`},
		{`["Ada","hi"]`, "", `["Ada","hi"]`},
	} {
		name, text := parseChat(c.in)
		if name != c.name || text != c.text {
			t.Errorf("parseChat(%s) = %q, %q; want %q, %q", c.in, name, text, c.name, c.text)
		}
	}
}
