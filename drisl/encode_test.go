package drisl

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
)

type plainName string // a named string without methods: written directly

// upperName has a MarshalCBOR method, so its fields must not be written
// as plain strings.
type upperName string

func (u upperName) MarshalCBOR() ([]byte, error) {
	return Marshal(map[string]any{"u": string(u)})
}

type planKinds struct {
	S   string    `cbor:"s,omitempty"`
	N   plainName `cbor:"n,omitempty"`
	U   upperName `cbor:"up,omitempty"`
	B   bool      `cbor:"b,omitempty"`
	I8  int8      `cbor:"i8,omitempty"`
	I   int       `cbor:"i,omitempty"`
	I64 int64     `cbor:"i64,omitempty"`
	U8  uint8     `cbor:"u8,omitempty"`
	U64 uint64    `cbor:"u64,omitempty"`
	Neg NegInt    `cbor:"neg,omitempty"`
	Sub *planSub  `cbor:"sub,omitempty"`
	Raw Raw       `cbor:"raw,omitempty"`
	Str string    `cbor:"str"` // no omitempty: written even when empty
}

type planSub struct {
	A string `cbor:"a"`
	Z int64  `cbor:"z,omitempty"`
}

// TestStructPlans checks the per-type struct encoder against the generic
// map encoding of the same content: every plain kind, omitempty on zero and
// non-zero values, fields whose types must keep their own encoding (a
// MarshalCBOR method, NegInt, Raw), nested and pointed-to structs, and
// types that alternate through the encoder's one-entry layout cache.
func TestStructPlans(t *testing.T) {
	full := planKinds{S: "é", N: "n", U: "x", B: true, I8: -128, I: -1 << 40, I64: math.MaxInt64, U8: 255,
		U64: math.MaxUint64, Neg: 5, Sub: &planSub{A: "a", Z: -2}, Raw: Raw{0x01}, Str: "s"}
	fullMap := map[string]any{"s": "é", "n": "n", "up": map[string]any{"u": "x"}, "b": true, "i8": int64(-128),
		"i": int64(-1 << 40), "i64": int64(math.MaxInt64), "u8": int64(255), "u64": uint64(math.MaxUint64),
		"neg": NegInt(5), "sub": map[string]any{"a": "a", "z": int64(-2)}, "raw": int64(1), "str": "s"}
	cases := []struct {
		v    any
		want any
	}{
		{full, fullMap},
		{&full, fullMap},
		{planKinds{}, map[string]any{"str": ""}},
		{planSub{}, map[string]any{"a": ""}},
		{planKinds{Sub: &planSub{}}, map[string]any{"str": "", "sub": map[string]any{"a": ""}}},
		{[]planSub{{A: "1"}, {A: "2", Z: 3}}, []any{map[string]any{"a": "1"}, map[string]any{"a": "2", "z": int64(3)}}},
		{map[string]planKinds{"k": {B: true}}, map[string]any{"k": map[string]any{"b": true, "str": ""}}},
	}
	for round := range 2 { // the second round meets every type again through the cache
		for i, c := range cases {
			got, err := Marshal(c.v)
			if err != nil {
				t.Fatalf("round %d case %d: %v", round, i, err)
			}
			want := mustMarshal(t, c.want)
			if !bytes.Equal(got, want) {
				t.Fatalf("round %d case %d: struct %x, map %x", round, i, got, want)
			}
		}
	}
}

// TestStructManyFields checks structs of 24 fields and more, whose map head
// is counted before the fields are written, against the map encoding.
func TestStructManyFields(t *testing.T) {
	for _, n := range []int{23, 24, 25, 300} {
		var fields []reflect.StructField
		for i := range n {
			fields = append(fields, reflect.StructField{
				Name: fmt.Sprintf("F%d", i),
				Type: reflect.TypeFor[string](),
				Tag:  reflect.StructTag(fmt.Sprintf(`cbor:"f%d,omitempty"`, i)),
			})
		}
		v := reflect.New(reflect.StructOf(fields)).Elem()
		m := map[string]any{}
		for i := range n {
			if i%3 != 0 {
				v.Field(i).SetString(fmt.Sprint(i))
				m[fmt.Sprintf("f%d", i)] = fmt.Sprint(i)
			}
		}
		got, err := Marshal(v.Interface())
		if err != nil {
			t.Fatal(err)
		}
		if want := mustMarshal(t, m); !bytes.Equal(got, want) {
			t.Fatalf("%d fields: struct %x, map %x", n, got, want)
		}
	}
}

func TestStructFieldErrors(t *testing.T) {
	var ee *EncodeError
	_, err := Marshal(planSub{A: "\xff"})
	if !errors.As(err, &ee) || ee.Rule != RuleUTF8 || ee.Path != "a" {
		t.Fatalf("invalid UTF-8 in a field: %v", err)
	}
	_, err = Marshal(planKinds{Sub: &planSub{A: "ok\xc3"}})
	if !errors.As(err, &ee) || ee.Rule != RuleUTF8 || ee.Path != "sub.a" {
		t.Fatalf("invalid UTF-8 in a nested field: %v", err)
	}
	type dup struct {
		A string `cbor:"x"`
		B string `cbor:"x"`
	}
	if _, err := Marshal(dup{}); !errors.As(err, &ee) || ee.Rule != RuleMapKeyDuplicate {
		t.Fatalf("two fields of one name: %v", err)
	}
	type opaque struct{ a int }
	if _, err := Marshal(opaque{}); !errors.As(err, &ee) || ee.Rule != RuleType {
		t.Fatalf("a struct without exported fields: %v", err)
	}
}

