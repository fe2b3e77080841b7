package drisl

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// FuzzDecode checks, for any input, that decoding never panics, that
// Validate, Unmarshal into any (in both generic models: map[string]any and,
// with OrderedMaps, Map), into Raw, into Map and into a struct agree on what
// is valid (with the same error for both models), that every accepted input
// re-encodes to identical bytes from both models, and that the two models
// hold the same value and get the same atproto verdict and JSON. The
// seed corpus (testdata/fuzz/FuzzDecode) holds every dasl-testing fixture,
// the atproto data-model CBOR and some records.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0xa1, 0x61, 0x61, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range []DecOptions{{}, {AllowBLAKE3: true, MaxDepth: 16}} {
			verr := opts.Validate(data)
			var v any
			err := opts.Unmarshal(data, &v)
			if (err == nil) != (verr == nil) {
				t.Fatalf("Validate says %v, Unmarshal says %v", verr, err)
			}
			ordered := opts
			ordered.OrderedMaps = true
			var ov any
			oerr := ordered.Unmarshal(data, &ov)
			if (oerr == nil) != (err == nil) || err != nil && oerr.Error() != err.Error() {
				t.Fatalf("Unmarshal says %v, with OrderedMaps %v", err, oerr)
			}
			if len(data) > 0 && data[0]>>5 == 5 {
				var m Map
				merr := opts.Unmarshal(data, &m)
				if (merr == nil) != (err == nil) || err != nil && merr.Error() != err.Error() {
					t.Fatalf("Unmarshal into any says %v, into Map %v", err, merr)
				}
				if err == nil && !reflect.DeepEqual(any(m), ov) {
					t.Fatalf("into Map %#v, into any with OrderedMaps %#v", m, ov)
				}
			}
			var r Raw
			rerr := opts.Unmarshal(data, &r)
			if (rerr == nil) != (err == nil) {
				t.Fatalf("Unmarshal into Raw says %v, into any %v", rerr, err)
			}
			var p taggedPost
			perr := opts.Unmarshal(data, &p)
			var se *SyntaxError
			if err != nil {
				if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(data) {
					t.Fatalf("error %v is not a *SyntaxError with an offset inside the input", err)
				}
				if perr == nil {
					t.Fatalf("invalid input %x decoded into a struct", data)
				}
				continue
			}
			if perr != nil && (!errors.As(perr, &se) || se.Rule != RuleMismatch) {
				t.Fatalf("valid input failed into a struct with %v", perr)
			}
			if !bytes.Equal(r, data) {
				t.Fatalf("Raw %x differs from input %x", r, data)
			}
			out, err := EncOptions{AllowBLAKE3: opts.AllowBLAKE3}.Marshal(v)
			if err != nil {
				t.Fatalf("accepted %x, cannot re-encode %#v: %v", data, v, err)
			}
			if !bytes.Equal(out, data) {
				t.Fatalf("re-encoding differs:\n in %x\nout %x", data, out)
			}
			if !reflect.DeepEqual(ov, toOrdered(v)) {
				t.Fatalf("the ordered model holds %#v, the default %#v", ov, v)
			}
			oout, err := EncOptions{AllowBLAKE3: opts.AllowBLAKE3}.Marshal(ov)
			if err != nil || !bytes.Equal(oout, data) {
				t.Fatalf("re-encoding the ordered value: %x, %v\n in %x", oout, err, data)
			}
			cerr, ocerr := CheckAtproto(v), CheckAtproto(ov)
			if (cerr == nil) != (ocerr == nil) {
				t.Fatalf("CheckAtproto says %v, of the ordered value %v", cerr, ocerr)
			}
			// atproto JSON: whatever the checker accepts survives JSON.
			if cerr == nil {
				js, err := MarshalJSON(v)
				if err != nil {
					t.Fatalf("MarshalJSON of checked data: %v", err)
				}
				back, err := UnmarshalJSON(js)
				if err != nil {
					t.Fatalf("UnmarshalJSON(%s): %v", js, err)
				}
				if !reflect.DeepEqual(back, v) {
					t.Fatalf("JSON roundtrip changed the value:\n%#v\n%#v", v, back)
				}
				ojs, err := MarshalJSON(ov)
				if err != nil || !bytes.Equal(ojs, js) {
					t.Fatalf("MarshalJSON of the ordered value: %s, %v; want %s", ojs, err, js)
				}
			}
		}
	})
}

