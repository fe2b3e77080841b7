package lexicon

import (
	"io/fs"
	"math/rand/v2"
	"path"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/townhall-dev/townhall/internal/testvectors"
)

var syntaxFiles = map[string]format{
	"atidentifier": fmtAtIdentifier, "aturi": fmtATURI, "cid": fmtCID, "datetime": fmtDatetime,
	"did": fmtDID, "handle": fmtHandle, "language": fmtLanguage, "nsid": fmtNSID,
	"recordkey": fmtRecordKey, "tid": fmtTID, "uri": fmtURI,
}

// notCIDs are the strings of cid_syntax_valid.txt that are no CID: a
// documented exception of the vectors, asserted. The lexicon spec defines
// the cid format as "CID in string format, details specified in Data
// Model" (https://atproto.com/specs/lexicon, String Formats), and the data
// model lists a "`string` field type, with Lexicon string format `cid`"
// among the "ways to include a CID hash reference in an atproto object"
// (https://atproto.com/specs/data-model, Link and CID Formats). These three
// come from is-ipfs's multibase tests and do not decode as CIDs (a base64
// string that is not even valid base64, a base58btc string whose multihash
// runs past its end, and base10, which no CID decoder supports), so the
// format rejects them; so does the TypeScript reference, which parses the
// string with CID.parse.
var notCIDs = map[string]string{
	"mBcDxtdWx0aWhhc2g+":                 "not valid base64",
	"z7x3CtScH765HvShXT":                 "multihash longer than the input",
	"7134036155352661643226414134664076": "base10 multibase",
}

// TestFastFormats checks, on the atproto interop syntax vectors, that the
// fast paths accept only what the slow check (indigo's syntax package, and
// a CID decode for cid) accepts, reject every invalid vector, and take most
// valid ones. Valid vectors in notCIDs must be rejected.
func TestFastFormats(t *testing.T) {
	seenNotCIDs := 0
	vectors := testvectors.FS()
	files, err := fs.Glob(vectors, "syntax/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatal("no syntax vectors", err)
	}
	for _, file := range files {
		base := path.Base(file)
		name, _, _ := strings.Cut(base, "_")
		f, ok := syntaxFiles[name]
		if !ok {
			t.Fatalf("unmapped vector file %s", base)
		}
		valid := strings.HasSuffix(base, "_syntax_valid.txt")
		// *_parse_invalid vectors are well-formed but semantically invalid
		// (duplicate language variants, impossible dates): formats check
		// syntax, so for them only the subset property is asserted.
		parseInvalid := strings.HasSuffix(base, "_parse_invalid.txt")
		fast, total := 0, 0
		for _, s := range testvectors.Lines(t, file) {
			total++
			slow := f.check(s, false) // fast path, then syntax
			authority := syntaxCheck(f, s, false)
			if f.fastAccept(s) {
				fast++
				if authority != nil {
					t.Errorf("%s: fast path accepts %q, syntax says %v", base, s, authority)
				}
			}
			if (slow == nil) != (authority == nil) {
				t.Errorf("%s: %q: check %v, syntax %v", base, s, slow, authority)
			}
			if strings.HasSuffix(base, "_syntax_invalid.txt") && slow == nil {
				t.Errorf("%s: invalid vector %q accepted", base, s)
			}
			if _, notCID := notCIDs[s]; valid && f == fmtCID && notCID {
				seenNotCIDs++
				if slow == nil {
					t.Errorf("%s: %q (%s) accepted as a CID", base, s, notCIDs[s])
				}
				continue
			}
			if valid && authority != nil {
				t.Errorf("%s: syntax rejects valid vector %q: %v", base, s, authority)
			}
		}
		if valid {
			t.Logf("%s: fast path takes %d of %d", base, fast, total)
			if f == fmtCID && fast != 0 {
				t.Errorf("%s: fast path takes %d vectors, none of which is a base32 sha2-256 CID", base, fast)
			}
		} else if !parseInvalid && fast != 0 {
			t.Errorf("%s: fast path accepts %d invalid vectors", base, fast)
		}
	}
	if seenNotCIDs != len(notCIDs) {
		t.Errorf("%d of the %d non-CID vectors found in cid_syntax_valid.txt", seenNotCIDs, len(notCIDs))
	}
}

// TestCIDFormat checks that the cid format is a real CIDv1 string, and that
// the fast path takes the usual atproto CIDs.
func TestCIDFormat(t *testing.T) {
	for _, c := range []struct {
		s           string
		valid, fast bool
	}{
		{"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm", true, true},
		{"bafkreieqcmpfqfgcrrtg5wqtjiyxomqcw77akmhstpmwg4b64nkb56jnwy", true, true},
		{"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hp", false, false},   // last character dropped
		{"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpmq", false, false}, // one too many
		{"bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", true, false},   // dag-pb: valid, slow path
		{"f017012202c5f688262e0ece8569aa6f94d60aad55ca8d9d83734e4a7430d0cff6588ec2b", true, false},
		{"QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR", false, false},
		{"QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", false, false}, // CIDv0 not starting Qmb
		{"bafyrei" + strings.Repeat("a", 52), true, true},                // zero digest
		{"bafyrei" + strings.Repeat("a", 51) + "b", false, false},        // padding bits set
	} {
		err := fmtCID.check(c.s, false)
		if (err == nil) != c.valid {
			t.Errorf("%q: check %v, want valid %v", c.s, err, c.valid)
		}
		if got := fastCID(c.s); got != c.fast {
			t.Errorf("%q: fast path %v, want %v", c.s, got, c.fast)
		}
	}
}

