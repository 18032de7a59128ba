package standalone

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/tether-ws/tether"
)

// Readmission policies (-readmit): which rooms a client that lost its
// session gets back, besides those its token's claims (or, anonymous, its
// ?room= parameters) name, which onOpen joins again in any case.
const (
	readmitAuto    = "auto"    // webhook with -webhook-url, else claims
	readmitClaims  = "claims"  // only the rooms of the claims
	readmitWebhook = "webhook" // ask the backend, room by room
	readmitAll     = "all"     // every room the client presents (public rooms only)
)

// RoomPattern is an entry of -rooms: the options of the rooms whose names
// match Pattern (path.Match; the first match wins). A nil bound means
// that of -room-history-*.
type RoomPattern struct {
	Pattern         string
	HistoryMessages *int           // 0: keep no history
	HistoryBytes    *int           // bytes of payload
	HistoryAge      *time.Duration // how long a message is kept
	Presence        bool           // presence events to members and webhooks
}

// roomPatternJSON is how an entry is written:
//
//	{"pattern": "chat.*", "history-messages": 5000, "history-bytes": "4MiB",
//	 "history-age": "1h", "presence": true}
type roomPatternJSON struct {
	Pattern         *string         `json:"pattern"`
	HistoryMessages *int            `json:"history-messages"`
	HistoryBytes    json.RawMessage `json:"history-bytes"`
	HistoryAge      *string         `json:"history-age"`
	Presence        bool            `json:"presence"`
}

// roomsVar is the -rooms setting: a JSON array of RoomPattern objects
// (in the config file, the array itself; on the command line and in the
// environment, its text).
type roomsVar struct{ p *[]RoomPattern }

