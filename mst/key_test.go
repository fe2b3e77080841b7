package mst

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestValidateKeyAgainstRules compares ValidateKey, whose fast path counts
// byte classes, with the rules spelled out, on random strings made mostly
// of allowed bytes with some slashes and some disallowed bytes.
func TestValidateKeyAgainstRules(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	alphabet := "ab9_~-:./////\x00\xff /é"
	valid := func(k string) bool {
		if len(k) == 0 || len(k) > MaxKeyBytes || strings.Count(k, "/") != 1 {
			return false
		}
		i := strings.IndexByte(k, '/')
		if i == 0 || i == len(k)-1 {
			return false
		}
		for j := 0; j < len(k); j++ {
			if k[j] != '/' && !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_~-:.", rune(k[j])) {
				return false
			}
		}
		return true
	}
	for n := range 100000 {
		l := r.IntN(12)
		if n%1000 == 0 {
			l = MaxKeyBytes - 2 + r.IntN(4)
		}
		b := make([]byte, l)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		k := string(b)
		if got, want := ValidateKey(k) == nil, valid(k); got != want {
			t.Fatalf("ValidateKey(%q) valid = %v, want %v", k, got, want)
		}
	}
}
