// Package storetest checks a tether.Store against the contract documented
// on the interface. Every implementation must pass Run:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) tether.Store { return newEmptyStore(t) })
//	}
//
// The suite relies only on documented behaviour, never on how a store
// keeps its data. Behaviour that depends on a store's configuration, such
// as when tombstones expire, is for the store's own tests.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ws/tether"
)

// timeout bounds each subtest's context.
const timeout = 30 * time.Second

// Bounds given to records that are not testing bounds: large enough
// never to be reached by accident.
const (
	roomyMessages = 1 << 20
	roomyBytes    = 1 << 30
)

// Run runs the suite. newStore is called once per subtest, with that
// subtest's t, and must return an empty store that no other subtest uses;
// it may register cleanups with t.
func Run(t *testing.T, newStore func(t *testing.T) tether.Store) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("store panicked: %v\n%s", r, debug.Stack())
				}
			}()
			s := newStore(t)
			if s == nil {
				t.Fatal("newStore returned nil")
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			tc.fn(&harness{t: t, s: s, ctx: ctx})
		})
	}
}

var tests = []struct {
	name string
	fn   func(h *harness)
}{
	{"Epoch", testEpoch},

	{"CreateLoadRoundTrip", testCreateLoadRoundTrip},
	{"CreateLoadZeroValues", testCreateLoadZeroValues},
	{"CreateResetsCounters", testCreateResetsCounters},
	{"CreateExists", testCreateExists},
	{"CreateCopiesMeta", testCreateCopiesMeta},
	{"LoadReturnsCopy", testLoadReturnsCopy},

	{"SaveUpdatesFields", testSaveUpdatesFields},
	{"SaveKeepsCounters", testSaveKeepsCounters},
	{"SaveCopiesMeta", testSaveCopiesMeta},

	{"AppendAssignsSeqs", testAppendAssignsSeqs},
	{"AppendMulti", testAppendMulti},
	{"ReadAfter", testReadAfter},
	{"ReadDataIntact", testReadDataIntact},
	{"ReadPastEnd", testReadPastEnd},
	{"ReadFarPastEnd", testReadFarPastEnd},
	{"ReadMaxBytes", testReadMaxBytes},
	{"ReadMaxBytesEmptyPayloads", testReadMaxBytesEmptyPayloads},
	{"ReadAppendsToDst", testReadAppendsToDst},

	{"AckTrims", testAckTrims},
	{"AckAll", testAckAll},
	{"AckBelowIgnored", testAckBelowIgnored},
	{"AckRange", testAckRange},

	{"OverflowMessages", testOverflowMessages},
	{"OverflowBytes", testOverflowBytes},
	{"OverflowMultiAtomic", testOverflowMultiAtomic},

	{"UnknownSession", testUnknownSession},

	{"CloseTombstone", testCloseTombstone},
	{"CloseNilTombstone", testCloseNilTombstone},
	{"CloseTwice", testCloseTwice},
	{"TombstoneNeverClosed", testTombstoneNeverClosed},
	{"TombstoneCopy", testTombstoneCopy},
	{"RecreateAfterClose", testRecreateAfterClose},

	{"Isolation", testIsolation},

	{"ConcurrentAppend", testConcurrentAppend},
	{"ConcurrentMultiAppend", testConcurrentMultiAppend},
	{"ConcurrentSessions", testConcurrentSessions},
	{"ConcurrentProducerConsumer", testConcurrentProducerConsumer},

	{"LeaseStartsAtOne", testLeaseStartsAtOne},
	{"ClaimMovesOwnership", testClaimMovesOwnership},
	{"StaleLeaseFenced", testStaleLeaseFenced},
	{"SaveIn", testSaveIn},
	{"Release", testRelease},
	{"Rooms", testRooms},
	{"RoomsLimit", testRoomsLimit},
	{"RoomsAtCreate", testRoomsAtCreate},
	{"Users", testUsers},
	{"CloseLeavesIndexes", testCloseLeavesIndexes},
	{"UnknownSessionOwnership", testUnknownSessionOwnership},
}

// harness bundles a subtest's store and context with helpers that fail
// the test on unexpected errors.
type harness struct {
	t   *testing.T
	s   tether.Store
	ctx context.Context
}

// record returns a record with every field set and roomy bounds.
func record(id string) *tether.Record {
	return &tether.Record{
		ID:          id,
		UserID:      "user-" + id,
		Token:       hash(1),
		PrevToken:   hash(2),
		Meta:        map[string]string{"k": "v", "id": id},
		Rooms:       []string{"lobby", "room-" + id},
		Owner:       "node-1",
		Attempt:     5,
		Created:     time.Now(),
		MaxMessages: roomyMessages,
		MaxBytes:    roomyBytes,
	}
}

// hash returns a token hash whose bytes all differ and depend on b.
func hash(b byte) tether.TokenHash {
	var h tether.TokenHash
	for i := range h {
		h[i] = b + byte(i)*7
	}
	return h
}

// msg returns a distinct message for i.
func msg(i int) tether.Message {
	typ := tether.Text
	if i%2 == 0 {
		typ = tether.Binary
	}
	return tether.Message{Type: typ, Data: fmt.Appendf(nil, "message %d", i)}
}

// sized returns a binary message of n payload bytes.
func sized(n int) tether.Message {
	return tether.Message{Type: tether.Binary, Data: bytes.Repeat([]byte{byte(n)}, n)}
}

// withSeqs returns copies of msgs numbered from first on.
func withSeqs(first uint64, msgs ...tether.Message) []tether.Message {
	out := make([]tether.Message, len(msgs))
	for i, m := range msgs {
		m.Seq = first + uint64(i)
		out[i] = m
	}
	return out
}

func (h *harness) create(rec *tether.Record) {
	h.t.Helper()
	if err := h.s.Create(h.ctx, rec); err != nil {
		h.t.Fatalf("Create(%q): %v", rec.ID, err)
	}
}

// session creates a session with roomy bounds and returns its ID.
func (h *harness) session(id string) string {
	h.t.Helper()
	h.create(record(id))
	return id
}

// bounded creates a session with the given bounds.
func (h *harness) bounded(id string, maxMessages, maxBytes int) string {
	h.t.Helper()
	rec := record(id)
	rec.MaxMessages, rec.MaxBytes = maxMessages, maxBytes
	h.create(rec)
	return id
}

