package mst

import (
	"crypto/sha256"
	"math/bits"
	"strings"
)

// MaxKeyBytes is the longest valid key.
const MaxKeyBytes = 1024

// ValidateKey reports whether key is a valid MST key, following the
// repository spec and the TypeScript reference's isValidMstKey: at most
// MaxKeyBytes bytes, exactly one '/', a non-empty collection before it and a
// non-empty record key after it, both made only of A-Z a-z 0-9 and "_~-:.".
// It returns a *KeyError otherwise.
//
// The collection is deliberately not parsed as an NSID: the reference
// accepts any such segment in a tree (the interop vectors use keys like
// "A0/374913"), and the repo layer checks NSIDs and record keys itself.
func ValidateKey(key string) error {
	// Fast path for the common case, a valid key: one table lookup and one
	// addition per byte (keyCount counts allowed bytes, slashes and other
	// bytes in separate fields), then one IndexByte for the slash's place.
	// Any failure takes the loop below, which names the first rule broken.
	if len(key) > 0 && len(key) <= MaxKeyBytes {
		var sum uint64
		for i := 0; i < len(key); i++ {
			sum += keyCount[key[i]]
		}
		if sum>>countSlash == 1 && sum&(1<<countSlash-1)>>countBad == 0 {
			if slash := strings.IndexByte(key, '/'); slash > 0 && slash < len(key)-1 {
				return nil
			}
		}
	}
	if len(key) == 0 {
		return keyErr(key, "empty")
	}
	if len(key) > MaxKeyBytes {
		return keyErr(key, "longer than 1024 bytes")
	}
	slash := -1
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c == '/' {
			if slash >= 0 {
				return keyErr(key, "more than one '/'")
			}
			slash = i
			continue
		}
		if !keyChar[c] {
			return keyErr(key, "character not allowed")
		}
	}
	switch {
	case slash < 0:
		return keyErr(key, "no '/' between collection and record key")
	case slash == 0:
		return keyErr(key, "empty collection")
	case slash == len(key)-1:
		return keyErr(key, "empty record key")
	}
	return nil
}

func keyErr(key, reason string) *KeyError {
	if len(key) > 80 {
		key = key[:80]
	}
	return &KeyError{Key: key, Reason: reason}
}

// keyCount maps a byte to 1 if it is allowed in a key, 1<<countSlash for
// '/' and 1<<countBad otherwise. Keys are at most 1024 bytes, so each
// field's count fits in its 16 bits (countBad's has 32).
var keyCount = func() (t [256]uint64) {
	for c := range t {
		switch {
		case c == '/':
			t[c] = 1 << countSlash
		case keyChar[c]:
			t[c] = 1
		default:
			t[c] = 1 << countBad
		}
	}
	return t
}()

const (
	countBad   = 16
	countSlash = 48
)

var keyChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_~-:." {
		t[c] = true
	}
	return t
}()

// KeyHeight returns the layer of key: the number of leading zero bits of
// SHA-256(key) counted in 2-bit steps (fanout 4). Layer 0 is the bottom.
func KeyHeight(key string) int {
	return sumLayer(keySum(key))
}

func keySum(key string) [32]byte {
	// Copy short keys to the stack: []byte(key) would allocate for keys
	// longer than 32 bytes.
	var buf [128]byte
	if len(key) <= len(buf) {
		return sha256.Sum256(append(buf[:0], key...))
	}
	return sha256.Sum256([]byte(key))
}

func sumLayer(sum [32]byte) int {
	n := 0
	for i := 0; i < len(sum); i += 8 {
		w := uint64(sum[i])<<56 | uint64(sum[i+1])<<48 | uint64(sum[i+2])<<40 | uint64(sum[i+3])<<32 |
			uint64(sum[i+4])<<24 | uint64(sum[i+5])<<16 | uint64(sum[i+6])<<8 | uint64(sum[i+7])
		z := bits.LeadingZeros64(w)
		n += z
		if z < 64 {
			break
		}
	}
	return n / 2
}

// CommonPrefixLen returns the length of the longest common prefix of a and
// b, in bytes. Node encoding stores each key as this many bytes of the
// previous key plus a suffix.
func CommonPrefixLen(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	// Eight bytes at a time: repo paths share long prefixes.
	for ; i+8 <= n; i += 8 {
		if x := load64(a[i:]) ^ load64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for ; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// load64 returns the first 8 bytes of s, little-endian (s[0] lowest).
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
