package redisstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tether-ws/tether"
)

var errCorrupt = errors.New("redisstore: corrupt value")

// Record fields of the session hash. Counters are decimal strings, so
// that Lua can read and compare them; tokens and Meta are binary.
const (
	fUser     = "user"
	fToken    = "tok"
	fPrev     = "prev"
	fMeta     = "meta"
	fCreated  = "created"
	fDetached = "detached"
	fIn       = "in"
	fAttempt  = "att"
	fOut      = "out"
	fAcked    = "acked"
	fOwner    = "owner"
	fLease    = "lease"
	fMaxMsgs  = "maxm"
	fMaxBytes = "maxb"
	fBytes    = "bytes" // unacknowledged payload bytes (kept only with a byte bound)
	fTotal    = "tb"    // payload bytes ever appended (idem)
	fFeatures = "feat"  // Record.Features; absent from records written before it (0)
)

// createFields lists a new record's hash fields and values.
func createFields(rec *tether.Record, owner string) []any {
	return []any{
		fUser, rec.UserID,
		fToken, rec.Token[:],
		fPrev, rec.PrevToken[:],
		fMeta, encodeMeta(rec.Meta),
		fCreated, encodeTime(rec.Created),
		fDetached, encodeTime(rec.Detached),
		fIn, u64(rec.In),
		fAttempt, u64(rec.Attempt),
		fOut, "0",
		fAcked, "0",
		fOwner, owner,
		fLease, "1",
		fMaxMsgs, strconv.Itoa(max(rec.MaxMessages, 0)),
		fMaxBytes, strconv.Itoa(max(rec.MaxBytes, 0)),
		fBytes, "0",
		fTotal, "0",
		fFeatures, u64(rec.Features),
	}
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

// decodeRecord builds a record from HGETALL's flat field/value list and
// the rooms list.
func decodeRecord(id string, fields, rooms []any) (*tether.Record, error) {
	if len(fields)%2 != 0 {
		return nil, errCorrupt
	}
	rec := &tether.Record{ID: id}
	var err error
	for i := 0; i < len(fields); i += 2 {
		k, _ := fields[i].(string)
		v, _ := fields[i+1].(string)
		switch k {
		case fUser:
			rec.UserID = v
		case fToken:
			copy(rec.Token[:], v)
		case fPrev:
			copy(rec.PrevToken[:], v)
		case fMeta:
			rec.Meta, err = decodeMeta(v)
		case fCreated:
			rec.Created, err = decodeTime(v)
		case fDetached:
			rec.Detached, err = decodeTime(v)
		case fIn:
			rec.In, err = strconv.ParseUint(v, 10, 64)
		case fAttempt:
			rec.Attempt, err = strconv.ParseUint(v, 10, 64)
		case fOut:
			rec.Out, err = strconv.ParseUint(v, 10, 64)
		case fAcked:
			rec.Acked, err = strconv.ParseUint(v, 10, 64)
		case fOwner:
			rec.Owner = v
		case fLease:
			rec.Lease, err = strconv.ParseUint(v, 10, 64)
		case fMaxMsgs:
			rec.MaxMessages, err = strconv.Atoi(v)
		case fMaxBytes:
			rec.MaxBytes, err = strconv.Atoi(v)
		case fFeatures:
			rec.Features, err = strconv.ParseUint(v, 10, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: session %q field %s: %v", errCorrupt, id, k, err)
		}
	}
	if len(rooms) > 0 {
		rec.Rooms = make([]string, len(rooms))
		for i, r := range rooms {
			rec.Rooms[i], _ = r.(string)
		}
	}
	return rec, nil
}

// encodeTime keeps full precision; the zero time is the empty string.
func encodeTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.Unix(), 10) + "." + strconv.Itoa(t.Nanosecond())
}

func decodeTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	sec, nsec, ok := strings.Cut(v, ".")
	if !ok {
		return time.Time{}, errCorrupt
	}
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	n, err := strconv.ParseInt(nsec, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(s, n), nil
}

// enc and dec are a minimal length-prefixed binary encoding: Meta and
// tombstones are read by Go only, and may hold any bytes.
type enc []byte

func (e enc) uvarint(v uint64) enc { return binary.AppendUvarint(e, v) }
func (e enc) varint(v int64) enc   { return binary.AppendVarint(e, v) }
func (e enc) str(s string) enc     { return append(e.uvarint(uint64(len(s))), s...) }

type dec struct {
	b   []byte
	err error
}