func (h *harness) load(id string) *tether.Record {
	h.t.Helper()
	rec, err := h.s.Load(h.ctx, id)
	if err != nil {
		h.t.Fatalf("Load(%q): %v", id, err)
	}
	if rec == nil {
		h.t.Fatalf("Load(%q) returned a nil record and no error", id)
	}
	return rec
}

func (h *harness) save(rec *tether.Record) {
	h.t.Helper()
	if err := h.s.Save(h.ctx, rec); err != nil {
		h.t.Fatalf("Save(%q): %v", rec.ID, err)
	}
}

func (h *harness) append(id string, msgs ...tether.Message) uint64 {
	h.t.Helper()
	seq, err := h.s.Append(h.ctx, id, msgs...)
	if err != nil {
		h.t.Fatalf("Append(%q, %d messages): %v", id, len(msgs), err)
	}
	return seq
}

// appendWant appends msgs and checks the returned seq.
func (h *harness) appendWant(id string, want uint64, msgs ...tether.Message) {
	h.t.Helper()
	if got := h.append(id, msgs...); got != want {
		h.t.Fatalf("Append(%q, %d messages) = %d, want %d", id, len(msgs), got, want)
	}
}

func (h *harness) read(id string, after uint64, maxBytes int) []tether.Message {
	h.t.Helper()
	msgs, err := h.s.Read(h.ctx, id, after, maxBytes, nil)
	if err != nil {
		h.t.Fatalf("Read(%q, after=%d, maxBytes=%d): %v", id, after, maxBytes, err)
	}
	return msgs
}

// readWant reads once and compares with want.
func (h *harness) readWant(id string, after uint64, maxBytes int, want []tether.Message) {
	h.t.Helper()
	got := h.read(id, after, maxBytes)
	h.checkMsgs(fmt.Sprintf("Read(%q, after=%d, maxBytes=%d)", id, after, maxBytes), got, want)
}

// readAll reads every kept message after after, in as many calls as the
// store needs.
func (h *harness) readAll(id string, after uint64) []tether.Message {
	h.t.Helper()
	var all []tether.Message
	for {
		n := len(all)
		var err error
		all, err = h.s.Read(h.ctx, id, after, 1<<20, all)
		if err != nil {
			h.t.Fatalf("Read(%q, after=%d): %v", id, after, err)
		}
		if len(all) == n {
			return all
		}
		for _, m := range all[n:] {
			if m.Seq != after+1 {
				h.t.Fatalf("Read(%q, after=%d) returned seq %d, want %d", id, after, m.Seq, after+1)
			}
			after = m.Seq
		}
	}
}

func (h *harness) ack(id string, seq uint64) {
	h.t.Helper()
	if err := h.s.Ack(h.ctx, id, seq); err != nil {
		h.t.Fatalf("Ack(%q, %d): %v", id, seq, err)
	}
}

// counters checks a session's Out and Acked.
func (h *harness) counters(id string, out, acked uint64) {
	h.t.Helper()
	rec := h.load(id)
	if rec.Out != out || rec.Acked != acked {
		h.t.Fatalf("Load(%q): Out=%d Acked=%d, want Out=%d Acked=%d", id, rec.Out, rec.Acked, out, acked)
	}
}

// wantErr fails unless err matches target.
func (h *harness) wantErr(op string, err, target error) {
	h.t.Helper()
	if !errors.Is(err, target) {
		h.t.Fatalf("%s: got error %v, want %v", op, err, target)
	}
}

func (h *harness) checkMsgs(op string, got, want []tether.Message) {
	h.t.Helper()
	if d := diffMsgs(got, want); d != "" {
		h.t.Fatalf("%s: %s\n got: %s\nwant: %s", op, d, fmtMsgs(got), fmtMsgs(want))
	}
}

func diffMsgs(got, want []tether.Message) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d messages, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		switch {
		case g.Seq != w.Seq:
			return fmt.Sprintf("message %d: seq %d, want %d", i, g.Seq, w.Seq)
		case g.Type != w.Type:
			return fmt.Sprintf("message %d (seq %d): type %v, want %v", i, g.Seq, g.Type, w.Type)
		case !bytes.Equal(g.Data, w.Data):
			return fmt.Sprintf("message %d (seq %d): data %q, want %q", i, g.Seq, g.Data, w.Data)
		}
	}
	return ""
}

func fmtMsgs(msgs []tether.Message) string {
	const limit = 20
	var b bytes.Buffer
	b.WriteByte('[')
	for i, m := range msgs {
		if i == limit {
			fmt.Fprintf(&b, " …%d more", len(msgs)-limit)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		data := string(m.Data)
		if len(data) > 16 {
			data = fmt.Sprintf("%d bytes", len(m.Data))
		}
		fmt.Fprintf(&b, "{%d %v %q}", m.Seq, m.Type, data)
	}
	b.WriteByte(']')
	return b.String()
}

// sameTime reports whether a store kept t: the monotonic reading and
// sub-microsecond precision may be dropped, the zero time must stay zero.
func sameTime(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	return a.UnixMicro() == b.UnixMicro()
}

// sameMeta treats nil and empty maps as equal.
func sameMeta(a, b map[string]string) bool {
	return len(a) == len(b) && maps.Equal(a, b)
}

// diffRecord lists the fields of got that differ from want. Out and
// Acked are compared with out and acked instead.
func diffRecord(got, want *tether.Record, out, acked uint64) []string {
	var d []string
	add := func(field string, g, w any) {
		d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w))
	}
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.UserID != want.UserID {
		add("UserID", got.UserID, want.UserID)
	}
	if got.Token != want.Token {
		add("Token", got.Token, want.Token)
	}
	if got.PrevToken != want.PrevToken {
		add("PrevToken", got.PrevToken, want.PrevToken)
	}
	if !sameMeta(got.Meta, want.Meta) {
		add("Meta", got.Meta, want.Meta)
	}
	if !slices.Equal(got.Rooms, want.Rooms) && (len(got.Rooms) != 0 || len(want.Rooms) != 0) {
		add("Rooms", got.Rooms, want.Rooms)
	}
	if !sameTime(got.Created, want.Created) {
		add("Created", got.Created, want.Created)
	}
	if !sameTime(got.Detached, want.Detached) {
		add("Detached", got.Detached, want.Detached)
	}
	if got.In != want.In {
		add("In", got.In, want.In)
	}
	if got.Owner != want.Owner {
		add("Owner", got.Owner, want.Owner)
	}
	if got.Attempt != want.Attempt {
		add("Attempt", got.Attempt, want.Attempt)
	}
	if got.Out != out {
		add("Out", got.Out, out)
	}
	if got.Acked != acked {
		add("Acked", got.Acked, acked)
	}
	if got.MaxMessages != want.MaxMessages {
		add("MaxMessages", got.MaxMessages, want.MaxMessages)
	}
	if got.MaxBytes != want.MaxBytes {
		add("MaxBytes", got.MaxBytes, want.MaxBytes)
	}
	return d
}

