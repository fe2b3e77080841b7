package lexicon

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

//go:embed testdata/interop/catalog/*.json
var interopFS embed.FS

func TestLoadEmbedFS(t *testing.T) {
	cat := NewCatalog(CatalogOptions{})
	if err := cat.LoadFS(context.Background(), interopFS, "testdata/interop/catalog"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cat.NSIDs(), " "); got != "example.lexicon.permissionset example.lexicon.procedure example.lexicon.query example.lexicon.record example.lexicon.subscription" {
		t.Fatalf("NSIDs: %s", got)
	}
}

const remoteUser = `{"lexicon":1,"id":"com.example.local","defs":{"main":{"type":"record","key":"any",
	"record":{"type":"object","required":["thing"],"properties":{"thing":{"type":"ref","ref":"com.example.remote#thing"}}}}}}`

const remoteSchema = `{"lexicon":1,"id":"com.example.remote","defs":{"thing":{"type":"object","required":["n"],
	"properties":{"n":{"type":"integer","maximum":3}}}}}`

func TestMemoryAndResolver(t *testing.T) {
	ctx := context.Background()
	// From memory (fstest.MapFS), without a resolver: the remote ref is unresolved.
	cat := both(t, NewCatalog(CatalogOptions{}))
	if err := cat.LoadFS(ctx, fstest.MapFS{"a/local.json": {Data: []byte(remoteUser)}}, "."); err != nil {
		t.Fatal(err)
	}
	err := cat.CheckRefs(ctx)
	var se *SchemaError
	if !errors.As(err, &se) || se.ID != "com.example.local" || se.Path != "defs.main.record.properties.thing.ref" {
		t.Fatalf("CheckRefs without resolver: %v", err)
	}
	err = cat.ValidateRecord(ctx, "com.example.local", "x", map[string]any{"$type": "com.example.local", "thing": map[string]any{"n": int64(1)}}, ValidateOptions{})
	if !errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("validation with an unresolved ref: %v", err)
	}

	// With a resolver.
	calls := 0
	res := ResolverFunc(func(ctx context.Context, nsid string) ([]byte, error) {
		calls++
		if nsid == "com.example.remote" {
			return []byte(remoteSchema), nil
		}
		return nil, fmt.Errorf("no such lexicon")
	})
	cat = both(t, NewCatalog(CatalogOptions{Resolver: res}))
	if err := cat.AddJSON([]byte(remoteUser)); err != nil {
		t.Fatal(err)
	}
	if err := cat.CheckRefs(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		rec := map[string]any{"$type": "com.example.local", "thing": map[string]any{"n": int64(i + 2)}}
		err := cat.ValidateRecord(ctx, "com.example.local", "x", rec, ValidateOptions{})
		if i < 2 && err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			wantVErr(t, "n=4", err, "thing.n", ConstraintMaximum)
		}
	}
	if calls != 1 {
		t.Fatalf("resolver called %d times, want 1", calls)
	}
	if err := cat.AddJSON([]byte(remoteSchema)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := cat.ValidateRecord(ctx, "com.example.missing", "x", map[string]any{}, ValidateOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing collection: %v", err)
	}

	// A resolver that answers with another schema is refused.
	cat = both(t, NewCatalog(CatalogOptions{Resolver: ResolverFunc(func(context.Context, string) ([]byte, error) { return []byte(remoteUser), nil })}))
	if _, err := cat.lookup(ctx, "com.example.remote#thing"); !errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("mismatched resolver answer: %v", err)
	}
}