// FuzzUnmarshalJSON checks that atproto JSON never panics the reader and that
// what it accepts and CheckAtproto passes encodes to DRISL and back.
func FuzzUnmarshalJSON(f *testing.F) {
	f.Add([]byte(`{"a":{"$link":"bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"},"b":{"$bytes":"AQID"},"n":[1,2.0,null,true,"x"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := UnmarshalJSON(data)
		if err != nil {
			var de *DataModelError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DataModelError", err)
			}
			return
		}
		if CheckAtproto(v) != nil {
			return
		}
		b, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal of checked JSON data: %v", err)
		}
		var back any
		if err := Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, v) {
			t.Fatalf("DRISL roundtrip: %#v, %v", back, err)
		}
		var ordered any
		if err := (DecOptions{OrderedMaps: true}).Unmarshal(b, &ordered); err != nil || !reflect.DeepEqual(ordered, toOrdered(v)) {
			t.Fatalf("DRISL roundtrip into the ordered model: %#v, %v", ordered, err)
		}
	})
}

// FuzzMarshal checks that Marshal never writes non-DRISL bytes: any CBOR
// input is turned into Go values by fxamacker/cbor's lenient decoder (tags,
// simple values, big integers, float16/32, integer keys, ...), and whatever
// Marshal accepts must validate and decode back to the same encoding.
func FuzzMarshal(f *testing.F) {
	f.Add([]byte{0xa1, 0x61, 0x61, 0xf9, 0x3c, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if cbor.Unmarshal(data, &v) != nil {
			return
		}
		out, err := Marshal(v)
		if err != nil {
			var ee *EncodeError
			if !errors.As(err, &ee) {
				t.Fatalf("Marshal error %v is not an *EncodeError", err)
			}
			return
		}
		if err := Validate(out); err != nil {
			t.Fatalf("Marshal(%#v) wrote invalid DRISL %x: %v", v, out, err)
		}
		var back any
		if err := Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		again, err := Marshal(back)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("re-encoding differs: %x vs %x (%v)", again, out, err)
		}
		var ordered any
		if err := (DecOptions{OrderedMaps: true}).Unmarshal(out, &ordered); err != nil {
			t.Fatal(err)
		}
		again, err = Marshal(ordered)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("re-encoding the ordered value differs: %x vs %x (%v)", again, out, err)
		}
	})
}

// FuzzMarshalMap checks that Marshal writes a Map only if its keys are in
// strict DRISL order and valid UTF-8, judged here without orderError: a Map
// of arbitrary keys (unsorted, repeated, not UTF-8), sorted with Sort or
// not, either fails with an *EncodeError for the rule the first bad key
// breaks, or encodes to DRISL that decodes back to the same Map.
func FuzzMarshalMap(f *testing.F) {
	f.Add([]byte("b\x00a\x00aa"), false)
	f.Add([]byte("b\x00a\x00aa\x00a"), true)
	f.Add([]byte("\xff\x00a"), true)
	f.Fuzz(func(t *testing.T, data []byte, sorted bool) {
		var m Map
		for i, k := range bytes.Split(data, []byte{0}) {
			m = append(m, Entry{Key: string(k), Value: int64(i)})
		}
		if sorted {
			m.Sort()
		}
		var want Rule
		for i, e := range m {
			switch {
			case i > 0 && e.Key == m[i-1].Key:
				want = RuleMapKeyDuplicate
			case i > 0 && (len(e.Key) < len(m[i-1].Key) || len(e.Key) == len(m[i-1].Key) && e.Key < m[i-1].Key):
				want = RuleMapKeyOrder
			case !utf8.ValidString(e.Key):
				want = RuleUTF8
			default:
				continue
			}
			break
		}
		out, err := Marshal(m)
		if want != "" {
			var ee *EncodeError
			if !errors.As(err, &ee) || ee.Rule != want {
				t.Fatalf("Marshal(%q) = %x, %v; want %q", m, out, err, want)
			}
			return
		}
		if err != nil {
			t.Fatalf("Marshal(%q): %v", m, err)
		}
		var back Map
		if err := Unmarshal(out, &back); err != nil || !reflect.DeepEqual(back, m) {
			t.Fatalf("Marshal(%q) = %x, decodes to %q, %v", m, out, back, err)
		}
	})
}

// fuzzRecord is a struct record with a field of each plain kind, some
// omitempty, and a nested struct no larger than a pointer.
type fuzzRecord struct {
	Type string    `cbor:"$type"`
	Text string    `cbor:"text,omitempty"`
	N    int32     `cbor:"n,omitempty"`
	U    uint16    `cbor:"u"`
	B    bool      `cbor:"b,omitempty"`
	Sub  fuzzSmall `cbor:"sub"`
}

type fuzzSmall struct {
	I int16 `cbor:"i,omitempty"`
	B bool  `cbor:"ok"`
}

// FuzzMarshalStruct checks that a struct record encodes as the map of its
// fields does (omitempty applied by hand), whichever way the encoder reads
// its fields: the struct held by value, through a pointer, and as an
// element of a slice; and that invalid UTF-8 fails with the map's error
// and path.
func FuzzMarshalStruct(f *testing.F) {
	f.Add("app.bsky.feed.post", []byte("hello"), int32(-5), uint16(300), true, int16(-2), false)
	f.Add("", []byte{}, int32(0), uint16(0), false, int16(0), true)
	f.Add("x\xff", []byte("é\xc3"), int32(1<<30), uint16(65535), true, int16(32767), true)
	f.Fuzz(func(t *testing.T, typ string, text []byte, n int32, u uint16, b bool, si int16, sb bool) {
		rec := fuzzRecord{Type: typ, Text: string(text), N: n, U: u, B: b, Sub: fuzzSmall{I: si, B: sb}}
		sub := map[string]any{"ok": sb}
		if si != 0 {
			sub["i"] = int64(si)
		}
		m := map[string]any{"$type": typ, "u": int64(u), "sub": sub}
		if len(text) > 0 {
			m["text"] = string(text)
		}
		if n != 0 {
			m["n"] = int64(n)
		}
		if b {
			m["b"] = true
		}
		want, wantErr := Marshal(m)
		for i, v := range []any{rec, &rec, []fuzzRecord{rec}} {
			got, err := Marshal(v)
			if i == 2 && wantErr == nil {
				want2, _ := Marshal([]any{m})
				if !bytes.Equal(got, want2) || err != nil {
					t.Fatalf("Marshal(%#v) = %x, %v; want %x", v, got, err, want2)
				}
				continue
			}
			if wantErr != nil {
				var ee, we *EncodeError
				if !errors.As(err, &ee) || !errors.As(wantErr, &we) || ee.Rule != we.Rule ||
					ee.Path != we.Path && !(i == 2 && ee.Path == "[0]."+we.Path) {
					t.Fatalf("Marshal(%#v) = %x, %v; want error %v", v, got, err, wantErr)
				}
				continue
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Marshal(%#v) = %x, %v; want %x", v, got, err, want)
			}
		}
	})
}
