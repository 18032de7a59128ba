package wire_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tether-ws/tether/internal/wire"
)

// goldenPath is shared with the TypeScript client's tests.
const goldenPath = "../../testdata/golden-frames.json"

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER (2^53-1): every
// number in the golden file must be at most this, so a JS client reads it
// exactly.
const maxSafeInteger = 1<<53 - 1

type goldenFile struct {
	Version string          `json:"version"`
	Frames  []goldenFrame   `json:"frames"`
	Invalid []goldenInvalid `json:"invalid"`
}

type goldenFrame struct {
	Name  string          `json:"name"`
	Hex   string          `json:"hex"`
	Frame json.RawMessage `json:"frame"`
}

type goldenInvalid struct {
	Name string `json:"name"`
	Hex  string `json:"hex"`
	Why  string `json:"why"`
}

func loadGolden(tb testing.TB) *goldenFile {
	tb.Helper()
	data, err := os.ReadFile(goldenPath)
	if err != nil {
		tb.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var g goldenFile
	if err := dec.Decode(&g); err != nil {
		tb.Fatalf("%s: %v", goldenPath, err)
	}
	return &g
}

func mustHex(tb testing.TB, name, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("%s: bad hex %q: %v", name, s, err)
	}
	if s != hex.EncodeToString(b) {
		tb.Fatalf("%s: hex %q is not lowercase", name, s)
	}
	return b
}

// encodeFrame re-encodes a decoded frame with the Append* function for its
// type.
func encodeFrame(f *wire.Frame) []byte {
	switch f.Type {
	case wire.TypeHello:
		return wire.AppendHello(nil, f.Hello)
	case wire.TypeWelcome:
		return wire.AppendWelcome(nil, f.Welcome)
	case wire.TypeBinary, wire.TypeText:
		return append(wire.AppendMessageHeader(nil, f.Type == wire.TypeText, f.Seq), f.Payload...)
	case wire.TypeAck, wire.TypePing, wire.TypePong:
		return wire.AppendSeqFrame(nil, f.Type, f.Seq)
	case wire.TypeGoAway:
		return wire.AppendGoAway(nil, f.GoAway)
	case wire.TypeRoomBinary, wire.TypeRoomText:
		return append(wire.AppendRoomMessageHeader(nil, f.Type == wire.TypeRoomText, f.Seq, f.Room, f.Offset), f.Payload...)
	case wire.TypeRoomEvent:
		return wire.AppendRoomEvent(nil, f.Seq, f.RoomEvent)
	case wire.TypeHistory:
		return wire.AppendHistory(nil, f.History)
	case wire.TypeHistoryResult:
		return wire.AppendHistoryResult(nil, f.HistoryResult)
	}
	panic(fmt.Sprintf("encodeFrame: unknown type %v", f.Type))
}

// checkShape checks that a successfully decoded frame sets only the fields
// of its type.
func checkShape(tb testing.TB, f *wire.Frame) {
	tb.Helper()
	hello, welcome, goaway, payload, seq := false, false, false, false, false
	room, event, history, result := false, false, false, false
	switch f.Type {
	case wire.TypeHello:
		hello = true
	case wire.TypeWelcome:
		welcome = true
	case wire.TypeGoAway:
		goaway = true
	case wire.TypeBinary, wire.TypeText:
		payload, seq = true, true
	case wire.TypeAck, wire.TypePing, wire.TypePong:
		seq = true
	case wire.TypeRoomBinary, wire.TypeRoomText:
		payload, seq, room = true, true, true
	case wire.TypeRoomEvent:
		seq, event = true, true
	case wire.TypeHistory:
		history = true
	case wire.TypeHistoryResult:
		result = true
	default:
		tb.Fatalf("decoded unknown type %v", f.Type)
	}
	if (f.Hello != nil) != hello || (f.Welcome != nil) != welcome || (f.GoAway != nil) != goaway ||
		(f.RoomEvent != nil) != event || (f.History != nil) != history || (f.HistoryResult != nil) != result ||
		(!room && (f.Room != "" || f.Offset != 0)) ||
		(!payload && f.Payload != nil) || (payload && f.Payload == nil) || (!seq && f.Seq != 0) {
		tb.Fatalf("%v frame has the wrong fields set: %+v", f.Type, f)
	}
	if f.IsMessage() != payload {
		tb.Fatalf("%v: IsMessage() = %v", f.Type, f.IsMessage())
	}
}

func num(v uint64) json.Number { return json.Number(strconv.FormatUint(v, 10)) }

