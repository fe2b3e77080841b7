package mst

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
)

// TestInsecureSkipHashCheck checks what Options.InsecureSkipHashCheck skips (the hash of
// each block read) and what it keeps (every other check, the layer of every
// key included).
func TestInsecureSkipHashCheck(t *testing.T) {
	ctx := context.Background()
	checked := Options{InsecureSkipHashCheck: true}
	walk := func(mb *MemBlocks, root cid.Cid) error {
		return checked.Load(mb, root).Walk(ctx, func(string, cid.Cid) error { return nil })
	}
	v := testCID("record")
	k0a, k0b := keyAt("app.bsky.feed.post/a", 0), keyAt("app.bsky.feed.post/b", 0)
	k1 := keyAt("app.bsky.feed.post/m", 1)

	var bad MemBlocks
	wrong := sumCID([]byte("not the hash"))
	if err := bad.PutBlock(ctx, wrong, rawNode(t, nil, seq(v, k0a, k0b))); err != nil {
		t.Fatal(err)
	}
	expectRule(t, &bad, wrong, RuleHash)
	if err := walk(&bad, wrong); err != nil {
		t.Fatalf("load of a mislabelled block with InsecureSkipHashCheck: %v", err)
	}
	var ne *NodeError
	var mixed MemBlocks
	root := put(t, &mixed, rawNode(t, nil, seq(v, k0a, k0b, k1)))
	if err := walk(&mixed, root); !errors.As(err, &ne) || ne.Rule != RuleKeyHeight || ne.Entry != 2 {
		t.Fatalf("keys on mixed layers with InsecureSkipHashCheck: %v", err)
	}
	var unsorted MemBlocks
	p := CommonPrefixLen(k0b, k0a)
	root = put(t, &unsorted, rawNode(t, nil, []rawEntry{{suffix: k0b, v: v}, {p: p, suffix: k0a[p:], v: v}}))
	if err := walk(&unsorted, root); !errors.As(err, &ne) || ne.Rule != RuleKeyOrder {
		t.Fatalf("unsorted keys with InsecureSkipHashCheck: %v", err)
	}
}

// TestKeyLayerBatch checks that the batched layer check of a strict load
// names the same rule and entry as a key-by-key check: the first key on
// another layer than the first key, unless an earlier key breaks another
// rule; with nodes of every size around the lane count and beyond the
// stack buffers (32 keys).
func TestKeyLayerBatch(t *testing.T) {
	v := testCID("record")
	layer0 := func(n int) []string {
		var keys []string
		for i := 0; len(keys) < n; i++ {
			if k := fmt.Sprintf("app.bsky.feed.post/k%05d", i); KeyHeight(k) == 0 {
				keys = append(keys, k)
			}
		}
		return keys
	}
	up := func(after string) string {
		for i := 0; ; i++ {
			if k := fmt.Sprintf("%s%d", after, i); KeyHeight(k) > 0 {
				return k
			}
		}
	}
	expect := func(t *testing.T, ents []rawEntry, rule Rule, entry int) {
		t.Helper()
		var mb MemBlocks
		root := put(t, &mb, rawNode(t, nil, ents))
		err := Load(&mb, root).Walk(context.Background(), func(string, cid.Cid) error { return nil })
		var ne *NodeError
		if !errors.As(err, &ne) || ne.Rule != rule || ne.Entry != entry {
			t.Fatalf("error = %v, want %s at entry %d", err, rule, entry)
		}
	}
	for _, n := range []int{1, 2, 3, 7, 8, 9, 16, 17, 31, 32, 33, 40} {
		keys := layer0(n)
		var mb MemBlocks
		root := put(t, &mb, rawNode(t, nil, seq(v, keys...)))
		got := 0
		if err := Load(&mb, root).Walk(context.Background(), func(string, cid.Cid) error { got++; return nil }); err != nil || got != n {
			t.Fatalf("%d keys on one layer: %d read, %v", n, got, err)
		}
		for _, at := range []int{0, n / 2, n - 1} {
			if n == 1 {
				break
			}
			// Key at is replaced by one just above it on a higher layer:
			// still sorted, so the layer is the only rule broken. The first
			// key sets the node's layer, so with at 0 key 1 is the first on
			// another one.
			bad := append([]string(nil), keys...)
			bad[at] = up(keys[at])
			want := max(at, 1)
			expect(t, seq(v, bad...), RuleKeyHeight, want)
			if n-1 > want {
				// A later key out of order: the layer is reported first.
				unsorted := append([]string(nil), bad...)
				unsorted[n-1] = "app.bsky.feed.post/a"
				expect(t, seq(v, unsorted...), RuleKeyHeight, want)
			}
		}
		if n >= 3 {
			// An earlier key out of order is reported before a later key
			// on another layer.
			bad := append([]string(nil), keys...)
			bad[n-1] = up(keys[n-1])
			bad[1] = "app.bsky.feed.post/a"
			expect(t, seq(v, bad...), RuleKeyOrder, 1)
		}
	}
}
