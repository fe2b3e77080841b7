//go:build interop

package interop

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
)

// drislGen draws random values of drisl's generic model.
type drislGen struct {
	r *rand.Rand
	// wide allows integers outside JavaScript's safe range (|n| > 2^53-1).
	wide bool
	// atproto keeps to the atproto data model: no floats, $type values are
	// non-empty strings, blobs are well formed.
	atproto bool
}

var interestingInts = []int64{0, 1, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, -1, -24, -25, -256, -257, -65536, -65537, -1 << 32, -1<<32 - 1, 1<<53 - 1, -(1<<53 - 1)}

func (g drislGen) int() any {
	r := g.r
	if g.wide {
		switch r.IntN(5) {
		case 0:
			return int64(1<<53) + r.Int64N(math.MaxInt64-1<<53) + 1
		case 1:
			return -int64(1<<53) - r.Int64N(math.MaxInt64-1<<53)
		case 2:
			return uint64(math.MaxInt64) + 1 + r.Uint64N(math.MaxInt64)
		case 3:
			return drisl.NegInt(uint64(math.MaxInt64) + 1 + r.Uint64N(math.MaxInt64))
		default:
			return []any{int64(math.MaxInt64), int64(math.MinInt64), uint64(math.MaxUint64), drisl.NegInt(math.MaxUint64), int64(1 << 53), -int64(1 << 53)}[r.IntN(6)]
		}
	}
	switch r.IntN(4) {
	case 0:
		return interestingInts[r.IntN(len(interestingInts))]
	case 1:
		return r.Int64N(200) - 100
	default:
		return r.Int64N(1<<54-1) - (1<<53 - 1)
	}
}

// float draws a finite float that is not an integer: JavaScript numbers
// cannot tell 2.0 from 2, so integral floats are their own (exception) case.
func (g drislGen) float() float64 {
	for {
		var f float64
		switch g.r.IntN(3) {
		case 0:
			f = math.Float64frombits(g.r.Uint64())
		case 1:
			f = (g.r.Float64() - 0.5) * math.Pow(10, float64(g.r.IntN(20)-10))
		default:
			f = []float64{0.5, -0.5, 1.5, 0.1, math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, 2.2250738585072014e-308, 1.7976931348623157e307 / 3}[g.r.IntN(8)]
		}
		if !math.IsNaN(f) && !math.IsInf(f, 0) && f != math.Trunc(f) {
			return f
		}
	}
}

var alphabets = []string{
	"abcdefghijklmnopqrstuvwxyz",
	"ABCxyz0189-_.:~$#@ ",
	"é€ßøЖж中文日本語한국",
	"😀🎉🧪𝄞𐍈",
	"\x00\x01\x1f\x7f\t\n\"\\",
}

func (g drislGen) string(maxLen int) string {
	n := g.r.IntN(maxLen + 1)
	var b strings.Builder
	for range n {
		a := []rune(alphabets[g.r.IntN(len(alphabets))])
		b.WriteRune(a[g.r.IntN(len(a))])
	}
	return b.String()
}

func (g drislGen) bytes() []byte {
	b := make([]byte, g.r.IntN(40))
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return b
}

func (g drislGen) cid() cid.Cid {
	codec := uint64(drisl.CodecDagCBOR)
	if g.r.IntN(3) == 0 {
		codec = drisl.CodecRaw
	}
	return drisl.SumCID(codec, g.bytes())
}

func (g drislGen) key() string {
	switch g.r.IntN(6) {
	case 0:
		return []string{"$type", "text", "createdAt", "a", "aa", "b", "", "ba"}[g.r.IntN(8)]
	default:
		return g.string(12)
	}
}

func (g drislGen) value(depth int) any {
	n := 10
	if depth <= 0 {
		n = 8 // leaves only
	}
	switch g.r.IntN(n) {
	case 0:
		return nil
	case 1:
		return g.r.IntN(2) == 0
	case 2:
		return g.int()
	case 3:
		if g.atproto {
			return drisl.Blob{Ref: drisl.SumCID(drisl.CodecRaw, g.bytes()), MimeType: []string{"image/png", "video/mp4", "application/octet-stream"}[g.r.IntN(3)], Size: g.r.Int64N(1 << 30)}.Value()
		}
		return g.float()
	case 4:
		return g.string(30)
	case 5:
		return g.bytes()
	case 6:
		return g.cid()
	case 7:
		return g.int()
	case 8:
		l := make([]any, g.r.IntN(6))
		for i := range l {
			l[i] = g.value(depth - 1)
		}
		return l
	default:
		m := map[string]any{}
		for range g.r.IntN(7) {
			k := g.key()
			m[k] = g.value(depth - 1)
			if k == "$type" && g.atproto {
				m[k] = []string{"app.bsky.feed.post", "com.example.thing#main", "x", "#local"}[g.r.IntN(4)]
			}
		}
		return m
	}
}