// toGolden renders a decoded frame in the golden file's JSON shape.
func toGolden(f *wire.Frame) map[string]any {
	m := map[string]any{"type": f.Type.String()}
	switch f.Type {
	case wire.TypeHello:
		h := f.Hello
		m["sessionId"] = h.SessionID
		m["token"] = hex.EncodeToString(h.Token)
		m["epoch"] = h.Epoch
		m["recv"] = num(h.Recv)
		m["acked"] = num(h.Acked)
		m["written"] = num(h.Written)
		m["last"] = num(h.Last)
		m["window"] = num(h.Window)
		m["attempt"] = num(h.Attempt)
		if h.Features != 0 || h.Rooms != nil {
			m["features"] = num(h.Features)
			rooms := []any{}
			for _, r := range h.Rooms {
				rooms = append(rooms, map[string]any{"room": r.Room, "epoch": r.Epoch, "offset": num(r.Offset)})
			}
			m["rooms"] = rooms
		}
	case wire.TypeWelcome:
		w := f.Welcome
		m["flags"] = num(uint64(w.Flags))
		m["sessionId"] = w.SessionID
		m["token"] = hex.EncodeToString(w.Token)
		m["epoch"] = w.Epoch
		m["recv"] = num(w.Recv)
		m["replay"] = num(w.Replay)
		m["reason"] = num(uint64(w.Reason))
		m["prevIn"] = num(w.PrevIn)
		m["prevOut"] = num(w.PrevOut)
		m["heartbeat"] = num(w.Heartbeat)
		m["timeout"] = num(w.Timeout)
		m["maxSize"] = num(w.MaxSize)
		m["window"] = num(w.Window)
		m["grace"] = num(w.Grace)
		if w.Features != 0 || w.PrevRooms != 0 {
			m["features"] = num(w.Features)
		}
		if w.PrevRooms != 0 {
			m["prevRooms"] = num(w.PrevRooms)
		}
	case wire.TypeBinary, wire.TypeText:
		m["seq"] = num(f.Seq)
		m["payload"] = hex.EncodeToString(f.Payload)
		if f.Type == wire.TypeText {
			m["text"] = string(f.Payload)
		}
	case wire.TypeAck, wire.TypePing, wire.TypePong:
		m["seq"] = num(f.Seq)
	case wire.TypeGoAway:
		m["retryAfter"] = num(f.GoAway.RetryAfter)
		m["flags"] = num(uint64(f.GoAway.Flags))
		m["lastSeq"] = num(f.GoAway.LastSeq)
	case wire.TypeRoomBinary, wire.TypeRoomText:
		m["seq"] = num(f.Seq)
		m["room"] = f.Room
		m["offset"] = num(f.Offset)
		m["payload"] = hex.EncodeToString(f.Payload)
		if f.Type == wire.TypeRoomText {
			m["text"] = string(f.Payload)
		}
	case wire.TypeRoomEvent:
		e := f.RoomEvent
		m["seq"] = num(f.Seq)
		m["kind"] = num(uint64(e.Kind))
		m["room"] = e.Room
		m["epoch"] = e.Epoch
		m["offset"] = num(e.Offset)
		m["reason"] = num(uint64(e.Reason))
		m["flags"] = num(uint64(e.Flags))
		m["lost"] = num(e.Lost)
		m["skipped"] = num(e.Skipped)
		m["recovered"] = num(e.Recovered)
		m["user"] = e.User
		m["session"] = e.Session
	case wire.TypeHistory:
		h := f.History
		m["id"] = num(h.ID)
		m["room"] = h.Room
		m["since"] = num(h.Since)
		m["limit"] = num(h.Limit)
	case wire.TypeHistoryResult:
		r := f.HistoryResult
		m["id"] = num(r.ID)
		m["status"] = num(uint64(r.Status))
		m["epoch"] = r.Epoch
		m["first"] = num(r.First)
		m["last"] = num(r.Last)
		msgs := []any{}
		for _, hm := range r.Messages {
			msgs = append(msgs, map[string]any{"offset": num(hm.Offset), "text": hm.Text, "payload": hex.EncodeToString(hm.Payload)})
		}
		m["messages"] = msgs
	}
	return m
}

