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
