//go:build interop

package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/lexicon"
)

// The schemas both sides load: the real atproto lexicons package lexicon
// keeps in its testdata, and the community's own (dev.townhall.*).
var lexiconDirs = []string{"../lexicon/testdata/atproto-lexicons/lexicons", "../community/lexicons"}

// lexGen draws records from a schema. With target >= 0 it makes exactly one
// mutation, at the target-th node it visits (counting from 1), which most
// likely makes the record invalid; mutation says what it did.
type lexGen struct {
	cat      *lexicon.Catalog
	r        *rand.Rand
	mr       *rand.Rand // draws of the mutation only
	visits   int
	target   int
	mutation string
	// exc is the documented exception (README.md) the mutation falls
	// under, "" when both sides must reject it alike.
	exc string
	// notes are exceptions met while drawing valid parts of the record.
	notes map[string]bool
}

// Documented exceptions of the lexicon family: the verdicts (Townhall,
// @atproto/lexicon) each one asserts. "ts-" ones are the reference's
// disagreements with the spec and its interop vectors (a Townhall bug is
// fixed, not kept as an exception).
var lexExceptions = map[string][2]bool{
	"ts-datetime-lenient": {false, true},
	"ts-language-lenient": {false, true},
	"ts-blob-constraints": {false, true},
	"ts-wide-int":         {true, false},
	"ts-cid-v0":           {false, true},
}

// Invalid format values for which a documented exception holds.
var formatExceptions = map[string]string{
	"2024-05-06T07:08:09":      "ts-datetime-lenient",
	"2024-05-06T07:08:09+0000": "ts-datetime-lenient",
	"2023-02-29T00:00:00Z":     "ts-datetime-lenient",
	"english":                  "ts-language-lenient",
	"QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u": "ts-cid-v0",
}

func (g *lexGen) note(exc string) {
	if g.notes == nil {
		g.notes = map[string]bool{}
	}
	g.notes[exc] = true
}

func (g *lexGen) hit() bool {
	g.visits++
	return g.visits == g.target
}

func (g *lexGen) mutated(format string, args ...any) {
	g.mutation = fmt.Sprintf(format, args...)
}

// resolve returns the definition named by ref, seen from schema nsid, and
// the NSID it lives in.
func (g *lexGen) resolve(nsid, ref string) (*lexicon.Def, string, string) {
	target, name, _ := strings.Cut(ref, "#")
	if target == "" {
		target = nsid
	}
	if name == "" {
		name = "main"
	}
	sf, ok := g.cat.Schema(target)
	if !ok {
		return nil, "", ""
	}
	full := target
	if name != "main" {
		full += "#" + name
	}
	return sf.Defs[name], target, full
}

// Grapheme clusters of different shapes and UTF-8 sizes.
var graphemes = []string{
	"a", "b", "Z", "0", " ", ".", "é", "e\u0301", "ß", "Ж", "中", "한", "😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "\r\n", "\t", "ﷺ", "a\u0308\u0301",
	"🏳️‍⚧️", "1️⃣", "🫨", "\u1100\u1161\u11a8", "👩🏽‍🚀", "ก่", "\u0e33", "\U0001F1E6",
}

// indicConjunct is one extended grapheme cluster since Unicode 15.1 (rule
// GB9c: consonant, virama, consonant), two before. See TestLexiconGraphemes.
const indicConjunct = "क्षि"

// text builds a string of about n grapheme clusters with at most maxBytes
// UTF-8 bytes (maxBytes < 0: no limit).
func (g *lexGen) text(r *rand.Rand, n, maxBytes int) string {
	var b strings.Builder
	ascii := r.IntN(3) == 0
	for i := 0; i < n; i++ {
		u := graphemes[r.IntN(len(graphemes))]
		if ascii {
			u = graphemes[r.IntN(4)]
		}
		if maxBytes >= 0 && b.Len()+len(u) > maxBytes {
			if maxBytes-b.Len() >= 1 {
				u = "x"
			} else {
				break
			}
		}
		b.WriteString(u)
	}
	return b.String()
}

func ptr(p *int64, def int64) int64 {
	if p == nil {
		return def
	}
	return *p
}

