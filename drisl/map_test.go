package drisl

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strconv"
	"testing"
)

// toOrdered converts a value of the default generic model to the ordered
// one, independently of the decoder: every map[string]any becomes a Map
// sorted with Map.Sort.
func toOrdered(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(Map, 0, len(v))
		for k, x := range v {
			m = append(m, Entry{Key: k, Value: toOrdered(x)})
		}
		m.Sort()
		return m
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = toOrdered(x)
		}
		return out
	}
	return v
}

func TestMapMethods(t *testing.T) {
	var m Map
	for _, k := range []string{"bb", "a", "ccc", "b", "aa", "", "é"} {
		m.Set(k, k+"!")
	}
	want := []string{"", "a", "b", "aa", "bb", "é", "ccc"} // "é" is two bytes, after "bb"
	if len(m) != len(want) {
		t.Fatalf("len %d, want %d", len(m), len(want))
	}
	for i, k := range want {
		if m[i].Key != k || m[i].Value != k+"!" {
			t.Fatalf("entry %d is %q=%v, want %q", i, m[i].Key, m[i].Value, k)
		}
		if v, ok := m.Get(k); !ok || v != k+"!" {
			t.Fatalf("Get(%q) = %v, %v", k, v, ok)
		}
	}
	for _, k := range []string{"c", "ab", "zzzz", "\x00"} {
		if v, ok := m.Get(k); ok {
			t.Fatalf("Get(%q) found %v", k, v)
		}
	}
	m.Set("b", int64(2))
	if v, _ := m.Get("b"); v != int64(2) || len(m) != len(want) {
		t.Fatalf("Set replaced b with %v, len %d", v, len(m))
	}
	m.Delete("aa")
	m.Delete("nope")
	if _, ok := m.Get("aa"); ok || len(m) != len(want)-1 {
		t.Fatalf("Delete: %v", m)
	}
	if err := m.orderError(); err != nil {
		t.Fatal(err)
	}

	s := Map{{"b", 1}, {"aa", 2}, {"a", 3}, {"b", 4}}
	s.Sort()
	if got := []string{s[0].Key, s[1].Key, s[2].Key, s[3].Key}; !reflect.DeepEqual(got, []string{"a", "b", "b", "aa"}) || s[1].Value != 1 {
		t.Fatalf("Sort: %v", s)
	}
	var ee *EncodeError
	if err := s.orderError(); !errors.As(err, &ee) || ee.Rule != RuleMapKeyDuplicate || ee.Path != `"b"` {
		t.Fatalf("orderError of a duplicate: %v", err)
	}
}

