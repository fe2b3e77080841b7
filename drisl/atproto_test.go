package drisl

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/ipfs/go-cid"
)

func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestDataModelFixtures checks the three JSON/CBOR/CID triples byte for
// byte, in both directions.
func TestDataModelFixtures(t *testing.T) {
	var fixtures []struct {
		JSON       json.RawMessage `json:"json"`
		CBORBase64 string          `json:"cbor_base64"`
		CID        string          `json:"cid"`
	}
	readJSONFile(t, "testdata/atproto/data-model-fixtures.json", &fixtures)
	if len(fixtures) != 3 {
		t.Fatalf("got %d fixtures, want 3", len(fixtures))
	}
	for i, f := range fixtures {
		want, err := base64.RawStdEncoding.DecodeString(f.CBORBase64)
		if err != nil {
			t.Fatal(err)
		}
		v, err := UnmarshalJSON(f.JSON)
		if err != nil {
			t.Fatalf("fixture %d: UnmarshalJSON: %v", i, err)
		}
		if err := CheckAtproto(v); err != nil {
			t.Errorf("fixture %d: CheckAtproto: %v", i, err)
		}
		got, c, err := MarshalCID(v)
		if err != nil {
			t.Fatalf("fixture %d: MarshalCID: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("fixture %d: CBOR\n got %x\nwant %x", i, got, want)
		}
		if c.String() != f.CID {
			t.Errorf("fixture %d: CID %s, want %s", i, c, f.CID)
		}
		// And back: CBOR -> value -> JSON equals the fixture's JSON.
		var back any
		if err := Unmarshal(want, &back); err != nil {
			t.Fatalf("fixture %d: Unmarshal: %v", i, err)
		}
		if !reflect.DeepEqual(back, v) {
			t.Errorf("fixture %d: CBOR and JSON give different values:\n%#v\n%#v", i, back, v)
		}
		js, err := MarshalJSON(back)
		if err != nil {
			t.Fatalf("fixture %d: MarshalJSON: %v", i, err)
		}
		var a, b any
		if err := json.Unmarshal(js, &a); err != nil {
			t.Fatalf("fixture %d: MarshalJSON wrote invalid JSON %s: %v", i, js, err)
		}
		if err := json.Unmarshal(f.JSON, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("fixture %d: JSON\n got %s\nwant %s", i, js, f.JSON)
		}
		// The ordered model: same checks, same bytes, same CID, same JSON.
		var ordered any
		if err := (DecOptions{OrderedMaps: true}).Unmarshal(want, &ordered); err != nil {
			t.Fatalf("fixture %d: Unmarshal with OrderedMaps: %v", i, err)
		}
		if !reflect.DeepEqual(ordered, toOrdered(v)) {
			t.Errorf("fixture %d: ordered value %#v", i, ordered)
		}
		if err := CheckAtproto(ordered); err != nil {
			t.Errorf("fixture %d: CheckAtproto of the ordered value: %v", i, err)
		}
		got, oc, err := MarshalCID(ordered)
		if err != nil || !bytes.Equal(got, want) || oc != c {
			t.Errorf("fixture %d: ordered MarshalCID %x %s, %v", i, got, oc, err)
		}
		ojs, err := MarshalJSON(ordered)
		if err != nil || !bytes.Equal(ojs, js) {
			t.Errorf("fixture %d: ordered MarshalJSON %s, %v; want %s", i, ojs, err, js)
		}
	}
}

func TestDataModelValid(t *testing.T) {
	var cases []struct {
		Note string          `json:"note"`
		JSON json.RawMessage `json:"json"`
	}
	readJSONFile(t, "testdata/atproto/data-model-valid.json", &cases)
	if len(cases) != 5 {
		t.Fatalf("got %d valid cases, want 5", len(cases))
	}
	for _, c := range cases {
		v, err := UnmarshalJSON(c.JSON)
		if err != nil {
			t.Errorf("%s: UnmarshalJSON: %v", c.Note, err)
			continue
		}
		if err := CheckAtproto(v); err != nil {
			t.Errorf("%s: CheckAtproto: %v", c.Note, err)
		}
		b, err := Marshal(v)
		if err != nil {
			t.Errorf("%s: Marshal: %v", c.Note, err)
			continue
		}
		var back any
		if err := Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, v) {
			t.Errorf("%s: roundtrip: %#v, %v", c.Note, back, err)
		}
		var ordered any
		if err := (DecOptions{OrderedMaps: true}).Unmarshal(b, &ordered); err != nil || !reflect.DeepEqual(ordered, toOrdered(v)) {
			t.Errorf("%s: ordered decode: %#v, %v", c.Note, ordered, err)
			continue
		}
		if err := CheckAtproto(ordered); err != nil {
			t.Errorf("%s: CheckAtproto of the ordered value: %v", c.Note, err)
		}
		if out, err := Marshal(ordered); err != nil || !bytes.Equal(out, b) {
			t.Errorf("%s: ordered roundtrip %x, %v; want %x", c.Note, out, err, b)
		}
	}
}