var (
	validFormats = map[string][]string{
		"did":           {"did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:web:example.com", "did:web:localhost%3A8080", "did:method:val:two", "did:example:a_b.c-d"},
		"handle":        {"alice.bsky.social", "xn--ls8h.test", "a.co", "john-doe.example.org", "UPPER.example.com"},
		"nsid":          {"com.example.fooBar", "app.bsky.feed.post", "net.users.bob.ping", "a-0.b-1.c"},
		"cid":           {"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm", "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"},
		"datetime":      {"2024-05-06T07:08:09Z", "2024-05-06T07:08:09.123Z", "1985-04-12T23:20:50.123456+02:00", "1985-04-12T23:20:50.12-05:30", "2000-02-29T00:00:00.000Z"},
		"tid":           {"3jzfcijpj2z2a", "2222222222222", "7777777777777", "3kcwz3a2ygr2j"},
		"record-key":    {"self", "3jzfcijpj2z2a", "a", "example.com", "~1.2-3_", "dHJ1ZQ", "pre:fix"},
		"uri":           {"https://example.com/path?q=1#frag", "mailto:alice@example.com", "dns:example.com", "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3jzfcijpj2z2a"},
		"language":      {"en", "pt-BR", "zh-Hant-TW", "ja", "i-klingon", "x-private"},
		"at-uri":        {"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3jzfcijpj2z2a", "at://alice.bsky.social", "at://did:web:example.com/com.example.thing", "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz"},
		"at-identifier": {"alice.bsky.social", "did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:web:example.com"},
	}
	invalidFormats = map[string][]string{
		"did":           {"did:PLC:abc", "did:plc", "plc:abc", "did:plc:abc#frag", "did:plc:abc/", "did::abc", "DID:plc:abc", "did:plc:abc%"},
		"handle":        {"alice", "-alice.com", "alice.com.", "al ice.com", "alice.123", "alice..com", "a.b-.com"},
		"nsid":          {"com.example", "com..example.foo", "1com.example.foo", "com.example.foo-bar", "com.example.foo.", "com.exa mple.foo"},
		"cid":           {"bafyfoo", "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u", "", "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hp", "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpn"},
		"datetime":      {"2024-05-06T07:08:09", "2024-05-06", "2024-05-06t07:08:09Z", "2024-05-06 07:08:09Z", "2024-05-06T07:08:09+0000", "2024-05-06T07:08:09.Z", "2024-13-06T07:08:09Z", "2024-05-06T25:08:09Z", "2024-05-06T07:08:09-00:00", "2023-02-29T00:00:00Z", "0000-01-01T00:00:00Z", "+002024-05-06T07:08:09Z", "2024-05-06T07:08:09z"},
		"tid":           {"3jzfcijpj2z2", "Zjzfcijpj2z2a", "kjzfcijpj2z2a", "3jzfcijpj2z2a0", "3jzfc-jpj2z2a"},
		"record-key":    {".", "..", "a/b", "", "a b", "a#b", strings.Repeat("a", 513)},
		"uri":           {"example.com", "https://exa mple.com", "", "://x"},
		"language":      {"", "english", "en_US", "123", "e"},
		"at-uri":        {"at://", "https://example.com", "at://did:plc:abc/com.example.foo/", "at://did:plc:abc//x", "at:/did:plc:abc"},
		"at-identifier": {"alice", "did:plc", "@alice.com"},
	}
)

func (g *lexGen) formatted(r *rand.Rand, format string) string {
	if l := validFormats[format]; len(l) > 0 {
		return l[r.IntN(len(l))]
	}
	return "x"
}