// TestOrderedDecode checks the ordered model against the default one
// converted by toOrdered, on every target that can hold it.
func TestOrderedDecode(t *testing.T) {
	link := SumCID(CodecRaw, []byte("hello"))
	blob := Blob{Ref: link, MimeType: "image/png", Size: 42}
	v := map[string]any{
		"text":  "hi",
		"n":     int64(-70000),
		"links": []any{link, map[string]any{"z": nil, "y": true, "xx": []any{}}},
		"empty": map[string]any{},
		"blob":  blob.Value(),
		"deep":  map[string]any{"a": map[string]any{"b": map[string]any{"c": "d"}}},
	}
	data := mustMarshal(t, v)
	var def any
	if err := Unmarshal(data, &def); err != nil {
		t.Fatal(err)
	}
	want := toOrdered(def)

	var got any
	if err := (DecOptions{OrderedMaps: true}).Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("OrderedMaps decode:\n got %#v\nwant %#v", got, want)
	}
	var m Map
	if err := Unmarshal(data, &m); err != nil || !reflect.DeepEqual(m, want) {
		t.Fatalf("into *Map: %#v, %v", m, err)
	}
	if out, err := Marshal(m); err != nil || !bytes.Equal(out, data) {
		t.Fatalf("Marshal(Map) = %x, %v; want %x", out, err, data)
	}
	if out, err := Marshal(&m); err != nil || !bytes.Equal(out, data) {
		t.Fatalf("Marshal(*Map) = %x, %v", out, err)
	}

	// A map[string]any target stays one; the maps inside it follow the
	// option.
	var top map[string]any
	if err := (DecOptions{OrderedMaps: true}).Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	if _, ok := top["deep"].(Map); !ok {
		t.Fatalf("nested map under OrderedMaps is %T", top["deep"])
	}
	// A Map field of a struct, a Blob from an ordered map.
	var s struct {
		Deep Map  `cbor:"deep"`
		Blob Blob `cbor:"blob"`
		Any  any  `cbor:"links"`
	}
	if err := (DecOptions{OrderedMaps: true}).Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if inner, _ := s.Deep.Get("a"); !reflect.DeepEqual(inner, Map{{"b", Map{{"c", "d"}}}}) || s.Blob != blob {
		t.Fatalf("struct fields: %#v", s)
	}
	if _, ok := s.Any.([]any)[1].(Map); !ok {
		t.Fatalf("an any field under OrderedMaps holds %T", s.Any.([]any)[1])
	}
	// Without the option a struct's Map field is still a Map all the way
	// down, and its other fields keep the default model.
	s.Deep, s.Any = nil, nil
	if err := Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Deep[0].Value.(Map); !ok {
		t.Fatalf("inside a Map field: %T", s.Deep[0].Value)
	}
	if _, ok := s.Any.([]any)[1].(map[string]any); !ok {
		t.Fatalf("an any field without the option holds %T", s.Any.([]any)[1])
	}

	// null into a Map gives nil; other items do not fit.
	m = Map{{"x", 1}}
	if err := Unmarshal([]byte{0xf6}, &m); err != nil || m != nil {
		t.Fatalf("null into *Map: %v, %v", m, err)
	}
	var se *SyntaxError
	for _, in := range [][]byte{{0x80}, {0x81, 0xa0}, {0x01}, {0x60}} {
		if err := Unmarshal(in, &m); !errors.As(err, &se) || se.Rule != RuleMismatch || se.Offset != 0 {
			t.Fatalf("%x into *Map: %v", in, err)
		}
	}
	// Syntax errors inside a Map are the same as in the default model.
	for _, in := range [][]byte{
		{0xa2, 0x61, 'b', 0x01, 0x61, 'a', 0x02},
		{0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02},
		{0xa1, 0x01, 0x02},
		{0xa1, 0x61, 0xff, 0x01},
		{0xa1, 0x61, 'a'},
		{0xa1, 0x61, 'a', 0xa1, 0x61, 'a', 0x18, 0x01},
	} {
		want := Unmarshal(in, new(any))
		for _, err := range []error{Unmarshal(in, &m), (DecOptions{OrderedMaps: true}).Unmarshal(in, new(any))} {
			if err == nil || want == nil || err.Error() != want.Error() {
				t.Fatalf("%x: %v, want %v", in, err, want)
			}
		}
	}
}

// TestOrderedChunks checks that Maps carved from shared chunks (box.go)
// are independent: Set and Delete on one never change another, across
// several chunks and garbage collections.
func TestOrderedChunks(t *testing.T) {
	var items []any
	for i := range 600 {
		k := strconv.Itoa(i)
		items = append(items, map[string]any{"k": k, "v": int64(i)}, map[string]any{})
	}
	data := mustMarshal(t, map[string]any{"items": items})
	var v any
	if err := (DecOptions{OrderedMaps: true}).Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	clear(data)
	runtime.GC()
	got := v.(Map)[0].Value.([]any)
	for i := 0; i < len(got); i += 2 {
		m := got[i].(Map)
		if cap(m) != len(m) {
			t.Fatalf("item %d: len %d cap %d", i, len(m), cap(m))
		}
		m.Set("kk", "new") // must allocate, not write into the next Map
		m.Delete("k")
		e := got[i+1].(Map)
		e.Set("x", 1)
	}
	runtime.GC()
	if want := toOrdered(items); !reflect.DeepEqual(got, want) {
		t.Fatal("changing decoded Maps changed their neighbours")
	}
}

