package drisl

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

// unmarshalThenCheck is what UnmarshalRecord does in one pass: the ordered
// decode, then CheckRecord.
func unmarshalThenCheck(o DecOptions, data []byte) (Map, error) {
	o.OrderedMaps = true
	var v any
	if err := o.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	m, _ := v.(Map)
	return m, CheckRecord(v)
}

// sameRecordVerdict fails unless UnmarshalRecord gives the value and the
// error (the same message, or none) of unmarshalThenCheck.
func sameRecordVerdict(t *testing.T, o DecOptions, data []byte) error {
	t.Helper()
	got, err := o.UnmarshalRecord(data)
	want, werr := unmarshalThenCheck(o, data)
	if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
		t.Fatalf("%x: UnmarshalRecord says %v, Unmarshal and CheckRecord %v", data, err, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%x: UnmarshalRecord gives %#v, Unmarshal %#v", data, got, want)
	}
	return err
}

// sameDecoderVerdicts fails unless one RecordDecoder gives, for each of
// records in turn, UnmarshalRecord's value and error, and unless every
// value it gave is unchanged once it has decoded them all (the records
// share its chunks).
func sameDecoderVerdicts(t *testing.T, o DecOptions, records [][]byte) {
	t.Helper()
	dec := o.NewRecordDecoder()
	got := make([]Map, len(records))
	want := make([]Map, len(records))
	for i, data := range records {
		var err error
		got[i], err = dec.Decode(data)
		var werr error
		want[i], werr = o.UnmarshalRecord(data)
		if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
			t.Fatalf("record %d, %x: RecordDecoder says %v, UnmarshalRecord %v", i, data, err, werr)
		}
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("record %d, %x: RecordDecoder gives %#v, UnmarshalRecord %#v", i, data, got[i], want[i])
		}
	}
	for i := range records {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("record %d changed after later decodes: %#v, want %#v", i, got[i], want[i])
		}
	}
}

// TestRecordDecoder: a RecordDecoder gives UnmarshalRecord's values for a
// thousand records of a few sizes (its chunks of text and of boxes fill
// and are replaced), which stay intact.
func TestRecordDecoder(t *testing.T) {
	var records [][]byte
	for i := range 1000 {
		rec := Map{{"$type", "dev.townhall.chat.message"}, {"text", strings.Repeat("é", i%300)},
			{"n", int64(i * 1000)}, {"tags", []any{"a", strconv.Itoa(i), int64(-i)}},
			{"embed", Map{{"k", strconv.Itoa(i)}, {"$type", "a.b.c"}}}}
		rec.Sort()
		b, err := Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, b)
	}
	sameDecoderVerdicts(t, DecOptions{}, records)
	big := bytes.Repeat([]byte("x"), recordTextChunk+10)
	data, err := Marshal(Map{{"big", string(big)}, {"$type", "a.b.c"}})
	if err != nil {
		t.Fatal(err)
	}
	sameDecoderVerdicts(t, DecOptions{}, [][]byte{records[0], data, records[1], data})
	if _, err := (DecOptions{MaxInputBytes: 10}).NewRecordDecoder().Decode(records[5]); err == nil {
		t.Fatal("a record over MaxInputBytes decoded")
	}
}