// TestDataModelInvalid rejects each of the 12 invalid cases, for the rule
// named here. "rcrd" is the record case; the checker sees the whole object.
func TestDataModelInvalid(t *testing.T) {
	want := map[string]struct {
		rule Rule
		path string
	}{
		"top-level not an object":        {RuleTopLevel, ""},
		"float":                          {RuleFloat, "rcrd.a"},
		"record with $type null":         {RuleTypeKey, "rcrd.$type"},
		"record with $type wrong type":   {RuleTypeKey, "rcrd.$type"},
		"record with empty $type string": {RuleTypeKey, "rcrd.$type"},
		"blob with string size":          {RuleBlob, "blb.size"},
		"blob with missing key":          {RuleBlob, "blb"},
		"bytes with wrong field type":    {RuleJSON, "lnk.$bytes"},
		"bytes with extra fields":        {RuleJSON, "lnk.$bytes"},
		"link with wrong field type":     {RuleJSON, "lnk.$link"},
		"link with bogus CID":            {RuleLink, "lnk.$link"},
		"link with extra fields":         {RuleJSON, "lnk.$link"},
	}
	var cases []struct {
		Note string          `json:"note"`
		JSON json.RawMessage `json:"json"`
	}
	readJSONFile(t, "testdata/atproto/data-model-invalid.json", &cases)
	if len(cases) != 12 {
		t.Fatalf("got %d invalid cases, want 12", len(cases))
	}
	for _, c := range cases {
		w, ok := want[c.Note]
		if !ok {
			t.Errorf("%s: no expected rule", c.Note)
			continue
		}
		v, err := UnmarshalJSON(c.JSON)
		errs := []error{err}
		if err == nil {
			// The value in both models: the ordered one decoded from the
			// value's DRISL form.
			var ordered any
			if err := (DecOptions{OrderedMaps: true}).Unmarshal(mustMarshal(t, v), &ordered); err != nil {
				t.Fatalf("%s: %v", c.Note, err)
			}
			errs = []error{CheckAtproto(v), CheckAtproto(ordered)}
		}
		for _, err := range errs {
			var de *DataModelError
			if !errors.As(err, &de) {
				t.Errorf("%s: got %v, want a *DataModelError", c.Note, err)
				continue
			}
			if de.Rule != w.rule || de.Path != w.path {
				t.Errorf("%s: %q at %q, want %q at %q", c.Note, de.Rule, de.Path, w.rule, w.path)
			}
			if !errors.Is(err, ErrDataModel) {
				t.Errorf("%s: does not wrap ErrDataModel", c.Note)
			}
		}
	}
}