// syntaxCheck is format.check without the fast path.
func syntaxCheck(f format, s string, lenient bool) error {
	return f.slowCheck(s, lenient)
}

// FuzzFastFormats checks the subset property on random strings.
func FuzzFastFormats(f *testing.F) {
	for _, s := range []string{"did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:web:example.com", "alice.bsky.social",
		"app.bsky.feed.post", "at://did:plc:x/app.bsky.feed.post/3l6oveex3ii2l", "2024-11-20T23:15:04.123Z",
		"2024-02-29T00:00:00Z", "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq", "3l6oveex3ii2l",
		"https://example.com/a?b=c", "en-US", "i-klingon", "self", "..", "xn--ls8h.test"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for fm := fmtDID; fm <= fmtLanguage; fm++ {
			if fm.fastAccept(s) {
				if err := syntaxCheck(fm, s, false); err != nil {
					t.Fatalf("%s: fast path accepts %q, syntax says %v", fm, s, err)
				}
			}
		}
	})
}

func TestGraphemeBound(t *testing.T) {
	for _, c := range []struct {
		s     string
		bound int64
	}{
		{"", 0}, {"abc", 3}, {"e\u0301", 1}, {"\n\u0301", 2}, {"👩‍👩‍👧‍👦", 4}, {"🇯🇵🇫🇷", 2}, {"🇯🇵🇫", 2},
		{"👍🏽", 1}, {"1️⃣", 1}, {"🏴󠁧󠁢󠁥󠁮󠁧󠁿", 1}, {"\r\n", 2}, {"家族", 2},
	} {
		if got := graphemeBound(c.s); got != c.bound {
			t.Errorf("graphemeBound(%q) = %d, want %d", c.s, got, c.bound)
		}
		if g := graphemes(c.s); g > graphemeBound(c.s) {
			t.Errorf("%q: %d graphemes, more than the bound %d", c.s, g, graphemeBound(c.s))
		}
	}
}

// FuzzGraphemeBound checks that graphemeBound never undercounts graphemes.
func FuzzGraphemeBound(f *testing.F) {
	for _, s := range []string{"👩‍👩‍👧‍👦 家族と一緒に 🇯🇵 ", "e\u0301\u0301", "\x00\u200d", "🇯🇵🇫🇷🇩", "a\u0600b", "\u200b\ufe0f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if g := graphemes(s); g > graphemeBound(s) {
			t.Fatalf("%q: %d graphemes, bound %d", s, g, graphemeBound(s))
		}
	})
}

// TestFastTIDExact: fastTID accepts exactly what syntax.ParseTID accepts,
// on random 13-byte strings over the TID alphabet and its neighbours, and
// on every byte in every position of a valid TID.
func TestFastTIDExact(t *testing.T) {
	check := func(s string) {
		t.Helper()
		_, err := syntax.ParseTID(s)
		if fastTID(s) != (err == nil) {
			t.Fatalf("%q: fastTID %v, syntax.ParseTID %v", s, fastTID(s), err)
		}
	}
	const alphabet = "1234567890abcdefghijklmnopqrstuvwxyz{`AZ-_~"
	r := rand.New(rand.NewPCG(91, 92))
	for range 20000 {
		b := make([]byte, 12+r.IntN(3))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		check(string(b))
	}
	valid := []byte("3l6oveex3ii2l")
	check(string(valid))
	for i := range valid {
		for c := 0; c < 256; c++ {
			b := append([]byte(nil), valid...)
			b[i] = byte(c)
			check(string(b))
		}
	}
}

// TestFastDatetimeExact: on datetimes of the shape fastDatetime reads
// (years 1000 to 9999, "Z", 0 to 9 fraction digits) with random values in
// and out of range (months 00-19, days 00-39, Feb 29 of leap and common
// years, hours 00-29, minutes and seconds 00-69) and stray non-digits,
// it accepts exactly what syntax.ParseDatetime accepts.
func TestFastDatetimeExact(t *testing.T) {
	r := rand.New(rand.NewPCG(93, 94))
	accepted := 0
	for range 50000 {
		d := func(max int) byte { return byte('0' + r.IntN(max)) }
		b := []byte{byte('1' + r.IntN(9)), d(10), d(10), d(10), '-', d(2), d(10), '-', d(4), d(10), 'T',
			d(3), d(10), ':', d(7), d(10), ':', d(7), d(10)}
		if r.IntN(10) == 0 {
			b[5], b[6], b[8], b[9] = '0', '2', '2', '9' // Feb 29
		}
		if f := r.IntN(11); f > 0 {
			b = append(b, '.')
			for range f - 1 {
				b = append(b, d(10))
			}
		}
		b = append(b, 'Z')
		if r.IntN(20) == 0 {
			b[r.IntN(len(b))] = "x/:.-T9"[r.IntN(7)]
		}
		s := string(b)
		_, err := syntax.ParseDatetime(s)
		if fastDatetime(s) != (err == nil) {
			t.Fatalf("%q: fastDatetime %v, syntax.ParseDatetime %v", s, fastDatetime(s), err)
		}
		if err == nil {
			accepted++
		}
	}
	if accepted < 5000 {
		t.Fatalf("only %d of 50,000 datetimes valid: the test needs more", accepted)
	}
}
