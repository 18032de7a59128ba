package storetest

import (
	"errors"
	"slices"

	"github.com/tether-ws/tether"
)

// Ownership, fencing and the room and user indexes.

func testLeaseStartsAtOne(h *harness) {
	rec := record("a")
	rec.Lease = 77 // the store's, not the caller's
	h.create(rec)
	got := h.load("a")
	if got.Lease != 1 || got.Owner != "node-1" {
		h.t.Fatalf("after Create: lease %d owner %q, want 1 and node-1", got.Lease, got.Owner)
	}
}

func testClaimMovesOwnership(h *harness) {
	h.create(record("a"))
	rec, err := h.s.Claim(h.ctx, "a", "node-2")
	if err != nil {
		h.t.Fatalf("Claim: %v", err)
	}
	if rec.Owner != "node-2" || rec.Lease != 2 {
		h.t.Fatalf("Claim returned owner %q lease %d, want node-2 and 2", rec.Owner, rec.Lease)
	}
	if rec.ID != "a" || rec.UserID != "user-a" {
		h.t.Fatalf("Claim returned the wrong record: %+v", rec)
	}
	if got := h.load("a"); got.Owner != "node-2" || got.Lease != 2 {
		h.t.Fatalf("Load after Claim: owner %q lease %d", got.Owner, got.Lease)
	}
	// Claiming again, even by the same node, moves the lease on.
	rec, err = h.s.Claim(h.ctx, "a", "node-2")
	if err != nil || rec.Lease != 3 {
		h.t.Fatalf("second Claim: lease %v, err %v; want 3", rec, err)
	}
}

func testStaleLeaseFenced(h *harness) {
	h.create(record("a"))
	old := h.load("a") // lease 1
	if _, err := h.s.Claim(h.ctx, "a", "node-2"); err != nil {
		h.t.Fatalf("Claim: %v", err)
	}
	old.In = 99
	h.wantErr("Save with a stale lease", h.s.Save(h.ctx, old), tether.ErrFenced)
	h.wantErr("SaveIn with a stale lease", h.s.SaveIn(h.ctx, "a", 1, 99), tether.ErrFenced)
	h.wantErr("Release with a stale lease", h.s.Release(h.ctx, "a", 1), tether.ErrFenced)
	h.wantErr("Close with a stale lease", h.s.Close(h.ctx, "a", 1, tombstone("a")), tether.ErrFenced)
	got := h.load("a")
	if got.In != 0 || got.Owner != "node-2" {
		h.t.Fatalf("a fenced call changed the record: In %d owner %q", got.In, got.Owner)
	}
	// The current lease works.
	cur := h.load("a")
	cur.In = 5
	h.save(cur)
	if err := h.s.SaveIn(h.ctx, "a", cur.Lease, 6); err != nil {
		h.t.Fatalf("SaveIn with the current lease: %v", err)
	}
	if got := h.load("a").In; got != 6 {
		h.t.Fatalf("In = %d, want 6", got)
	}
	if err := h.s.Close(h.ctx, "a", cur.Lease, tombstone("a")); err != nil {
		h.t.Fatalf("Close with the current lease: %v", err)
	}
	h.wantGone("a")
}

func testSaveIn(h *harness) {
	h.create(record("a"))
	h.appendWant("a", 2, msg(1), msg(2))
	rec := h.load("a")
	if err := h.s.SaveIn(h.ctx, "a", rec.Lease, 17); err != nil {
		h.t.Fatalf("SaveIn: %v", err)
	}
	got := h.load("a")
	want := *rec
	want.In = 17
	h.checkRecord("Load after SaveIn", got, &want, 2, 0)
}

func testRelease(h *harness) {
	h.create(record("a"))
	rec := h.load("a")
	if err := h.s.Release(h.ctx, "a", rec.Lease); err != nil {
		h.t.Fatalf("Release: %v", err)
	}
	got := h.load("a")
	if got.Owner != "" {
		h.t.Fatalf("owner %q after Release", got.Owner)
	}
	if got.Lease != rec.Lease {
		h.t.Fatalf("Release changed the lease: %d → %d", rec.Lease, got.Lease)
	}
	claimed, err := h.s.Claim(h.ctx, "a", "node-3")
	if err != nil || claimed.Owner != "node-3" || claimed.Lease != rec.Lease+1 {
		h.t.Fatalf("Claim after Release: %+v, %v", claimed, err)
	}
}

func (h *harness) members(room string) []string {
	h.t.Helper()
	ids, err := h.s.RoomMembers(h.ctx, room)
	if err != nil {
		h.t.Fatalf("RoomMembers(%q): %v", room, err)
	}
	slices.Sort(ids)
	return ids
}

func (h *harness) userSessions(user string) []string {
	h.t.Helper()
	ids, err := h.s.UserSessions(h.ctx, user)
	if err != nil {
		h.t.Fatalf("UserSessions(%q): %v", user, err)
	}
	slices.Sort(ids)
	return ids
}

func (h *harness) join(id, room string, max int) error {
	h.t.Helper()
	_, _, err := h.s.JoinRoom(h.ctx, id, room, max, tether.RoomPosition{}, nil)
	return err
}

func (h *harness) leave(id, room string) error {
	h.t.Helper()
	_, _, err := h.s.LeaveRoom(h.ctx, id, room, nil)
	return err
}

func (h *harness) wantMembers(room string, want ...string) {
	h.t.Helper()
	if got := h.members(room); !slices.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
		h.t.Fatalf("members of %q = %v, want %v", room, got, want)
	}
}

func plain(id, user string) *tether.Record {
	r := record(id)
	r.UserID = user
	r.Rooms = nil
	return r
}

