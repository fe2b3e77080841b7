package mst

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestSortKVs(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{0, 1, 2, 15, 16, 17, 100, 5000} {
		seen := map[string]bool{}
		var kvs []kv
		for len(kvs) < n {
			k := randomKey(r)
			if r.IntN(5) == 0 && len(kvs) > 0 {
				k = kvs[r.IntN(len(kvs))].key + string(keyChars[r.IntN(len(keyChars))]) // a key that extends another
			}
			if !seen[k] {
				seen[k] = true
				kvs = append(kvs, kv{key: k})
			}
		}
		sortKVs(kvs)
		if !slices.IsSortedFunc(kvs, func(a, b kv) int { return strings.Compare(a.key, b.key) }) {
			t.Fatalf("n=%d: not sorted", n)
		}
	}
}

// TestCommonPrefixLen checks the 8-byte-at-a-time CommonPrefixLen against
// a byte loop, for every split point and length around the word size.
func TestCommonPrefixLen(t *testing.T) {
	naive := func(a, b string) int {
		i := 0
		for i < len(a) && i < len(b) && a[i] == b[i] {
			i++
		}
		return i
	}
	base := "app.bsky.feed.post/3labcdefghijk"
	for la := 0; la <= len(base); la++ {
		for d := 0; d <= la; d++ {
			a := base[:la]
			b := []byte(base)
			if d < len(b) {
				b[d] = 'Z'
			}
			for lb := 0; lb <= len(b); lb += 3 {
				if got, want := CommonPrefixLen(a, string(b[:lb])), naive(a, string(b[:lb])); got != want {
					t.Fatalf("CommonPrefixLen(%q, %q) = %d, want %d", a, b[:lb], got, want)
				}
			}
		}
	}
}
