package drisl

import (
	"encoding/binary"
	"unicode/utf8"
)

// Most DRISL text is ASCII: map keys almost always, values often. These
// checks test eight bytes per step for the high bit and hand the rest of the
// string to the standard library's validator at the first word that holds a
// non-ASCII byte. Everything before that word is ASCII, so it starts on a
// rune boundary and the verdict is utf8.Valid's. They beat utf8.Valid on
// short keys, whose few trailing bytes it checks one at a time.

const hiBits64 = 0x8080808080808080

// validUTF8 reports whether b is valid UTF-8, as utf8.Valid does.
func validUTF8(b []byte) bool {
	i := 0
	for ; len(b)-i >= 8; i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&hiBits64 != 0 {
			return utf8.Valid(b[i:])
		}
	}
	if len(b)-i >= 4 {
		if binary.LittleEndian.Uint32(b[i:])&0x80808080 != 0 {
			return utf8.Valid(b[i:])
		}
		i += 4
	}
	for ; i < len(b); i++ {
		if b[i] >= utf8.RuneSelf {
			return utf8.Valid(b[i:])
		}
	}
	return true
}

// validUTF8String reports whether s is valid UTF-8, as utf8.ValidString
// does.
func validUTF8String(s string) bool {
	i := 0
	for ; len(s)-i >= 8; i += 8 {
		if word(s[i:])&hiBits64 != 0 {
			return utf8.ValidString(s[i:])
		}
	}
	if len(s) >= 8 && i < len(s) {
		// The last eight bytes overlap bytes known to be ASCII.
		return word(s[len(s)-8:])&hiBits64 == 0 || utf8.ValidString(s[i:])
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return utf8.ValidString(s[i:])
		}
	}
	return true
}

// word loads the first eight bytes of s, little-endian (one load).
func word(s string) uint64 {
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// validText is validUTF8 with a fast path for short ASCII strings, such as
// map keys: a few overlapping loads instead of a loop.
func validText(b []byte) bool {
	switch n := len(b); {
	case n > 24:
		return validUTF8(b)
	case n >= 8:
		x := binary.LittleEndian.Uint64(b) | binary.LittleEndian.Uint64(b[n-8:])
		if n > 16 {
			x |= binary.LittleEndian.Uint64(b[8:])
		}
		if x&hiBits64 == 0 {
			return true
		}
	case n >= 4:
		if (binary.LittleEndian.Uint32(b)|binary.LittleEndian.Uint32(b[n-4:]))&0x80808080 == 0 {
			return true
		}
	case n > 0:
		if b[0]|b[n/2]|b[n-1] < utf8.RuneSelf {
			return true
		}
	default:
		return true
	}
	return validUTF8(b)
}