func TestGolden(t *testing.T) {
	g := loadGolden(t)
	if g.Version != wire.Subprotocol {
		t.Errorf("version = %q, want %q", g.Version, wire.Subprotocol)
	}

	names := map[string]bool{}
	types := map[string]bool{}
	values := map[uint64]bool{}
	for _, gf := range g.Frames {
		t.Run(gf.Name, func(t *testing.T) {
			if names[gf.Name] {
				t.Fatalf("duplicate name %q", gf.Name)
			}
			names[gf.Name] = true
			b := mustHex(t, gf.Name, gf.Hex)

			dec := json.NewDecoder(bytes.NewReader(gf.Frame))
			dec.UseNumber()
			var want map[string]any
			if err := dec.Decode(&want); err != nil {
				t.Fatal(err)
			}
			walkNumbers(want, func(k string, n json.Number) {
				u, err := strconv.ParseUint(string(n), 10, 64)
				if err != nil || u > maxSafeInteger {
					t.Errorf("%s = %s: not an integer in [0, 2^53-1]", k, n)
				}
				values[u] = true
			})
			types[fmt.Sprint(want["type"])] = true

			f, err := wire.Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			checkShape(t, &f)
			got := toGolden(&f)
			for _, k := range sortedKeys(want, got) {
				w, wok := want[k]
				g, gok := got[k]
				switch {
				case !wok:
					t.Errorf("%s: missing from golden frame (decoded %v)", k, g)
				case !gok:
					t.Errorf("%s: unexpected key in golden frame for type %v", k, f.Type)
				case !reflect.DeepEqual(w, g):
					t.Errorf("%s: golden %#v, decoded %#v", k, w, g)
				}
			}
			if f.IsText() && !utf8.Valid(f.Payload) {
				t.Errorf("text payload is not UTF-8")
			}

			if enc := encodeFrame(&f); !bytes.Equal(enc, b) {
				t.Errorf("re-encoded\n got %x\nwant %x", enc, b)
			}
			if f.IsMessage() {
				if n := headerLen(&f); n != len(b)-len(f.Payload) {
					t.Errorf("header length %d, want %d", n, len(b)-len(f.Payload))
				}
			}
		})
	}

	for _, gi := range g.Invalid {
		t.Run("invalid/"+gi.Name, func(t *testing.T) {
			if names["invalid/"+gi.Name] {
				t.Fatalf("duplicate name %q", gi.Name)
			}
			names["invalid/"+gi.Name] = true
			if gi.Why == "" {
				t.Errorf("no why")
			}
			f, err := wire.Decode(mustHex(t, gi.Name, gi.Hex))
			if !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("Decode(%s) = %+v, %v; want an error wrapping ErrMalformed", gi.Hex, f, err)
			}
		})
	}

	// The file must keep covering what clients rely on.
	for _, n := range []string{
		"hello-new", "hello-resume", "welcome-new", "welcome-resumed", "welcome-lost-expired",
		"binary-empty", "binary-00ff", "text-utf8", "ack", "ping", "pong", "goaway", "goaway-final",
		"invalid/empty", "invalid/unknown-type", "invalid/truncated-varint", "invalid/hello-token-too-long",
		"invalid/welcome-empty-session-id", "invalid/hello-acked-gt-written", "invalid/truncated-string",
		"invalid/varint-overflow",
		"hello-rooms", "welcome-rooms", "welcome-lost-in-rooms", "room-text", "room-binary-user", "room-joined-new", "room-joined-recovered",
		"room-joined-epoch-changed", "room-left-not-readmitted", "room-presence-join", "history", "history-result",
		"history-result-forbidden", "invalid/room-text-missing-offset", "invalid/room-name-too-long",
		"invalid/hello-rooms-truncated", "invalid/hello-too-many-rooms", "invalid/room-event-truncated",
		"invalid/history-result-bad-type", "invalid/history-result-short",
	} {
		if !names[n] {
			t.Errorf("golden file lacks %q", n)
		}
	}
	for _, ty := range []wire.Type{wire.TypeHello, wire.TypeWelcome, wire.TypeBinary, wire.TypeText,
		wire.TypeAck, wire.TypePing, wire.TypePong, wire.TypeGoAway, wire.TypeRoomBinary, wire.TypeRoomText,
		wire.TypeRoomEvent, wire.TypeHistory, wire.TypeHistoryResult} {
		if !types[ty.String()] {
			t.Errorf("golden file has no %s frame", ty)
		}
	}
	for _, v := range []uint64{300, 1 << 32, maxSafeInteger} {
		if !values[v] {
			t.Errorf("golden file never uses the value %d", v)
		}
	}
}