// drislAnswer is node/drisl.mjs's answer.
type drislAnswer struct {
	Roundtrip []map[string]struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		Value any    `json:"value"`
		Bytes []byte `json:"bytes"`
	} `json:"roundtrip"`
	Encode []map[string]struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		Bytes []byte `json:"bytes"`
	} `json:"encode"`
}

var drislLibs = []string{"ipld", "atcute", "lexcbor"}

// drislCase is one value with what each library is expected to do with it.
type drislCase struct {
	group string
	v     any
	// expect says, per library, how its result may differ from a faithful
	// roundtrip: "" (it must not), or the name of a documented exception
	// (see README.md) whose check replaces the faithful one.
	expect map[string]string
}

func TestDRISL(t *testing.T) {
	t.Parallel() // each family runs its own node process
	r := rng("drisl")
	var cases []drislCase
	add := func(group string, v any, expect map[string]string) {
		if hasFloat(v) && expect["lexcbor"] == "" {
			// atproto has no floats: @atproto/lex-cbor refuses them.
			expect = maps.Clone(expect)
			if expect == nil {
				expect = map[string]string{}
			}
			expect["lexcbor"] = "lexcbor-float"
		}
		cases = append(cases, drislCase{group, v, expect})
	}
	// Faithful roundtrips: the generic model within what JavaScript numbers hold.
	for range 400 {
		add("random", drislGen{r: r}.value(4), nil)
	}
	// Long strings, bytes, lists and maps: 1-, 2- and 4-byte length heads.
	for _, n := range []int{24, 255, 256, 65535, 65536 + r.IntN(1000)} {
		g := drislGen{r: r}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		var sb strings.Builder
		for sb.Len() < n {
			sb.WriteString(g.string(8))
		}
		l := make([]any, min(n, 3000))
		for i := range l {
			l[i] = g.value(0)
		}
		m := map[string]any{}
		for len(m) < min(n, 300) {
			m[g.string(6)+fmt.Sprint(len(m))] = g.value(0)
		}
		add("long", map[string]any{"bytes": b, "text": sb.String(), "list": l, "map": m}, nil)
	}
	// Integers beyond 2^53-1: @ipld/dag-cbor uses BigInt; @atcute/cbor refuses.
	for range 40 {
		add("wide-int", []any{drislGen{r: r, wide: true}.int()}, map[string]string{"atcute": "atcute-wide-int"})
	}
	// Integral floats (2.0): JavaScript reads them as integers.
	for range 20 {
		f := float64(r.Int64N(1<<40) - 1<<39)
		add("integral-float", map[string]any{"f": f}, map[string]string{"ipld": "js-integral-float", "atcute": "js-integral-float", "lexcbor": "js-integral-float"})
	}
	// A map whose one key is "$bytes" or "$link": @atcute/cbor reads it as
	// bytes or a CID link (when the value is a string) or refuses it.
	// With a second key, the map must come back as it went.
	for i := range 40 {
		g := drislGen{r: r}
		key := []string{"$bytes", "$link"}[r.IntN(2)]
		var val any
		switch r.IntN(3) {
		case 0:
			val = base64.RawStdEncoding.EncodeToString(g.bytes())
		case 1:
			val = g.cid().String()
		default:
			val = g.value(1)
		}
		m := map[string]any{key: val}
		if i%2 == 0 {
			add("dollar-key", []any{m}, map[string]string{"atcute": "atcute-dollar-key"})
			continue
		}
		for len(m) < 2 {
			m[g.key()] = g.value(1)
		}
		add("dollar-key-plus", []any{m}, nil)
	}

	req := struct {
		Op     string   `json:"op"`
		Bytes  [][]byte `json:"bytes"`
		Values []tv     `json:"values"`
	}{Op: "cbor"}
	encoded := make([][]byte, len(cases))
	for i, c := range cases {
		b, err := drisl.Marshal(c.v)
		if err != nil {
			t.Fatalf("drisl.Marshal(%#v): %v", c.v, err)
		}
		encoded[i] = b
		req.Bytes = append(req.Bytes, b)
		req.Values = append(req.Values, toTV(c.v))
	}
	var ans drislAnswer
	callNode(t, "drisl", req, &ans)
	if len(ans.Roundtrip) != len(cases) || len(ans.Encode) != len(cases) {
		t.Fatalf("node answered %d/%d results for %d cases", len(ans.Roundtrip), len(ans.Encode), len(cases))
	}

	f := newFailures(t)
	checked := map[string]int{}
	for i, c := range cases {
		b := encoded[i]
		for _, lib := range drislLibs {
			rt, enc := ans.Roundtrip[i][lib], ans.Encode[i][lib]
			exc := c.expect[lib]
			checked[c.group+"/"+lib]++
			if exc != "" {
				if msg := checkDRISLException(exc, c.v, b, rt.OK, rt.Error, rt.Bytes, enc.OK, enc.Error, enc.Bytes); msg != "" {
					f.add(lib+" "+exc, "case %d %x: %s", i, b, msg)
				}
				continue
			}
			// Our bytes decode there to our value and re-encode identically.
			switch {
			case !rt.OK:
				f.add(lib+" decode/re-encode", "case %d %x: %s", i, b, rt.Error)
			case !bytes.Equal(rt.Bytes, b):
				f.add(lib+" re-encode differs", "case %d: ours %x, theirs %x", i, b, rt.Bytes)
			default:
				got, err := fromTV(rt.Value)
				if err != nil {
					f.add(lib+" decoded value", "case %d: %v", i, err)
				} else if d := diff(c.v, got, "$"); d != "" {
					f.add(lib+" decoded value differs", "case %d %x: %s", i, b, d)
				}
			}
			// Their encoding of our value is our encoding, and decodes here to it.
			switch {
			case !enc.OK:
				f.add(lib+" encode", "case %d: %s", i, enc.Error)
			case !bytes.Equal(enc.Bytes, b):
				f.add(lib+" encode differs", "case %d: ours %x, theirs %x", i, b, enc.Bytes)
			}
			if enc.OK {
				var got any
				if err := drisl.Unmarshal(enc.Bytes, &got); err != nil {
					f.add("drisl decode of "+lib, "case %d %x: %v", i, enc.Bytes, err)
				} else if d := diff(c.v, got, "$"); d != "" {
					f.add("drisl decode of "+lib+" differs", "case %d %x: %s", i, enc.Bytes, d)
				}
			}
		}
	}
	f.done()
	t.Logf("checked (group/library: cases): %v", checked)
}