func (h *harness) checkRecord(op string, got, want *tether.Record, out, acked uint64) {
	h.t.Helper()
	for _, d := range diffRecord(got, want, out, acked) {
		h.t.Errorf("%s: %s", op, d)
	}
	if h.t.Failed() {
		h.t.FailNow()
	}
}

func testEpoch(h *harness) {
	e1, err := h.s.Epoch(h.ctx)
	if err != nil {
		h.t.Fatalf("Epoch: %v", err)
	}
	if e1 == "" {
		h.t.Fatal("Epoch returned an empty string")
	}
	id := h.session("a")
	h.append(id, msg(1))
	h.ack(id, 1)
	if err := h.s.Close(h.ctx, id, 0, &tether.Tombstone{ID: id, Closed: time.Now()}); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	for range 3 {
		e2, err := h.s.Epoch(h.ctx)
		if err != nil {
			h.t.Fatalf("Epoch: %v", err)
		}
		if e2 != e1 {
			h.t.Fatalf("Epoch changed from %q to %q on a store that lost nothing", e1, e2)
		}
	}
}

func testCreateLoadRoundTrip(h *harness) {
	want := &tether.Record{
		ID:          "session-1",
		UserID:      "user-1",
		Token:       hash(10),
		PrevToken:   hash(20),
		Meta:        map[string]string{"room": "lobby", "lang": "fr", "": "empty key", "unicode": "héllo ✓"},
		Created:     time.Now().Add(-time.Hour), // monotonic, nanoseconds
		Detached:    time.Now().Add(-time.Minute),
		In:          12345,
		MaxMessages: 77,
		MaxBytes:    8888,
	}
	h.create(want)
	h.checkRecord("Load after Create", h.load(want.ID), want, 0, 0)
}

func testCreateLoadZeroValues(h *harness) {
	want := &tether.Record{ID: "zero", MaxMessages: 10, MaxBytes: 100}
	h.create(want)
	got := h.load(want.ID)
	h.checkRecord("Load after Create", got, want, 0, 0)
	// Non-nil zero values must stay zero, not become "now" or a sentinel.
	if !got.Created.IsZero() || !got.Detached.IsZero() {
		h.t.Fatalf("zero times came back as Created=%v Detached=%v", got.Created, got.Detached)
	}
}

func testCreateResetsCounters(h *harness) {
	rec := record("a")
	rec.Out, rec.Acked = 7, 5
	h.create(rec)
	h.counters("a", 0, 0)
	// The log really starts at 1: nothing is trimmed, nothing is kept.
	h.readWant("a", 0, 1<<20, nil)
	h.appendWant("a", 1, msg(1))
	h.readWant("a", 0, 1<<20, withSeqs(1, msg(1)))
}

func testCreateExists(h *harness) {
	orig := record("a")
	h.create(orig)
	h.appendWant("a", 1, msg(1))

	dup := record("a")
	dup.UserID, dup.Token, dup.Meta = "intruder", hash(99), map[string]string{"x": "y"}
	h.wantErr("Create of an existing ID", h.s.Create(h.ctx, dup), tether.ErrExists)

	// The failed Create changed nothing.
	h.checkRecord("Load after a failed Create", h.load("a"), orig, 1, 0)
	h.readWant("a", 0, 1<<20, withSeqs(1, msg(1)))
}

func testCreateCopiesMeta(h *harness) {
	rec := record("a")
	meta := map[string]string{"k": "v"}
	rec.Meta = meta
	h.create(rec)
	meta["k"] = "changed"
	meta["new"] = "x"
	if got := h.load("a").Meta; !sameMeta(got, map[string]string{"k": "v"}) {
		h.t.Fatalf("changing the map passed to Create changed the stored Meta: %v", got)
	}
}

func testLoadReturnsCopy(h *harness) {
	rec := record("a")
	rec.Meta = map[string]string{"k": "v"}
	h.create(rec)
	want := *rec
	want.Meta = map[string]string{"k": "v"} // not rec.Meta, which the store might share

	got := h.load("a")
	got.Meta["k"] = "changed"
	got.Meta["new"] = "x"
	got.UserID = "changed"
	got.In = 99
	got.Out = 99
	got.Token = hash(99)

	h.checkRecord("Load after changing an earlier Load's result", h.load("a"), &want, 0, 0)
}

func testSaveUpdatesFields(h *harness) {
	h.create(record("a"))

	// Change everything Save owns.
	rec := h.load("a")
	rec.Token, rec.PrevToken = hash(30), hash(40)
	rec.Meta = map[string]string{"new": "1", "other": "2"}
	rec.In = 42
	rec.Detached = time.Now()
	rec.Attempt = 1764160000000
	h.save(rec)
	h.checkRecord("Load after Save", h.load("a"), rec, 0, 0)

	// Save leaves what it does not own alone.
	other := h.load("a")
	other.UserID = "intruder"
	other.Rooms = []string{"x"}
	other.Owner = "someone"
	other.MaxMessages, other.MaxBytes = 1, 1
	h.save(other)
	h.checkRecord("Load after saving fields Save does not own", h.load("a"), rec, 0, 0)

	// And back to zero values: a store must not keep the old ones.
	rec.PrevToken = tether.TokenHash{}
	rec.Detached = time.Time{}
	rec.Meta = map[string]string{"other": "2"} // "new" removed
	rec.In = 43
	h.save(rec)
	got := h.load("a")
	h.checkRecord("Load after a second Save", got, rec, 0, 0)
	if !got.Detached.IsZero() {
		h.t.Fatalf("Detached = %v after saving the zero time", got.Detached)
	}

	rec.Meta = nil
	h.save(rec)
	if got := h.load("a").Meta; len(got) != 0 {
		h.t.Fatalf("Meta = %v after saving nil Meta", got)
	}
}

