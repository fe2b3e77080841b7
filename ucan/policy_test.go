package ucan

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
)

func mustJSON(t testing.TB, s string) any {
	t.Helper()
	v, err := jsonToIPLD([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSelectors(t *testing.T) {
	args := mustJSON(t, `{
		"from": "alice@example.com",
		"to": ["bob@example.com", "carol@not.example.com", "dan@example.com"],
		"title": "Meeting",
		"m": {"b": 2, "a": 1},
		".": "dot",
		"n": null
	}`)
	cases := []struct {
		sel  string
		want string // JSON, or "FAIL"
	}{
		{".", ""},
		{".title", `"Meeting"`},
		{".to[1]", `"carol@not.example.com"`},
		{".to[-1]", `"dan@example.com"`},
		{".to[99]?", `null`},
		{".to[99]", "FAIL"},
		{".to[-4]", "FAIL"},
		{".to[1:]", `["carol@not.example.com", "dan@example.com"]`},
		{".to[:1]", `["bob@example.com"]`},
		{".to[0:-2]", `["bob@example.com"]`},
		{".to[5:9]", `[]`},
		{`.["."]`, `"dot"`},
		{`["."]`, "FAIL"}, // must begin with a dot
		{".missing", `null`},
		{".missing.deeper", "FAIL"},
		{".missing.deeper?", `null`},
		{".missing?.deeper", "FAIL"},
		{".title.x", "FAIL"},
		{".title.x?", `null`},
		{".title.x???", `null`},
		{".to[99].x?", "FAIL"}, // returns early even if a later segment is optional
		{".m[]", `[1, 2]`},
		{".to[]", `["bob@example.com", "carol@not.example.com", "dan@example.com"]`},
		{".n", `null`},
		{".n.x", "FAIL"},
		{".title[0]", "FAIL"},
	}
	for _, c := range cases {
		sel, err := ParseSelector(c.sel)
		if err != nil {
			if c.want != "FAIL" {
				t.Errorf("%s: %v", c.sel, err)
			}
			continue
		}
		got, ok := sel.Select(args)
		switch {
		case c.want == "FAIL":
			if ok {
				t.Errorf("%s: resolved to %v", c.sel, got)
			}
		case !ok:
			t.Errorf("%s: unresolved", c.sel)
		case c.want == "":
			if !reflect.DeepEqual(got, args) {
				t.Errorf("%s: %v", c.sel, got)
			}
		default:
			want := mustJSON(t, c.want)
			if want == nil && got == nil {
				continue
			}
			if !(&evalState{max: 1000}).equal(got, want) {
				t.Errorf("%s: %v, want %v", c.sel, got, want)
			}
		}
	}
	// Bytes are selected into as a byte array.
	b := map[string]any{"b": []byte{0xd6, 0xa9, 0xc1, 0x8c}}
	sel, _ := ParseSelector(".b[3]")
	if v, ok := sel.Select(b); !ok || v != int64(0x8c) {
		t.Errorf(".b[3] = %v", v)
	}
	for _, bad := range []string{"", "foo", "..", ".a..b", ".a.", "[0]", ".[", ".[x]", `.["a]`, ".a[1", ".1a", ".a b", ".[+1]"} {
		if _, err := ParseSelector(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// policyStatementArgs are the arguments of policyStatementCases.
const policyStatementArgs = `{"a": 1, "f": 2.5, "s": "hello", "l": [1, 2, 3], "m": {"x": 1, "y": 2}, "e": [], "n": null, "b": true}`

// policyStatementCases are policies with their verdicts on
// policyStatementArgs.
var policyStatementCases = map[string]bool{
	`[["==", ".a", 1.0]]`:                             true,
	`[["==", ".f", 2.5]]`:                             true,
	`[["!=", ".a", "1"]]`:                             true,
	`[["!=", ".nope.x", 1]]`:                          false, // unresolvable selector: false
	`[["not", ["==", ".nope.x", 1]]]`:                 true,
	`[["==", ".nope", null]]`:                         true, // a missing key selects null
	`[["!=", ".nope", 1]]`:                            true, // null != 1
	`[["==", ".m.z", null]]`:                          true, // missing key in a nested map
	`[["==", ".m.z?", null]]`:                         true, // optional: null on failure, here null anyway
	`[["==", ".nope?", null]]`:                        true,
	`[["!=", ".m.z?", null]]`:                         false,
	`[["<", ".a", 1.5]]`:                              true,
	`[[">", ".f", 2]]`:                                true,
	`[[">=", ".s", 0]]`:                               false, // not a number
	`[["<", ".n", 5]]`:                                false,
	`[["like", ".s", "h*o"]]`:                         true,
	`[["like", ".s", "*"]]`:                           true,
	`[["like", ".s", "h*l*l*l*o"]]`:                   false,
	`[["like", ".s", "hel\\*"]]`:                      false,
	`[["like", ".a", "*"]]`:                           false,
	`[["all", ".l", [">", ".", 0]]]`:                  true,
	`[["all", ".m", ["<", ".", 2]]]`:                  false,
	`[["any", ".m", ["==", ".", 2]]]`:                 true,
	`[["all", ".e", ["==", ".", 0]]]`:                 true,
	`[["any", ".e", ["==", ".", 0]]]`:                 false,
	`[["all", ".s", ["==", ".", 0]]]`:                 false, // not a collection
	`[["and", []], ["or", []]]`:                       true,
	`[["or", [["==", ".a", 2], ["==", ".b", true]]]]`: true,
	`[["==", ".l", [1, 2, 3]]]`:                       true,
	`[["==", ".m", {"y": 2, "x": 1}]]`:                true,
	`[["==", ".m", {"x": 1}]]`:                        false,
	`[]`:                                              true,
	`[["==", ".s", "hello"]]`:                         true,
	`[["!=", ".s", "hellO"]]`:                         true,
	`[["==", ".a", "1"]]`:                             false, // a number never equals a string
	`[["==", ".s", 1]]`:                               false,
	`[["==", ".n", null]]`:                            true,
	`[["==", ".a", null]]`:                            false,
	`[["==", ".e", null]]`:                            false, // an empty list is not null
	`[["all", ".l", ["==", ".x", null]]]`:             false, // a field of a non-map: unresolvable
	`[["all", ".l", ["==", ".x?", null]]]`:            true,  // optional: null
	`[["any", ".l", ["!=", ".x?", 1]]]`:               true,
}

func TestPolicyStatements(t *testing.T) {
	args := mustJSON(t, policyStatementArgs)
	cases := policyStatementCases
	for src, want := range cases {
		p, err := ParsePolicyJSON([]byte(src))
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got := p.Match(args); got != want {
			t.Errorf("%s: %v, want %v", src, got, want)
		}
	}
	for _, bad := range []string{
		`{}`, `[1]`, `[[]]`, `[["=", ".a", 1]]`, `[["==", ".a"]]`, `[["<", ".a", "x"]]`,
		`[["like", ".a", 1]]`, `[["and", ["==", ".a", 1]]]`, `[["not"]]`, `[["all", ".a"]]`,
		`[["==", "a", 1]]`, `[[1, ".a", 1]]`,
	} {
		if _, err := ParsePolicyJSON([]byte(bad)); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestPolicyBudget(t *testing.T) {
	// A quantifier over a quantifier costs the product of the sizes: 2000
	// lists of 100, each scanned to its last element.
	l := make([]any, 100)
	for i := range l {
		l[i] = int64(i)
	}
	grid := make([]any, 2000)
	for i := range grid {
		grid[i] = l
	}
	p, err := ParsePolicy([]any{[]any{"all", ".a[]", []any{"any", ".", []any{"==", ".", 99}}}})
	if err != nil {
		t.Fatal(err)
	}
	if ok, exceeded := p.MatchLimit(map[string]any{"a": grid}, 10_000); ok || !exceeded {
		t.Fatalf("large: ok %v exceeded %v", ok, exceeded)
	}
	if ok, exceeded := p.MatchLimit(map[string]any{"a": grid[:10]}, 10_000); !ok || exceeded {
		t.Fatalf("small: ok %v exceeded %v", ok, exceeded)
	}
	// The default budget also stops it, and Match reports false.
	big := make([]any, 20000)
	for i := range big {
		big[i] = l
	}
	if p.Match(map[string]any{"a": big}) {
		t.Fatal("matched beyond the default budget")
	}
}

func TestCommands(t *testing.T) {
	for _, c := range []string{"/", "/crud", "/crud/create", "/foo/bar/baz/qux/quux", "/ほげ/ふが"} {
		if !ValidCommand(c) {
			t.Errorf("%q invalid", c)
		}
	}
	for _, c := range []string{"", "crud", "/crud/", "//", "/a//b", "/Crud", "/crud/Create"} {
		if ValidCommand(c) {
			t.Errorf("%q valid", c)
		}
	}
	covers := []struct {
		p, c string
		want bool
	}{
		{"/", "/anything/at/all", true},
		{"/repo", "/repo", true},
		{"/repo", "/repo/create", true},
		{"/repo", "/repository", false},
		{"/crypto", "/stack/pop", false},
		{"/repo/create", "/repo", false},
	}
	for _, c := range covers {
		if got := CommandCovers(c.p, c.c); got != c.want {
			t.Errorf("CommandCovers(%s, %s) = %v", c.p, c.c, got)
		}
	}
	if !IsReservedCommand("/ucan/revoke") || !IsReservedCommand("/ucan") || IsReservedCommand("/ucanx") {
		t.Error("IsReservedCommand")
	}
}

func TestVarsigHeaders(t *testing.T) {
	for _, a := range algs {
		got, err := ParseVarsigHeader(a.Header())
		if err != nil || got != a {
			t.Errorf("%s: %v %v", a, got, err)
		}
	}
	// The spec's example header "NAHtAe0BE3E" is Ed25519 over DAG-CBOR.
	if got, _ := ParseVarsigHeader(b64(t, "NAHtAe0BE3E")); got != Ed25519 {
		t.Errorf("spec example header: %v", got)
	}
	for _, h := range [][]byte{nil, {0x34}, {0x35, 0x01}, {0x34, 0x02, 0xed, 0x01, 0xed, 0x01, 0x13, 0x71}, {0x34, 0x01, 0xec, 0x01, 0x80, 0x24, 0x13, 0x71}} {
		if _, err := ParseVarsigHeader(h); err == nil {
			t.Errorf("%x accepted", h)
		}
	}
}

func TestPolicyBudgetCountsMapValues(t *testing.T) {
	// Quantifying over a map materialises its values in key order. That
	// work is paid in steps, one per entry, even when "any" stops at the
	// first value: 100 statements over a map of 1000 entries would
	// otherwise sort 100,000 keys within a budget of a few hundred steps.
	m := make(map[string]any, 1000)
	for i := range 1000 {
		m[fmt.Sprintf("k%04d", i)] = int64(i)
	}
	args := map[string]any{"m": m}
	for _, stmt := range []any{
		[]any{"any", ".m", []any{"==", ".", 0}},
		[]any{"!=", ".m[]", []any{}}, // selector iteration, not a quantifier
	} {
		pol := make([]any, 100)
		for i := range pol {
			pol[i] = stmt
		}
		p, err := ParsePolicy(pol)
		if err != nil {
			t.Fatal(err)
		}
		if _, exceeded := p.MatchLimit(args, 10_000); !exceeded {
			t.Errorf("%v: 100 passes over 1000 entries fit in 10,000 steps", stmt)
		}
		one, err := ParsePolicy(pol[:1])
		if err != nil {
			t.Fatal(err)
		}
		if ok, exceeded := one.MatchLimit(args, 10_000); !ok || exceeded {
			t.Errorf("%v: one pass over 1000 entries: ok %v, exceeded %v", stmt, ok, exceeded)
		}
	}
}

// TestPolicyGoIntegers: Match on Go values agrees with validation, where
// args went through DRISL and every integer is an int64. A caller checking
// a policy before signing (as the community layer does) passes Go ints.
func TestPolicyGoIntegers(t *testing.T) {
	p, err := ParsePolicyJSON([]byte(`[["==", ".n", 7], ["<", ".n", 8], [">=", ".n", 7.0], ["==", ".l", [1, 2]]]`))
	if err != nil {
		t.Fatal(err)
	}
	type level int
	for _, n := range []any{7, int8(7), int16(7), int32(7), int64(7), uint(7), uint8(7), uint16(7), uint32(7), uint64(7), float32(7), level(7)} {
		args := map[string]any{"n": n, "l": []any{1, uint8(2)}}
		if !p.Match(args) {
			t.Errorf("%T: no match", n)
		}
	}
	if p.Match(map[string]any{"n": 6, "l": []any{1, 2}}) {
		t.Error("6 matched")
	}
	big, err := ParsePolicy([]any{[]any{">", ".n", int64(math.MaxInt64)}})
	if err != nil {
		t.Fatal(err)
	}
	if !big.Match(map[string]any{"n": uint64(math.MaxInt64) + 1}) || big.Match(map[string]any{"n": uint(math.MaxInt64)}) {
		t.Error("uint64 beyond int64 compared wrongly")
	}
}

func TestCompareNumbersExact(t *testing.T) {
	cases := []struct {
		a, b any
		want int
		ok   bool
	}{
		{int64(1), 1.0, 0, true},
		{1.5, int64(1), 1, true},
		{int64(math.MaxInt64), float64(1 << 63), -1, true}, // float64(MaxInt64) rounds to 2^63
		{uint64(1 << 63), int64(math.MaxInt64), 1, true},
		{uint64(1 << 63), float64(1 << 63), 0, true},
		{uint64(math.MaxUint64), uint64(1 << 63), 1, true},
		{drisl.NegInt(0), int64(-1), 0, true}, // -1 - 0 (drisl decodes it as an int64, but exactly)
		{drisl.NegInt(math.MaxUint64), -float64(1 << 64), 0, true},
		{drisl.NegInt(1 << 63), int64(math.MinInt64), -1, true},
		{math.Inf(1), uint64(math.MaxUint64), 1, true},
		{math.NaN(), math.NaN(), 0, false},
		{math.NaN(), int64(1), 0, false},
		{"1", int64(1), 0, false},
	}
	for _, c := range cases {
		got, ok := compareNumbers(c.a, c.b)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("compare(%v %T, %v %T) = %d %v, want %d %v", c.a, c.a, c.b, c.b, got, ok, c.want, c.ok)
		}
	}
}

func TestPolicyBudgetCountsBytes(t *testing.T) {
	// A member may attenuate with any policy and invoke with any args: a
	// few bytes of "like" statement scan a string of the invoker's choice.
	// 5000 statements (under 64 KiB of delegation) each scanning a 60 KB
	// string must not fit in the default budget, as if each were one step.
	args := map[string]any{"s": strings.Repeat("a", 60_000)}
	stmt := []any{"like", ".s", "*b*"}
	pol := make([]any, 5000)
	for i := range pol {
		pol[i] = []any{"not", stmt}
	}
	p, err := ParsePolicy(pol)
	if err != nil {
		t.Fatal(err)
	}
	if _, exceeded := p.MatchLimit(args, DefaultMaxPolicySteps); !exceeded {
		t.Error("5000 scans of 60 KB fit in the default budget")
	}
	if ok, exceeded := p.MatchLimit(map[string]any{"s": "abc"}, DefaultMaxPolicySteps); ok || exceeded {
		t.Errorf("short string: ok %v exceeded %v", ok, exceeded)
	}
	one, err := ParsePolicy(pol[:1])
	if err != nil {
		t.Fatal(err)
	}
	if ok, exceeded := one.MatchLimit(args, DefaultMaxPolicySteps); !ok || exceeded {
		t.Errorf("one scan: ok %v exceeded %v", ok, exceeded)
	}
	// strings.Index costs up to the length of the searched part per byte:
	// a 64-byte part on a 60 KB string of near-misses is 64 times the
	// work of "*b*", and 100 such statements must not fit either.
	long := []any{"like", ".s", "*" + strings.Repeat("a", 63) + "b*"}
	pol = make([]any, 100)
	for i := range pol {
		pol[i] = []any{"not", long}
	}
	if p, err = ParsePolicy(pol); err != nil {
		t.Fatal(err)
	}
	if _, exceeded := p.MatchLimit(args, DefaultMaxPolicySteps); !exceeded {
		t.Error("100 scans of 60 KB for a 64-byte part fit in the default budget")
	}
}

// TestPolicyErrorsWrap: a malformed policy is an *Error matching
// ErrMalformedToken that keeps its cause for errors.As.
func TestPolicyErrorsWrap(t *testing.T) {
	_, err := ParsePolicyJSON([]byte(`[["==", ".a", 1]`))
	var syn *json.SyntaxError
	var ue *Error
	if !errors.Is(err, ErrMalformedToken) || !errors.As(err, &ue) || ue.Rule != RulePolicySyntax {
		t.Errorf("truncated JSON: %v, want an *Error for RulePolicySyntax", err)
	}
	if !errors.As(err, &syn) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated JSON: %v (%T) does not keep the JSON error", err, errors.Unwrap(err))
	}
	for _, src := range []string{`[["==", ".a", 1]] x`, `[[]]`, `[[1]]`, `[["nope", ".a"]]`, `{}`} {
		if _, err := ParsePolicyJSON([]byte(src)); !errors.Is(err, ErrMalformedToken) || !errors.As(err, &ue) || ue.Rule != RulePolicySyntax {
			t.Errorf("%s: %v, want an *Error for RulePolicySyntax", src, err)
		}
	}
	if _, err := ParsePolicyJSON([]byte(`[[1]]`)); errors.Unwrap(err) == nil {
		t.Errorf("[[1]]: %v has no cause", err)
	}
}

// ordered returns v with every map[string]any replaced by a sorted
// drisl.Map, as DecOptions.OrderedMaps decodes it.
func ordered(v any) any {
	switch x := v.(type) {
	case map[string]any:
		var m drisl.Map
		for k, e := range x {
			m = append(m, drisl.Entry{Key: k, Value: ordered(e)})
		}
		m.Sort()
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = ordered(e)
		}
		return out
	}
	return v
}

// TestPolicyOrderedArgs checks that arguments in the ordered model
// (drisl.Map) get the verdicts of the same arguments as map[string]any,
// and, under every step budget, the same result and exhaustion: selectors
// read their fields, quantifiers take their values in the same (bytewise
// key) order, and equality compares them with maps.
func TestPolicyOrderedArgs(t *testing.T) {
	args := mustJSON(t, policyStatementArgs)
	oargs := ordered(args)
	for src, want := range policyStatementCases {
		p, err := ParsePolicyJSON([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Match(oargs); got != want {
			t.Errorf("%s: %v on ordered args, want %v", src, got, want)
		}
	}
	// Keys whose DRISL order ("b" before "aa") is not bytewise, values
	// that stop a quantifier, nested maps compared with literals.
	margs := mustJSON(t, `{"m": {"b": 1, "aa": 2, "ccc": 3}, "w": [{"c": "x", "d": {"k": [1, {"z": null}]}}, {"c": "y"}, {"c": "x", "e": 1}]}`)
	for _, src := range []string{
		`[["all", ".m", [">", ".", 1]]]`,
		`[["any", ".m", ["==", ".", 2]]]`,
		`[["all", ".m[]", ["<", ".", 3]]]`,
		`[["==", ".w[0].d", {"k": [1, {"z": null}]}]]`,
		`[["==", ".w[0].d", {"k": [1, {"z": 1}]}]]`,
		`[["==", ".m", {"aa": 2, "b": 1, "ccc": 3}]]`,
		`[["all", ".w", ["or", [["==", ".c", "x"], ["==", ".e", null]]]]]`,
		`[["any", ".w", ["and", [["==", ".c", "x"], ["!=", ".e", null]]]]]`,
		`[["all", ".w[]", ["like", ".c", "*"]]]`,
		`[["==", ".w[1]", {"c": "y"}]]`,
	} {
		p, err := ParsePolicyJSON([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		want := p.Match(margs)
		if got := p.Match(ordered(margs)); got != want {
			t.Errorf("%s: %v on ordered args, %v on maps", src, got, want)
		}
		for budget := 1; budget < 60; budget++ {
			ok, ex := p.MatchLimit(margs, budget)
			ook, oex := p.MatchLimit(ordered(margs), budget)
			if ok != ook || ex != oex {
				t.Errorf("%s, budget %d: (%v, %v) on ordered args, (%v, %v) on maps", src, budget, ook, oex, ok, ex)
			}
		}
	}
}
