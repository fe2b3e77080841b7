package lexicon

import (
	"context"
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
)

const kitchenSink = `{"lexicon":1,"id":"com.example.sink","defs":{
  "main":{"type":"record","key":"nsid","record":{"type":"object","required":["req"],"nullable":["nul"],"properties":{
    "req":{"type":"string"},
    "nul":{"type":"integer"},
    "null":{"type":"null"},
    "flag":{"type":"boolean","const":true},
    "word":{"type":"string","const":"hi"},
    "lang":{"type":"string","format":"language"},
    "when":{"type":"string","format":"datetime"},
    "n":{"type":"integer","minimum":-5,"maximum":5},
    "big":{"type":"integer"},
    "raw":{"type":"bytes","maxLength":4},
    "link":{"type":"cid-link"},
    "pic":{"type":"blob","accept":["image/png","video/*"],"maxSize":100},
    "any":{"type":"blob"},
    "blob":{"type":"unknown"},
    "tok":{"type":"ref","ref":"#tok"},
    "tags":{"type":"array","minLength":1,"items":{"type":"string","minGraphemes":2}}}}},
  "tok":{"type":"token"}}}`

func TestConstraints(t *testing.T) {
	cat := both(t, NewCatalog(CatalogOptions{}))
	if err := cat.AddJSON([]byte(kitchenSink)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, _ := cid.Decode("bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq")
	blob := func(mime string, size any) map[string]any {
		return map[string]any{"$type": "blob", "ref": c, "mimeType": mime, "size": size}
	}
	base := func() map[string]any { return map[string]any{"$type": "com.example.sink", "req": "x"} }
	cases := []struct {
		name  string
		field string
		value any
		opts  ValidateOptions
		path  string
		c     Constraint // "" means valid
	}{
		{"nullable null", "nul", nil, ValidateOptions{}, "", ""},
		{"null type", "null", nil, ValidateOptions{}, "", ""},
		{"null type not null", "null", int64(1), ValidateOptions{}, "null", ConstraintType},
		{"bool const", "flag", true, ValidateOptions{}, "", ""},
		{"bool const wrong", "flag", false, ValidateOptions{}, "flag", ConstraintConst},
		{"string const wrong", "word", "ho", ValidateOptions{}, "word", ConstraintConst},
		{"private-use language", "lang", "X-fr-CH", ValidateOptions{}, "", ""},
		{"datetime without zone", "when", "2024-11-20T23:15:04", ValidateOptions{}, "when", ConstraintFormat},
		{"datetime without zone, lenient", "when", "2024-11-20T23:15:04", ValidateOptions{LenientDatetime: true}, "", ""},
		{"datetime with offset", "when", "2024-11-20T23:15:04.5+01:00", ValidateOptions{}, "", ""},
		{"datetime Feb 30", "when", "2024-02-30T23:15:04Z", ValidateOptions{}, "when", ConstraintFormat},
		{"integer min", "n", int64(-6), ValidateOptions{}, "n", ConstraintMinimum},
		{"integer as int", "n", 5, ValidateOptions{}, "", ""},
		{"integer float", "n", 1.0, ValidateOptions{}, "n", ConstraintType},
		{"integer uint64 in range", "big", uint64(math.MaxInt64), ValidateOptions{}, "", ""},
		{"integer uint64 out of range", "big", uint64(math.MaxInt64) + 1, ValidateOptions{}, "big", ConstraintType},
		{"integer NegInt", "big", drisl.NegInt(math.MaxInt64), ValidateOptions{}, "big", ConstraintType},
		{"bytes", "raw", []byte{1, 2, 3, 4}, ValidateOptions{}, "", ""},
		{"bytes too long", "raw", []byte{1, 2, 3, 4, 5}, ValidateOptions{}, "raw", ConstraintMaxLength},
		{"cid-link", "link", c, ValidateOptions{}, "", ""},
		{"cid-link pointer", "link", &c, ValidateOptions{}, "", ""},
		{"cid-link undefined", "link", cid.Cid{}, ValidateOptions{}, "link", ConstraintType},
		{"blob video wildcard", "pic", blob("video/mp4", int64(100)), ValidateOptions{}, "", ""},
		{"blob gif", "pic", blob("image/gif", int64(1)), ValidateOptions{}, "pic.mimeType", ConstraintAccept},
		{"blob negative size", "pic", blob("image/png", int64(-1)), ValidateOptions{}, "pic.size", ConstraintBlob},
		{"blob string size", "pic", blob("image/png", "1"), ValidateOptions{}, "pic.size", ConstraintBlob},
		{"blob ref not a link", "pic", map[string]any{"$type": "blob", "ref": "bafy", "mimeType": "image/png", "size": int64(1)}, ValidateOptions{}, "pic.ref", ConstraintBlob},
		{"legacy blob", "any", map[string]any{"cid": c.String(), "mimeType": "image/png"}, ValidateOptions{}, "any", ConstraintBlob},
		{"legacy blob allowed", "any", map[string]any{"cid": c.String(), "mimeType": "image/png"}, ValidateOptions{AllowLegacyBlob: true}, "", ""},
		{"legacy blob bad cid", "any", map[string]any{"cid": "nope", "mimeType": "image/png"}, ValidateOptions{AllowLegacyBlob: true}, "any.cid", ConstraintBlob},
		{"unknown object", "blob", map[string]any{"$type": "com.example.x", "a": 1.5}, ValidateOptions{}, "", ""},
		{"unknown is a blob", "blob", blob("image/png", int64(1)), ValidateOptions{}, "blob", ConstraintType},
		{"unknown is a link", "blob", c, ValidateOptions{}, "blob", ConstraintType},
		{"token ref", "tok", "com.example.sink#tok", ValidateOptions{}, "tok", ConstraintToken},
		{"array too short", "tags", []any{}, ValidateOptions{}, "tags", ConstraintMinLength},
		{"array item graphemes", "tags", []any{"ab", "🇯🇵"}, ValidateOptions{}, "tags[1]", ConstraintMinGraphemes},
		{"array item graphemes ok", "tags", []any{"ab", "🇯🇵🇫🇷"}, ValidateOptions{}, "", ""},
		{"array item null", "tags", []any{nil}, ValidateOptions{}, "tags[0]", ConstraintType},
	}
	for _, tc := range cases {
		rec := base()
		rec[tc.field] = tc.value
		err := cat.ValidateRecord(ctx, "com.example.sink", "com.example.key", rec, tc.opts)
		if tc.c == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		wantVErr(t, tc.name, err, tc.path, tc.c)
	}

	err := cat.ValidateRecord(ctx, "com.example.sink", "3l6oveex3ii2l", base(), ValidateOptions{})
	wantVErr(t, "nsid key", err, "", ConstraintRecordKey)
	err = cat.ValidateRecord(ctx, "com.example.sink", "", "not a map", ValidateOptions{})
	wantVErr(t, "not an object", err, "", ConstraintType)
	rec := base()
	delete(rec, "$type")
	err = cat.ValidateRecord(ctx, "com.example.sink", "", rec, ValidateOptions{})
	wantVErr(t, "no $type", err, "$type", ConstraintRecordType)
	if err := cat.ValidateRecord(ctx, "com.example.sink#tok", "", base(), ValidateOptions{}); !errors.Is(err, ErrWrongKind) {
		t.Errorf("fragment collection: %v", err)
	}
	if err := cat.Validate(ctx, "com.example.sink#tok", "x", ValidateOptions{}); err == nil {
		t.Error("Validate against a token accepted data")
	}
	if err := cat.Validate(ctx, "com.example.sink", map[string]any{"req": "x"}, ValidateOptions{}); err != nil {
		t.Errorf("Validate against the record's object: %v", err)
	}
}

// TestRefToRecord checks a ref that names a record definition, which the
// lexicon spec allows and gives a rule (https://atproto.com/specs/lexicon,
// ref): "When a `ref` points to an `object` type, the type of the encoded
// data is unambiguous. This means that the `$type` field should not be
// included in encoded data as a discriminator. This does not apply to
// references to `record` types, which always include the `$type`
// discriminator." The value is the record's object with the record's $type
// (without "#main"). A union member that is a record keeps the union's
// $type check. The TypeScript reference refuses any such ref (interop
// exception ts-ref-to-record).
func TestRefToRecord(t *testing.T) {
	cat := both(t, NewCatalog(CatalogOptions{}))
	for _, s := range []string{
		`{"lexicon":1,"id":"com.example.theme","defs":{"main":{"type":"record","key":"tid","record":{"type":"object","required":["color"],"properties":{"color":{"type":"string","maxLength":8}}}}}}`,
		`{"lexicon":1,"id":"com.example.pub","defs":{"main":{"type":"record","key":"tid","record":{"type":"object","properties":{
		  "theme":{"type":"ref","ref":"com.example.theme"},
		  "either":{"type":"union","refs":["com.example.theme"],"closed":true}}}}}}`,
	} {
		if err := cat.AddJSON([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	theme := func(typ any, color string) map[string]any {
		m := map[string]any{"color": color}
		if typ != nil {
			m["$type"] = typ
		}
		return m
	}
	cases := []struct {
		name  string
		field string
		value any
		path  string
		c     Constraint
	}{
		{"with $type", "theme", theme("com.example.theme", "red"), "", ""},
		{"without $type", "theme", theme(nil, "red"), "theme.$type", ConstraintRecordType},
		{"other $type", "theme", theme("com.example.pub", "red"), "theme.$type", ConstraintRecordType},
		{"#main $type", "theme", theme("com.example.theme#main", "red"), "theme.$type", ConstraintRecordType},
		{"$type not a string", "theme", theme(int64(1), "red"), "theme.$type", ConstraintRecordType},
		{"object checked", "theme", theme("com.example.theme", "too long!"), "theme.color", ConstraintMaxLength},
		{"not an object", "theme", "red", "theme", ConstraintType},
		{"union member", "either", theme("com.example.theme", "red"), "", ""},
		{"union member object checked", "either", theme("com.example.theme", "too long!"), "either.color", ConstraintMaxLength},
	}
	for _, tc := range cases {
		rec := map[string]any{"$type": "com.example.pub", tc.field: tc.value}
		err := cat.ValidateRecord(ctx, "com.example.pub", "", rec, ValidateOptions{})
		if tc.c == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		wantVErr(t, tc.name, err, tc.path, tc.c)
	}
}

// TestErrorDetailBounded checks that errors quote at most a prefix of
// offending data, so that a huge value does not make a huge error.
func TestErrorDetailBounded(t *testing.T) {
	cat := both(t, realCatalog(t))
	ctx := context.Background()
	huge := strings.Repeat("\x00", 1<<20) // quoted, each byte would take 4
	checks := map[string]error{
		"record key":   cat.ValidateRecord(ctx, "app.bsky.actor.profile", huge, map[string]any{"$type": "app.bsky.actor.profile"}, ValidateOptions{}),
		"closed union": cat.ValidateMessage(ctx, "com.atproto.sync.subscribeRepos", "", map[string]any{"$type": huge}, ValidateOptions{StrictUnions: true}),
		"integer param": func() error {
			_, err := cat.ParseParams(ctx, "app.bsky.feed.getTimeline", url.Values{"limit": {huge}}, ValidateOptions{})
			return err
		}(),
		"encoding":   cat.ValidateInput(ctx, "com.atproto.repo.createRecord", huge, nil, ValidateOptions{}),
		"error name": validateErrorBody(t, map[string]any{"error": huge}),
	}
	for name, err := range checks {
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if n := len(err.Error()); n > 512 {
			t.Errorf("%s: error of %d bytes", name, n)
		}
	}
}

func TestQuote(t *testing.T) {
	if got := quote(`a"b`); got != `"a\"b"` {
		t.Errorf("short: %s", got)
	}
	long := strings.Repeat("é", 100) // 2 bytes each: byte 64 starts a rune
	got := quote("x" + long)         // now byte 64 is inside one
	if !strings.HasSuffix(got, `"...`) || !utf8.ValidString(got) || len(got) > maxQuoted+5 {
		t.Errorf("long: %s", got)
	}
	if want := strconv.Quote("x"+strings.Repeat("é", 31)) + "..."; got != want {
		t.Errorf("long: %s, want %s", got, want)
	}
}