// TestUnmarshalRecord: UnmarshalRecord's verdict is Unmarshal's then
// CheckRecord's, for records that pass and for one breaking each rule
// that its decoder watches (at the top and nested), for syntax errors and
// for values that are not maps; the typed errors reach the caller.
func TestUnmarshalRecord(t *testing.T) {
	link := SumCID(CodecDagCBOR, []byte("x"))
	blake := cid.NewCidV1(CodecRaw, append([]byte{HashBLAKE3, 32}, make([]byte, 32)...))
	blob := Map{{"ref", SumCID(CodecRaw, []byte("x"))}, {"size", int64(3)}, {"$type", "blob"}, {"mimeType", "text/plain"}}
	blob.Sort()
	badBlob := Map{{"ref", "not a link"}, {"$type", "blob"}}
	badBlob.Sort()
	ok := func(extra ...Entry) Map {
		m := Map{{"$type", "dev.townhall.chat.message"}, {"text", "hello"}, {"n", int64(-300)},
			{"", "empty key"}, {"list", []any{int64(1), "two", []byte{3}, nil, true, link}}}
		m = append(m, extra...)
		m.Sort()
		return m
	}
	enc := func(v any) []byte {
		t.Helper()
		b, err := EncOptions{AllowBLAKE3: true}.Marshal(v)
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		return b
	}
	// A float, an integer outside int64 and a negative one below it have
	// no Marshal form to build them from: their bytes are written out.
	withItem := func(key string, item []byte) []byte {
		m := ok(Entry{key, "PLACEHOLDER"})
		b := enc(m)
		ph := enc("PLACEHOLDER")
		i := bytes.Index(b, ph)
		return append(append(append([]byte{}, b[:i]...), item...), b[i+len(ph):]...)
	}
	float := append([]byte{0xfb}, make([]byte, 8)...)
	float[1] = 0x3f
	float[2] = 0xf0 // 1.0
	big := append([]byte{0x1b}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	neg := append([]byte{0x3b}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	inner := func(e Entry) Map { return Map{{"$type", "x.y.z"}, {"inner", Map{e}}} }
	cases := []struct {
		name string
		data []byte
		rule Rule // "" for a valid record
	}{
		{"valid", enc(ok()), ""},
		{"valid with a blob", enc(ok(Entry{"image", blob})), ""},
		{"valid, nested $type", enc(ok(Entry{"embed", Map{{"$type", "a.b.c"}}})), ""},
		{"float", withItem("f", float), RuleFloat},
		{"nested float", withItem("f", append([]byte{0x81}, float...)), RuleFloat},
		{"integer above int64", withItem("big", big), RuleInteger},
		{"integer below int64", withItem("neg", neg), RuleInteger},
		{"BLAKE3 link", enc(ok(Entry{"l", blake})), RuleLink},
		{"$link key", enc(inner(Entry{"$link", "x"})), RuleReservedKey},
		{"$bytes key", enc(ok(Entry{"$bytes", "x"})), RuleReservedKey},
		{"$type not a string", enc(Map{{"$type", int64(1)}}), RuleTypeKey},
		{"$type empty", enc(Map{{"$type", ""}}), RuleTypeKey},
		{"nested $type empty", enc(inner(Entry{"$type", ""})), RuleTypeKey},
		{"bad blob", enc(ok(Entry{"image", badBlob})), RuleBlob},
		{"top-level blob", enc(blob), ""},
		{"top-level bad blob", enc(badBlob), RuleBlob},
		{"no $type", enc(Map{{"text", "x"}}), RuleTypeKey},
		{"nested $type only", enc(Map{{"a", Map{{"$type", "a.b.c"}}}}), RuleTypeKey},
		{"not a map", enc([]any{"x"}), RuleTopLevel},
		{"a string", enc("x"), RuleTopLevel},
		{"truncated", enc(ok())[:10], RuleTruncated},
		{"trailing bytes", append(enc(ok()), 0), RuleTrailingBytes},
		{"empty", nil, RuleTruncated},
	}
	for _, o := range []DecOptions{{}, {AllowBLAKE3: true}, {MaxDepth: 200}} {
		var all [][]byte
		for _, tc := range cases {
			all = append(all, tc.data)
		}
		sameDecoderVerdicts(t, o, append(all, all...))
		for _, tc := range cases {
			err := sameRecordVerdict(t, o, tc.data)
			rule := tc.rule
			if tc.name == "BLAKE3 link" && !o.AllowBLAKE3 {
				rule = RuleCID // the decoder refuses it
			}
			var de *DataModelError
			var se *SyntaxError
			switch {
			case rule == "":
				if err != nil {
					t.Errorf("%s: %v", tc.name, err)
				}
			case errors.As(err, &de):
				if de.Rule != rule || !errors.Is(err, ErrDataModel) {
					t.Errorf("%s: rule %q, want %q", tc.name, de.Rule, rule)
				}
			case errors.As(err, &se):
				if se.Rule != rule {
					t.Errorf("%s: rule %q, want %q", tc.name, se.Rule, rule)
				}
			default:
				t.Errorf("%s: %v, want rule %q", tc.name, err, rule)
			}
		}
	}
	// Nesting over DefaultMaxDepth, which CheckRecord refuses, when the
	// options let the decoder take it.
	deep := any("x")
	for range DefaultMaxDepth + 1 {
		deep = []any{deep}
	}
	data, err := EncOptions{MaxDepth: 300}.Marshal(Map{{"deep", deep}, {"$type", "a.b.c"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sameRecordVerdict(t, DecOptions{MaxDepth: 300}, data); !errors.Is(err, ErrDataModel) {
		t.Fatalf("a record nested deeper than DefaultMaxDepth: %v", err)
	}
}

// FuzzUnmarshalRecord: on any input, UnmarshalRecord gives the value and
// the error of Unmarshal (ordered) followed by CheckRecord. Its seeds are
// FuzzDecode's (testdata/fuzz/SOURCE.md) and the records of
// TestUnmarshalRecord's kinds.
func FuzzUnmarshalRecord(f *testing.F) {
	seedRecord := []byte{0xa2, 0x61, 'n', 0x19, 0x01, 0x00, 0x65, '$', 't', 'y', 'p', 'e', 0x65, 'a', '.', 'b', '.', 'c'}
	f.Add([]byte{0xa1, 0x65, '$', 't', 'y', 'p', 'e', 0x61, 'x'})
	f.Add([]byte{0xa2, 0x61, 'f', 0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x65, '$', 't', 'y', 'p', 'e', 0x61, 'x'})
	f.Add([]byte{0xa1, 0x65, '$', 'l', 'i', 'n', 'k', 0x61, 'x'})
	f.Add([]byte{0xa1, 0x65, '$', 't', 'y', 'p', 'e', 0x64, 'b', 'l', 'o', 'b'})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, o := range []DecOptions{{}, {AllowBLAKE3: true, MaxDepth: 16}, {MaxDepth: 200}} {
			sameRecordVerdict(t, o, data)
			sameDecoderVerdicts(t, o, [][]byte{seedRecord, data, data[:len(data)/2], data})
			nc := o
			nc.NoCopyStrings = true
			sameRecordVerdict(t, nc, data)
			sameDecoderVerdicts(t, nc, [][]byte{seedRecord, data, data[:len(data)/2], data})
		}
	})
}
