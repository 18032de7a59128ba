package tether

import (
	"bytes"
	"context"
	"testing"
)

// TestAppendToLive: appendTo reports a delivery live only when its last
// message is the last one appended, under the seq returned, since the writer then
// frames it from the delivery instead of reading the store. A room message
// that the member got already (a gap fill took it from history before its
// own delivery came) is skipped, and must not be live: written under the
// seq of another message, it would be a duplicate and hide that message.
func TestAppendToLive(t *testing.T) {
	ctx := context.Background()
	for _, counting := range []bool{true, false} {
		ms := NewMemoryStore(nil)
		srv := &Server{store: ms}
		if !counting {
			srv.store = struct{ Store }{ms} // a store that does not say what it appended
		}
		if err := ms.Create(ctx, &Record{ID: "a"}); err != nil {
			t.Fatal(err)
		}
		st, err := ms.OpenRoom(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := ms.JoinRoom(ctx, "a", "r", 0, RoomPosition{Epoch: st.Epoch, Offset: st.Last}, nil); err != nil {
			t.Fatal(err)
		}
		var ds []*delivery
		for _, p := range []string{"one", "two"} {
			m := Message{Type: Text, Data: []byte(p)}
			pos, err := ms.Publish(ctx, "r", m, HistoryLimits{MaxMessages: 10})
			if err != nil {
				t.Fatal(err)
			}
			m.Room, m.Offset = "r", pos.Offset
			ds = append(ds, newDelivery(m, pos.Epoch))
		}
		check := func(what string, d *delivery, wantSeq uint64, wantLive bool) {
			t.Helper()
			seq, live, err := srv.appendTo(ctx, "a", d)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if seq != wantSeq || live != wantLive {
				t.Fatalf("counting store %v, %s: seq %d live %v, want %d %v", counting, what, seq, live, wantSeq, wantLive)
			}
			if !live {
				return
			}
			got, err := ms.Read(ctx, "a", seq-1, 1<<20, nil)
			last := d.msgs[len(d.msgs)-1]
			if err != nil || len(got) == 0 || !bytes.Equal(got[0].Data, last.Data) || got[0].Offset != last.Offset {
				t.Fatalf("%s: live, but seq %d holds %+v (%v)", what, seq, got, err)
			}
		}
		// The second message's delivery comes first: the first is filled
		// in from history, then the second appended last.
		check("the later message, gap filled", ds[1], 2, counting)
		check("the earlier message, skipped", ds[0], 2, false)
		check("a message for the session alone", newDelivery(Message{Type: Binary, Data: []byte{3}}, ""), 3, true)
		pos, err := ms.Publish(ctx, "r", Message{Type: Text, Data: []byte("four")}, HistoryLimits{MaxMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		pos5, err := ms.Publish(ctx, "r", Message{Type: Text, Data: []byte("five")}, HistoryLimits{MaxMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		run := []Message{{Type: Text, Data: []byte("four"), Room: "r", Offset: pos.Offset}, {Type: Text, Data: []byte("five"), Room: "r", Offset: pos5.Offset}}
		check("a run of a room's messages", &delivery{msgs: run, epoch: pos.Epoch}, 5, counting)
		check("the same run again, skipped", &delivery{msgs: run, epoch: pos.Epoch}, 5, false)
	}
}