func testSaveKeepsCounters(h *harness) {
	h.create(record("a"))
	h.appendWant("a", 3, msg(1), msg(2), msg(3))
	h.ack("a", 2)

	rec := h.load("a")
	rec.Out, rec.Acked = 99, 50
	rec.In = 7
	h.save(rec)
	h.counters("a", 3, 2)
	if got := h.load("a").In; got != 7 {
		h.t.Fatalf("In = %d after Save, want 7", got)
	}

	// The log is untouched too.
	h.readWant("a", 2, 1<<20, withSeqs(3, msg(3)))
	h.appendWant("a", 4, msg(4))
	h.readWant("a", 2, 1<<20, withSeqs(3, msg(3), msg(4)))

	// A stale record (read before more messages went out) must not roll
	// the counters back either.
	stale := h.load("a")
	h.appendWant("a", 5, msg(5))
	h.ack("a", 4)
	h.save(stale)
	h.counters("a", 5, 4)
}

func testSaveCopiesMeta(h *harness) {
	h.create(record("a"))
	rec := h.load("a")
	meta := map[string]string{"k": "v"}
	rec.Meta = meta
	h.save(rec)
	meta["k"] = "changed"
	meta["new"] = "x"
	if got := h.load("a").Meta; !sameMeta(got, map[string]string{"k": "v"}) {
		h.t.Fatalf("changing the map passed to Save changed the stored Meta: %v", got)
	}
}

func testAppendAssignsSeqs(h *harness) {
	id := h.session("a")
	for i := 1; i <= 5; i++ {
		m := msg(i)
		m.Seq = 1000 + uint64(i) // must be ignored
		h.appendWant(id, uint64(i), m)
		h.counters(id, uint64(i), 0)
	}
	h.readWant(id, 0, 1<<20, withSeqs(1, msg(1), msg(2), msg(3), msg(4), msg(5)))
}

func testAppendMulti(h *harness) {
	id := h.session("a")
	h.appendWant(id, 4, msg(1), msg(2), msg(3), msg(4))
	h.counters(id, 4, 0)
	h.appendWant(id, 5, msg(5))
	h.appendWant(id, 7, msg(6), msg(7))
	h.counters(id, 7, 0)
	h.readWant(id, 0, 1<<20, withSeqs(1, msg(1), msg(2), msg(3), msg(4), msg(5), msg(6), msg(7)))
}

func testReadAfter(h *harness) {
	id := h.session("a")
	var all []tether.Message
	for i := 1; i <= 10; i++ {
		all = append(all, msg(i))
	}
	h.appendWant(id, 10, all...)
	all = withSeqs(1, all...)
	for k := range 11 {
		h.readWant(id, uint64(k), 1<<20, all[k:])
	}
}

func testReadDataIntact(h *harness) {
	id := h.session("a")
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	msgs := []tether.Message{
		{Type: tether.Binary, Data: every},
		{Type: tether.Text, Data: []byte("héllo, wörld ✓\n\r\t")},
		{Type: tether.Binary, Data: nil},
		{Type: tether.Text, Data: []byte{}},
		{Type: tether.Binary, Data: bytes.Repeat([]byte("xyz"), 20000)},
	}
	h.appendWant(id, uint64(len(msgs)), msgs...)
	h.readWant(id, 0, 1<<20, withSeqs(1, msgs...))
}

func testReadPastEnd(h *harness) {
	id := h.session("a")
	h.readWant(id, 0, 1<<20, nil) // empty log
	h.appendWant(id, 3, msg(1), msg(2), msg(3))
	for _, after := range []uint64{3, 4, 100} {
		h.readWant(id, after, 1<<20, nil)
	}
	h.ack(id, 2)
	for _, after := range []uint64{3, 4, 100} {
		h.readWant(id, after, 1<<20, nil)
	}
	h.ack(id, 3)
	for _, after := range []uint64{3, 4, 100} {
		h.readWant(id, after, 1<<20, nil)
	}
}

func testReadFarPastEnd(h *harness) {
	id := h.session("a")
	h.appendWant(id, 3, msg(1), msg(2), msg(3))
	for _, after := range []uint64{1 << 32, 1<<63 - 1, 1 << 63, math.MaxUint64} {
		h.readWant(id, after, 1<<20, nil)
	}
}

func testReadMaxBytes(h *harness) {
	id := h.session("a")
	// Five 10-byte messages.
	var ten []tether.Message
	for i := 1; i <= 5; i++ {
		m := sized(10)
		m.Data[0] = byte(i)
		ten = append(ten, m)
	}
	h.appendWant(id, 5, ten...)
	ten = withSeqs(1, ten...)
	for _, c := range []struct {
		after    uint64
		maxBytes int
		n        int
	}{
		{0, 1, 1}, // at least one, even alone over the limit
		{0, 9, 1},
		{0, 10, 1},
		{0, 19, 1},
		{0, 20, 2}, // exactly at the limit
		{0, 25, 2},
		{0, 30, 3},
		{0, 49, 4},
		{0, 50, 5},
		{0, 1000, 5},
		{2, 1, 1},
		{2, 20, 2},
		{2, 1000, 3},
		{4, 1, 1},
	} {
		h.readWant(id, c.after, c.maxBytes, ten[c.after:c.after+uint64(c.n)])
	}

	// Read stops at the first message that does not fit, even if later
	// ones would.
	b := h.session("b")
	mixed := []tether.Message{sized(5), sized(20), sized(1), sized(1)}
	h.appendWant(b, 4, mixed...)
	mixed = withSeqs(1, mixed...)
	h.readWant(b, 0, 10, mixed[:1])
	h.readWant(b, 0, 25, mixed[:2])
	h.readWant(b, 0, 26, mixed[:3])
	h.readWant(b, 1, 10, mixed[1:2]) // alone over the limit
	h.readWant(b, 2, 10, mixed[2:])
}

func testReadMaxBytesEmptyPayloads(h *harness) {
	id := h.session("a")
	msgs := []tether.Message{sized(0), sized(100), sized(0)}
	h.appendWant(id, 3, msgs...)
	msgs = withSeqs(1, msgs...)
	// An empty first message does not license exceeding maxBytes.
	h.readWant(id, 0, 10, msgs[:1])
	h.readWant(id, 1, 10, msgs[1:2])
	h.readWant(id, 0, 100, msgs)

	// Empty payloads always fit.
	b := h.session("b")
	more := []tether.Message{sized(0), sized(0), sized(0), sized(5), sized(0), sized(1)}
	h.appendWant(b, 6, more...)
	more = withSeqs(1, more...)
	h.readWant(b, 0, 5, more[:5])
}

