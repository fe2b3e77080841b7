package drisl

import (
	"slices"
	"strconv"
)

// Map is a DRISL map in the ordered generic value model: its entries sorted
// by key in DRISL order (length-first, then bytewise), which is the order in
// which they appear on the wire. Decoding into a Map, or into an empty
// interface with DecOptions.OrderedMaps, builds one without hashing a key;
// Marshal writes one without sorting, after checking in one pass that its
// keys are in strict DRISL order (sorted, no duplicates).
//
// A Map is a slice: range over it to visit the entries in order, and use
// len for their number. Get finds a key by binary search; Set and Delete
// keep the order. The methods assume that m is sorted, as a decoded Map
// always is; Sort puts the entries of a Map built by hand in order.
type Map []Entry

// Entry is one key and value of a Map.
type Entry struct {
	Key   string
	Value any
}

// search returns the position of key in m, or where it would be inserted.
// A small map, like most records and arguments, is scanned in order: keys
// sort length-first, so only keys of key's length are compared as
// strings.
func (m Map) search(key string) (int, bool) {
	if len(m) <= smallMapScan {
		for i := range m {
			k := m[i].Key
			if len(k) < len(key) {
				continue
			}
			if len(k) > len(key) {
				return i, false
			}
			if k == key {
				return i, true
			}
			if k > key {
				return i, false
			}
		}
		return len(m), false
	}
	lo, hi := 0, len(m)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if keyLess(m[h].Key, key) {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo, lo < len(m) && m[lo].Key == key
}

// smallMapScan is the size up to which search scans a Map in order
// instead of bisecting it.
const smallMapScan = 8

// Get returns the value stored under key and whether it is present. It
// scans a small m and bisects a larger one, in O(log n) comparisons; m
// must be in DRISL order (see InOrder).
func (m Map) Get(key string) (any, bool) {
	if i, ok := m.search(key); ok {
		return m[i].Value, true
	}
	return nil, false
}

// Set stores value under key: it replaces the value of an existing entry,
// or inserts a new entry at its place in DRISL order.
func (m *Map) Set(key string, value any) {
	i, ok := m.search(key)
	if ok {
		(*m)[i].Value = value
		return
	}
	*m = slices.Insert(*m, i, Entry{Key: key, Value: value})
}

// Delete removes the entry of key, if there is one.
func (m *Map) Delete(key string) {
	if i, ok := m.search(key); ok {
		*m = slices.Delete(*m, i, i+1)
	}
}

// Sort sorts the entries of m by key in DRISL order, keeping entries with
// equal keys in their order (Marshal refuses such duplicates).
func (m Map) Sort() {
	slices.SortStableFunc(m, func(a, b Entry) int { return compareKeyStrings(a.Key, b.Key) })
}

// InOrder reports whether the keys of m are in strict DRISL order (sorted
// length-first, then bytewise; none twice), as decoding gives them and as
// Marshal and Get require.
func (m Map) InOrder() bool { return m.orderError() == nil }

// orderError returns an *EncodeError for the first key of m that does not
// sort strictly after the key before it, or nil if m is in strict DRISL
// order.
func (m Map) orderError() error {
	for i := 1; i < len(m); i++ {
		if err := keyAfter(m[i-1].Key, m[i].Key); err != nil {
			return err
		}
	}
	return nil
}

// keyAfter returns an *EncodeError unless k sorts strictly after prev.
func keyAfter(prev, k string) error {
	if len(k) > len(prev) || len(k) == len(prev) && k > prev {
		return nil
	}
	rule := RuleMapKeyOrder
	if k == prev {
		rule = RuleMapKeyDuplicate
	}
	return &EncodeError{Rule: rule, Path: strconv.Quote(k), Detail: "Map entry after " + strconv.Quote(prev)}
}

// lookup returns the value stored under key in m, a map[string]any or a
// Map, and whether it is present; it returns false for any other value.
func lookup(m any, key string) (any, bool) {
	switch m := m.(type) {
	case map[string]any:
		x, ok := m[key]
		return x, ok
	case Map:
		return m.Get(key)
	}
	return nil, false
}
