package lexicon

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bluesky-social/indigo/atproto/syntax"
	uax29 "github.com/clipperhouse/uax29/v2/graphemes"
	"github.com/ipfs/go-cid"
)

// format is a string format, checked through indigo's syntax package.
type format uint8

const (
	fmtNone format = iota
	fmtDID
	fmtHandle
	fmtAtIdentifier
	fmtNSID
	fmtATURI
	fmtCID
	fmtDatetime
	fmtTID
	fmtRecordKey
	fmtURI
	fmtLanguage
)

var formatByName = map[string]format{
	"did": fmtDID, "handle": fmtHandle, "at-identifier": fmtAtIdentifier, "nsid": fmtNSID,
	"at-uri": fmtATURI, "cid": fmtCID, "datetime": fmtDatetime, "tid": fmtTID,
	"record-key": fmtRecordKey, "uri": fmtURI, "language": fmtLanguage,
}

var formatNames = [...]string{
	fmtNone: "", fmtDID: "did", fmtHandle: "handle", fmtAtIdentifier: "at-identifier", fmtNSID: "nsid",
	fmtATURI: "at-uri", fmtCID: "cid", fmtDatetime: "datetime", fmtTID: "tid",
	fmtRecordKey: "record-key", fmtURI: "uri", fmtLanguage: "language",
}

func (f format) String() string { return formatNames[f] }

// check reports whether s is in format f.
func (f format) check(s string, lenientDatetime bool) error {
	if f.fastAccept(s) {
		return nil
	}
	return f.slowCheck(s, lenientDatetime)
}

// slowCheck is check without the fast path: indigo's syntax package (and,
// for cid, a CID decode).
func (f format) slowCheck(s string, lenientDatetime bool) error {
	var err error
	switch f {
	case fmtDID:
		_, err = syntax.ParseDID(s)
	case fmtHandle:
		_, err = syntax.ParseHandle(s)
	case fmtAtIdentifier:
		_, err = syntax.ParseAtIdentifier(s)
	case fmtNSID:
		_, err = syntax.ParseNSID(s)
	case fmtATURI:
		_, err = syntax.ParseATURI(s)
	case fmtCID:
		err = checkCID(s)
	case fmtDatetime:
		if lenientDatetime {
			_, err = syntax.ParseDatetimeLenient(s)
		} else {
			_, err = syntax.ParseDatetime(s)
		}
	case fmtTID:
		_, err = syntax.ParseTID(s)
	case fmtRecordKey:
		_, err = syntax.ParseRecordKey(s)
	case fmtURI:
		_, err = syntax.ParseURI(s)
	case fmtLanguage:
		_, err = syntax.ParseLanguage(s)
		if err != nil && privateUseLanguage(s) {
			err = nil
		}
	}
	return err
}

// errCIDv0 rejects CIDv0 strings that pass syntax.ParseCID (it refuses only
// those starting "Qmb"); the interop vectors list CIDv0 as invalid ("old
// CIDv0 not supported").
var errCIDv0 = errors.New("CIDv0 not allowed in atproto")

// errCIDNotCanonical rejects a base32 CID string that is not the canonical
// encoding of its bytes.
var errCIDNotCanonical = errors.New("base32 CID string is not canonical")

// checkCID checks the cid format: the lexicon spec's "CID in string format,
// details specified in Data Model", where the data model names the string
// field with format cid as one way "to include a CID hash reference". So
// the string must be a CID: it passes syntax.ParseCID (characters and
// length) and decodes as a CIDv1 in any multibase with any codec and hash
// (the most expansive reading, as the spec asks of identifier formats; the
// "blessed" CID types are an application matter). syntax.ParseCID alone
// accepts strings that are no CID, such as a real CID with its last
// character dropped.
func checkCID(s string) error {
	if _, err := syntax.ParseCID(s); err != nil {
		return err
	}
	c, err := cid.Decode(s)
	if err != nil {
		return err
	}
	if c.Version() != 1 {
		return errCIDv0
	}
	if s[0] == 'b' && c.String() != s {
		// Base32 with padding bits set: go-cid's decoder ignores them,
		// the TypeScript reference's rejects them.
		return errCIDNotCanonical
	}
	return nil
}

// privateUseLanguage reports whether s is an RFC 5646 private-use tag
// ("x-" or "X-" then subtags of 1 to 8 letters and digits), which is a
// well-formed language tag that syntax.ParseLanguage rejects when the x is
// upper case (interop vector "X-fr-CH").
func privateUseLanguage(s string) bool {
	if len(s) < 3 || len(s) > 128 || (s[0] != 'x' && s[0] != 'X') || s[1] != '-' {
		return false
	}
	return alnumSubtags(s[2:], 8)
}

// graphemes counts the extended grapheme clusters of s (Unicode UAX #29 for
// Unicode 17, including GB9c Indic conjuncts, as implemented by
// github.com/clipperhouse/uax29/v2). Printable ASCII without CR is one
// cluster per byte, which is the common case and skips segmentation.
func graphemes(s string) int64 {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c == '\r' {
			n := int64(0)
			for it := uax29.FromString(s); it.Next(); {
				n++
			}
			return n
		}
	}
	return int64(len(s))
}

// isExtendish reports whether r is in a few old, stable ranges whose
// characters have Grapheme_Cluster_Break Extend or ZWJ in every Unicode
// version since 11: combining diacritics, ZWJ, variation selectors, the
// keycap mark, emoji skin-tone modifiers and tag characters. UAX #29 (GB9)
// never breaks before them unless they follow a control character (GB4).
func isExtendish(r rune) bool {
	switch {
	case r >= 0x0300 && r <= 0x036F, r == 0x200D, r >= 0xFE00 && r <= 0xFE0F, r == 0x20E3,
		r >= 0x1F3FB && r <= 0x1F3FF, r >= 0xE0020 && r <= 0xE007F, r >= 0xE0100 && r <= 0xE01EF:
		return true
	}
	return false
}

func isRegionalIndicator(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }

// graphemeBound returns an upper bound of the number of grapheme clusters
// of s, without segmentation: the code points, less those that can never
// start a cluster (an isExtendish character after a printable one; the
// second of each pair of regional indicators, GB12 and GB13). It is exact
// for most text, including emoji with ZWJ sequences, skin tones and flags.
func graphemeBound(s string) int64 {
	var n int64
	attach := false // the previous code point is printable: extenders join it
	ri := 0         // length of the current run of regional indicators
	for _, r := range s {
		if isRegionalIndicator(r) {
			ri++
			if ri%2 == 0 {
				continue
			}
			n++
			attach = true
			continue
		}
		ri = 0
		if attach && isExtendish(r) {
			continue
		}
		n++
		attach = r >= 0x20 && r < 0x7F || isExtendish(r) ||
			(r >= 0xA0 && unicode.IsPrint(r) && !unicode.Is(unicode.Cf, r))
	}
	return n
}

// mimeAccepted reports whether MIME type mt matches one of the accept
// patterns ("*/*", "image/*", "image/png"). Case-sensitive, like the
// reference implementations.
func mimeAccepted(accept []string, mt string) bool {
	for _, p := range accept {
		if p == "*/*" {
			return true
		}
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(mt, prefix) {
				return true
			}
		} else if p == mt {
			return true
		}
	}
	return false
}
