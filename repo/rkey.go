package repo

import "fmt"

// maxRecordKeyLen is the longest record key (https://atproto.com/specs/record-key).
const maxRecordKeyLen = 512

// rkeyLo and rkeyHi are bit sets of the bytes a record key may hold
// (ASCII letters, digits and _ ~ . : -): bit c of rkeyLo for c < 64, bit
// c-64 of rkeyHi for 64 <= c < 128.
const (
	rkeyLo uint64 = 1<<'-' | 1<<'.' | (1<<10-1)<<'0' | 1<<':'
	rkeyHi uint64 = (1<<26-1)<<('A'-64) | 1<<('_'-64) | (1<<26-1)<<('a'-64) | 1<<('~'-64)
)

func isRecordKeyByte(c byte) bool {
	if c < 64 {
		return rkeyLo>>c&1 != 0
	}
	return c < 128 && rkeyHi>>(c-64)&1 != 0
}

// recordKeyError says which record-key rule a key breaks.
type recordKeyError struct {
	reason string
	at     int // byte offset of the bad byte, or -1
}

func (e *recordKeyError) Error() string {
	if e.at >= 0 {
		return fmt.Sprintf("record key: %s at byte %d", e.reason, e.at)
	}
	return "record key: " + e.reason
}

// checkRecordKey reports whether s is a record key under the syntax of
// https://atproto.com/specs/record-key: 1 to 512 bytes of
// [A-Za-z0-9_~.:-], neither "." nor "..". It accepts exactly what indigo's
// syntax.ParseRecordKey accepts (held to it by TestCheckRecordKeyVectors
// and FuzzCheckRecordKey) without its regular expression, which cost 4% of
// a bulk import.
func checkRecordKey(s string) error {
	if len(s) == 0 {
		return &recordKeyError{reason: "empty", at: -1}
	}
	if len(s) > maxRecordKeyLen {
		return &recordKeyError{reason: "longer than 512 bytes", at: -1}
	}
	for i := 0; i < len(s); i++ {
		if !isRecordKeyByte(s[i]) {
			return &recordKeyError{reason: fmt.Sprintf("byte %#02x not allowed", s[i]), at: i}
		}
	}
	if s == "." || s == ".." {
		return &recordKeyError{reason: `"." and ".." are not record keys`, at: -1}
	}
	return nil
}