func testReadAppendsToDst(h *harness) {
	id := h.session("a")
	h.appendWant(id, 3, msg(1), msg(2), msg(3))

	sentinel := []tether.Message{
		{Type: tether.Text, Data: []byte("keep 0"), Seq: 1000},
		{Type: tether.Binary, Data: []byte("keep 1"), Seq: 2000},
	}
	for _, capacity := range []int{2, 16} {
		dst := make([]tether.Message, 2, capacity)
		copy(dst, sentinel)
		got, err := h.s.Read(h.ctx, id, 1, 1<<20, dst)
		if err != nil {
			h.t.Fatalf("Read with dst: %v", err)
		}
		h.checkMsgs(fmt.Sprintf("Read with a dst of len 2, cap %d", capacity), got,
			append(slices.Clone(sentinel), withSeqs(2, msg(2), msg(3))...))
	}

	// Nothing to read: dst comes back as it was.
	dst := slices.Clone(sentinel)
	got, err := h.s.Read(h.ctx, id, 3, 1<<20, dst)
	if err != nil {
		h.t.Fatalf("Read with dst: %v", err)
	}
	h.checkMsgs("Read past the end with a dst", got, sentinel)
}

func testAckTrims(h *harness) {
	id := h.session("a")
	h.appendWant(id, 5, msg(1), msg(2), msg(3), msg(4), msg(5))
	h.ack(id, 2)
	h.counters(id, 5, 2)
	h.readWant(id, 2, 1<<20, withSeqs(3, msg(3), msg(4), msg(5)))
	h.readWant(id, 4, 1<<20, withSeqs(5, msg(5)))
	for _, after := range []uint64{0, 1} {
		_, err := h.s.Read(h.ctx, id, after, 1<<20, nil)
		h.wantErr(fmt.Sprintf("Read(after=%d) after Ack(2)", after), err, tether.ErrGap)
	}

	h.ack(id, 4)
	h.counters(id, 5, 4)
	h.readWant(id, 4, 1<<20, withSeqs(5, msg(5)))
	for _, after := range []uint64{0, 2, 3} {
		_, err := h.s.Read(h.ctx, id, after, 1<<20, nil)
		h.wantErr(fmt.Sprintf("Read(after=%d) after Ack(4)", after), err, tether.ErrGap)
	}
}

func testAckAll(h *harness) {
	id := h.session("a")
	h.appendWant(id, 3, msg(1), msg(2), msg(3))
	h.ack(id, 3)
	h.counters(id, 3, 3)
	h.readWant(id, 3, 1<<20, nil)
	for _, after := range []uint64{0, 2} {
		_, err := h.s.Read(h.ctx, id, after, 1<<20, nil)
		h.wantErr(fmt.Sprintf("Read(after=%d) after acking everything up to 3", after), err, tether.ErrGap)
	}

	// Sequence numbers carry on where they were.
	h.appendWant(id, 4, msg(4))
	h.counters(id, 4, 3)
	h.readWant(id, 3, 1<<20, withSeqs(4, msg(4)))
	h.appendWant(id, 6, msg(5), msg(6))
	h.readWant(id, 3, 1<<20, withSeqs(4, msg(4), msg(5), msg(6)))
	h.ack(id, 5)
	h.readWant(id, 5, 1<<20, withSeqs(6, msg(6)))
	_, err := h.s.Read(h.ctx, id, 4, 1<<20, nil)
	h.wantErr("Read(after=4) after Ack(5)", err, tether.ErrGap)
}

func testAckBelowIgnored(h *harness) {
	id := h.session("a")
	h.ack(id, 0) // nothing sent, nothing acked: a no-op, not an error
	h.counters(id, 0, 0)
	h.appendWant(id, 5, msg(1), msg(2), msg(3), msg(4), msg(5))
	h.ack(id, 0)
	h.counters(id, 5, 0)
	h.readWant(id, 0, 1<<20, withSeqs(1, msg(1), msg(2), msg(3), msg(4), msg(5)))

	h.ack(id, 3)
	for _, seq := range []uint64{3, 2, 1, 0} {
		h.ack(id, seq)
		h.counters(id, 5, 3)
	}
	h.readWant(id, 3, 1<<20, withSeqs(4, msg(4), msg(5)))
	h.ack(id, 4)
	h.counters(id, 5, 4)
}

func testAckRange(h *harness) {
	id := h.session("a")
	h.wantErr("Ack(1) with nothing sent", h.s.Ack(h.ctx, id, 1), tether.ErrAckRange)
	h.counters(id, 0, 0)

	h.appendWant(id, 3, msg(1), msg(2), msg(3))
	for _, seq := range []uint64{4, 100, math.MaxUint64} {
		h.wantErr(fmt.Sprintf("Ack(%d) with Out=3", seq), h.s.Ack(h.ctx, id, seq), tether.ErrAckRange)
	}
	// The failed acks trimmed nothing.
	h.counters(id, 3, 0)
	h.readWant(id, 0, 1<<20, withSeqs(1, msg(1), msg(2), msg(3)))

	h.ack(id, 1)
	h.wantErr("Ack(4) with Out=3, Acked=1", h.s.Ack(h.ctx, id, 4), tether.ErrAckRange)
	h.counters(id, 3, 1)
	h.readWant(id, 1, 1<<20, withSeqs(2, msg(2), msg(3)))
}

func testOverflowMessages(h *harness) {
	id := h.bounded("a", 3, roomyBytes)
	h.appendWant(id, 1, msg(1))
	h.appendWant(id, 3, msg(2), msg(3)) // exactly full
	_, err := h.s.Append(h.ctx, id, msg(4))
	h.wantErr("Append of a 4th message with MaxMessages=3", err, tether.ErrOverflow)
	h.counters(id, 3, 0)
	h.readWant(id, 0, 1<<20, withSeqs(1, msg(1), msg(2), msg(3)))

	// Acking frees room, one message per message acked.
	h.ack(id, 1)
	h.appendWant(id, 4, msg(4))
	_, err = h.s.Append(h.ctx, id, msg(5))
	h.wantErr("Append with 3 unacked and MaxMessages=3", err, tether.ErrOverflow)
	h.counters(id, 4, 1)
	h.readWant(id, 1, 1<<20, withSeqs(2, msg(2), msg(3), msg(4)))

	h.ack(id, 4)
	h.appendWant(id, 7, msg(5), msg(6), msg(7))
	_, err = h.s.Append(h.ctx, id, msg(8))
	h.wantErr("Append after refilling", err, tether.ErrOverflow)
	h.readWant(id, 4, 1<<20, withSeqs(5, msg(5), msg(6), msg(7)))
}