// walkNumbers calls fn for every number in v, nested ones included.
func walkNumbers(v any, fn func(key string, n json.Number)) {
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case json.Number:
			fn(key, x)
		case map[string]any:
			for k, e := range x {
				walk(k, e)
			}
		case []any:
			for _, e := range x {
				walk(key, e)
			}
		}
	}
	walk("", v)
}

// headerLen is the length of a message frame's header, from the
// package's own length function for its type.
func headerLen(f *wire.Frame) int {
	if f.Type == wire.TypeRoomBinary || f.Type == wire.TypeRoomText {
		return wire.RoomMessageHeaderLen(f.Seq, f.Room, f.Offset)
	}
	return wire.MessageHeaderLen(f.Seq)
}

func sortedKeys(ms ...map[string]any) []string {
	var ks []string
	for _, m := range ms {
		for k := range m {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return slices.Compact(ks)
}

// TestGoldenPrefixes checks that every strict prefix of a golden control
// frame is rejected, and that a prefix of a message either lacks a full
// header (rejected) or decodes with a shorter payload.
func TestGoldenPrefixes(t *testing.T) {
	for _, gf := range loadGolden(t).Frames {
		b := mustHex(t, gf.Name, gf.Hex)
		full, err := wire.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", gf.Name, err)
		}
		hdr := 0
		if full.IsMessage() {
			hdr = headerLen(&full)
		}
		// Optional trailing fields: a Hello may end after window or after
		// attempt, a Welcome after grace.
		optional := map[int]bool{}
		switch full.Type {
		case wire.TypeHello:
			h := *full.Hello
			h.Features, h.Rooms = 0, nil
			n := len(wire.AppendHello(nil, &h))
			optional[n-len(binary.AppendUvarint(nil, h.Attempt))] = true
			if full.Hello.Features != 0 || full.Hello.Rooms != nil {
				optional[n] = true
			}
		case wire.TypeWelcome:
			w := *full.Welcome
			w.Features, w.PrevRooms = 0, 0
			n := len(wire.AppendWelcome(nil, &w))
			if full.Welcome.Features != 0 || full.Welcome.PrevRooms != 0 {
				optional[n] = true
			}
			if full.Welcome.PrevRooms != 0 {
				optional[n+len(binary.AppendUvarint(nil, full.Welcome.Features))] = true
			}
		}
		for i := range len(b) {
			f, err := wire.Decode(b[:i])
			if optional[i] {
				if err != nil {
					t.Errorf("%s[:%d]: a %s without its optional fields: %v", gf.Name, i, full.Type, err)
				}
				continue
			}
			if full.IsMessage() && i >= hdr {
				if err != nil || f.Seq != full.Seq || !bytes.Equal(f.Payload, b[hdr:i]) {
					t.Errorf("%s[:%d]: got %+v, %v; want seq %d payload %x", gf.Name, i, f, err, full.Seq, b[hdr:i])
				}
				continue
			}
			if !errors.Is(err, wire.ErrMalformed) {
				t.Errorf("%s[:%d] (%x): got %+v, %v; want ErrMalformed", gf.Name, i, b[:i], f, err)
			}
		}
	}
}

// TestControlFrameTrailingBytes checks forward compatibility: bytes after
// the fields a control frame defines are ignored. For messages they are
// part of the payload.
func TestControlFrameTrailingBytes(t *testing.T) {
	trailers := [][]byte{
		{0x00},
		{0xff},
		{0x80},                   // an incomplete varint
		{0x05, 0x61, 0x62, 0x63}, // a truncated string
		bytes.Repeat([]byte{0xff}, 64),
	}
	for _, gf := range loadGolden(t).Frames {
		b := mustHex(t, gf.Name, gf.Hex)
		want, err := wire.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", gf.Name, err)
		}
		if (want.Hello != nil && want.Hello.Features == 0) || (want.Welcome != nil && want.Welcome.PrevRooms == 0) {
			// An earlier revision's frame: what follows is read as the
			// optional fields added since.
			continue
		}
		for _, tr := range trailers {
			in := append(slices.Clip(b), tr...)
			got, err := wire.Decode(in)
			if err != nil {
				t.Errorf("%s + %x: %v", gf.Name, tr, err)
				continue
			}
			if want.IsMessage() {
				if got.Seq != want.Seq || !bytes.Equal(got.Payload, append(slices.Clip(want.Payload), tr...)) {
					t.Errorf("%s + %x: got seq %d payload %x", gf.Name, tr, got.Seq, got.Payload)
				}
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s + %x: got %+v, want %+v", gf.Name, tr, got, want)
			}
		}
	}
}

