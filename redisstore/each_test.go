package redisstore

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tether-ws/tether"
)

// TestAppendEachMixed: AppendRoomEach and AppendEach to 300 sessions (more
// than one many-script call on a single node) of every kind give each the
// answer it alone would get: gone, not in the room, full, or appended
// after what it had, its log then holding the message and its owner, a
// node apart, woken for it. On a single node each takes one script call
// per 128 members (3 for 300).
func TestAppendEachMixed(t *testing.T) {
	p := newPrefix(t)
	checkAppendEachMixed(t, open(t, Options{Prefix: p, Node: "owner", Liveness: quietLiveness}), open(t, Options{Prefix: p, Liveness: quietLiveness}), 3)
}

// eachKind is what a session of checkAppendEachMixed is.
type eachKind int

const (
	eachNormal  eachKind = iota
	eachMissing          // never created
	eachOutside          // not in the room
	eachFull             // its replay buffer is full
)

func eachKindOf(i int) eachKind {
	switch {
	case i%7 == 3:
		return eachMissing
	case i%11 == 4:
		return eachOutside
	case i%5 == 1:
		return eachFull
	}
	return eachNormal
}

// checkAppendEachMixed runs TestAppendEachMixed; calls is how many Redis
// commands each append to the 300 members must take.
// quietLiveness keeps the stores' liveness renewals (every Liveness/4,
// counted in Stats when they share a client, as on a Cluster) out of a
// test that counts the commands of one call, however slow the call.
const quietLiveness = 10 * time.Minute

func checkAppendEachMixed(t *testing.T, owner, s *Store, calls uint64) {
	t.Helper()
	ctx := testCtx(t)
	in := listen(owner)
	const n = 300
	ids := make([]string, n)
	outs := make([]uint64, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("m%03d", i)
		k := eachKindOf(i)
		if k == eachMissing {
			continue
		}
		rec := &tether.Record{ID: ids[i], Owner: owner.Node(), MaxMessages: 1000, MaxBytes: 1 << 20}
		if k == eachFull {
			rec.MaxMessages = 1
		}
		if err := s.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if k != eachOutside {
			if err := join(ctx, s, ids[i], "r"); err != nil {
				t.Fatal(err)
			}
		}
		pre := i % 3
		if k == eachFull {
			pre = 1
		}
		for j := range pre {
			if _, err := s.Append(ctx, ids[i], tether.Message{Type: tether.Text, Data: []byte(fmt.Sprint("pre", j))}); err != nil {
				t.Fatal(err)
			}
		}
		outs[i] = uint64(pre)
	}
	pos := publish(t, s, "r", "x", tether.HistoryLimits{})
	for i, id := range ids { // the owner is woken by each append of the set-up
		for seq := uint64(1); seq <= outs[i]; seq++ {
			if _, ok := in.wait(t, 5*time.Second, func(n tether.Notice) bool { return n.Kind == tether.NoticeWake && n.Session == id && n.Seq == seq }); !ok {
				t.Fatalf("no wake of %s for seq %d", id, seq)
			}
		}
	}
	before := s.Stats().Commands
	seqs, errs := s.AppendRoomEach(ctx, ids, "r", pos.Epoch, roomMsg("r", pos.Offset, "x"))
	check := func(op string, seqs []uint64, errs []error, outside error, data string) {
		t.Helper()
		if n := s.Stats().Commands - before; n != calls {
			t.Fatalf("%s to %d members: %d Redis commands, want %d", op, len(ids), n, calls)
		}
		for i, id := range ids {
			var want error
			switch eachKindOf(i) {
			case eachMissing:
				want = tether.ErrNotFound
			case eachOutside:
				want = outside
			case eachFull:
				want = tether.ErrOverflow
			}
			if want != nil {
				if !errors.Is(errs[i], want) {
					t.Fatalf("%s to %s: %d, %v; want %v", op, id, seqs[i], errs[i], want)
				}
				continue
			}
			if errs[i] != nil || seqs[i] != outs[i]+1 {
				t.Fatalf("%s to %s: %d, %v; want seq %d", op, id, seqs[i], errs[i], outs[i]+1)
			}
			got, err := s.Read(ctx, id, outs[i], 1<<20, nil)
			if err != nil || len(got) != 1 || string(got[0].Data) != data || got[0].Seq != outs[i]+1 {
				t.Fatalf("%s: %s's log after %d: %+v, %v; want %q alone", op, id, outs[i], got, err, data)
			}
			outs[i]++
			if _, ok := in.wait(t, 5*time.Second, func(n tether.Notice) bool {
				return n.Kind == tether.NoticeWake && n.Session == id && n.Seq == outs[i]
			}); !ok {
				t.Fatalf("%s: no wake of %s for seq %d", op, id, outs[i])
			}
		}
	}
	check("AppendRoomEach", seqs, errs, tether.ErrNotMember, "x")
	before = s.Stats().Commands
	seqs, errs = s.AppendEach(ctx, ids, tether.Message{Type: tether.Text, Data: []byte("y")})
	check("AppendEach", seqs, errs, nil, "y")
	if left := in.take(); len(left) != 0 {
		t.Fatalf("notices of no append: %+v", left)
	}
}