func testOverflowBytes(h *harness) {
	id := h.bounded("a", roomyMessages, 100)
	h.appendWant(id, 1, sized(60))
	h.appendWant(id, 2, sized(40)) // exactly full
	_, err := h.s.Append(h.ctx, id, sized(1))
	h.wantErr("Append of 1 byte over MaxBytes=100", err, tether.ErrOverflow)
	h.counters(id, 2, 0)
	h.readWant(id, 0, 1<<20, withSeqs(1, sized(60), sized(40)))
	// Empty payloads cost no bytes.
	h.appendWant(id, 3, sized(0))

	// Acking the 60-byte message frees 60 bytes.
	h.ack(id, 1)
	h.appendWant(id, 4, sized(60))
	_, err = h.s.Append(h.ctx, id, sized(1))
	h.wantErr("Append of 1 byte with 100 bytes unacked", err, tether.ErrOverflow)
	h.counters(id, 4, 1)
	h.readWant(id, 1, 1<<20, withSeqs(2, sized(40), sized(0), sized(60)))

	// One message bigger than the whole buffer never fits.
	h.ack(id, 4)
	_, err = h.s.Append(h.ctx, id, sized(101))
	h.wantErr("Append of 101 bytes into an empty buffer with MaxBytes=100", err, tether.ErrOverflow)
	h.counters(id, 4, 4)
	h.appendWant(id, 5, sized(100))
}

func testOverflowMultiAtomic(h *harness) {
	id := h.bounded("a", 5, roomyBytes)
	h.appendWant(id, 3, msg(1), msg(2), msg(3))
	_, err := h.s.Append(h.ctx, id, msg(4), msg(5), msg(6))
	h.wantErr("Append of 3 messages with 2 free", err, tether.ErrOverflow)
	h.counters(id, 3, 0)
	h.readWant(id, 0, 1<<20, withSeqs(1, msg(1), msg(2), msg(3)))
	h.appendWant(id, 5, msg(4), msg(5))
	h.readWant(id, 0, 1<<20, withSeqs(1, msg(1), msg(2), msg(3), msg(4), msg(5)))

	b := h.bounded("b", roomyMessages, 100)
	h.appendWant(b, 1, sized(50))
	_, err = h.s.Append(h.ctx, b, sized(30), sized(30))
	h.wantErr("Append of 60 bytes with 50 free", err, tether.ErrOverflow)
	h.counters(b, 1, 0)
	h.readWant(b, 0, 1<<20, withSeqs(1, sized(50)))
	h.appendWant(b, 3, sized(30), sized(20))
	h.readWant(b, 0, 1<<20, withSeqs(1, sized(50), sized(30), sized(20)))
}

func testUnknownSession(h *harness) {
	h.session("other") // a store with something in it
	const id = "nope"
	_, err := h.s.Load(h.ctx, id)
	h.wantErr("Load of an unknown ID", err, tether.ErrNotFound)
	h.wantErr("Save of an unknown ID", h.s.Save(h.ctx, record(id)), tether.ErrNotFound)
	_, err = h.s.Append(h.ctx, id, msg(1))
	h.wantErr("Append to an unknown ID", err, tether.ErrNotFound)
	_, err = h.s.Read(h.ctx, id, 0, 1<<20, nil)
	h.wantErr("Read of an unknown ID", err, tether.ErrNotFound)
	h.wantErr("Ack of an unknown ID", h.s.Ack(h.ctx, id, 0), tether.ErrNotFound)
	h.wantErr("Ack of an unknown ID", h.s.Ack(h.ctx, id, 1), tether.ErrNotFound)
	h.wantErr("Close of an unknown ID", h.s.Close(h.ctx, id, 0, nil), tether.ErrNotFound)
	_, err = h.s.Tombstone(h.ctx, id)
	h.wantErr("Tombstone of an unknown ID", err, tether.ErrNotFound)

	// None of that brought the session into being.
	_, err = h.s.Load(h.ctx, id)
	h.wantErr("Load of an unknown ID after operations on it", err, tether.ErrNotFound)
	h.create(record(id))
	h.counters(id, 0, 0)
	h.readWant(id, 0, 1<<20, nil)
}

func tombstone(id string) *tether.Tombstone {
	return &tether.Tombstone{
		ID:        id,
		UserID:    "user-" + id,
		Token:     hash(50),
		PrevToken: hash(60),
		Reason:    tether.ReasonOverflow,
		In:        17,
		Out:       30,
		Closed:    time.Now(),
		Acked:     12,
		InRooms:   []byte{0b1011_0110, 0, 0x81},
	}
}

func (h *harness) checkTombstone(id string, want *tether.Tombstone) {
	h.t.Helper()
	got, err := h.s.Tombstone(h.ctx, id)
	if err != nil {
		h.t.Fatalf("Tombstone(%q): %v", id, err)
	}
	if got == nil {
		h.t.Fatalf("Tombstone(%q) returned nil and no error", id)
	}
	if got.ID != want.ID || got.UserID != want.UserID || got.Token != want.Token ||
		got.PrevToken != want.PrevToken || got.Reason != want.Reason || got.In != want.In ||
		got.Out != want.Out || !sameTime(got.Closed, want.Closed) ||
		got.Acked != want.Acked || !bytes.Equal(got.InRooms, want.InRooms) {
		h.t.Fatalf("Tombstone(%q) = %+v\nwant %+v", id, *got, *want)
	}
}

func (h *harness) close(id string, t *tether.Tombstone) {
	h.t.Helper()
	if err := h.s.Close(h.ctx, id, 0, t); err != nil {
		h.t.Fatalf("Close(%q): %v", id, err)
	}
}

func (h *harness) wantGone(id string) {
	h.t.Helper()
	_, err := h.s.Load(h.ctx, id)
	h.wantErr("Load of a closed session", err, tether.ErrNotFound)
	_, err = h.s.Append(h.ctx, id, msg(1))
	h.wantErr("Append to a closed session", err, tether.ErrNotFound)
	_, err = h.s.Read(h.ctx, id, 0, 1<<20, nil)
	h.wantErr("Read of a closed session", err, tether.ErrNotFound)
	h.wantErr("Ack of a closed session", h.s.Ack(h.ctx, id, 1), tether.ErrNotFound)
	h.wantErr("Save of a closed session", h.s.Save(h.ctx, record(id)), tether.ErrNotFound)
	_, err = h.s.Load(h.ctx, id)
	h.wantErr("Load of a closed session after operations on it", err, tether.ErrNotFound)
}