func (g *lexGen) str(d *lexicon.Def) any {
	r := g.r
	if g.hit() {
		mr := g.mr
		var kinds []string
		if d.MaxLength != nil {
			kinds = append(kinds, "maxLength")
		}
		if d.MinLength != nil && *d.MinLength > 0 {
			kinds = append(kinds, "minLength")
		}
		if d.MaxGraphemes != nil {
			kinds = append(kinds, "maxGraphemes")
		}
		if d.MinGraphemes != nil && *d.MinGraphemes > 0 {
			kinds = append(kinds, "minGraphemes")
		}
		if d.Format != "" {
			kinds = append(kinds, "format", "format")
		}
		if len(d.Enum) > 0 || len(d.Const) > 0 {
			kinds = append(kinds, "enum/const")
		}
		kinds = append(kinds, "type")
		switch k := kinds[mr.IntN(len(kinds))]; k {
		case "maxLength":
			// One byte too many, in as few graphemes as possible.
			n := int(*d.MaxLength) + 1
			s := strings.Repeat("👨‍👩‍👧", n/18) + strings.Repeat("a", n%18)
			g.mutated("string of %d bytes > maxLength %d", len(s), *d.MaxLength)
			return s
		case "minLength":
			s := strings.Repeat("a", int(*d.MinLength)-1)
			g.mutated("string of %d bytes < minLength %d", len(s), *d.MinLength)
			return s
		case "maxGraphemes":
			n := int(*d.MaxGraphemes) + 1
			s := g.text(mr, n, -1)
			if mr.IntN(2) == 0 {
				s = strings.Repeat(graphemes[mr.IntN(len(graphemes))], n)
			}
			g.mutated("string of maxGraphemes+1 = %d clusters %q", n, s)
			return s
		case "minGraphemes":
			n := int(*d.MinGraphemes) - 1
			s := strings.Repeat(graphemes[mr.IntN(len(graphemes))], n)
			g.mutated("string of minGraphemes-1 = %d clusters %q", n, s)
			return s
		case "format":
			l := invalidFormats[d.Format]
			if len(l) == 0 {
				break
			}
			s := l[mr.IntN(len(l))]
			g.mutated("invalid %s %q", d.Format, s)
			g.exc = formatExceptions[s]
			return s
		case "enum/const":
			g.mutated("string outside enum/const")
			return "not-in-the-set"
		}
		g.mutated("integer where a string is expected")
		return int64(7)
	}
	var set []string
	if len(d.Enum) > 0 {
		_ = json.Unmarshal(d.Enum, &set)
	}
	if len(d.Const) > 0 {
		var c string
		_ = json.Unmarshal(d.Const, &c)
		return c
	}
	if len(set) > 0 {
		return set[r.IntN(len(set))]
	}
	if d.Format != "" {
		return g.formatted(r, d.Format)
	}
	if len(d.KnownValues) > 0 && r.IntN(2) == 0 {
		return d.KnownValues[r.IntN(len(d.KnownValues))]
	}
	minG, maxG := int(ptr(d.MinGraphemes, 0)), int(ptr(d.MaxGraphemes, -1))
	minB, maxB := int(ptr(d.MinLength, 0)), int(ptr(d.MaxLength, -1))
	hi := 40
	if maxG >= 0 {
		hi = min(hi, maxG)
	}
	if maxB >= 0 {
		hi = min(hi, maxB)
	}
	lo := max(minG, minB)
	if lo > hi {
		hi = lo
	}
	n := lo + r.IntN(hi-lo+1)
	if r.IntN(4) == 0 && maxG >= 0 && maxG <= 400 {
		n = maxG // at the limit
	}
	s := g.text(r, n, maxB)
	for len(s) < minB || (maxB < 0 && false) {
		s += "a"
	}
	return s
}

func (g *lexGen) integer(d *lexicon.Def) any {
	r := g.r
	lo, hi := ptr(d.Minimum, -1000), ptr(d.Maximum, 1<<40)
	if g.hit() {
		mr := g.mr
		switch mr.IntN(4) {
		case 0:
			if d.Minimum != nil {
				g.mutated("integer minimum-1 = %d", *d.Minimum-1)
				return *d.Minimum - 1
			}
		case 1:
			if d.Maximum != nil {
				g.mutated("integer maximum+1 = %d", *d.Maximum+1)
				return *d.Maximum + 1
			}
		case 2:
			if d.Maximum == nil {
				v := int64(1<<53) + mr.Int64N(1<<60)
				g.mutated("integer beyond 2^53: %d", v)
				g.exc = "ts-wide-int"
				return v
			}
		}
		if len(d.Enum) > 0 || len(d.Const) > 0 {
			g.mutated("integer outside enum/const")
			return int64(123456789)
		}
		g.mutated("string where an integer is expected")
		return "12"
	}
	if len(d.Const) > 0 {
		var c int64
		_ = json.Unmarshal(d.Const, &c)
		return c
	}
	if len(d.Enum) > 0 {
		var set []int64
		_ = json.Unmarshal(d.Enum, &set)
		if len(set) > 0 {
			return set[r.IntN(len(set))]
		}
	}
	switch r.IntN(4) {
	case 0:
		return lo
	case 1:
		return hi
	}
	return lo + r.Int64N(hi-lo+1)
}

