package lexicon

import (
	"strings"
	"unicode/utf8"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/rivo/uniseg"
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

// slowCheck is check without the fast path: indigo's syntax package alone.
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
		_, err = syntax.ParseCID(s)
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

// privateUseLanguage reports whether s is an RFC 5646 private-use tag
// ("x-" or "X-" then subtags of 1 to 8 letters and digits), which is a
// well-formed language tag that syntax.ParseLanguage rejects when the x is
// upper case (interop vector "X-fr-CH").
func privateUseLanguage(s string) bool {
	if len(s) < 3 || len(s) > 128 || (s[0] != 'x' && s[0] != 'X') || s[1] != '-' {
		return false
	}
	for _, sub := range strings.Split(s[2:], "-") {
		if len(sub) < 1 || len(sub) > 8 {
			return false
		}
		for i := 0; i < len(sub); i++ {
			if !isAlnum(sub[i]) {
				return false
			}
		}
	}
	return true
}

// graphemes counts the extended grapheme clusters of s (Unicode UAX #29, as
// implemented by github.com/rivo/uniseg). Printable ASCII without CR is one
// cluster per byte, which is the common case and skips segmentation.
func graphemes(s string) int64 {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c == '\r' {
			return int64(uniseg.GraphemeClusterCount(s))
		}
	}
	return int64(len(s))
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