// checkDRISLException asserts that a library still behaves as a documented
// exception says (README.md, "Documented exceptions"); it returns "" when it
// does, so the suite notices when a reference changes.
func checkDRISLException(name string, v any, ours []byte, rtOK bool, rtErr string, rtBytes []byte, encOK bool, encErr string, encBytes []byte) string {
	switch name {
	case "atcute-wide-int":
		if rtOK || !strings.Contains(rtErr, "safe integer range") || encOK {
			return fmt.Sprintf("expected @atcute/cbor to refuse an integer beyond 2^53-1, got decode ok=%v %q, encode ok=%v", rtOK, rtErr, encOK)
		}
	case "js-integral-float":
		// The reference re-encodes f as the integer int64(f).
		m := v.(map[string]any)
		want, err := drisl.Marshal(map[string]any{"f": int64(m["f"].(float64))})
		if err != nil {
			return err.Error()
		}
		if !rtOK || !bytes.Equal(rtBytes, want) || !encOK || !bytes.Equal(encBytes, want) {
			return fmt.Sprintf("expected the integral float to come back as the integer %x; got %x (%v), %x (%v)", want, rtBytes, rtErr, encBytes, encErr)
		}
	case "lexcbor-float":
		if rtOK || !strings.Contains(rtErr, "Non-integer numbers") || encOK || !strings.Contains(encErr, "Non-integer numbers") {
			return fmt.Sprintf("expected @atproto/lex-cbor to refuse a float, got re-encode ok=%v %q, encode ok=%v %q", rtOK, rtErr, encOK, encErr)
		}
	case "atcute-dollar-key":
		// The map does not come back as the same map: it fails or is
		// re-encoded as something else.
		if (rtOK && bytes.Equal(rtBytes, ours)) || (encOK && bytes.Equal(encBytes, ours)) {
			return "expected @atcute/cbor to read the $bytes/$link map as bytes or a link, but it kept the map"
		}
	default:
		return "unknown exception " + name
	}
	return ""
}