func TestLimits(t *testing.T) {
	id64 := string(bytes.Repeat([]byte{'i'}, wire.MaxIDLen))
	tok64 := bytes.Repeat([]byte{0xaa}, wire.MaxTokenLen)
	ok := []wire.Hello{
		{SessionID: id64, Token: tok64, Epoch: id64},
	}
	for _, h := range ok {
		f, err := wire.Decode(wire.AppendHello(nil, &h))
		if err != nil || !reflect.DeepEqual(f.Hello, &h) {
			t.Errorf("hello at the limits: %+v, %v", f.Hello, err)
		}
	}
	w := wire.Welcome{SessionID: id64, Token: tok64, Epoch: id64}
	if f, err := wire.Decode(wire.AppendWelcome(nil, &w)); err != nil || !reflect.DeepEqual(f.Welcome, &w) {
		t.Errorf("welcome at the limits: %+v, %v", f.Welcome, err)
	}

	bad := []struct {
		name string
		b    []byte
	}{
		{"hello id", wire.AppendHello(nil, &wire.Hello{SessionID: id64 + "x"})},
		{"hello token", wire.AppendHello(nil, &wire.Hello{SessionID: "s", Token: append(tok64, 1)})},
		{"hello epoch", wire.AppendHello(nil, &wire.Hello{SessionID: "s", Epoch: id64 + "x"})},
		{"welcome id", wire.AppendWelcome(nil, &wire.Welcome{SessionID: id64 + "x"})},
		{"welcome token", wire.AppendWelcome(nil, &wire.Welcome{SessionID: "s", Token: append(tok64, 1)})},
		{"welcome epoch", wire.AppendWelcome(nil, &wire.Welcome{SessionID: "s", Epoch: id64 + "x"})},
		// A huge declared length must be rejected before any allocation.
		{"hello id 2^63", append([]byte{byte(wire.TypeHello)}, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)},
	}
	for _, c := range bad {
		if _, err := wire.Decode(c.b); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s over the limit: err = %v", c.name, err)
		}
	}

	room128 := string(bytes.Repeat([]byte{'r'}, wire.MaxRoomLen))
	positions := func(n int, room string) *wire.Hello {
		h := &wire.Hello{Features: wire.FeatureRooms}
		for range n {
			h.Rooms = append(h.Rooms, wire.RoomPosition{Room: room, Epoch: id64, Offset: 1})
		}
		return h
	}
	result := func(n int) *wire.HistoryResult {
		r := &wire.HistoryResult{ID: 1}
		for i := range n {
			r.Messages = append(r.Messages, wire.HistoryMessage{Offset: uint64(i + 1), Payload: []byte{}})
		}
		return r
	}
	atLimit := map[string][]byte{
		"room message room":  wire.AppendRoomMessageHeader(nil, false, 1, room128, 1),
		"hello rooms":        wire.AppendHello(nil, positions(wire.MaxRooms, room128)),
		"room event user":    wire.AppendRoomEvent(nil, 1, &wire.RoomEvent{Room: room128, User: strings.Repeat("u", wire.MaxUserLen)}),
		"history room":       wire.AppendHistory(nil, &wire.History{Room: room128}),
		"history result all": wire.AppendHistoryResult(nil, result(wire.MaxHistory)),
	}
	for name, b := range atLimit {
		if _, err := wire.Decode(b); err != nil {
			t.Errorf("%s at the limit: %v", name, err)
		}
	}
	overLimit := map[string][]byte{
		"room message room":  wire.AppendRoomMessageHeader(nil, false, 1, room128+"r", 1),
		"hello rooms":        wire.AppendHello(nil, positions(wire.MaxRooms+1, "r")),
		"hello room name":    wire.AppendHello(nil, positions(1, room128+"r")),
		"room event user":    wire.AppendRoomEvent(nil, 1, &wire.RoomEvent{User: strings.Repeat("u", wire.MaxUserLen+1)}),
		"history room":       wire.AppendHistory(nil, &wire.History{Room: room128 + "r"}),
		"history result all": wire.AppendHistoryResult(nil, result(wire.MaxHistory+1)),
	}
	for name, b := range overLimit {
		if _, err := wire.Decode(b); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s over the limit: err = %v", name, err)
		}
	}
}