func (g *lexGen) value(nsid string, d *lexicon.Def, depth int) any {
	r := g.r
	switch d.Type {
	case "string":
		return g.str(d)
	case "integer":
		return g.integer(d)
	case "boolean":
		if g.hit() {
			g.mutated("string where a boolean is expected")
			return "true"
		}
		if len(d.Const) > 0 {
			var c bool
			_ = json.Unmarshal(d.Const, &c)
			return c
		}
		return r.IntN(2) == 0
	case "bytes":
		lo, hi := int(ptr(d.MinLength, 0)), int(ptr(d.MaxLength, 64))
		hi = min(hi, lo+64)
		n := lo + r.IntN(hi-lo+1)
		if g.hit() {
			switch {
			case d.MaxLength != nil && g.mr.IntN(2) == 0:
				n = int(*d.MaxLength) + 1
				g.mutated("bytes of maxLength+1 = %d", n)
			case d.MinLength != nil && *d.MinLength > 0:
				n = int(*d.MinLength) - 1
				g.mutated("bytes of minLength-1 = %d", n)
			default:
				g.mutated("string where bytes are expected")
				return "aGVsbG8"
			}
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		return b
	case "cid-link":
		if g.hit() {
			g.mutated("CID string where a cid-link is expected")
			return validFormats["cid"][0]
		}
		return drislGen{r: r}.cid()
	case "blob":
		return g.blob(d)
	case "null":
		return nil
	case "unknown":
		if g.hit() {
			switch g.mr.IntN(3) {
			case 0:
				g.mutated("string where unknown (an object) is expected")
				return "text"
			case 1:
				g.mutated("blob where unknown is expected")
				return drisl.Blob{Ref: drisl.SumCID(drisl.CodecRaw, nil), MimeType: "image/png", Size: 1}.Value()
			default:
				g.mutated("array where unknown is expected")
				return []any{int64(1)}
			}
		}
		m := map[string]any{"anything": drislGen{r: r, atproto: true}.value(1)}
		if r.IntN(2) == 0 {
			m["$type"] = "com.example.unknownThing"
		}
		return m
	case "array":
		lo, hi := int(ptr(d.MinLength, 0)), int(ptr(d.MaxLength, 4))
		hi = min(hi, lo+4)
		n := lo + r.IntN(hi-lo+1)
		if depth <= 0 {
			n = lo
		}
		if g.hit() {
			switch {
			case d.MaxLength != nil && *d.MaxLength < 30 && g.mr.IntN(2) == 0:
				n = int(*d.MaxLength) + 1
				g.mutated("array of maxLength+1 = %d", n)
			case d.MinLength != nil && *d.MinLength > 0:
				n = int(*d.MinLength) - 1
				g.mutated("array of minLength-1 = %d", n)
			default:
				g.mutated("object where an array is expected")
				return map[string]any{}
			}
		}
		l := make([]any, n)
		for i := range l {
			l[i] = g.value(nsid, d.Items, depth-1)
		}
		return l
	case "ref":
		rd, rns, _ := g.resolve(nsid, d.Ref)
		if rd == nil {
			return nil
		}
		v := g.value(rns, rd, depth)
		if rd.Type == "record" {
			// The record's $type goes with it (lexicon spec, ref).
			g.note("ts-ref-to-record")
			if m, ok := v.(map[string]any); ok {
				m["$type"] = rns
			}
		}
		return v
	case "union":
		return g.union(nsid, d, depth)
	case "object", "record":
		if d.Type == "record" {
			d = d.Record
		}
		return g.object(nsid, d, depth)
	}
	return nil
}

func (g *lexGen) blob(d *lexicon.Def) any {
	r := g.r
	mime := "application/octet-stream"
	if len(d.Accept) > 0 {
		a := d.Accept[r.IntN(len(d.Accept))]
		mime = strings.Replace(a, "*", []string{"png", "jpeg", "webp"}[r.IntN(3)], 1)
		if a == "*/*" {
			mime = "text/plain"
		}
	}
	size := r.Int64N(ptr(d.MaxSize, 1<<20) + 1)
	if g.hit() {
		switch g.mr.IntN(4) {
		case 0:
			if d.MaxSize != nil {
				size = *d.MaxSize + 1
				g.mutated("blob of maxSize+1 = %d", size)
				g.exc = "ts-blob-constraints"
				break
			}
			fallthrough
		case 1:
			if len(d.Accept) > 0 && !slices.Contains(d.Accept, "*/*") {
				mime = "text/x-not-accepted"
				g.mutated("blob of a mimeType not accepted")
				g.exc = "ts-blob-constraints"
				break
			}
			fallthrough
		case 2:
			g.mutated("blob without $type (legacy-looking map)")
			return map[string]any{"ref": drisl.SumCID(drisl.CodecRaw, nil), "mimeType": mime, "size": size}
		default:
			g.mutated("blob whose ref is a dag-cbor CID")
			return map[string]any{"$type": "blob", "ref": drisl.SumCID(drisl.CodecDagCBOR, nil), "mimeType": mime, "size": size}
		}
	}
	return drisl.Blob{Ref: drisl.SumCID(drisl.CodecRaw, []byte(fmt.Sprint(size))), MimeType: mime, Size: size}.Value()
}

func (g *lexGen) union(nsid string, d *lexicon.Def, depth int) any {
	r := g.r
	if g.hit() {
		closed := d.Closed != nil && *d.Closed
		switch g.mr.IntN(3) {
		case 0:
			g.mutated("union member without $type")
			return map[string]any{"a": int64(1)}
		case 1:
			if len(d.Refs) > 0 {
				ref := d.Refs[g.mr.IntN(len(d.Refs))]
				rd, rns, full := g.resolve(nsid, ref)
				if rd != nil && !strings.Contains(full, "#") {
					saved := g.target
					g.target = -1
					v := g.value(rns, rd, depth-1)
					g.target = saved
					if m, ok := v.(map[string]any); ok {
						m["$type"] = full + "#main"
						g.mutated("union member with $type %q (explicit #main)", full+"#main")
						return m
					}
				}
			}
			fallthrough
		default:
			g.mutated("union member of an unlisted $type (closed=%v)", closed)
			return map[string]any{"$type": "com.example.unlisted", "x": int64(1)}
		}
	}
	if len(d.Refs) == 0 {
		return map[string]any{"$type": "com.example.unlisted", "x": int64(1)}
	}
	ref := d.Refs[r.IntN(len(d.Refs))]
	rd, rns, full := g.resolve(nsid, ref)
	if rd == nil {
		return map[string]any{"$type": full}
	}
	v := g.value(rns, rd, depth-1)
	if m, ok := v.(map[string]any); ok {
		m["$type"] = full
	}
	return v
}

func (g *lexGen) object(nsid string, d *lexicon.Def, depth int) any {
	r := g.r
	m := map[string]any{}
	props := make([]string, 0, len(d.Properties))
	for k := range d.Properties {
		props = append(props, k)
	}
	slices.Sort(props)
	if g.hit() {
		switch g.mr.IntN(3) {
		case 0:
			if len(d.Required) > 0 {
				drop := d.Required[g.mr.IntN(len(d.Required))]
				g.mutated("required property %q missing", drop)
				defer delete(m, drop)
				break
			}
			fallthrough
		case 1:
			var nonNullable []string
			for _, p := range props {
				if !slices.Contains(d.Nullable, p) {
					nonNullable = append(nonNullable, p)
				}
			}
			if len(nonNullable) > 0 {
				p := nonNullable[g.mr.IntN(len(nonNullable))]
				g.mutated("null in non-nullable property %q", p)
				defer func() { m[p] = nil }()
				break
			}
			fallthrough
		default:
			g.mutated("string where an object is expected")
			return "object"
		}
	}
	for _, p := range props {
		req := slices.Contains(d.Required, p)
		if !req && (depth <= 0 || r.IntN(2) == 0) {
			continue
		}
		if slices.Contains(d.Nullable, p) && r.IntN(4) == 0 {
			m[p] = nil
			continue
		}
		m[p] = g.value(nsid, d.Properties[p], depth-1)
	}
	return m
}

type lexCase struct {
	NSID     string `json:"nsid"`
	Record   tv     `json:"record"`
	record   any
	mutation string
	exc      string
	notes    map[string]bool
	goErr    error
}

func loadLexicons(t *testing.T) *lexicon.Catalog {
	t.Helper()
	cat := lexicon.NewCatalog(lexicon.CatalogOptions{})
	for _, dir := range lexiconDirs {
		if err := cat.LoadDir(context.Background(), dir); err != nil {
			t.Fatalf("load %s: %v", dir, err)
		}
	}
	return cat
}

func TestLexicon(t *testing.T) {
	t.Parallel() // each family runs its own node process
	ctx := context.Background()
	for _, dir := range lexiconDirs {
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("schemas: %v", err)
		}
	}
	cat := loadLexicons(t)
	var records []string
	for _, nsid := range cat.NSIDs() {
		sf, _ := cat.Schema(nsid)
		if d := sf.Defs["main"]; d != nil && d.Type == "record" {
			records = append(records, nsid)
		}
	}
	r := rng("lexicon")
	var cases []*lexCase
	for _, nsid := range records {
		sf, _ := cat.Schema(nsid)
		for i := range 10 {
			s1, s2 := r.Uint64(), r.Uint64()
			g := &lexGen{cat: cat, r: rand.New(rand.NewPCG(s1, s2)), mr: rand.New(rand.NewPCG(s2, s1)), target: -1}
			g.value(nsid, sf.Defs["main"], 4)
			target := -1
			if i >= 3 && i < 9 { // 3 valid records, 6 mutated ones, 1 of the wrong $type per collection
				target = 1 + r.IntN(g.visits)
			}
			g = &lexGen{cat: cat, r: rand.New(rand.NewPCG(s1, s2)), mr: rand.New(rand.NewPCG(s2, s1)), target: target}
			rec := g.value(nsid, sf.Defs["main"], 4)
			m, ok := rec.(map[string]any)
			if ok {
				m["$type"] = nsid
				if i == 9 {
					m["$type"] = nsid + "x"
					g.mutation = "record $type of another collection"
					g.notes = nil
				}
			}
			c := &lexCase{NSID: nsid, record: rec, mutation: g.mutation, exc: g.exc, notes: g.notes}
			c.Record = toTV(rec)
			c.goErr = cat.ValidateRecord(ctx, nsid, "", rec, lexicon.ValidateOptions{})
			cases = append(cases, c)
		}
	}
	req := struct {
		Dirs  []string   `json:"dirs"`
		Cases []*lexCase `json:"cases"`
	}{lexiconDirs, cases}
	var ans struct {
		Results []struct {
			Valid bool   `json:"valid"`
			Error string `json:"error"`
		} `json:"results"`
	}
	callNode(t, "lexicon", req, &ans)
	if len(ans.Results) != len(cases) {
		t.Fatalf("node answered %d results for %d cases", len(ans.Results), len(cases))
	}
	f := newFailures(t)
	stats := map[string]int{}
	for i, c := range cases {
		res := ans.Results[i]
		ours := c.goErr == nil
		if c.goErr != nil && !errors.Is(c.goErr, lexicon.ErrInvalidData) {
			f.add("lexicon error that is not a verdict", "%s: %v", c.NSID, c.goErr)
		}
		kind := "valid"
		if c.mutation != "" {
			kind = "mutated"
		}
		j, _ := drisl.MarshalJSON(c.record)
		detail := fmt.Sprintf("%s (%s): townhall valid=%v (%v), @atproto/lexicon valid=%v (%s)\n  record %s", c.NSID, orNone(c.mutation), ours, c.goErr, res.Valid, res.Error, j)
		switch {
		case c.notes["ts-ref-to-record"]:
			// The reference refuses any record that reaches a ref to a
			// record definition; our verdict has nothing to compare with.
			// Unmutated and under no other exception, the record is valid
			// here.
			stats["exception ts-ref-to-record"]++
			if res.Valid || !strings.Contains(res.Error, "Unexpected lexicon type: record") {
				f.add("exception ts-ref-to-record no longer holds", "%s", detail)
			}
			if c.mutation == "" && c.exc == "" && len(c.notes) == 1 && !ours {
				f.add("unmutated record with a ref to a record refused here", "%s", detail)
			}
		case c.exc != "" || (c.mutation == "" && len(c.notes) > 0):
			exc := c.exc
			if exc == "" {
				for n := range c.notes {
					exc = n
				}
			}
			stats["exception "+exc]++
			if want := lexExceptions[exc]; ours != want[0] || res.Valid != want[1] {
				f.add("exception "+exc+" no longer holds", "want townhall valid=%v, reference valid=%v; %s", want[0], want[1], detail)
			}
		default:
			stats[fmt.Sprintf("%s: both %v", kind, ours)]++
			if ours != res.Valid {
				f.add("verdicts differ", "%s", detail)
			}
		}
	}
	f.done()
	t.Logf("%d collections, %d records; agreeing verdicts: %v", len(records), len(cases), stats)
	if n := stats["valid: both true"]; n < len(records)*2 {
		t.Errorf("only %d of %d unmutated records were valid: the generator is not exercising the valid path", n, len(records)*3)
	}
	if n := stats["mutated: both false"]; n < len(records)*5 {
		t.Errorf("only %d of %d mutated records were invalid: the mutations are not biting", n, len(records)*7)
	}
}