func TestBadSchemas(t *testing.T) {
	wrap := func(def string) string {
		return `{"lexicon":1,"id":"com.example.bad","defs":{"main":` + def + `}}`
	}
	rec := func(props string) string {
		return wrap(`{"type":"record","key":"tid","record":{"type":"object","properties":` + props + `}}`)
	}
	cases := []struct{ name, json, path string }{
		{"version 2", `{"lexicon":2,"id":"com.example.bad","defs":{"a":{"type":"token"}}}`, "lexicon"},
		{"no defs", `{"lexicon":1,"id":"com.example.bad","defs":{}}`, "defs"},
		{"bad def name", `{"lexicon":1,"id":"com.example.bad","defs":{"a.b":{"type":"token"}}}`, "defs.a.b"},
		{"unknown type", wrap(`{"type":"float"}`), "defs.main.type"},
		{"bad key", wrap(`{"type":"record","key":"uuid","record":{"type":"object","properties":{}}}`), "defs.main.key"},
		{"bad literal key", wrap(`{"type":"record","key":"literal:a/b","record":{"type":"object","properties":{}}}`), "defs.main.key"},
		{"min over max", rec(`{"s":{"type":"string","minLength":5,"maxLength":2}}`), "defs.main.record.properties.s.minLength"},
		{"negative graphemes", rec(`{"s":{"type":"string","maxGraphemes":-1}}`), "defs.main.record.properties.s.maxGraphemes"},
		{"unknown format", rec(`{"s":{"type":"string","format":"email"}}`), "defs.main.record.properties.s.format"},
		{"integer enum of strings", rec(`{"n":{"type":"integer","enum":["a"]}}`), "defs.main.record.properties.n.enum"},
		{"string const number", rec(`{"s":{"type":"string","const":3}}`), "defs.main.record.properties.s.const"},
		{"field of wrong type", rec(`{"s":{"type":"string","minimum":3}}`), "defs.main.record.properties.s.minimum"},
		{"required not a property", wrap(`{"type":"object","required":["x"],"properties":{}}`), "defs.main.required[0]"},
		{"nullable not a property", wrap(`{"type":"object","nullable":["x"],"properties":{}}`), "defs.main.nullable[0]"},
		{"array without items", rec(`{"a":{"type":"array"}}`), "defs.main.record.properties.a.items"},
		{"token as field", rec(`{"t":{"type":"token"}}`), "defs.main.record.properties.t.type"},
		{"bad ref", rec(`{"r":{"type":"ref","ref":"not a ref"}}`), "defs.main.record.properties.r.ref"},
		{"closed empty union", rec(`{"u":{"type":"union","refs":[],"closed":true}}`), "defs.main.record.properties.u.refs"},
		{"duplicate union ref", rec(`{"u":{"type":"union","refs":["#a","com.example.bad#a"]}}`), "defs.main.record.properties.u.refs[1]"},
		{"bad accept", rec(`{"b":{"type":"blob","accept":["image"]}}`), "defs.main.record.properties.b.accept[0]"},
		{"params with object", wrap(`{"type":"query","parameters":{"type":"params","properties":{"o":{"type":"object","properties":{}}}}}`), "defs.main.parameters.properties.o.type"},
		{"body without encoding", wrap(`{"type":"procedure","input":{"schema":{"type":"object","properties":{}}}}`), "defs.main.input.encoding"},
		{"body of strings", wrap(`{"type":"query","output":{"encoding":"application/json","schema":{"type":"string"}}}`), "defs.main.output.schema.type"},
		{"message not a union", wrap(`{"type":"subscription","message":{"schema":{"type":"object","properties":{}}}}`), "defs.main.message.schema.type"},
		{"permission wildcard", wrap(`{"type":"permission-set","permissions":[{"type":"permission","resource":"repo","collection":["*"]}]}`), "defs.main.permissions[0].collection[0]"},
		{"permission blob", wrap(`{"type":"permission-set","permissions":[{"type":"permission","resource":"blob"}]}`), "defs.main.permissions[0].resource"},
		{"default above maximum", rec(`{"n":{"type":"integer","maximum":10,"default":50}}`), "defs.main.record.properties.n.default"},
		{"const not in enum", rec(`{"n":{"type":"integer","enum":[1,2],"const":3}}`), "defs.main.record.properties.n.const"},
		{"string default not in enum", rec(`{"s":{"type":"string","enum":["a"],"default":"b"}}`), "defs.main.record.properties.s.default"},
		{"string const too long", rec(`{"s":{"type":"string","maxLength":1,"const":"ab"}}`), "defs.main.record.properties.s.const"},
		{"wrong JSON type deep", rec(`{"s":{"type":"string","maxLength":"ten"}}`), "defs.main.record.properties.s.maxLength"},
		{"wrong JSON type object", rec(`{"s":{"type":"string","knownValues":{"a":1}}}`), "defs.main.record.properties.s.knownValues"},
		{"wrong JSON type in array", rec(`{"s":{"type":"string","knownValues":["a",2]}}`), "defs.main.record.properties.s.knownValues[1]"},
		{"def not an object", `{"lexicon":1,"id":"com.example.bad","defs":{"main":[]}}`, "defs.main"},
	}
	for _, c := range cases {
		_, err := ParseSchema([]byte(c.json))
		var se *SchemaError
		if !errors.As(err, &se) {
			t.Errorf("%s: got %v, want a *SchemaError", c.name, err)
			continue
		}
		if se.Path != c.path {
			t.Errorf("%s: path %q (%v), want %q", c.name, se.Path, err, c.path)
		}
	}
}

const treeSchema = `{"lexicon":1,"id":"com.example.tree","defs":{"main":{"type":"record","key":"any",
	"record":{"type":"ref","ref":"#node"}},
	"node":{"type":"object","properties":{"kids":{"type":"array","items":{"type":"ref","ref":"#node"}},"v":{"type":"integer"}}}}}`

