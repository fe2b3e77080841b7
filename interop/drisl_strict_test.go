//go:build interop

package interop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
)

// drislStrictRules are the ways an input can fail to be DRISL, each with a
// generator of random inputs that break exactly that rule (wrapped, at
// random, in an otherwise valid container). The DASL fixture each rule
// matches (hyphacoop/dasl-testing, type invalid_in) is named in README.md.
var drislStrictRules = []struct {
	name string
	gen  func(r *rand.Rand) []byte
}{
	{"non-shortest integer", func(r *rand.Rand) []byte {
		n := r.IntN(24)
		return []byte{0x18 | byte(r.IntN(2))<<5, byte(n)} // 18 n or 38 n
	}},
	{"non-shortest length", func(r *rand.Rand) []byte {
		s := randASCII(r, r.IntN(24))
		return append([]byte{0x78, byte(len(s))}, s...)
	}},
	{"float16", func(r *rand.Rand) []byte {
		return []byte{0xf9, 0x3c | byte(r.IntN(3)), byte(r.UintN(256))}
	}},
	{"float32", func(r *rand.Rand) []byte {
		f := float32(r.IntN(1000)) + 0.5
		return binary.BigEndian.AppendUint32([]byte{0xfa}, math.Float32bits(f))
	}},
	{"map keys out of order", func(r *rand.Rand) []byte {
		a, b := randASCII(r, 3), randASCII(r, 3)
		for a == b {
			b = randASCII(r, 3)
		}
		if a < b {
			a, b = b, a
		}
		return mapOf([][2][]byte{{textItem(a), {0x01}}, {textItem(b), {0x02}}}) // a > b first
	}},
	{"map keys bytewise, not length-first", func(r *rand.Rand) []byte {
		short := randASCII(r, 1)
		long := string([]byte{short[0] - 1}) + randASCII(r, 2) // bytewise smaller, longer
		return mapOf([][2][]byte{{textItem(long), {0x01}}, {textItem(short), {0x02}}})
	}},
	{"duplicate map key", func(r *rand.Rand) []byte {
		k := textItem(randASCII(r, 1+r.IntN(5)))
		return mapOf([][2][]byte{{k, {0x01}}, {k, {0x02}}})
	}},
	{"indefinite length", func(r *rand.Rand) []byte {
		return [][]byte{{0x9f, 0x01, 0xff}, {0xbf, 0xff}, {0x5f, 0xff}, {0x7f, 0x61, 0x61, 0xff}}[r.IntN(4)]
	}},
	{"tag other than 42", func(r *rand.Rand) []byte {
		return [][]byte{{0xc0, 0x60}, {0xc1, 0x1a, 0x5f, 0x5e, 0x10, 0x00}, {0xd9, 0xd9, 0xf7, 0x00}, {0xd8, 0x20, 0x60}}[r.IntN(4)]
	}},
	{"undefined", func(r *rand.Rand) []byte { return []byte{0xf7} }},
	{"other simple value", func(r *rand.Rand) []byte {
		return [][]byte{{0xe0 + byte(r.IntN(20))}, {0xf8, 0x20 + byte(r.IntN(200))}}[r.IntN(2)]
	}},
	{"trailing bytes", nil}, // built in TestDRISLStrict: a valid item followed by another
	{"invalid UTF-8", func(r *rand.Rand) []byte {
		bad := [][]byte{{0xc3, 0x28}, {0xed, 0xa0, 0x80}, {0xff}, {0xe2, 0x82}, {0xf8, 0x88, 0x80, 0x80, 0x80}}[r.IntN(5)]
		s := append([]byte(randASCII(r, r.IntN(5))), bad...)
		return append([]byte{0x60 | byte(len(s))}, s...)
	}},
	{"CID without 0x00 prefix", func(r *rand.Rand) []byte {
		c := drislGen{r: r}.cid().Bytes()
		return append([]byte{0xd8, 0x2a, 0x58, byte(len(c))}, c...)
	}},
	{"CIDv0", func(r *rand.Rand) []byte {
		d := randBytes(r, 32)
		c := append([]byte{0x00, 0x12, 0x20}, d...)
		return append([]byte{0xd8, 0x2a, 0x58, byte(len(c))}, c...)
	}},
	{"CID hash not sha2-256", func(r *rand.Rand) []byte {
		c := append([]byte{0x00, 0x01, 0x71, 0x11, 0x14}, randBytes(r, 20)...) // SHA-1
		return append([]byte{0xd8, 0x2a, 0x58, byte(len(c))}, c...)
	}},
	{"NaN or infinity", func(r *rand.Rand) []byte {
		return [][]byte{{0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0}, {0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0}, {0xfb, 0xff, 0xf0, 0, 0, 0, 0, 0, 0}}[r.IntN(3)]
	}},
	{"negative zero", func(r *rand.Rand) []byte { return []byte{0xfb, 0x80, 0, 0, 0, 0, 0, 0, 0} }},
	{"map key not a string", func(r *rand.Rand) []byte {
		return [][]byte{{0xa1, byte(r.IntN(24)), 0x01}, {0xa1, 0x41, byte(r.UintN(256)), 0x01}}[r.IntN(2)]
	}},
	{"bignum", func(r *rand.Rand) []byte {
		return append([]byte{0xc2 | byte(r.IntN(2)), 0x49, 0x01}, make([]byte, 8)...)
	}},
	{"truncated", nil}, // built in TestDRISLStrict: a valid encoding cut short
}

