package tether

import (
	"maps"
	"testing"
)

// TestMetaList: the compact metadata behaves as the map it replaces: set,
// replace, delete (an empty value), and the same map back, in any order
// of keys.
func TestMetaList(t *testing.T) {
	want := map[string]string{}
	var l metaList
	steps := []struct{ key, value string }{
		{"user_agent", "ua"}, {"remote_addr", "1.2.3.4"}, {"b", "x"}, {"zz", "last"}, {"a", "first"},
		{"b", "y"}, {"remote_addr", ""}, {"missing", ""}, {"a", ""}, {"zz", ""}, {"c", "c"},
	}
	for i, st := range steps {
		if i%2 == 1 {
			l = metaOf(l.toMap()) // a list made from a map, as a store's record gives it
		}
		l = l.set(st.key, st.value)
		if st.value == "" {
			delete(want, st.key)
		} else {
			want[st.key] = st.value
		}
		if got := l.toMap(); !maps.Equal(got, want) {
			t.Fatalf("after step %d (%q=%q): %v, want %v", i, st.key, st.value, got, want)
		}
		if back := metaOf(l.toMap()).toMap(); !maps.Equal(back, want) {
			t.Fatalf("after step %d: through a map and back: %v, want %v", i, back, want)
		}
	}
	if m := metaList(nil).toMap(); m != nil {
		t.Fatalf("no metadata: %v, want a nil map", m)
	}
	if l := metaOf(map[string]string{}); l != nil {
		t.Fatalf("an empty map: %v, want nil", l)
	}
}
