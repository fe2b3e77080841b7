package drisl

import (
	"encoding/binary"
	"unicode/utf8"
	"unsafe"
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
// does. Strings shorter than eight bytes, most map keys, take two
// overlapping loads of four bytes (or, below four bytes, their first,
// middle and last bytes, which are all of them) instead of a byte loop.
func validUTF8String(s string) bool {
	n := len(s)
	if n < 8 {
		var x uint32
		switch {
		case n >= 4:
			x = word32(s) | word32(s[n-4:])
		case n > 0:
			x = uint32(s[0] | s[n/2] | s[n-1])
		}
		return x&0x80808080 == 0 || utf8.ValidString(s)
	}
	i := 0
	for ; n-i >= 8; i += 8 {
		if word(s[i:])&hiBits64 != 0 {
			return utf8.ValidString(s[i:])
		}
	}
	// The last eight bytes overlap bytes known to be ASCII.
	return i == n || word(s[n-8:])&hiBits64 == 0 || utf8.ValidString(s[i:])
}

// validUTF8StringWide is validUTF8String for strings that are usually all
// ASCII, such as the text fields of records: it tests 32 bytes per step,
// then the last bytes with a few overlapping loads (no byte loop), and
// hands the string to the standard library if any of them is non-ASCII.
// On text with non-ASCII bytes near its start it costs a step more than
// validUTF8String, which is why the generic encoder keeps that one.
func validUTF8StringWide(s string) bool {
	n := len(s)
	i := 0
	for ; n-i > 32; i += 32 {
		c := s[i : i+32]
		if (word(c)|word(c[8:])|word(c[16:])|word(c[24:]))&hiBits64 != 0 {
			return utf8.ValidString(s[i:])
		}
	}
	// At most 32 bytes remain after i, all within the last 32 of s.
	var x uint64
	switch {
	case n >= 32:
		c := s[n-32:]
		x = word(c) | word(c[8:]) | word(c[16:]) | word(c[24:])
	case n >= 8:
		x = word(s) | word(s[n-8:])
		if n > 16 {
			x |= word(s[8:])
		}
		if n > 24 {
			x |= word(s[16:])
		}
	case n >= 4:
		x = uint64(word32(s) | word32(s[n-4:]))
	case n > 0:
		x = uint64(s[0] | s[n/2] | s[n-1])
	}
	if x&hiBits64 == 0 {
		return true
	}
	return utf8.ValidString(s[i:])
}

// validUTF8Wide is validUTF8StringWide for a byte slice, which it reads
// in place (as a string that does not outlive the call).
func validUTF8Wide(b []byte) bool {
	return validUTF8StringWide(unsafe.String(unsafe.SliceData(b), len(b)))
}

// word32 loads the first four bytes of s, little-endian (one load).
func word32(s string) uint32 {
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
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
		return validUTF8Wide(b)
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

// shortASCII reports whether data[o:end], a map key of at most 16 bytes,
// is ASCII, when one or two loads of eight bytes tell (a short key needs
// the eight bytes at o to exist); false means that validText must decide.
func shortASCII(data []byte, o, end int) bool {
	switch n := end - o; {
	case n <= 8 && len(data)-o >= 8:
		return binary.LittleEndian.Uint64(data[o:])&(1<<(8*uint(n))-1)&hiBits64 == 0
	case n > 8 && n <= 16:
		return (binary.LittleEndian.Uint64(data[o:])|binary.LittleEndian.Uint64(data[end-8:]))&hiBits64 == 0
	}
	return false
}
