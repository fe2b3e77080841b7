package drisl

import (
	"reflect"
	"runtime"
	"testing"
)

// TestBoxedValues checks that values boxed in chunks (box.go) behave as
// ordinarily boxed ones: same dynamic type, equal under ==, type switches
// and reflect, unchanged by later decodes, by garbage collection and by
// appends to decoded arrays, and independent of the input buffer.
func TestBoxedValues(t *testing.T) {
	var items []any
	var want []any
	for i := range 600 { // several chunks of each kind
		s := string(rune('a'+i%26)) + "é"
		n := int64(i*1000 - 300000)
		items = append(items, s, n, []any{s, n})
		want = append(want, s, n, []any{s, n})
	}
	want = append(want, int64(7), int64(-1), "", []any{})
	items = append(items, int64(7), int64(-1), "", []any{})
	data, err := Marshal(map[string]any{"items": items})
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	clear(data) // decoded values must not depend on the input buffer
	var other any
	for range 3 {
		if err := Unmarshal(mustMarshal(t, want), &other); err != nil { // reuse of the decoder's chunks, if any, would show
			t.Fatal(err)
		}
		runtime.GC()
	}
	got := v.(map[string]any)["items"].([]any)
	if !reflect.DeepEqual(got, want) {
		t.Fatal("boxed values differ from the encoded ones")
	}
	for i, g := range got {
		if reflect.TypeOf(g) != reflect.TypeOf(want[i]) {
			t.Fatalf("item %d: type %T, want %T", i, g, want[i])
		}
		switch w := want[i].(type) {
		case string:
			if g != any(w) || g.(string) != w {
				t.Fatalf("item %d: %q != %q", i, g, w)
			}
		case int64:
			if g != any(w) || g.(int64) != w {
				t.Fatalf("item %d: %v != %v", i, g, w)
			}
		case []any:
			a := g.([]any)
			if len(a) != len(w) || cap(a) != len(a) {
				t.Fatalf("item %d: len %d cap %d, want len %d", i, len(a), cap(a), len(w))
			}
			if len(a) > 0 {
				_ = append(a, "x") // must not write into a neighbour
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("appending to a decoded array changed another value")
	}
}
