package main

import (
	"testing"
)

// deliver hands c the fan-out message number seq as a room message at
// offset; each room has a stream of its own.
func deliver(c *bclient, room string, offset, seq uint64) {
	c.onMessage(appendPayload(nil, kindFan, uint64(room[0]), seq, 1, minPayload), room, offset)
}

// TestRoomCheck walks one client through the cases of roomcheck.go: a
// return whose gap is counted exactly, one that counts too little, one
// that counts too much, an unknown count, a room it is not readmitted to,
// and an offset that never comes, a reorder and a duplicate.
func TestRoomCheck(t *testing.T) {
	w := &worker{}
	c := &bclient{w: w, cid: 1, up: true}
	c.onSessionID("s1")
	for _, room := range []string{"r", "q", "u", "l"} {
		c.onRoomJoined(room, "e1", 0, 0, 0, 0)
	}
	for q := uint64(1); q <= 5; q++ {
		deliver(c, "r", q, q)
	}
	// A return at 8 from 5, 3 lost: exact. 6..8 are owed to nobody.
	c.onSessionID("s2")
	c.onRoomJoined("r", "e1", 8, 2, 0, 3)
	deliver(c, "r", 9, 9)
	deliver(c, "r", 10, 10)
	// A return at 12 from 10 that counts nothing: 11 and 12 uncounted.
	c.onSessionID("s3")
	c.onRoomJoined("r", "e1", 12, 0, 0, 0)
	deliver(c, "r", 14, 14)
	deliver(c, "r", 13, 13) // late: a reorder
	deliver(c, "r", 14, 14) // again: a duplicate
	// 15 never comes.

	deliver(c, "q", 1, 1)
	deliver(c, "q", 2, 2)
	c.onRoomJoined("q", "e1", 2, 0, 1, 3) // nothing missed, 4 counted: overcounted
	deliver(c, "q", 3, 3)

	deliver(c, "u", 1, 1)
	c.onRoomJoined("u", "e2", 0, 1, 0, -1) // another epoch: unknown
	deliver(c, "u", 1, 2)
	// 2 and 3 of the new epoch never come: lost, of unknown count.

	c.onRoomLeft("l", true) // not readmitted: owed nothing more

	var rt roomTally
	c.mu.Lock()
	c.roomReportLocked(map[string]roomExpect{"r": {Last: 15}, "q": {Last: 3}, "u": {Last: 3}, "l": {Last: 3}}, &rt)
	c.mu.Unlock()
	want := roomTally{Members: 4, Recv: 10 + 3 + 2, Returns: 4, Recovered: 2 + 1, Lost: 3, Skipped: 0,
		Unknown: 1, LostUnknown: 2, Left: 1, LostLeft: 3, Unexplained: 1, Uncounted: 2, Overcounted: 4, Dup: 1, Reorder: 1}
	if rt != want {
		t.Fatalf("tally\n got %+v\nwant %+v", rt, want)
	}
	if v := rt.violations(); v != 1+2+4 {
		t.Fatalf("violations %d, want 7", v)
	}

	// Away at the end: what came after the last it got is not delivered
	// yet (Away); a hole before it is still unexplained.
	a := &bclient{w: &worker{}, cid: 3}
	a.onSessionID("a1")
	a.onRoomJoined("r", "e1", 0, 0, 0, 0)
	for _, q := range []uint64{1, 2, 4, 5} {
		deliver(a, "r", q, q)
	}
	var at roomTally
	a.mu.Lock()
	a.roomReportLocked(map[string]roomExpect{"r": {Last: 9}}, &at)
	a.mu.Unlock()
	if at.Away != 4 || at.Unexplained != 1 {
		t.Fatalf("away client: away %d, unexplained %d; want 4 (6..9), 1 (3)", at.Away, at.Unexplained)
	}
	if len(c.returns) != 5 || c.returns[0] != (roomReturn{Session: "s2", Room: "r", Readmit: true, Recovered: 2, Lost: 3}) ||
		c.returns[4] != (roomReturn{Session: "s3", Room: "l"}) {
		t.Fatalf("returns %v", c.returns)
	}

	// A second client of the worker sees another payload at offset 9 of
	// r: the room's order differs between members.
	c2 := &bclient{w: w, cid: 2}
	c2.onRoomJoined("r", "e1", 8, 0, 0, 0)
	deliver(c2, "r", 9, 99)
	runs, conflicts := w.ident.runs()
	if conflicts != 1 {
		t.Fatalf("%d conflicts, want 1", conflicts)
	}
	// Another worker that saw payload 13 at offset 12: one more, across
	// workers.
	if n := identConflicts([][]identRun{runs, {{Room: "r", Epoch: "e1", Offset: 12, Key: 'r'<<40 | 13, N: 1}}}); n != 1 {
		t.Fatalf("%d conflicts across workers, want 1 (runs %v)", n, runs)
	}
	if n := identConflicts([][]identRun{runs, runs}); n != 0 {
		t.Fatalf("%d conflicts between equal maps", n)
	}
}

