package lexicon

import (
	"strings"

	"github.com/townhall-dev/townhall/internal/recordkey"
)

// Fast acceptance of string formats.
//
// indigo's syntax package defines the formats, mostly with regular
// expressions, which cost far more than the rest of a validation. Each
// function below accepts a subset of what the matching syntax.Parse*
// function accepts, by a single allocation-free scan; a string it does not
// accept goes to syntax.Parse*, which decides (and writes the error). So the
// syntax package stays the authority, and the common, well-formed strings
// skip the regular expressions. TestFastFormats and FuzzFastFormats check
// the subset property against the syntax package on the interop syntax
// vectors and on random strings.

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlpha(c byte) bool { return isLower(c) || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }
func isDIDChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == ':' || c == '%' || c == '-'
}

// fastAccept reports whether s is certainly valid in format f.
func (f format) fastAccept(s string) bool {
	switch f {
	case fmtDID:
		return fastDID(s)
	case fmtHandle:
		return fastHandle(s)
	case fmtAtIdentifier:
		if strings.HasPrefix(s, "did:") {
			return fastDID(s)
		}
		return fastHandle(s)
	case fmtNSID:
		return fastNSID(s)
	case fmtATURI:
		return fastATURI(s)
	case fmtCID:
		return fastCID(s)
	case fmtDatetime:
		return fastDatetime(s)
	case fmtTID:
		return fastTID(s)
	case fmtRecordKey:
		return recordkey.Valid(s)
	case fmtURI:
		return fastURI(s)
	case fmtLanguage:
		return fastLanguage(s)
	}
	return false
}

// did:<method>:<id>, method [a-z]+, id of DID characters not ending in ':' or '%'.
func fastDID(s string) bool {
	if len(s) > 2048 || !strings.HasPrefix(s, "did:") {
		return false
	}
	i := 4
	for i < len(s) && isLower(s[i]) {
		i++
	}
	if i == 4 || i >= len(s) || s[i] != ':' {
		return false
	}
	id := s[i+1:]
	if id == "" {
		return false
	}
	for j := 0; j < len(id); j++ {
		if !isDIDChar(id[j]) {
			return false
		}
	}
	last := id[len(id)-1]
	return last != ':' && last != '%'
}

// label checks one DNS-like label: 1 to 63 letters, digits and hyphens, not
// starting or ending with a hyphen.
func label(l string, hyphens bool) bool {
	if len(l) == 0 || len(l) > 63 {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if isAlnum(c) {
			continue
		}
		if c != '-' || !hyphens || i == 0 || i == len(l)-1 {
			return false
		}
	}
	return true
}

func fastHandle(s string) bool {
	if len(s) > 253 {
		return false
	}
	n := 0
	for rest := s; ; n++ {
		l, after, more := strings.Cut(rest, ".")
		if !label(l, true) {
			return false
		}
		if !more {
			return n >= 1 && isAlpha(l[0])
		}
		rest = after
	}
}

func fastNSID(s string) bool {
	if len(s) > 317 {
		return false
	}
	n := 0
	for rest := s; ; n++ {
		seg, after, more := strings.Cut(rest, ".")
		if !more { // name: a letter, then letters and digits
			return n >= 2 && label(seg, false) && isAlpha(seg[0])
		}
		if !label(seg, true) || (n == 0 && !isAlpha(seg[0])) {
			return false
		}
		rest = after
	}
}

// at://<did or handle>[/<nsid>[/<record key>]]
func fastATURI(s string) bool {
	if len(s) > 8192 || !strings.HasPrefix(s, "at://") {
		return false
	}
	rest := s[5:]
	auth, rest, more := strings.Cut(rest, "/")
	if strings.HasPrefix(auth, "did:") {
		if !fastDID(auth) {
			return false
		}
	} else if !fastHandle(auth) {
		return false
	}
	if !more {
		return true
	}
	coll, rkey, more := strings.Cut(rest, "/")
	if !fastNSID(coll) {
		return false
	}
	if !more {
		return true
	}
	return recordkey.Valid(rkey)
}

