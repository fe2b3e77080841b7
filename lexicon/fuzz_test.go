package lexicon

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
)

// checkFuzzResult fails unless err is nil or one of the package's typed errors.
func checkFuzzResult(t *testing.T, err error) {
	if err == nil {
		return
	}
	var ve *ValidationError
	if errors.As(err, &ve) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrWrongKind) {
		if err.Error() == "" {
			t.Fatal("empty error message")
		}
		return
	}
	t.Fatalf("untyped error: %v", err)
}

// FuzzValidateRecord validates arbitrary JSON (or DRISL) documents against
// the real schemas: the collection named by their $type and app.bsky.feed.post.
// The seed corpus is the realistic records of testdata/records.
func FuzzValidateRecord(f *testing.F) {
	for _, name := range []string{"testdata/records/valid.json", "testdata/records/invalid.json"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var samples []sampleRecord
		if err := json.Unmarshal(data, &samples); err != nil {
			f.Fatal(err)
		}
		for _, s := range samples {
			f.Add([]byte(s.Record))
		}
	}
	cat := realCatalog(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		cat := both(t, cat)
		v, err := fromJSON(data)
		if err != nil {
			if drisl.Unmarshal(data, &v) != nil {
				return
			}
		}
		coll := "app.bsky.feed.post"
		if m, ok := v.(map[string]any); ok {
			if s, ok := m["$type"].(string); ok && len(s) < 256 {
				coll = s
			}
		}
		for _, c := range []string{coll, "app.bsky.feed.post"} {
			checkFuzzResult(t, cat.ValidateRecord(ctx, c, "3l6oveex3ii2l", v, ValidateOptions{}))
			checkFuzzResult(t, cat.ValidateRecord(ctx, c, "self", v, ValidateOptions{StrictUnions: true, AllowLegacyBlob: true, LenientDatetime: true}))
		}
	})
}

// FuzzMutateRecord applies structured mutations (delete a field, replace a
// value with one of another type or an edge value) to the realistic records
// and validates the result against the real schemas.
func FuzzMutateRecord(f *testing.F) {
	data, err := os.ReadFile("testdata/records/valid.json")
	if err != nil {
		f.Fatal(err)
	}
	var samples []sampleRecord
	if err := json.Unmarshal(data, &samples); err != nil {
		f.Fatal(err)
	}
	for i := range samples {
		f.Add(uint8(i), []byte{byte(i * 7), byte(i), byte(i * 13), 3})
	}
	cat := realCatalog(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, which uint8, ops []byte) {
		cat := both(t, cat)
		s := samples[int(which)%len(samples)]
		v, err := fromJSON(s.Record)
		if err != nil {
			t.Fatal(err)
		}
		if len(ops) > 64 {
			ops = ops[:64]
		}
		for len(ops) >= 2 {
			v = mutate(v, int(ops[0]), ops[1])
			ops = ops[2:]
		}
		checkFuzzResult(t, cat.ValidateRecord(ctx, s.Collection, s.RKey, v, ValidateOptions{}))
		checkFuzzResult(t, cat.ValidateRecord(ctx, s.Collection, s.RKey, v, ValidateOptions{StrictUnions: true, AllowLegacyBlob: true}))
	})
}

var fuzzCID, _ = cid.Decode("bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq")

// replacement values for mutate.
var fuzzValues = []any{
	nil, true, int64(0), int64(-1), int64(1 << 62), uint64(1 << 63), drisl.NegInt(5), 1.5,
	"", "x", strings.Repeat("é", 2000), "👩‍👩‍👧‍👦🇯🇵", "did:plc:ewvi7nxzyoun6zhxrhs64oiz", "at://did:plc:x/a.b.c/3l6oveex3ii2l",
	"2024-11-20T23:15:04Z", "blob", "app.bsky.embed.images", "app.bsky.feed.defs#postView",
	[]byte{}, []byte("0123456789"), fuzzCID, cid.Cid{}, []any{}, []any{nil}, map[string]any{},
	map[string]any{"$type": "blob"}, map[string]any{"$type": "app.bsky.embed.images", "images": []any{}},
	map[string]any{"cid": "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq", "mimeType": "image/png"},
}

// mutate changes the target-th node (in a deterministic walk) of v.
func mutate(v any, target int, op byte) any {
	count := 0
	var walk func(x any) any
	walk = func(x any) any {
		if count == target {
			count++
			return apply(x, op)
		}
		count++
		switch c := x.(type) {
		case map[string]any:
			keys := sortedKeys(c)
			for _, k := range keys {
				c[k] = walk(c[k])
			}
		case []any:
			for i := range c {
				c[i] = walk(c[i])
			}
		}
		return x
	}
	return walk(v)
}