func TestRecursionAndDepth(t *testing.T) {
	_, err := ParseSchema([]byte(treeSchema))
	wantSchemaPath(t, err, "defs.main.record.type")

	schema := strings.Replace(treeSchema, `"record":{"type":"ref","ref":"#node"}`,
		`"record":{"type":"object","properties":{"root":{"type":"ref","ref":"#node"}}}`, 1)
	cat := both(t, NewCatalog(CatalogOptions{}))
	if err := cat.AddJSON([]byte(schema)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	leaf := map[string]any{"v": int64(1)}
	deep := map[string]any{"kids": []any{map[string]any{"kids": []any{leaf, map[string]any{"v": "x"}}}}}
	err = cat.ValidateRecord(ctx, "com.example.tree", "", map[string]any{"$type": "com.example.tree", "root": deep}, ValidateOptions{})
	wantVErr(t, "recursive", err, "root.kids[0].kids[1].v", ConstraintType)

	// Cyclic data never overflows the stack.
	cyc := map[string]any{}
	cyc["kids"] = []any{cyc}
	err = cat.ValidateRecord(ctx, "com.example.tree", "", map[string]any{"$type": "com.example.tree", "root": cyc}, ValidateOptions{MaxDepth: 50})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Constraint != ConstraintDepth {
		t.Fatalf("cyclic data: %v", err)
	}

	// MaxDepth is the number of nested arrays and objects allowed, the
	// record itself being level 1: record, root, kids, kids[0] is 4.
	four := map[string]any{"$type": "com.example.tree", "root": map[string]any{"kids": []any{leaf}}}
	if err := cat.ValidateRecord(ctx, "com.example.tree", "", four, ValidateOptions{MaxDepth: 4}); err != nil {
		t.Errorf("4 levels, MaxDepth 4: %v", err)
	}
	err = cat.ValidateRecord(ctx, "com.example.tree", "", four, ValidateOptions{MaxDepth: 3})
	wantVErr(t, "4 levels, MaxDepth 3", err, "root.kids[0]", ConstraintDepth)
	five := map[string]any{"$type": "com.example.tree", "root": map[string]any{"kids": []any{map[string]any{"kids": []any{}}}}}
	err = cat.ValidateRecord(ctx, "com.example.tree", "", five, ValidateOptions{MaxDepth: 4})
	wantVErr(t, "5 levels, MaxDepth 4", err, "root.kids[0].kids", ConstraintDepth)
}

func wantSchemaPath(t *testing.T, err error, path string) {
	t.Helper()
	var se *SchemaError
	if !errors.As(err, &se) || se.Path != path {
		t.Fatalf("got %v, want a *SchemaError at %q", err, path)
	}
}

// TestConcurrentValidation validates from several goroutines on a fresh
// catalog, so that lazy compilation races with validation (run with -race).
func TestConcurrentValidation(t *testing.T) {
	ctx := context.Background()
	cat := both(t, NewCatalog(CatalogOptions{}))
	if err := cat.LoadDir(ctx, realLexicons); err != nil {
		t.Fatal(err)
	}
	samples := readFixtures[sampleRecord](t, "testdata/records/valid.json")
	vals := make([]any, len(samples))
	for i, s := range samples {
		v, err := fromJSON(s.Record)
		if err != nil {
			t.Fatal(err)
		}
		vals[i] = v
	}
	errs := make(chan error, 4*len(samples))
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := range samples {
				i := (k + g*5) % len(samples)
				errs <- cat.ValidateRecord(ctx, samples[i].Collection, samples[i].RKey, vals[i], ValidateOptions{})
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// A record that refers to itself through a ref and a closed union compiles
// to a cyclic tree and validates.
func TestSelfReferentialRecord(t *testing.T) {
	const schema = `{"lexicon":1,"id":"com.example.thread","defs":{"main":{"type":"record","key":"tid",
		"record":{"type":"object","required":["text"],"properties":{
			"text":{"type":"string","maxLength":5},
			"quote":{"type":"ref","ref":"com.example.thread"},
			"parent":{"type":"union","refs":["com.example.thread"],"closed":true}}}}}}`
	cat := both(t, NewCatalog(CatalogOptions{}))
	if err := cat.AddJSON([]byte(schema)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cat.CheckRefs(ctx); err != nil {
		t.Fatal(err)
	}
	rec := mustJSON(`{"$type":"com.example.thread","text":"a","quote":{"$type":"com.example.thread","text":"b"},
		"parent":{"$type":"com.example.thread","text":"c","parent":{"$type":"com.example.thread","text":"toolong"}}}`)
	err := cat.ValidateRecord(ctx, "com.example.thread", "", rec, ValidateOptions{})
	wantVErr(t, "self-referential", err, "parent.parent.text", ConstraintMaxLength)
	rec = mustJSON(`{"$type":"com.example.thread","text":"a","quote":{"$type":"com.example.thread","text":7}}`)
	err = cat.ValidateRecord(ctx, "com.example.thread", "", rec, ValidateOptions{})
	wantVErr(t, "self-referential ref", err, "quote.text", ConstraintType)
	// A ref to a record carries the record's $type (see TestRefToRecord).
	rec = mustJSON(`{"$type":"com.example.thread","text":"a","quote":{"text":"b"}}`)
	err = cat.ValidateRecord(ctx, "com.example.thread", "", rec, ValidateOptions{})
	wantVErr(t, "self-referential ref without $type", err, "quote.$type", ConstraintRecordType)
}