// TestRoomSettled: a client with a counted gap is settled once it has
// everything else; one with an uncounted offset missing is not.
func TestRoomSettled(t *testing.T) {
	c := &bclient{w: &worker{}}
	c.onRoomJoined("r", "e", 10, 0, 0, 0)
	deliver(c, "r", 11, 1)
	c.onRoomJoined("r", "e", 20, 0, 5, 4)
	for q := uint64(21); q <= 25; q++ {
		deliver(c, "r", q, q)
	}
	exp := map[string]roomExpect{"r": {Last: 25}}
	if !c.settled(nil, exp, false) {
		t.Fatal("not settled with every offset delivered or counted")
	}
	if c.settled(nil, map[string]roomExpect{"r": {Last: 26}}, false) {
		t.Fatal("settled with offset 26 missing")
	}
	// Without the server's offsets: n messages after the first position.
	if !c.settled(nil, map[string]roomExpect{"r": {N: 15}}, false) || c.settled(nil, map[string]roomExpect{"r": {N: 16}}, false) {
		t.Fatal("n after the first position is wrong")
	}
}

// TestReconcileReturns: a return the server reported otherwise, or not at
// all, is a mismatch; one the server reported that no client saw is not.
func TestReconcileReturns(t *testing.T) {
	cl := []roomReturn{
		{Session: "a", Room: "r", Readmit: true, Recovered: 3},
		{Session: "b", Room: "r", Readmit: true, Lost: -1},
		{Session: "c", Room: "r", Readmit: true, Lost: 2},
	}
	srv := []roomReturn{
		{Session: "a", Room: "r", Readmit: true, Recovered: 3},
		{Session: "c", Room: "r", Readmit: true, Lost: 1},
		{Session: "d", Room: "r", Readmit: true},
	}
	var notes int
	mism, unseen := reconcileReturns(cl, srv, func(string, ...any) { notes++ })
	if mism != 2 || unseen != 1 || notes != 2 {
		t.Fatalf("mismatched %d unseen %d notes %d, want 2, 1, 2", mism, unseen, notes)
	}
}

// TestVerdictRooms: room violations and returns the server did not confirm
// fail the check; with no server report, only unknown counts do.
func TestVerdictRooms(t *testing.T) {
	reps := []*workerReport{{
		Fan:         tally{Recv: 10, Lost: 4},
		Rooms:       roomTally{Members: 2, Recv: 10, Returns: 2, Lost: 3, Uncounted: 1},
		RoomReturns: []roomReturn{{Session: "a", Room: "r", Readmit: true, Lost: 3}, {Session: "b", Room: "r", Readmit: true, Lost: -1}},
	}}
	c := verdict(reps, &upReport{RoomReports: true, RoomReturns: []roomReturn{{Session: "a", Room: "r", Readmit: true, Lost: 3}}}, nil)
	if c.Unexplained != 2 || c.RoomReturnsMismatched != 1 {
		t.Fatalf("unexplained %d (mismatched %d), want 2: one uncounted, one return the server did not report", c.Unexplained, c.RoomReturnsMismatched)
	}
	c = verdict(reps, nil, nil)
	if c.Unexplained != 2 {
		t.Fatalf("unexplained %d, want 2: one uncounted, one unknown count nobody confirms", c.Unexplained)
	}
	reps[0].Rooms.Uncounted = 0
	reps[0].RoomReturns = reps[0].RoomReturns[:1]
	if c = verdict(reps, nil, nil); !c.pass() {
		t.Fatalf("counted losses failed the check: %+v", c)
	}
}
