package tether

import (
	"slices"
	"strings"
)

// metaList holds a session's metadata as key/value pairs sorted by key:
// the few keys a session has (an address, a user agent) cost 32 bytes
// each here, where a Go map costs a few hundred bytes however few it
// holds, and every idle session keeps its metadata twice (the session's
// and the memory store's copy).
type metaList []metaKV

type metaKV struct{ key, value string }

// metaOf returns m's pairs; nil for an empty m.
func metaOf(m map[string]string) metaList {
	if len(m) == 0 {
		return nil
	}
	l := make(metaList, 0, len(m))
	for k, v := range m {
		l = append(l, metaKV{k, v})
	}
	slices.SortFunc(l, func(a, b metaKV) int { return strings.Compare(a.key, b.key) })
	return l
}

// set sets key to value, or deletes it if value is empty.
func (l metaList) set(key, value string) metaList {
	i, found := slices.BinarySearchFunc(l, key, func(kv metaKV, k string) int {
		return strings.Compare(kv.key, k)
	})
	switch {
	case found && value == "":
		return slices.Delete(l, i, i+1)
	case found:
		l[i].value = value
		return l
	case value == "":
		return l
	}
	return slices.Insert(l, i, metaKV{key, value})
}

// toMap returns the pairs as a new map; nil when there are none.
func (l metaList) toMap() map[string]string {
	if len(l) == 0 {
		return nil
	}
	m := make(map[string]string, len(l))
	for _, kv := range l {
		m[kv.key] = kv.value
	}
	return m
}