// drislAccepts lists the rules a reference decoder does not enforce: for
// those it must accept (exceptions, README.md); for every other rule it must
// reject, as drisl does.
var drislAccepts = map[string]map[string]bool{
	"ipld":    {"float16": true, "float32": true, "map keys out of order": true, "map keys bytewise, not length-first": true, "undefined": true, "invalid UTF-8": true, "CIDv0": true, "CID hash not sha2-256": true, "negative zero": true},
	"lexcbor": {"float16": true, "float32": true, "map keys out of order": true, "map keys bytewise, not length-first": true, "undefined": true, "invalid UTF-8": true, "CIDv0": true, "CID hash not sha2-256": true, "negative zero": true},
	"atcute":  {"negative zero": true},
}

func randASCII(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'b' + byte(r.IntN(24))
	}
	return string(b)
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func textItem(s string) []byte { return append([]byte{0x60 | byte(len(s))}, s...) }

func mapOf(kvs [][2][]byte) []byte {
	out := []byte{0xa0 | byte(len(kvs))}
	for _, kv := range kvs {
		out = append(out, kv[0]...)
		out = append(out, kv[1]...)
	}
	return out
}

// wrap puts item inside a valid container at random: as an array element
// or the value of a map key, or not at all.
func wrap(r *rand.Rand, item []byte) []byte {
	switch r.IntN(3) {
	case 0:
		return append([]byte{0x82, 0xf6}, item...)
	case 1:
		return append([]byte{0xa1, 0x61, 'x'}, item...)
	}
	return item
}

func TestDRISLStrict(t *testing.T) {
	t.Parallel() // each family runs its own node process
	r := rng("drisl-strict")
	type strictCase struct {
		rule string
		in   []byte
	}
	var cases []strictCase
	for _, rule := range drislStrictRules {
		for range 8 {
			var in []byte
			switch rule.name {
			case "trailing bytes":
				a, _ := drisl.Marshal(drislGen{r: r}.value(2))
				b, _ := drisl.Marshal(drislGen{r: r}.value(1))
				in = append(a, b...)
			case "truncated":
				a, _ := drisl.Marshal(drislGen{r: r}.value(3))
				for len(a) < 2 {
					a, _ = drisl.Marshal(drislGen{r: r}.value(3))
				}
				in = a[:1+r.IntN(len(a)-1)]
			default:
				in = wrap(r, rule.gen(r))
			}
			cases = append(cases, strictCase{rule.name, in})
		}
	}
	req := struct {
		Op    string   `json:"op"`
		Bytes [][]byte `json:"bytes"`
	}{Op: "decode"}
	for _, c := range cases {
		req.Bytes = append(req.Bytes, c.in)
	}
	var ans struct {
		Results []map[string]struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"results"`
	}
	callNode(t, "drisl", req, &ans)
	if len(ans.Results) != len(cases) {
		t.Fatalf("node answered %d results for %d cases", len(ans.Results), len(cases))
	}
	f := newFailures(t)
	for i, c := range cases {
		var v any
		err := drisl.Unmarshal(c.in, &v)
		var se *drisl.SyntaxError
		if err == nil || !errors.As(err, &se) {
			f.add("drisl accepts non-DRISL input", "%s: %x decodes to %#v (%v)", c.rule, c.in, v, err)
		}
		for _, lib := range []string{"ipld", "atcute", "lexcbor"} {
			res := ans.Results[i][lib]
			if want := drislAccepts[lib][c.rule]; res.OK != want {
				what := "rejects"
				if res.OK {
					what = "accepts"
				}
				f.add(fmt.Sprintf("%s %s %q", lib, what, c.rule), "%x (%s); expected accept=%v", c.in, res.Error, want)
			}
		}
	}
	f.done()
	t.Logf("%d invalid inputs over %d rules", len(cases), len(drislStrictRules))
}