func apply(x any, op byte) any {
	switch op % 4 {
	case 0: // delete a key of an object, or drop the last array element
		switch c := x.(type) {
		case map[string]any:
			keys := sortedKeys(c)
			if len(keys) > 0 {
				delete(c, keys[int(op/4)%len(keys)])
			}
		case []any:
			if len(c) > 0 {
				return c[:len(c)-1]
			}
		}
		return x
	case 1: // duplicate array elements (bounded: the harness must not blow up)
		if c, ok := x.([]any); ok {
			if len(c) > 16 {
				return c
			}
			return append(c, c...)
		}
		return []any{x, x}
	default:
		return copyValue(fuzzValues[int(op/4)%len(fuzzValues)])
	}
}

func copyValue(x any) any {
	switch c := x.(type) {
	case map[string]any:
		m := make(map[string]any, len(c))
		for k, v := range c {
			m[k] = copyValue(v)
		}
		return m
	case []any:
		a := make([]any, len(c))
		for i, v := range c {
			a[i] = copyValue(v)
		}
		return a
	}
	return x
}

// FuzzParseSchema parses arbitrary schema files, then compiles them alone in
// a catalog and validates a small record against every definition: never a
// panic, and only the package's typed errors. Seeds: the interop schema
// vectors and catalog, and every 8th real lexicon.
func FuzzParseSchema(f *testing.F) {
	for _, name := range []string{"testdata/interop/lexicon-valid.json", "testdata/interop/lexicon-invalid.json"} {
		var fx []lexiconFixture
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if err := json.Unmarshal(data, &fx); err != nil {
			f.Fatal(err)
		}
		for _, x := range fx {
			f.Add([]byte(x.Lexicon))
		}
	}
	var files []string
	for _, pattern := range []string{"testdata/interop/catalog/*.json", realLexicons + "/*/*/*/*.json", realLexicons + "/*/*/*/*/*.json"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	for i, name := range files {
		if i%8 != 0 && !strings.Contains(name, "interop") {
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	ctx := context.Background()
	probe := map[string]any{"$type": "x", "text": "hi", "n": int64(3), "list": []any{"a"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := ParseSchema(data)
		if err != nil {
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		cat := both(t, NewCatalog(CatalogOptions{}))
		if err := cat.Add(sf); err != nil {
			t.Fatal(err)
		}
		if err := cat.CheckRefs(ctx); err != nil {
			var se *SchemaError
			if !errors.As(err, &se) && !errors.Is(err, ErrNotFound) {
				t.Fatalf("CheckRefs: untyped error: %v", err)
			}
		}
		for _, name := range sortedKeys(sf.Defs) {
			ref := sf.ID + "#" + name
			checkFuzzResult(t, ignoreSchemaErr(cat.Validate(ctx, ref, probe, ValidateOptions{})))
			checkFuzzResult(t, ignoreSchemaErr(cat.ValidateRecord(ctx, sf.ID, "self", probe, ValidateOptions{})))
			checkFuzzResult(t, ignoreSchemaErr(cat.ValidateMessage(ctx, sf.ID, "#"+name, probe, ValidateOptions{})))
			_, err := cat.ParseParams(ctx, sf.ID, map[string][]string{"n": {"1"}, "list": {"a", "b"}}, ValidateOptions{})
			checkFuzzResult(t, ignoreSchemaErr(err))
		}
	})
}

// ignoreSchemaErr maps schema errors (unresolved references of a lone
// fuzzed schema) to nil.
func ignoreSchemaErr(err error) error {
	if errors.Is(err, ErrInvalidSchema) {
		return nil
	}
	return err
}

// FuzzParseParams parses arbitrary URL query strings as the parameters of
// real queries (integers, booleans, arrays, enums, undeclared names): no
// panic, only typed errors, and the same verdict and first fault when
// parsed twice (ParseParams visits names in order). The seed corpus is in
// testdata/fuzz/FuzzParseParams.
func FuzzParseParams(f *testing.F) {
	for _, q := range []string{"limit=50&cursor=abc", "limit=0", "limit=x", "limit=1&limit=2", "actor=did:plc:abc&limit=10", "uris=at://a/b/c&uris=at://d/e/f", "filter=posts_with_media&includePins=true", "includePins=yes", "%zz", ""} {
		f.Add(q)
	}
	cat := realCatalog(f)
	ctx := context.Background()
	nsids := []string{"app.bsky.feed.getTimeline", "app.bsky.feed.getAuthorFeed", "app.bsky.feed.getPosts", "com.atproto.sync.listRepos"}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		for _, nsid := range nsids {
			out, err := cat.ParseParams(ctx, nsid, q, ValidateOptions{})
			checkFuzzResult(t, err)
			again, err2 := cat.ParseParams(ctx, nsid, q, ValidateOptions{})
			if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
				t.Fatalf("%s: two parses differ: %v / %v", nsid, err, err2)
			}
			if err == nil && len(out) != len(again) {
				t.Fatalf("%s: two parses differ", nsid)
			}
		}
	})
}