func TestBlob(t *testing.T) {
	ref, err := cid.Decode("bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity")
	if err != nil {
		t.Fatal(err)
	}
	b := Blob{Ref: ref, MimeType: "image/jpeg", Size: 10000}
	enc, err := Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	viaMap, err := Marshal(b.Value())
	if err != nil || !bytes.Equal(enc, viaMap) {
		t.Fatalf("Blob encodes as %x, its Value as %x (%v)", enc, viaMap, err)
	}
	var back Blob
	if err := Unmarshal(enc, &back); err != nil || back != b {
		t.Fatalf("Unmarshal: %+v, %v", back, err)
	}
	type post struct {
		Image *Blob `cbor:"image,omitempty"`
	}
	var p post
	if err := Unmarshal(mustMarshal(t, map[string]any{"image": b.Value()}), &p); err != nil || p.Image == nil || *p.Image != b {
		t.Fatalf("Unmarshal into *Blob field: %+v, %v", p.Image, err)
	}

	// The legacy form is read, never written.
	legacy := map[string]any{"cid": ref.String(), "mimeType": "image/png"}
	if err := Unmarshal(mustMarshal(t, legacy), &back); err != nil {
		t.Fatal(err)
	}
	if !back.IsLegacy() || back.Ref != ref || back.MimeType != "image/png" {
		t.Fatalf("legacy blob read as %+v", back)
	}
	if _, err := Marshal(back); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("legacy blob written: %v", err)
	}
	var ee *EncodeError
	if _, err := Marshal(back); !errors.As(err, &ee) || ee.Rule != RuleBlob {
		t.Fatalf("legacy blob: %v", err)
	}
	// A blob ref must be a raw CID.
	bad := b.Value()
	bad["ref"] = SumCID(CodecDagCBOR, []byte("x"))
	if _, err := ParseBlob(bad); err == nil {
		t.Fatal("ParseBlob accepted a dag-cbor ref")
	}
	js, err := MarshalJSON(map[string]any{"image": b})
	if err != nil {
		t.Fatal(err)
	}
	const wantJSON = `{"image":{"ref":{"$link":"bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"},"size":10000,"$type":"blob","mimeType":"image/jpeg"}}`
	if string(js) != wantJSON {
		t.Fatalf("MarshalJSON: %s", js)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckAtproto(t *testing.T) {
	link := SumCID(CodecDagCBOR, []byte("x"))
	for _, c := range []struct {
		name string
		v    any
		rule Rule
		path string
	}{
		{"ok", map[string]any{"a": []any{int64(1), "x", link, []byte{1}, nil, true}}, "", ""},
		{"float deep", map[string]any{"a": []any{int64(1), map[string]any{"f": 1.5}}}, RuleFloat, "a[1].f"},
		{"uint64", map[string]any{"n": uint64(1 << 63)}, RuleInteger, "n"},
		{"small uint64 and other int kinds", map[string]any{"n": uint64(5), "m": uint8(3), "k": int16(-2)}, "", ""},
		{"negint", map[string]any{"n": NegInt(1 << 63)}, RuleInteger, "n"},
		{"reserved $link", map[string]any{"x": map[string]any{"$link": "bafy"}}, RuleReservedKey, "x.$link"},
		{"top level array", []any{}, RuleTopLevel, ""},
		{"invalid UTF-8 string", map[string]any{"a": []any{"ok", "\xff"}}, RuleUTF8, "a[1]"},
		{"invalid UTF-8 key", map[string]any{"a": map[string]any{"\xff": int64(1)}}, RuleUTF8, "a"},
		{"invalid UTF-8 in a Map", Map{{Key: "a", Value: "\xfe"}}, RuleUTF8, "a"},
		{"invalid UTF-8 Map key", Map{{Key: "\xff", Value: int64(1)}}, RuleUTF8, ""},
		{"struct converted", struct {
			F float64 `cbor:"f"`
		}{1.5}, RuleFloat, "f"},
	} {
		err := CheckAtproto(c.v)
		if c.rule == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var de *DataModelError
		if !errors.As(err, &de) || de.Rule != c.rule || de.Path != c.path {
			t.Errorf("%s: got %v, want %q at %q", c.name, err, c.rule, c.path)
		}
	}
	if err := CheckRecord(map[string]any{"text": "hi"}); err == nil {
		t.Error("CheckRecord accepted a record without $type")
	}
	if err := CheckRecord(map[string]any{"$type": "app.bsky.feed.post", "text": "hi"}); err != nil {
		t.Error(err)
	}
}

func TestJSONEdges(t *testing.T) {
	for _, c := range []struct {
		in   string
		rule Rule
	}{
		{`{"a":1,"a":2}`, RuleJSON},
		{"{\"a\":\"\xff\"}", RuleUTF8},
		{`{"a":9223372036854775808}`, RuleInteger},
		{`{"a":1} x`, RuleJSON},
		{`{"a":`, RuleJSON},
		{`{"$bytes":"!!"}`, RuleJSON},
		{`{"$link":"bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4it"}`, RuleLink},
	} {
		_, err := UnmarshalJSON([]byte(c.in))
		var de *DataModelError
		if !errors.As(err, &de) || de.Rule != c.rule {
			t.Errorf("%s: got %v, want %q", c.in, err, c.rule)
		}
	}
	v, err := UnmarshalJSON([]byte(`{"b":{"$bytes":"AQID"},"f":1e2,"g":-0.5,"s":"a\"\\\n\u0001é"}`))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if !bytes.Equal(m["b"].([]byte), []byte{1, 2, 3}) || m["f"] != int64(100) || m["g"] != -0.5 {
		t.Fatalf("%#v", m)
	}
	delete(m, "g")
	js, err := MarshalJSON(m)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"b":{"$bytes":"AQID"},"f":100,"s":"a\"\\\n\u0001é"}`; string(js) != want {
		t.Fatalf("MarshalJSON: %s, want %s", js, want)
	}
	if _, err := MarshalJSON(map[string]any{"x": 1.5}); err == nil {
		t.Fatal("MarshalJSON wrote a float")
	}
	var de *DataModelError
	if _, err := MarshalJSON(map[string]any{"x": map[string]any{"$link": "not a link"}}); !errors.As(err, &de) || de.Rule != RuleReservedKey || de.Path != "x.$link" {
		t.Fatalf("MarshalJSON of a map with a $link key: %v", err)
	}
}

func TestCyclesAreErrors(t *testing.T) {
	m := map[string]any{}
	m["self"] = []any{m}
	var de *DataModelError
	if err := CheckAtproto(m); !errors.As(err, &de) || de.Rule != RuleDepth {
		t.Fatalf("CheckAtproto: %v", err)
	}
	if _, err := MarshalJSON(m); !errors.As(err, &de) || de.Rule != RuleDepth {
		t.Fatalf("MarshalJSON: %v", err)
	}
}

// BenchmarkCheckRecord checks a chat message decoded as a Map, as the
// community host checks every record it receives.
func BenchmarkCheckRecord(b *testing.B) {
	rec := Map{{"text", "message 12 of the import, with some text to make it look like a chat line"},
		{"$type", "dev.townhall.chat.message"}, {"channel", "channel-3"},
		{"replyTo", "at://did:plc:batchcommunity/dev.townhall.chat.message/3lbatch000011"},
		{"createdAt", "2026-11-20T23:00:12.000Z"}}
	rec.Sort()
	for b.Loop() {
		if err := CheckRecord(rec); err != nil {
			b.Fatal(err)
		}
	}
}
