package drisl

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// TestValidUTF8 checks the ASCII fast paths against the standard library on
// every split of ASCII and non-ASCII bytes around the word boundaries, and on
// random byte strings.
func TestValidUTF8(t *testing.T) {
	check := func(b []byte) {
		t.Helper()
		want := utf8.Valid(b)
		if got := validUTF8(b); got != want {
			t.Fatalf("validUTF8(%q) = %v, want %v", b, got, want)
		}
		if got := validText(b); got != want {
			t.Fatalf("validText(%q) = %v, want %v", b, got, want)
		}
		if got := validUTF8String(string(b)); got != want {
			t.Fatalf("validUTF8String(%q) = %v, want %v", b, got, want)
		}
		if got := validUTF8StringWide(string(b)); got != want {
			t.Fatalf("validUTF8StringWide(%q) = %v, want %v", b, got, want)
		}
		if got := validUTF8Wide(b); got != want {
			t.Fatalf("validUTF8Wide(%q) = %v, want %v", b, got, want)
		}
		// shortASCII may only say yes for ASCII, whatever bytes surround
		// b (here non-ASCII ones, which its loads must not see), and must
		// say yes for every ASCII key of up to 16 bytes it can load.
		ascii := true
		for _, c := range b {
			ascii = ascii && c < utf8.RuneSelf
		}
		for _, post := range []int{0, 8} {
			data := append(append([]byte{0xff, 0xff}, b...), make([]byte, post)...)
			for i := len(b) + 2; i < len(data); i++ {
				data[i] = 0xff
			}
			got := shortASCII(data, 2, 2+len(b))
			if got && !ascii || ascii && len(b) <= 16 && (len(b) > 8 || post == 8) && !got {
				t.Fatalf("shortASCII(%q, %d bytes after) = %v", b, post, got)
			}
		}
	}
	tails := [][]byte{nil, []byte("é"), []byte("日"), []byte("🦋"), {0x80}, {0xc3}, {0xe6, 0x97}, {0xed, 0xa0, 0x80}, {0xff}, {0xf4, 0x90, 0x80, 0x80}}
	for n := 0; n <= 72; n++ { // past two 32-byte steps
		for _, tail := range tails {
			for m := 0; m <= 9; m++ {
				b := make([]byte, 0, n+len(tail)+m)
				for range n {
					b = append(b, 'a')
				}
				b = append(b, tail...)
				for range m {
					b = append(b, 'z')
				}
				check(b)
			}
		}
	}
	r := rand.New(rand.NewPCG(7, 8))
	alphabet := []byte{'a', 0x7f, 0x80, 0xbf, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x90}
	for range 200000 {
		b := make([]byte, r.IntN(30))
		for i := range b {
			if r.IntN(3) == 0 {
				b[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[i] = byte(r.IntN(128))
			}
		}
		check(b)
	}
}