func TestMarshalMapErrors(t *testing.T) {
	var ee *EncodeError
	for _, c := range []struct {
		name string
		v    any
		rule Rule
		path string
	}{
		{"order", Map{{"b", 1}, {"a", 2}}, RuleMapKeyOrder, `"a"`},
		{"length first", Map{{"aa", 1}, {"b", 2}}, RuleMapKeyOrder, `"b"`},
		{"duplicate", Map{{"a", 1}, {"a", 2}}, RuleMapKeyDuplicate, `"a"`},
		{"nested", map[string]any{"x": []any{Map{{"a", 1}, {"", 2}}}}, RuleMapKeyOrder, `x[0].""`},
		{"key UTF-8", Map{{"\xff", 1}}, RuleUTF8, `"\xff"`},
		{"value", Map{{"f", 0.0}, {"g", float32(0)}}, "", ""},
		{"NaN value", &Map{{"a", 1}, {"f", math.NaN()}}, RuleFloatValue, "f"},
	} {
		out, err := Marshal(c.v)
		if c.rule == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.As(err, &ee) || ee.Rule != c.rule || ee.Path != c.path || !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %x, %v; want %q at %s", c.name, out, err, c.rule, c.path)
		}
	}
	for _, c := range []struct {
		v    any
		want []byte
	}{
		{Map(nil), []byte{0xa0}},
		{(*Map)(nil), []byte{0xf6}},
		{struct {
			M Map  `cbor:"m"`
			P *Map `cbor:"p"`
		}{Map{{"a", int64(1)}}, nil}, []byte{0xa2, 0x61, 'm', 0xa1, 0x61, 'a', 0x01, 0x61, 'p', 0xf6}},
		{[]Map{{}, {{"", "x"}}}, []byte{0x82, 0xa0, 0xa1, 0x60, 0x61, 'x'}},
	} {
		if out, err := Marshal(c.v); err != nil || !bytes.Equal(out, c.want) {
			t.Errorf("Marshal(%#v) = %x, %v; want %x", c.v, out, err, c.want)
		}
	}
	// A struct's Map field is checked too.
	if _, err := Marshal(struct {
		M Map `cbor:"m"`
	}{Map{{"b", 1}, {"a", 2}}}); !errors.As(err, &ee) || ee.Rule != RuleMapKeyOrder || ee.Path != `m."a"` {
		t.Errorf("struct field: %v", err)
	}
	// Depth is counted through Maps.
	deep := any(int64(1))
	for range DefaultMaxDepth + 1 {
		deep = Map{{"a", deep}}
	}
	if _, err := Marshal(deep); !errors.As(err, &ee) || ee.Rule != RuleDepth {
		t.Errorf("deep Map: %v", err)
	}
}

