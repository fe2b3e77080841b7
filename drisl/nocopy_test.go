package drisl

import (
	"reflect"
	"testing"
	"unsafe"
)

// within reports whether s's bytes lie inside data.
func within(s string, data []byte) bool {
	if len(s) == 0 || len(data) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(&data[0]))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(data))
}

// TestNoCopyStrings: with NoCopyStrings, the decoded values are the same
// (generic model, ordered model, a struct, a RecordDecoder's records), and
// their strings and keys point into the input; without it, into a copy.
func TestNoCopyStrings(t *testing.T) {
	type rec struct {
		Type string         `cbor:"$type"`
		Text string         `cbor:"text"`
		Tags []any          `cbor:"tags"`
		Sub  map[string]any `cbor:"sub"`
	}
	data, err := Marshal(rec{Type: "a.b.c", Text: "a text string longer than twenty-four bytes", Tags: []any{"x", "yy"},
		Sub: map[string]any{"key": "value", "n": int64(300)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []DecOptions{{}, {OrderedMaps: true}} {
		nc := o
		nc.NoCopyStrings = true
		var want, got any
		if err := o.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		if err := nc.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ordered %v: %#v, want %#v", o.OrderedMaps, got, want)
		}
		if s, _ := lookup(got, "text"); !within(s.(string), data) {
			t.Fatalf("ordered %v: a decoded string is not in the input", o.OrderedMaps)
		}
		if s, _ := lookup(want, "text"); within(s.(string), data) {
			t.Fatalf("ordered %v: without NoCopyStrings a decoded string is in the input", o.OrderedMaps)
		}
	}
	var want, got rec
	if err := Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if err := (DecOptions{NoCopyStrings: true}).Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || !within(got.Text, data) {
		t.Fatalf("struct: %#v, want %#v (string in the input: %v)", got, want, within(got.Text, data))
	}
	m, err := (DecOptions{NoCopyStrings: true}).NewRecordDecoder().Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	wm, err := DecOptions{}.UnmarshalRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := m.Get("text"); !reflect.DeepEqual(m, wm) || !within(s.(string), data) || !within(m[0].Key, data) {
		t.Fatalf("RecordDecoder: %#v, want %#v", m, wm)
	}
}