func TestTypeString(t *testing.T) {
	want := map[wire.Type]string{
		0x01: "hello", 0x02: "welcome", 0x03: "binary", 0x04: "text",
		0x05: "ack", 0x06: "ping", 0x07: "pong", 0x08: "goaway", 0x09: "room-binary", 0x0a: "room-text",
		0x0b: "room-event", 0x0c: "history", 0x0d: "history-result",
		0x00: "type(0x00)", 0x7f: "type(0x7f)",
	}
	for ty, s := range want {
		if ty.String() != s {
			t.Errorf("Type(0x%02x).String() = %q, want %q", byte(ty), ty.String(), s)
		}
	}
}

// Random round trips.

func randUint(r *rand.Rand) uint64 {
	switch r.IntN(8) {
	case 0:
		return []uint64{0, 1, 127, 128, 16383, 16384, 1<<32 - 1, 1 << 32, maxSafeInteger, math.MaxUint64}[r.IntN(10)]
	default:
		return r.Uint64() >> r.IntN(65)
	}
}

func randBytes(r *rand.Rand, max int) []byte {
	n := r.IntN(max + 1)
	if n == 0 {
		return nil // Decode returns nil for an empty token
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randString(r *rand.Rand, max int) string { return string(randBytes(r, max)) }

func randPrefix(r *rand.Rand) []byte { return randBytes(r, 8) }

func TestRoundTrip(t *testing.T) {
	const n = 2000
	// roundTrip encodes after a random prefix (Append* must not disturb
	// it), decodes and compares.
	roundTrip := func(t *testing.T, r *rand.Rand, want *wire.Frame, appendTo func([]byte) []byte) {
		t.Helper()
		prefix := randPrefix(r)
		b := appendTo(slices.Clip(prefix))
		if !bytes.Equal(b[:len(prefix)], prefix) {
			t.Fatalf("prefix clobbered: %x, want %x", b[:len(prefix)], prefix)
		}
		got, err := wire.Decode(b[len(prefix):])
		if err != nil {
			t.Fatalf("Decode(%x) for %+v: %v", b[len(prefix):], want, err)
		}
		if !reflect.DeepEqual(got, *want) {
			t.Fatalf("Decode(%x):\n got %+v\nwant %+v", b[len(prefix):], got, *want)
		}
	}

	t.Run("hello", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 1))
		for range n {
			c := []uint64{randUint(r), randUint(r), randUint(r)}
			slices.Sort(c)
			h := &wire.Hello{
				SessionID: randString(r, wire.MaxIDLen),
				Token:     randBytes(r, wire.MaxTokenLen),
				Epoch:     randString(r, wire.MaxIDLen),
				Recv:      randUint(r),
				Acked:     c[0], Written: c[1], Last: c[2],
				Window: randUint(r),
			}
			roundTrip(t, r, &wire.Frame{Type: wire.TypeHello, Hello: h}, func(b []byte) []byte { return wire.AppendHello(b, h) })
		}
	})
	t.Run("welcome", func(t *testing.T) {
		r := rand.New(rand.NewPCG(2, 2))
		for range n {
			w := &wire.Welcome{
				Flags:     byte(r.Uint32()),
				SessionID: "s" + randString(r, wire.MaxIDLen-1),
				Token:     randBytes(r, wire.MaxTokenLen),
				Epoch:     randString(r, wire.MaxIDLen),
				Recv:      randUint(r), Replay: randUint(r),
				Reason: wire.LossReason(r.Uint32()),
				PrevIn: randUint(r), PrevOut: randUint(r),
				Heartbeat: randUint(r), Timeout: randUint(r), MaxSize: randUint(r),
				Window: randUint(r), Grace: randUint(r), Features: randUint(r) >> r.IntN(65), PrevRooms: randUint(r) >> r.IntN(65),
			}
			roundTrip(t, r, &wire.Frame{Type: wire.TypeWelcome, Welcome: w}, func(b []byte) []byte { return wire.AppendWelcome(b, w) })
		}
	})
	t.Run("message", func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 3))
		for range n {
			text := r.IntN(2) == 0
			ty := wire.TypeBinary
			if text {
				ty = wire.TypeText
			}
			seq := randUint(r)
			payload := randBytes(r, 300)
			if payload == nil {
				payload = []byte{} // Decode's payload is an empty slice of the input
			}
			hdr := wire.AppendMessageHeader(nil, text, seq)
			if len(hdr) != wire.MessageHeaderLen(seq) {
				t.Fatalf("MessageHeaderLen(%d) = %d, header is %x", seq, wire.MessageHeaderLen(seq), hdr)
			}
			roundTrip(t, r, &wire.Frame{Type: ty, Seq: seq, Payload: payload}, func(b []byte) []byte {
				return append(wire.AppendMessageHeader(b, text, seq), payload...)
			})

			// The payload aliases the input.
			in := append(hdr, payload...)
			f, err := wire.Decode(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(payload) > 0 && &f.Payload[0] != &in[len(hdr)] {
				t.Fatalf("payload does not alias the input")
			}
		}
	})
	t.Run("seq", func(t *testing.T) {
		r := rand.New(rand.NewPCG(4, 4))
		types := []wire.Type{wire.TypeAck, wire.TypePing, wire.TypePong}
		for range n {
			ty, seq := types[r.IntN(len(types))], randUint(r)
			roundTrip(t, r, &wire.Frame{Type: ty, Seq: seq}, func(b []byte) []byte { return wire.AppendSeqFrame(b, ty, seq) })
		}
	})
	t.Run("hello-rooms", func(t *testing.T) {
		r := rand.New(rand.NewPCG(6, 6))
		for range n {
			h := &wire.Hello{SessionID: randString(r, wire.MaxIDLen), Attempt: randUint(r), Features: randUint(r) | 1}
			for range r.IntN(5) {
				h.Rooms = append(h.Rooms, wire.RoomPosition{Room: randString(r, wire.MaxRoomLen), Epoch: randString(r, wire.MaxIDLen), Offset: randUint(r)})
			}
			roundTrip(t, r, &wire.Frame{Type: wire.TypeHello, Hello: h}, func(b []byte) []byte { return wire.AppendHello(b, h) })
		}
	})
	t.Run("room-message", func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 7))
		for range n {
			text := r.IntN(2) == 0
			ty := wire.TypeRoomBinary
			if text {
				ty = wire.TypeRoomText
			}
			seq, room, off := randUint(r), randString(r, wire.MaxRoomLen), randUint(r)
			payload := randBytes(r, 300)
			if payload == nil {
				payload = []byte{}
			}
			if hdr := wire.AppendRoomMessageHeader(nil, text, seq, room, off); len(hdr) != wire.RoomMessageHeaderLen(seq, room, off) {
				t.Fatalf("RoomMessageHeaderLen = %d, header is %x", wire.RoomMessageHeaderLen(seq, room, off), hdr)
			}
			roundTrip(t, r, &wire.Frame{Type: ty, Seq: seq, Room: room, Offset: off, Payload: payload}, func(b []byte) []byte {
				return append(wire.AppendRoomMessageHeader(b, text, seq, room, off), payload...)
			})
		}
	})
	t.Run("room-event", func(t *testing.T) {
		r := rand.New(rand.NewPCG(8, 8))
		for range n {
			e := &wire.RoomEvent{Kind: wire.RoomEventKind(r.Uint32()), Room: randString(r, wire.MaxRoomLen), Epoch: randString(r, wire.MaxIDLen),
				Offset: randUint(r), Reason: wire.RoomReason(r.Uint32()), Flags: byte(r.Uint32()), Lost: randUint(r), Skipped: randUint(r),
				Recovered: randUint(r), User: randString(r, wire.MaxUserLen), Session: randString(r, wire.MaxIDLen)}
			seq := randUint(r)
			roundTrip(t, r, &wire.Frame{Type: wire.TypeRoomEvent, Seq: seq, RoomEvent: e}, func(b []byte) []byte { return wire.AppendRoomEvent(b, seq, e) })
		}
	})
	t.Run("history", func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 9))
		for range n {
			h := &wire.History{ID: randUint(r), Room: randString(r, wire.MaxRoomLen), Since: randUint(r), Limit: randUint(r)}
			roundTrip(t, r, &wire.Frame{Type: wire.TypeHistory, History: h}, func(b []byte) []byte { return wire.AppendHistory(b, h) })
			hr := &wire.HistoryResult{ID: randUint(r), Status: byte(r.Uint32()), Epoch: randString(r, wire.MaxIDLen), First: randUint(r), Last: randUint(r)}
			for range r.IntN(6) {
				p := randBytes(r, 40)
				if p == nil {
					p = []byte{}
				}
				hr.Messages = append(hr.Messages, wire.HistoryMessage{Offset: randUint(r), Text: r.IntN(2) == 0, Payload: p})
			}
			roundTrip(t, r, &wire.Frame{Type: wire.TypeHistoryResult, HistoryResult: hr}, func(b []byte) []byte { return wire.AppendHistoryResult(b, hr) })
		}
	})
	t.Run("goaway", func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 5))
		for range n {
			g := &wire.GoAway{RetryAfter: randUint(r), Flags: byte(r.Uint32()), LastSeq: randUint(r)}
			roundTrip(t, r, &wire.Frame{Type: wire.TypeGoAway, GoAway: g}, func(b []byte) []byte { return wire.AppendGoAway(b, g) })
		}
	})
}