// TestStructPointers checks records passed as pointers to structs, which
// share the encoder's layout cache with the struct itself: a pointer and
// the struct alternate and encode alike, a nil pointer is null, and a
// struct whose pointer has a MarshalCBOR method is written by it, not by
// its fields, even right after a plain struct of another type.
func TestStructPointers(t *testing.T) {
	sub := planSub{A: "a", Z: 7}
	want := mustMarshal(t, map[string]any{"a": "a", "z": int64(7)})
	wr := &writerRecord{out: []byte{0xa1, 0x61, 'w', 0x01}}
	for i, c := range []struct {
		v    any
		want []byte
	}{
		{sub, want}, {&sub, want}, {sub, want}, {&sub, want},
		{(*planSub)(nil), []byte{0xf6}}, {&sub, want},
		{wr, wr.out}, {sub, want}, {wr, wr.out}, {wr, wr.out},
		{[]any{&sub, sub, (*planSub)(nil)}, append(append(append([]byte{0x83}, want...), want...), 0xf6)},
	} {
		got, err := Marshal(c.v)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Fatalf("case %d (%T): %x %v, want %x", i, c.v, got, err, c.want)
		}
	}
}

// TestStructFieldReads checks the struct encoder's two ways of reading
// fields, from memory at their offsets (a struct behind a pointer, an
// element of a slice, a struct larger than a pointer held in an interface)
// and through reflection (a struct no larger than a pointer held in an
// interface, a struct field of a struct held by value, a map value), on
// every plain kind and size, each compared with the map encoding.
func TestStructFieldReads(t *testing.T) {
	type ints struct {
		I8  int8    `cbor:"a"`
		I16 int16   `cbor:"b"`
		I32 int32   `cbor:"c"`
		I   int     `cbor:"d"`
		U8  uint8   `cbor:"e"`
		U16 uint16  `cbor:"f"`
		U32 uint32  `cbor:"g"`
		U   uint    `cbor:"h"`
		UP  uintptr `cbor:"i"`
		B   bool    `cbor:"j"`
		S   string  `cbor:"k,omitempty"`
	}
	type small struct {
		I16 int16 `cbor:"i"`
		B   bool  `cbor:"b"`
		U8  uint8 `cbor:"u"`
	}
	type outer struct {
		In ints  `cbor:"in"`
		Sm small `cbor:"sm"`
	}
	in := ints{I8: -128, I16: -300, I32: -70000, I: -1 << 40, U8: 255, U16: 65535, U32: 1 << 31, U: 1 << 40, UP: 7, B: true, S: "ü"}
	inMap := map[string]any{"a": int64(-128), "b": int64(-300), "c": int64(-70000), "d": int64(-1 << 40), "e": int64(255),
		"f": int64(65535), "g": int64(1 << 31), "h": int64(1 << 40), "i": int64(7), "j": true, "k": "ü"}
	sm := small{I16: -2, B: true, U8: 9}
	smMap := map[string]any{"i": int64(-2), "b": true, "u": int64(9)}
	o := outer{In: in, Sm: sm}
	oMap := map[string]any{"in": inMap, "sm": smMap}
	for i, c := range []struct {
		v    any
		want any
	}{
		{in, inMap}, {&in, inMap}, {sm, smMap}, {&sm, smMap}, {o, oMap}, {&o, oMap},
		{[]ints{in, {}}, []any{inMap, map[string]any{"a": int64(0), "b": int64(0), "c": int64(0), "d": int64(0),
			"e": int64(0), "f": int64(0), "g": int64(0), "h": int64(0), "i": int64(0), "j": false}}},
		{[]small{sm}, []any{smMap}}, {map[string]small{"x": sm}, map[string]any{"x": smMap}},
		{map[string]outer{"o": o}, map[string]any{"o": oMap}}, {[]any{o, &sm, sm}, []any{oMap, smMap, smMap}},
	} {
		got, err := Marshal(c.v)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if want := mustMarshal(t, c.want); !bytes.Equal(got, want) {
			t.Fatalf("case %d (%T): struct %x, map %x", i, c.v, got, want)
		}
	}
	var ee *EncodeError
	if _, err := Marshal(outer{In: ints{S: "\xff"}}); !errors.As(err, &ee) || ee.Rule != RuleUTF8 || ee.Path != "in.k" {
		t.Fatalf("invalid UTF-8 in a nested field read by reflection: %v", err)
	}
	if _, err := Marshal(&outer{In: ints{S: "a\xc3"}}); !errors.As(err, &ee) || ee.Rule != RuleUTF8 || ee.Path != "in.k" {
		t.Fatalf("invalid UTF-8 in a nested field read from memory: %v", err)
	}
}

// namedWithMarshaler embeds goodMarshaler, whose MarshalCBOR it promotes.
type namedWithMarshaler struct {
	goodMarshaler
	X int64
}

// TestPromotedMarshaler: a struct that embeds a Marshaler is encoded by the
// promoted MarshalCBOR, whether the struct type is named or not and
// whether it is passed by value or through a pointer (an unnamed struct
// was written as a map of its fields).
func TestPromotedMarshaler(t *testing.T) {
	anon := struct {
		goodMarshaler
		X int64
	}{X: 5}
	for name, v := range map[string]any{"unnamed": anon, "*unnamed": &anon,
		"named": namedWithMarshaler{X: 5}, "*named": &namedWithMarshaler{X: 5},
		"field": struct{ F struct{ goodMarshaler } }{}} {
		b, err := Marshal(v)
		want := []byte{0x81, 0x01}
		if name == "field" {
			want = []byte{0xa1, 0x61, 'F', 0x81, 0x01}
		}
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s: %x, %v; want %x", name, b, err, want)
		}
	}
}