// fastCID accepts the usual atproto CIDs: base32 CIDv1 of dag-cbor
// ("bafyrei") or raw ("bafkrei") data with a sha2-256 digest, 59 characters.
// The prefix fixes the first 30 bits (version, codec, hash code, length
// 0x20), the next character holds the last 2 bits of the length (zero) and
// 3 of the digest, and the last character ends in 2 zero padding bits.
func fastCID(s string) bool {
	if len(s) != 59 || (s[:7] != "bafyrei" && s[:7] != "bafkrei") || s[7] < 'a' || s[7] > 'h' {
		return false
	}
	for i := 8; i < len(s); i++ {
		if c := s[i]; !isLower(c) && (c < '2' || c > '7') {
			return false
		}
	}
	last := s[58]
	v := last - 'a'
	if last <= '7' {
		v = last - '2' + 26
	}
	return v%4 == 0
}

func fastTID(s string) bool {
	if len(s) != 13 || tidChars[s[0]]&tidFirst == 0 {
		return false
	}
	c := tidChars[s[1]] & tidChars[s[2]] & tidChars[s[3]] & tidChars[s[4]] & tidChars[s[5]] & tidChars[s[6]] &
		tidChars[s[7]] & tidChars[s[8]] & tidChars[s[9]] & tidChars[s[10]] & tidChars[s[11]] & tidChars[s[12]]
	return c&tidAny != 0
}

// tidChars classes the bytes of a TID: tidAny for base32-sortable
// characters ([2-7a-z]), tidFirst for those that may start one ([2-7a-j]).
// A table, not comparisons: fastTID checks every record key of a
// tid-keyed collection.
var tidChars = func() (t [256]uint8) {
	for c := '2'; c <= '7'; c++ {
		t[c] = tidAny | tidFirst
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = tidAny
		if c <= 'j' {
			t[c] |= tidFirst
		}
	}
	return t
}()

const (
	tidAny   = 1
	tidFirst = 2
)

// <scheme>:<printable ASCII>, scheme a lower-case letter then up to 80 of [a-z.-].
func fastURI(s string) bool {
	if len(s) > 8192 {
		return false
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || len(scheme) == 0 || len(scheme) > 81 || !isLower(scheme[0]) || rest == "" {
		return false
	}
	for i := 1; i < len(scheme); i++ {
		if c := scheme[i]; !isLower(c) && c != '.' && c != '-' {
			return false
		}
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// "i" or 2-3 lower-case letters, then "-"-separated alphanumeric subtags.
func fastLanguage(s string) bool {
	if len(s) > 128 {
		return false
	}
	first, rest, more := strings.Cut(s, "-")
	if first != "i" && (len(first) < 2 || len(first) > 3 || !isLower(first[0]) || !isLower(first[1]) || (len(first) == 3 && !isLower(first[2]))) {
		return false
	}
	return !more || alnumSubtags(rest, 0)
}

// alnumSubtags reports whether s is one or more "-"-separated non-empty
// alphanumeric subtags, each of at most maxLen bytes if maxLen > 0.
func alnumSubtags(s string, maxLen int) bool {
	for more := true; more; {
		var sub string
		sub, s, more = strings.Cut(s, "-")
		if sub == "" || (maxLen > 0 && len(sub) > maxLen) {
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

// fastDatetime accepts YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z with a year from 1000,
// a real calendar day, hours 00-23, minutes and seconds 00-59.
func fastDatetime(s string) bool {
	n := len(s)
	if n < 20 || n > 30 || s[n-1] != 'Z' {
		return false
	}
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return false
	}
	// Two digits at i, or -1 (unrolled: this runs for every record's
	// createdAt).
	num2 := func(i int) int {
		a, b := s[i]-'0', s[i+1]-'0'
		if a > 9 || b > 9 {
			return -1
		}
		return int(a)*10 + int(b)
	}
	year := -1
	if hi, lo := num2(0), num2(2); hi >= 0 && lo >= 0 {
		year = hi*100 + lo
	}
	month, day := num2(5), num2(8)
	hour, minute, sec := num2(11), num2(14), num2(17)
	if year < 1000 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return false
	}
	if day > daysIn(month, year) {
		return false
	}
	if n == 20 {
		return true
	}
	// fraction: '.', 1 to 9 digits, 'Z'
	if s[19] != '.' || n-21 < 1 || n-21 > 9 {
		return false
	}
	for j := 20; j < n-1; j++ {
		if !isDigit(s[j]) {
			return false
		}
	}
	return true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