func testCloseTombstone(h *harness) {
	id := h.session("a")
	h.appendWant(id, 3, msg(1), msg(2), msg(3))
	h.ack(id, 1)
	want := tombstone(id)
	want.Closed = time.Now().Add(-time.Second) // well inside any sane lifetime
	h.close(id, want)
	h.wantGone(id)
	h.checkTombstone(id, want)

	// Every reason round-trips.
	for i, reason := range []tether.LossReason{
		tether.ReasonExpired, tether.ReasonShutdown, tether.ReasonServerError, tether.ReasonClosed,
	} {
		id := fmt.Sprintf("r%d", i)
		h.session(id)
		t := tombstone(id)
		t.Reason = reason
		t.PrevToken = tether.TokenHash{}
		h.close(id, t)
		h.checkTombstone(id, t)
	}
}

func testCloseNilTombstone(h *harness) {
	id := h.session("a")
	h.appendWant(id, 1, msg(1))
	h.close(id, nil)
	h.wantGone(id)
	_, err := h.s.Tombstone(h.ctx, id)
	h.wantErr("Tombstone of a session closed without one", err, tether.ErrNotFound)
}

func testCloseTwice(h *harness) {
	id := h.session("a")
	want := tombstone(id)
	h.close(id, want)
	h.wantErr("second Close", h.s.Close(h.ctx, id, 0, nil), tether.ErrNotFound)
	h.wantErr("second Close with a tombstone", h.s.Close(h.ctx, id, 0, tombstone(id)), tether.ErrNotFound)
	h.wantGone(id)
	h.checkTombstone(id, want)
}

func testTombstoneNeverClosed(h *harness) {
	id := h.session("a")
	h.appendWant(id, 1, msg(1))
	_, err := h.s.Tombstone(h.ctx, id)
	h.wantErr("Tombstone of a live session", err, tether.ErrNotFound)
	_, err = h.s.Tombstone(h.ctx, "never")
	h.wantErr("Tombstone of an ID never used", err, tether.ErrNotFound)
	// Another session's tombstone is not this one's.
	h.session("b")
	h.close("b", tombstone("b"))
	_, err = h.s.Tombstone(h.ctx, id)
	h.wantErr("Tombstone of a live session after another closed", err, tether.ErrNotFound)
}

func testTombstoneCopy(h *harness) {
	id := h.session("a")
	passed := tombstone(id)
	want := *passed
	want.InRooms = slices.Clone(passed.InRooms)
	h.close(id, passed)
	passed.UserID, passed.In, passed.Token = "changed", 99, hash(99)
	passed.InRooms[0] = ^passed.InRooms[0]
	h.checkTombstone(id, &want)

	got, err := h.s.Tombstone(h.ctx, id)
	if err != nil {
		h.t.Fatalf("Tombstone: %v", err)
	}
	got.UserID, got.Out, got.Reason = "changed", 99, tether.ReasonClosed
	got.InRooms[1] = 0xff
	h.checkTombstone(id, &want)
}

func testRecreateAfterClose(h *harness) {
	id := h.session("a")
	h.appendWant(id, 3, msg(1), msg(2), msg(3))
	h.ack(id, 1)
	h.close(id, tombstone(id))

	// The ID is free again, and the new session starts from scratch.
	rec := record(id)
	rec.UserID = "second"
	h.create(rec)
	h.checkRecord("Load of a re-created session", h.load(id), rec, 0, 0)
	h.readWant(id, 0, 1<<20, nil)
	h.appendWant(id, 1, msg(10))
	h.readWant(id, 0, 1<<20, withSeqs(1, msg(10)))
}

func testIsolation(h *harness) {
	a := h.bounded("a", 2, roomyBytes)
	b := h.bounded("b", 10, 100)
	ma := []tether.Message{msg(1), msg(2)}
	mb := []tether.Message{msg(101), msg(102), msg(103)}
	h.appendWant(a, 1, ma[0])
	h.appendWant(b, 1, mb[0])
	h.appendWant(b, 2, mb[1])
	h.appendWant(a, 2, ma[1])
	h.appendWant(b, 3, mb[2])
	h.readWant(a, 0, 1<<20, withSeqs(1, ma...))
	h.readWant(b, 0, 1<<20, withSeqs(1, mb...))

	// a is full; b is not.
	_, err := h.s.Append(h.ctx, a, msg(3))
	h.wantErr("Append to a full session", err, tether.ErrOverflow)
	h.appendWant(b, 4, msg(104))
	mb = append(mb, msg(104))

	// Acks and saves on a leave b alone.
	h.ack(a, 2)
	h.counters(a, 2, 2)
	h.counters(b, 4, 0)
	h.readWant(b, 0, 1<<20, withSeqs(1, mb...))
	ra := h.load(a)
	ra.UserID, ra.In = "changed", 9
	h.save(ra)
	if rb := h.load(b); rb.UserID != "user-b" || rb.In != 0 {
		h.t.Fatalf("Save of a changed b: UserID=%q In=%d", rb.UserID, rb.In)
	}

	// Closing a leaves b alone.
	h.close(a, tombstone(a))
	h.counters(b, 4, 0)
	h.readWant(b, 0, 1<<20, withSeqs(1, mb...))
	_, err = h.s.Tombstone(h.ctx, b)
	h.wantErr("Tombstone of the session not closed", err, tether.ErrNotFound)
}

// tagged returns a message naming its sender and index.
func tagged(g, i int) tether.Message {
	return tether.Message{Type: tether.Binary, Data: fmt.Appendf(nil, "g%d-i%d", g, i)}
}