// hasFloat reports whether v holds a float anywhere.
func hasFloat(v any) bool {
	switch x := v.(type) {
	case float64:
		return true
	case []any:
		return slices.ContainsFunc(x, hasFloat)
	case map[string]any:
		for _, e := range x {
			if hasFloat(e) {
				return true
			}
		}
	}
	return false
}

// TestDRISLJSON checks atproto JSON: our JSON (drisl.MarshalJSON) read by
// @atproto/lex-json and by @atcute/cbor's JSON model gives our DRISL bytes,
// and their JSON of our DRISL bytes reads here (drisl.UnmarshalJSON) as the
// same value.
func TestDRISLJSON(t *testing.T) {
	t.Parallel() // each family runs its own node process
	r := rng("drisl-json")
	var values []any
	rejected := 0
	for len(values) < 300 {
		v := map[string]any{}
		g := drislGen{r: r, atproto: true}
		for range 1 + r.IntN(6) {
			v[g.key()] = g.value(3)
		}
		if _, ok := v["$type"]; ok {
			v["$type"] = "com.example.record"
		}
		if err := drisl.CheckAtproto(v); err != nil {
			rejected++
			continue
		}
		values = append(values, v)
	}
	// Integers beyond 2^53-1 (still int64): JavaScript's JSON numbers cannot
	// hold them, and both references refuse them (exception js-json-wide-int).
	nPlain := len(values)
	for range 20 {
		for {
			n, ok := drislGen{r: r, wide: true}.int().(int64)
			if ok {
				values = append(values, map[string]any{"n": n})
				break
			}
		}
	}
	req := struct {
		Op    string   `json:"op"`
		JSON  []string `json:"json"`
		Bytes [][]byte `json:"bytes"`
	}{Op: "json"}
	for _, v := range values {
		j, err := drisl.MarshalJSON(v)
		if err != nil {
			t.Fatalf("drisl.MarshalJSON(%#v): %v", v, err)
		}
		b, err := drisl.Marshal(v)
		if err != nil {
			t.Fatalf("drisl.Marshal(%#v): %v", v, err)
		}
		req.JSON = append(req.JSON, string(j))
		req.Bytes = append(req.Bytes, b)
	}
	type result struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		Bytes []byte `json:"bytes"`
		JSON  string `json:"json"`
	}
	var ans struct {
		Results []map[string]struct {
			FromJSON result `json:"fromJson"`
			ToJSON   result `json:"toJson"`
		} `json:"results"`
	}
	callNode(t, "drisl", req, &ans)
	if len(ans.Results) != len(values) {
		t.Fatalf("node answered %d results for %d cases", len(ans.Results), len(values))
	}
	f := newFailures(t)
	for i, v := range values {
		for _, lib := range []string{"lexjson", "atcute"} {
			res := ans.Results[i][lib]
			if i >= nPlain {
				if res.FromJSON.OK || res.ToJSON.OK {
					f.add(lib+" js-json-wide-int", "case %d %s: expected the reference to refuse an integer beyond 2^53-1 both ways, got %+v", i, req.JSON[i], res)
				}
				continue
			}
			switch {
			case !res.FromJSON.OK:
				f.add(lib+" reading our JSON", "case %d %s: %s", i, req.JSON[i], res.FromJSON.Error)
			case !bytes.Equal(res.FromJSON.Bytes, req.Bytes[i]):
				f.add(lib+" DRISL of our JSON differs", "case %d %s: ours %x, theirs %x", i, req.JSON[i], req.Bytes[i], res.FromJSON.Bytes)
			}
			if !res.ToJSON.OK {
				f.add(lib+" writing JSON", "case %d %x: %s", i, req.Bytes[i], res.ToJSON.Error)
				continue
			}
			got, err := drisl.UnmarshalJSON([]byte(res.ToJSON.JSON))
			if err != nil {
				f.add("drisl.UnmarshalJSON of "+lib, "case %d %s: %v", i, res.ToJSON.JSON, err)
			} else if d := diff(v, got, "$"); d != "" {
				f.add("drisl.UnmarshalJSON of "+lib+" differs", "case %d ours %s theirs %s: %s", i, req.JSON[i], res.ToJSON.JSON, d)
			}
		}
	}
	f.done()
	t.Logf("%d atproto values and %d with wide integers (%d drawn values rejected by drisl.CheckAtproto)", nPlain, len(values)-nPlain, rejected)
}