func (v roomsVar) String() string {
	if v.p == nil || len(*v.p) == 0 {
		return ""
	}
	out := make([]map[string]any, 0, len(*v.p))
	for _, r := range *v.p {
		m := map[string]any{"pattern": r.Pattern}
		if r.HistoryMessages != nil {
			m["history-messages"] = *r.HistoryMessages
		}
		if r.HistoryBytes != nil {
			m["history-bytes"] = formatSize(*r.HistoryBytes)
		}
		if r.HistoryAge != nil {
			m["history-age"] = r.HistoryAge.String()
		}
		if r.Presence {
			m["presence"] = true
		}
		out = append(out, m)
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func (v roomsVar) Set(s string) error {
	rooms, err := parseRooms(s)
	if err != nil {
		return err
	}
	*v.p = rooms
	return nil
}

// parseRooms reads -rooms: a JSON array of objects, strictly.
func parseRooms(s string) ([]RoomPattern, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var raw []roomPatternJSON
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf(`want a JSON array such as [{"pattern":"chat.*","history-messages":5000,"presence":true}]: %w`, err)
	}
	if dec.More() {
		return nil, errors.New("unexpected data after the JSON array")
	}
	out := make([]RoomPattern, 0, len(raw))
	for i, r := range raw {
		at := fmt.Sprintf("entry %d", i+1)
		if r.Pattern == nil || *r.Pattern == "" {
			return nil, fmt.Errorf(`%s: "pattern" is required (a path.Match pattern of room names, e.g. "chat.*")`, at)
		}
		p := RoomPattern{Pattern: *r.Pattern, Presence: r.Presence, HistoryMessages: r.HistoryMessages}
		at = fmt.Sprintf("entry %d (%q)", i+1, p.Pattern)
		if _, err := path.Match(p.Pattern, ""); err != nil {
			return nil, fmt.Errorf("%s: bad pattern: %v", at, err)
		}
		if len(r.HistoryBytes) > 0 && !bytes.Equal(r.HistoryBytes, []byte("null")) {
			var str string
			var num json.Number
			switch {
			case json.Unmarshal(r.HistoryBytes, &str) == nil:
			case json.Unmarshal(r.HistoryBytes, &num) == nil:
				str = num.String()
			default:
				return nil, fmt.Errorf(`%s: "history-bytes" must be a size: a number of bytes or a string such as "4MiB"`, at)
			}
			n, err := parseSize(str)
			if err != nil {
				return nil, fmt.Errorf(`%s: "history-bytes": %v`, at, err)
			}
			p.HistoryBytes = &n
		}
		if r.HistoryAge != nil {
			d, err := time.ParseDuration(*r.HistoryAge)
			if err != nil {
				return nil, fmt.Errorf(`%s: "history-age": %q is not a duration such as 90s or 1h`, at, *r.HistoryAge)
			}
			p.HistoryAge = &d
		}
		out = append(out, p)
	}
	return out, nil
}

// checkHistory validates history bounds (of -room-history-* or of a
// -rooms entry); maxSize is -max-message-size.
func checkHistory(msgs, bytes int, age time.Duration, maxSize int) error {
	switch {
	case msgs < 0:
		return fmt.Errorf("history-messages %d: must be 0 (keep none) or more", msgs)
	case bytes < maxSize:
		return fmt.Errorf("history-bytes %s: must be at least -max-message-size (%s), or a message of the largest size would never be kept",
			formatSize(bytes), formatSize(maxSize))
	case age <= 0:
		return fmt.Errorf("history-age %v: must be positive", age)
	}
	return nil
}

// historyLimits turns the binary's bounds into the library's: 0 messages
// is "keep none" (the library's -1).
func historyLimits(msgs, bytes int, age time.Duration) tether.HistoryLimits {
	if msgs == 0 {
		msgs = -1
	}
	return tether.HistoryLimits{MaxMessages: msgs, MaxBytes: bytes, MaxAge: age}
}

// RoomHistory is the library's default history bound.
func (c *Config) RoomHistory() tether.HistoryLimits {
	return historyLimits(c.RoomHistoryMessages, c.RoomHistoryBytes, c.RoomHistoryAge)
}

// RoomOptions are the library's per-pattern options, every bound filled in.
func (c *Config) RoomOptions() []tether.RoomOptions {
	var out []tether.RoomOptions
	for _, r := range c.Rooms {
		msgs, bts, age := c.roomBounds(r)
		out = append(out, tether.RoomOptions{Pattern: r.Pattern, History: historyLimits(msgs, bts, age), Presence: r.Presence})
	}
	return out
}

func (c *Config) roomBounds(r RoomPattern) (int, int, time.Duration) {
	msgs, bts, age := c.RoomHistoryMessages, c.RoomHistoryBytes, c.RoomHistoryAge
	if r.HistoryMessages != nil {
		msgs = *r.HistoryMessages
	}
	if r.HistoryBytes != nil {
		bts = *r.HistoryBytes
	}
	if r.HistoryAge != nil {
		age = *r.HistoryAge
	}
	return msgs, bts, age
}

// roomPattern returns the -rooms entry a room falls under (as the
// library resolves it: the first match), or nil.
func (c *Config) roomPattern(room string) *RoomPattern {
	for i := range c.Rooms {
		if ok, _ := path.Match(c.Rooms[i].Pattern, room); ok {
			return &c.Rooms[i]
		}
	}
	return nil
}

// keepsHistory reports whether a room's history keeps messages.
func (c *Config) keepsHistory(room string) bool {
	msgs := c.RoomHistoryMessages
	if r := c.roomPattern(room); r != nil {
		msgs, _, _ = c.roomBounds(*r)
	}
	return msgs > 0
}

// validateRooms checks the room stream settings and resolves -readmit.
func (c *Config) validateRooms(bad func(name, format string, args ...any) error) error {
	if c.RoomHistoryMessages < 0 {
		return bad("room-history-messages", "%d: must be 0 (keep no history) or more", c.RoomHistoryMessages)
	}
	if c.RoomHistoryBytes < c.MaxMessageSize {
		return bad("room-history-bytes", "%s: must be at least -max-message-size (%s), or a message of the largest size would never be kept",
			formatSize(c.RoomHistoryBytes), formatSize(c.MaxMessageSize))
	}
	if c.RoomHistoryAge <= 0 {
		return bad("room-history-age", "%v: must be positive", c.RoomHistoryAge)
	}
	if c.RoomRecoveryLimit < 1 {
		return bad("room-recovery-limit", "%d: must be at least 1", c.RoomRecoveryLimit)
	}
	for i, r := range c.Rooms {
		msgs, bts, age := c.roomBounds(r)
		if err := checkHistory(msgs, bts, age, c.MaxMessageSize); err != nil {
			return bad("rooms", "entry %d (%q): %v", i+1, r.Pattern, err)
		}
	}
	switch c.Readmit {
	case readmitAuto:
		c.ReadmitPolicy = readmitClaims
		if c.WebhookURL != "" {
			c.ReadmitPolicy = readmitWebhook
		}
	case readmitClaims, readmitAll:
		c.ReadmitPolicy = c.Readmit
	case readmitWebhook:
		if c.WebhookURL == "" {
			return bad("readmit", "webhook needs -webhook-url (the backend that decides)")
		}
		c.ReadmitPolicy = c.Readmit
	default:
		return bad("readmit", "%q: want auto, claims, webhook or all", c.Readmit)
	}
	if c.ReadmitPolicy == readmitAll {
		c.Warnings = append(c.Warnings, "-readmit all: a client that lost its session is let back into EVERY room it claims to have been in, "+
			"with no check: use it only when every room is public")
	}
	return nil
}