// TestOrderedAtproto checks CheckAtproto, CheckRecord, ParseBlob and
// MarshalJSON on Map values: the same verdicts and JSON as on map[string]any.
func TestOrderedAtproto(t *testing.T) {
	link := SumCID(CodecDagCBOR, []byte("x"))
	blob := Blob{Ref: SumCID(CodecRaw, []byte("b")), MimeType: "image/png", Size: 3}
	for _, c := range []struct {
		name string
		v    map[string]any
		rule Rule
		path string
	}{
		{"ok", map[string]any{"$type": "x.y", "a": []any{int64(1), "x", link, []byte{1}, nil, true}, "img": blob.Value()}, "", ""},
		{"float deep", map[string]any{"a": []any{int64(1), map[string]any{"f": 1.5}}}, RuleFloat, "a[1].f"},
		{"reserved $link", map[string]any{"x": map[string]any{"$link": "bafy"}}, RuleReservedKey, "x.$link"},
		{"reserved $bytes", map[string]any{"x": map[string]any{"$bytes": "AQID"}}, RuleReservedKey, "x.$bytes"},
		{"bad $type", map[string]any{"$type": int64(1)}, RuleTypeKey, "$type"},
		{"blob missing key", map[string]any{"b": map[string]any{"$type": "blob", "ref": blob.Ref, "mimeType": "a/b"}}, RuleBlob, "b"},
		{"blob bad size", map[string]any{"b": map[string]any{"$type": "blob", "ref": blob.Ref, "mimeType": "a/b", "size": "1"}}, RuleBlob, "b.size"},
	} {
		ordered := toOrdered(c.v)
		for _, v := range []any{c.v, ordered} {
			err := CheckAtproto(v)
			var de *DataModelError
			if c.rule == "" && err != nil || c.rule != "" && (!errors.As(err, &de) || de.Rule != c.rule || de.Path != c.path) {
				t.Errorf("%s (%T): got %v, want %q at %q", c.name, v, err, c.rule, c.path)
			}
		}
		if c.rule == "" {
			a, err1 := MarshalJSON(c.v)
			b, err2 := MarshalJSON(ordered)
			if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
				t.Errorf("%s: MarshalJSON %s (%v) and %s (%v)", c.name, a, err1, b, err2)
			}
			if err := CheckRecord(ordered); err != nil {
				t.Errorf("%s: CheckRecord: %v", c.name, err)
			}
		}
	}
	if err := CheckRecord(Map{{"text", "hi"}}); err == nil {
		t.Error("CheckRecord accepted a Map without $type")
	}
	p := &Map{{"$type", "x.y"}}
	if err := CheckRecord(p); err != nil {
		t.Errorf("CheckRecord(*Map): %v", err)
	}
	var ee *EncodeError
	unsorted := Map{{"b", int64(1)}, {"a", int64(2)}}
	if err := CheckAtproto(unsorted); !errors.As(err, &ee) || ee.Rule != RuleMapKeyOrder {
		t.Errorf("CheckAtproto of an unsorted Map: %v", err)
	}
	if _, err := MarshalJSON(Map{{"x", unsorted}}); !errors.As(err, &ee) || ee.Rule != RuleMapKeyOrder {
		t.Errorf("MarshalJSON of an unsorted Map: %v", err)
	}

	got, err := ParseBlob(toOrdered(blob.Value()))
	if err != nil || got != blob {
		t.Errorf("ParseBlob(Map) = %+v, %v", got, err)
	}
	legacy := Map{{"cid", blob.Ref.String()}, {"mimeType", "image/png"}}
	if got, err := ParseBlob(legacy); err != nil || !got.IsLegacy() || got.Ref != blob.Ref {
		t.Errorf("ParseBlob(legacy Map) = %+v, %v", got, err)
	}
	var de *DataModelError
	if _, err := ParseBlob(Map{{"ref", blob.Ref}, {"$type", "blob"}, {"size", int64(3)}, {"mimeType", "a/b"}}); !errors.As(err, &de) || de.Rule != RuleBlob {
		t.Errorf("ParseBlob of an unsorted Map: %v", err)
	}
}

// TestMapSearch checks search, which scans small maps and bisects larger
// ones, against a linear reference on sorted maps of every size around
// the switch between the two, for present and absent keys.
func TestMapSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := "ab\xc3\xa9z"
	randKey := func() string {
		b := make([]byte, rng.IntN(4))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for size := 0; size <= 2*smallMapScan+2; size++ {
		for range 200 {
			var m Map
			for len(m) < size {
				m.Set(randKey(), len(m))
			}
			if err := m.orderError(); err != nil {
				t.Fatalf("Set built an unordered map %v: %v", m, err)
			}
			for range 20 {
				key := randKey()
				want, found := len(m), false
				for i, e := range m {
					if c := compareKeyStrings(e.Key, key); c >= 0 {
						want, found = i, c == 0
						break
					}
				}
				if got, ok := m.search(key); got != want || ok != found {
					t.Fatalf("search(%q) in %d entries %v = %d, %v; want %d, %v", key, len(m), m, got, ok, want, found)
				}
			}
		}
	}
}

// TestMapInOrder: InOrder accepts strict DRISL order only (length first,
// then bytewise, no key twice), and agrees with Marshal's verdict.
func TestMapInOrder(t *testing.T) {
	for _, tc := range []struct {
		keys []string
		want bool
	}{
		{nil, true},
		{[]string{"a"}, true},
		{[]string{"b", "aa"}, true},
		{[]string{"a", "b", "aa", "ab"}, true},
		{[]string{"aa", "b"}, false},
		{[]string{"b", "a"}, false},
		{[]string{"a", "a"}, false},
	} {
		var m Map
		for _, k := range tc.keys {
			m = append(m, Entry{Key: k, Value: int64(1)})
		}
		_, err := Marshal(m)
		if got := m.InOrder(); got != tc.want || got != (err == nil) {
			t.Errorf("%q: InOrder %v, Marshal %v; want %v", tc.keys, got, err, tc.want)
		}
	}
}