func testConcurrentAppend(h *harness) {
	const goroutines, each = 8, 200
	const total = goroutines * each
	id := h.session("a")

	seqs := make([][]uint64, goroutines) // seqs[g][i]: seq returned for tagged(g, i)
	var wg sync.WaitGroup
	for g := range goroutines {
		seqs[g] = make([]uint64, each)
		wg.Go(func() {
			for i := range each {
				seq, err := h.s.Append(h.ctx, id, tagged(g, i))
				if err != nil {
					h.t.Errorf("goroutine %d: Append %d: %v", g, i, err)
					return
				}
				seqs[g][i] = seq
			}
		})
	}
	wg.Wait()
	if h.t.Failed() {
		return
	}

	h.counters(id, total, 0)
	got := h.readAll(id, 0)
	if len(got) != total {
		h.t.Fatalf("read %d messages after %d concurrent Appends, want %d", len(got), total, total)
	}
	seen := make([]bool, total+1)
	for g := range goroutines {
		for i, seq := range seqs[g] {
			if seq < 1 || seq > total {
				h.t.Fatalf("goroutine %d: Append %d returned seq %d, outside 1..%d", g, i, seq, total)
			}
			if seen[seq] {
				h.t.Fatalf("seq %d returned by more than one Append", seq)
			}
			seen[seq] = true
			if i > 0 && seq <= seqs[g][i-1] {
				h.t.Fatalf("goroutine %d: Append %d returned seq %d after %d", g, i, seq, seqs[g][i-1])
			}
			m := got[seq-1]
			if want := tagged(g, i); m.Seq != seq || !bytes.Equal(m.Data, want.Data) {
				h.t.Fatalf("message with seq %d is {%d %q}, want {%d %q}", seq, m.Seq, m.Data, seq, want.Data)
			}
		}
	}
}

func testConcurrentMultiAppend(h *harness) {
	const goroutines, batches, size = 8, 40, 8
	const total = goroutines * batches * size
	id := h.session("a")

	last := make([][]uint64, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		last[g] = make([]uint64, batches)
		wg.Go(func() {
			batch := make([]tether.Message, size)
			for b := range batches {
				for j := range batch {
					batch[j] = tagged(g, b*size+j)
				}
				seq, err := h.s.Append(h.ctx, id, batch...)
				if err != nil {
					h.t.Errorf("goroutine %d: Append of batch %d: %v", g, b, err)
					return
				}
				last[g][b] = seq
			}
		})
	}
	wg.Wait()
	if h.t.Failed() {
		return
	}

	h.counters(id, total, 0)
	got := h.readAll(id, 0)
	if len(got) != total {
		h.t.Fatalf("read %d messages, want %d", len(got), total)
	}
	for g := range goroutines {
		for b, seq := range last[g] {
			if seq < size || seq > total {
				h.t.Fatalf("goroutine %d: Append of batch %d returned seq %d, outside %d..%d", g, b, seq, size, total)
			}
			// The batch sits, whole and in order, just before seq.
			for j := range size {
				m := got[seq-size+uint64(j)]
				if want := tagged(g, b*size+j); !bytes.Equal(m.Data, want.Data) {
					h.t.Fatalf("goroutine %d, batch %d (Append returned %d): seq %d holds %q, want %q",
						g, b, seq, m.Seq, m.Data, want.Data)
				}
			}
		}
	}
}

func testConcurrentSessions(h *harness) {
	const sessions, each = 8, 200
	for g := range sessions {
		h.bounded(fmt.Sprintf("s%d", g), 16, roomyBytes)
	}
	var wg sync.WaitGroup
	for g := range sessions {
		id := fmt.Sprintf("s%d", g)
		wg.Go(func() {
			for i := range each {
				seq, err := h.s.Append(h.ctx, id, tagged(g, i))
				if err != nil {
					h.t.Errorf("%s: Append %d: %v", id, i, err)
					return
				}
				if seq != uint64(i+1) {
					h.t.Errorf("%s: Append %d returned seq %d, want %d", id, i, seq, i+1)
					return
				}
				if seq%10 == 0 {
					if err := h.s.Ack(h.ctx, id, seq); err != nil {
						h.t.Errorf("%s: Ack(%d): %v", id, seq, err)
						return
					}
					if _, err := h.s.Read(h.ctx, id, seq, 1<<20, nil); err != nil {
						h.t.Errorf("%s: Read(after=%d): %v", id, seq, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if h.t.Failed() {
		return
	}
	for g := range sessions {
		id := fmt.Sprintf("s%d", g)
		h.counters(id, each, each)
		h.readWant(id, each, 1<<20, nil)
		h.appendWant(id, each+1, tagged(g, each))
		h.readWant(id, each, 1<<20, withSeqs(each+1, tagged(g, each)))
	}
}

// testConcurrentProducerConsumer runs a session the way a server does:
// one goroutine sends, retrying while the buffer is full, another reads
// and acknowledges.
func testConcurrentProducerConsumer(h *harness) {
	const total = 500
	const stall = 5 * time.Second // no progress for this long fails the test
	id := h.bounded("a", 16, 16*32)

	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	fail := func(format string, args ...any) {
		if ctx.Err() == nil { // the first failure says it all
			h.t.Errorf(format, args...)
		}
		cancel()
	}
	var last atomic.Int64 // time of the last progress, UnixNano
	progressed := func() { last.Store(time.Now().UnixNano()) }
	stalled := func() bool { return time.Since(time.Unix(0, last.Load())) > stall }
	progressed()

	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < total; {
			_, err := h.s.Append(ctx, id, tagged(0, i))
			switch {
			case ctx.Err() != nil:
				return
			case err == nil:
				i++
				progressed()
			case !errors.Is(err, tether.ErrOverflow):
				fail("Append %d: %v", i, err)
				return
			case stalled():
				fail("Append %d still overflows after %v without progress", i, stall)
				return
			default:
				runtime.Gosched()
			}
		}
	})
	wg.Go(func() {
		var after uint64
		var buf []tether.Message
		for after < total {
			var err error
			buf, err = h.s.Read(ctx, id, after, 64, buf[:0])
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				fail("Read(after=%d): %v", after, err)
				return
			case len(buf) == 0 && stalled():
				fail("Read(after=%d) still returns nothing after %v without progress", after, stall)
				return
			case len(buf) == 0:
				runtime.Gosched()
				continue
			}
			for _, m := range buf {
				want := tagged(0, int(after))
				if m.Seq != after+1 || !bytes.Equal(m.Data, want.Data) {
					fail("after seq %d got {%d %q}, want {%d %q}", after, m.Seq, m.Data, after+1, want.Data)
					return
				}
				after = m.Seq
			}
			if err := h.s.Ack(ctx, id, after); err != nil {
				fail("Ack(%d): %v", after, err)
				return
			}
			progressed()
		}
	})
	wg.Wait()
	if h.t.Failed() {
		return
	}
	h.counters(id, total, total)
	h.readWant(id, total, 1<<20, nil)
}