func (d *dec) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) bytes(n uint64) []byte {
	if d.err != nil || uint64(len(d.b)) < n {
		d.err = errCorrupt
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string { return string(d.bytes(d.uvarint())) }

func (d *dec) byte() byte {
	if b := d.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func encodeMeta(m map[string]string) []byte {
	if len(m) == 0 {
		return nil
	}
	e := enc(nil).uvarint(uint64(len(m)))
	for k, v := range m {
		e = e.str(k).str(v)
	}
	return e
}

func decodeMeta(v string) (map[string]string, error) {
	if v == "" {
		return nil, nil
	}
	d := &dec{b: []byte(v)}
	n := d.uvarint()
	if n > uint64(len(v)) {
		return nil, errCorrupt
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errCorrupt
	}
	return m, nil
}

// tombVersion leads every encoded tombstone, so the format can change.
const tombVersion = 1

func encodeTombstone(t *tether.Tombstone) []byte {
	e := enc{tombVersion}.str(t.ID).str(t.UserID)
	e = append(e, t.Token[:]...)
	e = append(e, t.PrevToken[:]...)
	e = append(e, byte(t.Reason))
	e = e.uvarint(t.In).uvarint(t.Out)
	if t.Closed.IsZero() {
		e = append(e, 0)
	} else {
		e = append(e, 1)
		e = e.varint(t.Closed.Unix()).uvarint(uint64(t.Closed.Nanosecond()))
	}
	// Added later, at the end: older tombstones end before them.
	e = e.uvarint(t.Acked).uvarint(uint64(len(t.InRooms)))
	return append(e, t.InRooms...)
}

func decodeTombstone(v string) (*tether.Tombstone, error) {
	if len(v) == 0 || v[0] != tombVersion {
		return nil, errCorrupt
	}
	d := &dec{b: []byte(v[1:])}
	t := &tether.Tombstone{ID: d.str(), UserID: d.str()}
	copy(t.Token[:], d.bytes(32))
	copy(t.PrevToken[:], d.bytes(32))
	t.Reason = tether.LossReason(d.byte())
	t.In, t.Out = d.uvarint(), d.uvarint()
	if d.byte() == 1 {
		t.Closed = time.Unix(d.varint(), int64(d.uvarint()))
	}
	if d.err == nil && len(d.b) > 0 {
		t.Acked = d.uvarint()
		if n := d.uvarint(); n > 0 {
			t.InRooms = bytes.Clone(d.bytes(n))
		}
	}
	if d.err != nil {
		return nil, errCorrupt
	}
	return t, nil
}

// A notice travels as a text header, "kind seq len(session) len(from)
// len(reason)\n", then the three strings: easy to write from Lua (Append
// publishes wakes itself) and to parse here.
func encodeNotice(n tether.Notice) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %d %d %d %d\n", n.Kind, n.Seq, len(n.Session), len(n.From), len(n.Reason))
	b.WriteString(n.Session)
	b.WriteString(n.From)
	b.WriteString(n.Reason)
	return b.String()
}

func decodeNotice(p string) (tether.Notice, error) {
	head, body, ok := strings.Cut(p, "\n")
	f := strings.Fields(head)
	if !ok || len(f) != 5 {
		return tether.Notice{}, errCorrupt
	}
	var v [5]uint64
	for i, s := range f {
		var err error
		if v[i], err = strconv.ParseUint(s, 10, 64); err != nil {
			return tether.Notice{}, errCorrupt
		}
	}
	l := uint64(len(body))
	if v[0] > 255 || v[2] > l || v[3] > l || v[4] > l || v[2]+v[3]+v[4] != l {
		return tether.Notice{}, errCorrupt
	}
	n := tether.Notice{Kind: tether.NoticeKind(v[0]), Seq: v[1]}
	n.Session, body = body[:v[2]], body[v[2]:]
	n.From, n.Reason = body[:v[3]], body[v[3]:]
	return n, nil
}

// wakeData is what a wake carries besides the notice: the session's
// message bound and the entries appended, the last of which has the
// wake's seq.
type wakeData struct {
	maxm uint64
	ents []entry
}

// decodeWake parses the entries of a wake (written by the append
// scripts' push in the notice's reason): "maxm\n", then for each entry its
// length, a space and the entry (see appendEntry). The payloads share one
// allocation.
func decodeWake(p string) (*wakeData, error) {
	head, rest, ok := strings.Cut(p, "\n")
	if !ok {
		return nil, errCorrupt
	}
	maxm, err := strconv.ParseUint(head, 10, 64)
	if err != nil {
		return nil, errCorrupt
	}
	w := &wakeData{maxm: maxm}
	b := []byte(rest)
	for len(b) > 0 {
		sp := bytes.IndexByte(b, ' ')
		if sp <= 0 || sp > 20 {
			return nil, errCorrupt
		}
		n, err := strconv.ParseUint(string(b[:sp]), 10, 64)
		if err != nil || n == 0 || n > uint64(len(b)-sp-1) {
			return nil, errCorrupt
		}
		m, err := decodeEntry(b[sp+1 : sp+1+int(n) : sp+1+int(n)])
		if err != nil {
			return nil, err
		}
		w.ents = append(w.ents, entryOf(&m))
		b = b[sp+1+int(n):]
	}
	return w, nil
}