func testRooms(h *harness) {
	h.create(plain("a", "u"))
	h.create(plain("b", "u"))
	for _, j := range []struct{ id, room string }{{"a", "x"}, {"b", "x"}, {"a", "y"}, {"a", "x"}} {
		if err := h.join(j.id, j.room, 0); err != nil {
			h.t.Fatalf("JoinRoom(%s, %s): %v", j.id, j.room, err)
		}
	}
	h.wantMembers("x", "a", "b")
	h.wantMembers("y", "a")
	h.wantMembers("z")
	rooms := h.load("a").Rooms
	slices.Sort(rooms)
	if !slices.Equal(rooms, []string{"x", "y"}) {
		h.t.Fatalf("a's rooms = %v, want [x y] (joining twice is a no-op)", rooms)
	}
	sizes, err := h.s.RoomSizes(h.ctx)
	if err != nil || sizes["x"] != 2 || sizes["y"] != 1 || len(sizes) != 2 {
		h.t.Fatalf("RoomSizes = %v, %v", sizes, err)
	}
	if err := h.leave("a", "x"); err != nil {
		h.t.Fatalf("LeaveRoom: %v", err)
	}
	if err := h.leave("a", "never-joined"); err != nil {
		h.t.Fatalf("LeaveRoom of a room never joined: %v", err)
	}
	h.wantMembers("x", "b")
	if got := h.load("a").Rooms; !slices.Equal(got, []string{"y"}) {
		h.t.Fatalf("a's rooms = %v after leaving x", got)
	}
	if err := h.leave("a", "y"); err != nil {
		h.t.Fatalf("LeaveRoom: %v", err)
	}
	sizes, _ = h.s.RoomSizes(h.ctx)
	if _, ok := sizes["y"]; ok {
		h.t.Fatalf("empty room y still listed: %v", sizes)
	}
}

func testRoomsLimit(h *harness) {
	h.create(plain("a", "u"))
	for _, r := range []string{"r1", "r2"} {
		if err := h.join("a", r, 2); err != nil {
			h.t.Fatalf("JoinRoom(%s): %v", r, err)
		}
	}
	if err := h.join("a", "r3", 2); !errors.Is(err, tether.ErrTooManyRooms) {
		h.t.Fatalf("third room with max 2: %v, want ErrTooManyRooms", err)
	}
	h.wantMembers("r3")
	if err := h.join("a", "r1", 2); err != nil {
		h.t.Fatalf("re-joining a room at the limit: %v", err)
	}
}

func testRoomsAtCreate(h *harness) {
	h.create(record("a")) // in lobby and room-a
	h.wantMembers("lobby", "a")
	h.wantMembers("room-a", "a")
}

func testUsers(h *harness) {
	h.create(plain("a", "ann"))
	h.create(plain("b", "ann"))
	h.create(plain("c", "bob"))
	if got := h.userSessions("ann"); !slices.Equal(got, []string{"a", "b"}) {
		h.t.Fatalf("ann's sessions = %v", got)
	}
	if got := h.userSessions("bob"); !slices.Equal(got, []string{"c"}) {
		h.t.Fatalf("bob's sessions = %v", got)
	}
	if got := h.userSessions("nobody"); len(got) != 0 {
		h.t.Fatalf("nobody's sessions = %v", got)
	}
}

func testCloseLeavesIndexes(h *harness) {
	h.create(plain("a", "ann"))
	h.create(plain("b", "ann"))
	if err := h.join("a", "x", 0); err != nil {
		h.t.Fatal(err)
	}
	if err := h.join("b", "x", 0); err != nil {
		h.t.Fatal(err)
	}
	h.close("a", tombstone("a"))
	h.wantMembers("x", "b")
	if got := h.userSessions("ann"); !slices.Equal(got, []string{"b"}) {
		h.t.Fatalf("ann's sessions after a closed = %v", got)
	}
	if err := h.s.Close(h.ctx, "b", 0, nil); err != nil {
		h.t.Fatal(err)
	}
	h.wantMembers("x")
	if got := h.userSessions("ann"); len(got) != 0 {
		h.t.Fatalf("ann's sessions after both closed = %v", got)
	}
	h.create(plain("c", "ann"))
	h.create(plain("d", "ann"))
	h.close("c", tombstone("c"))
	h.create(plain("e", "ann"))
	if got := h.userSessions("ann"); !slices.Equal(got, []string{"d", "e"}) {
		h.t.Fatalf("ann's sessions after c, d, e, c closed = %v", got)
	}
	// A user with one session at a time, as most have.
	h.create(plain("f", "bob"))
	h.close("f", tombstone("f"))
	if got := h.userSessions("bob"); len(got) != 0 {
		h.t.Fatalf("bob's sessions after his only one closed = %v", got)
	}
	h.create(plain("g", "bob"))
	if got := h.userSessions("bob"); !slices.Equal(got, []string{"g"}) {
		h.t.Fatalf("bob's sessions after g = %v", got)
	}
}

func testUnknownSessionOwnership(h *harness) {
	const id = "nope"
	h.wantErr("SaveIn of an unknown ID", h.s.SaveIn(h.ctx, id, 1, 1), tether.ErrNotFound)
	_, err := h.s.Claim(h.ctx, id, "node-1")
	h.wantErr("Claim of an unknown ID", err, tether.ErrNotFound)
	h.wantErr("Release of an unknown ID", h.s.Release(h.ctx, id, 1), tether.ErrNotFound)
	h.wantErr("JoinRoom of an unknown ID", h.join(id, "x", 0), tether.ErrNotFound)
	h.wantErr("LeaveRoom of an unknown ID", h.leave(id, "x"), tether.ErrNotFound)
	h.wantMembers("x")
	_, err = h.s.Load(h.ctx, id)
	h.wantErr("Load after ownership calls on an unknown ID", err, tether.ErrNotFound)
}
