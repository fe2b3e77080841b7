package repo

import (
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// The syntax checks of an event's rev and time accept what indigo's
// atproto/syntax accepts, as every other check of this package does; but
// its regular expressions were a few percent of the cost of checking a
// #commit event. These functions therefore first try the one form a valid
// value takes in practice, with a check that accepts only strings syntax
// accepts too, and leave everything else to syntax, which gives the
// verdict and the error (TestEventSyntax compares them).

// tidChar reports which bytes a TID may hold after its first
// (234567abcdefghijklmnopqrstuvwxyz, the base32-sortable alphabet); the
// first is one of 234567abcdefghij.
var tidChar = func() (t [256]bool) {
	for _, c := range "234567abcdefghijklmnopqrstuvwxyz" {
		t[c] = true
	}
	return t
}()

// parseEventTID is syntax.ParseTID(s).
func parseEventTID(s string) (syntax.TID, error) {
	if len(s) == 13 && (s[0] >= '2' && s[0] <= '7' || s[0] >= 'a' && s[0] <= 'j') {
		ok := true
		for i := 1; i < len(s); i++ {
			ok = ok && tidChar[s[i]]
		}
		if ok {
			return syntax.TID(s), nil
		}
	}
	return syntax.ParseTID(s)
}

// checkEventTime is syntax.ParseDatetime(s)'s error.
func checkEventTime(s string) error {
	if utcDatetime(s) {
		return nil
	}
	_, err := syntax.ParseDatetime(s)
	return err
}

// utcDatetime reports whether s is a UTC datetime "YYYY-MM-DDTHH:MM:SS"
// with an optional fraction of 1 to 20 digits and "Z" (the form events
// carry), that time.Parse reads: syntax.ParseDatetime accepts every such
// string (its pattern allows the digits where they are, a four-digit year
// is not before year zero, and "Z" is not "-00:00").
func utcDatetime(s string) bool {
	const pattern = "dddd-Md-DdTHd:sd:sd" // d: a digit; M: 0-1; D: 0-3; H: 0-2; s: 0-6
	n := len(s)
	if n < len(pattern)+1 || n > 64 || s[n-1] != 'Z' {
		return false
	}
	for i := 0; i < len(pattern); i++ {
		c, p := s[i], pattern[i]
		var ok bool
		switch p {
		case 'd':
			ok = c >= '0' && c <= '9'
		case 'M':
			ok = c == '0' || c == '1'
		case 'D':
			ok = c >= '0' && c <= '3'
		case 'H':
			ok = c >= '0' && c <= '2'
		case 's':
			ok = c >= '0' && c <= '6'
		default:
			ok = c == p
		}
		if !ok {
			return false
		}
	}
	if frac := s[len(pattern) : n-1]; frac != "" {
		if len(frac) < 2 || len(frac) > 21 || frac[0] != '.' {
			return false
		}
		for i := 1; i < len(frac); i++ {
			if frac[i] < '0' || frac[i] > '9' {
				return false
			}
		}
	}
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}