func orNone(s string) string {
	if s == "" {
		return "unmutated"
	}
	return s
}

// TestLexiconGraphemes checks maxGraphemes at its limit on a schema of its
// own: strings of exactly maxGraphemes and maxGraphemes+1 clusters drawn from
// the shared pool must get the same verdict, and so must strings of exactly
// maxGraphemes Indic conjuncts (Unicode 15.1 rule GB9c; once an exception,
// fixed in package lexicon).
func TestLexiconGraphemes(t *testing.T) {
	t.Parallel() // each family runs its own node process
	ctx := context.Background()
	r := rng("lexicon-graphemes")
	const nsid = "com.example.interop.graphemes"
	max := 1 + r.IntN(40)
	schema := fmt.Sprintf(`{"lexicon":1,"id":%q,"defs":{"main":{"type":"record","key":"any","record":{"type":"object","required":["s"],"properties":{"s":{"type":"string","maxGraphemes":%d}}}}}}`, nsid, max)
	cat := lexicon.NewCatalog(lexicon.CatalogOptions{})
	if err := cat.AddJSON([]byte(schema)); err != nil {
		t.Fatalf("schema: %v", err)
	}
	type gcase struct {
		kind string
		s    string
	}
	var gcs []gcase
	for range 40 {
		n := max
		kind := "at the limit"
		if r.IntN(2) == 0 {
			n, kind = max+1, "one past the limit"
		}
		var b strings.Builder
		for range n {
			b.WriteString(graphemes[r.IntN(len(graphemes))])
		}
		// A unit may join its neighbour (a lone regional indicator, a
		// spacing mark): count what the string is, not what was drawn.
		gcs = append(gcs, gcase{kind, b.String()})
	}
	for range 6 {
		gcs = append(gcs, gcase{"conjuncts at the limit", strings.Repeat(indicConjunct, max)})
	}
	var cases []*lexCase
	for _, c := range gcs {
		rec := map[string]any{"$type": nsid, "s": c.s}
		lc := &lexCase{NSID: nsid, Record: toTV(rec), record: rec, mutation: c.kind}
		lc.goErr = cat.ValidateRecord(ctx, nsid, "", rec, lexicon.ValidateOptions{})
		cases = append(cases, lc)
	}
	var ans struct {
		Results []struct {
			Valid bool   `json:"valid"`
			Error string `json:"error"`
		} `json:"results"`
	}
	callNode(t, "lexicon", map[string]any{"dirs": []string{}, "schemas": []json.RawMessage{json.RawMessage(schema)}, "cases": cases}, &ans)
	if len(ans.Results) != len(cases) {
		t.Fatalf("node answered %d results for %d cases", len(ans.Results), len(cases))
	}
	f := newFailures(t)
	stats := map[string]int{}
	for i, c := range cases {
		ours, theirs := c.goErr == nil, ans.Results[i].Valid
		stats[fmt.Sprintf("%s: townhall %v, reference %v", c.mutation, ours, theirs)]++
		if ours != theirs {
			f.add("grapheme verdicts differ", "%q (%s, maxGraphemes %d): townhall valid=%v (%v), reference valid=%v (%s)", c.record.(map[string]any)["s"], c.mutation, max, ours, c.goErr, theirs, ans.Results[i].Error)
		}
	}
	f.done()
	t.Logf("maxGraphemes %d: %v", max, stats)
	if stats["one past the limit: townhall false, reference false"] == 0 {
		t.Errorf("no string past the limit was refused: the test is not biting")
	}
}
