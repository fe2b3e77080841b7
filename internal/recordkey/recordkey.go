// Package recordkey checks atproto record keys
// (https://atproto.com/specs/record-key): 1 to 512 bytes of
// [A-Za-z0-9_~.:-], neither "." nor "..". It is the grammar indigo's
// syntax.ParseRecordKey checks with a regular expression, written out once
// for repo, lexicon and community because the regular expression costs
// microseconds per key and every write of a batch has a key. The interop
// vectors (from internal/testvectors), every key of one and two bytes and
// FuzzCheck hold it to indigo's answers.
package recordkey

import "fmt"

// MaxLen is the longest record key in bytes.
const MaxLen = 512

// lo and hi are bit sets of the bytes a record key may hold: bit c of lo
// for c < 64, bit c-64 of hi for 64 <= c < 128.
const (
	lo uint64 = 1<<'-' | 1<<'.' | (1<<10-1)<<'0' | 1<<':'
	hi uint64 = (1<<26-1)<<('A'-64) | 1<<('_'-64) | (1<<26-1)<<('a'-64) | 1<<('~'-64)
)

// IsByte reports whether a record key may hold the byte c.
func IsByte(c byte) bool {
	if c < 64 {
		return lo>>c&1 != 0
	}
	return c < 128 && hi>>(c-64)&1 != 0
}

// Valid reports whether s is a record key. It allocates nothing.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxLen || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !IsByte(s[i]) {
			return false
		}
	}
	return true
}

// Error says which record-key rule a key breaks.
type Error struct {
	Reason string
	At     int // byte offset of the bad byte, or -1
}

func (e *Error) Error() string {
	if e.At >= 0 {
		return fmt.Sprintf("record key: %s at byte %d", e.Reason, e.At)
	}
	return "record key: " + e.Reason
}

// Check returns nil if s is a record key, or an *Error naming the rule s
// breaks and where.
func Check(s string) error {
	if len(s) == 0 {
		return &Error{Reason: "empty", At: -1}
	}
	if len(s) > MaxLen {
		return &Error{Reason: "longer than 512 bytes", At: -1}
	}
	for i := 0; i < len(s); i++ {
		if !IsByte(s[i]) {
			return &Error{Reason: fmt.Sprintf("byte %#02x not allowed", s[i]), At: i}
		}
	}
	if s == "." || s == ".." {
		return &Error{Reason: `"." and ".." are not record keys`, At: -1}
	}
	return nil
}
