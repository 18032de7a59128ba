package tether

import (
	"reflect"
	"testing"
	"time"
)

// TestMemRecordFields: a Record with every field set comes back whole from
// the memory store's compact copy, so a field added to Record and not to
// memRecord fails here instead of being dropped by the store.
func TestMemRecordFields(t *testing.T) {
	var want Record
	v := reflect.ValueOf(&want).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Interface().(type) {
		case string:
			f.SetString("s" + string(rune('a'+i)))
		case uint64:
			f.SetUint(uint64(i + 1))
		case int:
			f.SetInt(int64(i + 1))
		case TokenHash:
			f.Index(0).SetUint(uint64(i + 1))
		case time.Time:
			f.Set(reflect.ValueOf(time.Unix(int64(i+1), 0)))
		case map[string]string:
			f.Set(reflect.ValueOf(map[string]string{"k": "v"}))
		case []string:
			f.Set(reflect.ValueOf([]string{"room"}))
		default:
			t.Fatalf("Record.%s: a field of type %s this test does not fill", v.Type().Field(i).Name, f.Type())
		}
	}
	ms := &memSession{rec: memRecordOf(&want), meta: metaOf(want.Meta)}
	ms.addRoom(memRoom{name: "room"})
	if got := ms.record(); !reflect.DeepEqual(*got, want) {
		t.Fatalf("memory store's copy of a Record:\n got %+v\nwant %+v", *got, want)
	}
}

// TestMemRecordLimits: the memory store keeps a session's limits in 32
// bits; one up to 2^31-1 comes back as given, a larger one as 2^31-1
// (more than memory holds, so the limit it stands for is the same).
func TestMemRecordLimits(t *testing.T) {
	const max32 = 1<<31 - 1
	for _, c := range []struct{ in, want int }{
		{0, 0}, {1, 1}, {max32 - 1, max32 - 1}, {max32, max32}, {max32 + 1, max32}, {1 << 40, max32},
	} {
		rec := (&memSession{rec: memRecordOf(&Record{MaxMessages: c.in, MaxBytes: c.in})}).record()
		if rec.MaxMessages != c.want || rec.MaxBytes != c.want {
			t.Errorf("limits of %d came back as %d and %d, want %d", c.in, rec.MaxMessages, rec.MaxBytes, c.want)
		}
	}
}