func TestWelcomeFlags(t *testing.T) {
	for _, c := range []struct {
		flags             byte
		resumed, prevKnow bool
	}{{0, false, false}, {wire.WelcomeResumed, true, false}, {wire.WelcomePrevKnown, false, true}, {3, true, true}, {0xfc, false, false}} {
		w := wire.Welcome{Flags: c.flags}
		if w.Resumed() != c.resumed || w.PrevKnown() != c.prevKnow {
			t.Errorf("flags %#x: Resumed %v PrevKnown %v", c.flags, w.Resumed(), w.PrevKnown())
		}
	}
}

func TestCloseCodeReconnect(t *testing.T) {
	want := map[wire.CloseCode]bool{
		1000: false, // normal: the client is leaving
		1001: true,  // going away (server shutting down)
		1002: false, // WebSocket protocol error
		1003: false,
		1006: true, // abnormal: connection dropped
		1007: false,
		1008: false,
		1009: false,
		1010: false,
		1011: true, // internal error
		1012: true, // service restart
	}
	for c := wire.CloseCode(4000); c < 4400; c++ {
		want[c] = true
	}
	for c := wire.CloseCode(4400); c < 5000; c++ {
		want[c] = false
	}
	for c, w := range want {
		if got := c.Reconnect(); got != w {
			t.Errorf("CloseCode(%d).Reconnect() = %v, want %v", c, got, w)
		}
	}
	// Every named Tether code is in the range its comment promises.
	for _, c := range []wire.CloseCode{wire.CloseDetach, wire.CloseServerRestart, wire.CloseHeartbeatTimeout,
		wire.CloseOverflow, wire.CloseTryAgain, wire.CloseServerError, wire.CloseRateLimited} {
		if !c.Reconnect() {
			t.Errorf("%v (%d) should reconnect", c, c)
		}
	}
	for _, c := range []wire.CloseCode{wire.CloseProtocolViolation, wire.CloseUnauthorized, wire.CloseForbidden,
		wire.CloseReplaced, wire.CloseKicked, wire.CloseTooBig, wire.CloseUnsupported, wire.ClosePolicy} {
		if c.Reconnect() {
			t.Errorf("%v (%d) should not reconnect", c, c)
		}
	}
}

// Allocations and benchmarks.

func TestDecodeMessageAllocs(t *testing.T) {
	if raceEnabled || testing.CoverMode() != "" {
		t.Skip("allocation counts are not meaningful under -race or -cover")
	}
	msg := append(wire.AppendMessageHeader(nil, false, 1<<40), make([]byte, 512)...)
	ack := wire.AppendSeqFrame(nil, wire.TypeAck, 1<<40)
	for name, b := range map[string][]byte{"message": msg, "ack": ack} {
		if n := testing.AllocsPerRun(100, func() {
			if _, err := wire.Decode(b); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("decoding a %s frame: %v allocs, want 0", name, n)
		}
	}
	buf := make([]byte, 0, 16)
	if n := testing.AllocsPerRun(100, func() {
		buf = wire.AppendMessageHeader(buf[:0], true, 1<<40)
		buf = wire.AppendSeqFrame(buf[:0], wire.TypePing, 1<<40)
	}); n != 0 {
		t.Errorf("appending a header into a buffer with room: %v allocs, want 0", n)
	}
}

var (
	sinkBytes []byte
	sinkFrame wire.Frame
)

func BenchmarkAppendMessageHeader(b *testing.B) {
	buf := make([]byte, 0, 16)
	b.ReportAllocs()
	var seq uint64 = 1 << 20
	for b.Loop() {
		buf = wire.AppendMessageHeader(buf[:0], false, seq)
		seq++
	}
	sinkBytes = buf
}

func BenchmarkDecodeMessage(b *testing.B) {
	frame := append(wire.AppendMessageHeader(nil, false, 1<<20), make([]byte, 256)...)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		f, err := wire.Decode(frame)
		if err != nil {
			b.Fatal(err)
		}
		sinkFrame = f
	}
}
