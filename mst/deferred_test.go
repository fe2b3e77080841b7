package mst

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
)

// TestDiffDeferredChecks checks that a strict Diff, which checks block
// hashes and key layers in batches after reading, fails exactly as eager
// loading does: a block swapped for another (early in the walk, in a later
// batch, last), and nodes with keys on the wrong layer; and that it gives
// the naive result when nothing is wrong.
func TestDiffDeferredChecks(t *testing.T) {
	ctx := context.Background()
	a := map[string]cid.Cid{}
	for i := range 3000 {
		a[fmt.Sprintf("app.bsky.feed.post/%05d", i*7)] = testCID(fmt.Sprint(i))
	}
	b := map[string]cid.Cid{}
	for k, v := range a {
		b[k] = v
	}
	for i := range 150 {
		b[fmt.Sprintf("app.bsky.feed.post/%05d", i*139+3)] = testCID(fmt.Sprint("new", i))
	}
	var mb MemBlocks
	rootA, err := buildMap(t, a).WriteBlocks(ctx, &mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	tb := buildMap(t, b)
	opened, err := tb.NewBlocks(ctx, Load(&mb, rootA))
	if err != nil {
		t.Fatal(err)
	}
	rootB, err := tb.WriteBlocks(ctx, &mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(opened) <= deferBatch {
		t.Fatalf("only %d new nodes; the test needs more than one batch", len(opened))
	}
	ops, err := Diff(ctx, Load(&mb, rootA), Load(&mb, rootB))
	if err != nil {
		t.Fatal(err)
	}
	if want := naiveDiff(a, b); fmt.Sprint(ops) != fmt.Sprint(want) {
		t.Fatalf("diff: %d ops, want %d", len(ops), len(want))
	}

	// Swap one non-root node of b for another block.
	for _, i := range []int{1, 2, deferBatch + 5, len(opened) - 1} {
		victim := opened[i]
		if victim.CID == rootB {
			continue
		}
		var bad MemBlocks
		for _, c := range mb.CIDs() {
			data, _ := mb.GetBlock(ctx, c)
			if c == victim.CID {
				data = opened[0].Data
			}
			bad.PutBlock(ctx, c, data)
		}
		walkErr := Load(&bad, rootB).Walk(ctx, func(string, cid.Cid) error { return nil })
		_, diffErr := Diff(ctx, Load(&bad, rootA), Load(&bad, rootB))
		var we, de *NodeError
		if !errors.As(walkErr, &we) || !errors.As(diffErr, &de) || !errors.Is(diffErr, ErrInvalidNode) {
			t.Fatalf("node %d: walk error %v, diff error %v; want *NodeErrors", i, walkErr, diffErr)
		}
		if de.Rule != RuleHash || de.CID != victim.CID {
			t.Fatalf("node %d: diff error %v, want a hash error for %s", i, diffErr, victim.CID)
		}
	}

	// Keys on the wrong layer, below a valid root.
	v := testCID("record")
	k0 := keyAt("app.bsky.feed.post/a", 0)
	k1a, k1b := keyAt("app.bsky.feed.post/b", 1), keyAt("app.bsky.feed.post/c", 1)
	k2 := keyAt("app.bsky.feed.post/z", 2)
	full := func(k string) rawEntry { return rawEntry{suffix: k, v: v} }
	for name, mk := range map[string]func(*MemBlocks) cid.Cid{
		"mixed layers in a child": func(mb *MemBlocks) cid.Cid {
			child := put(t, mb, rawNode(t, nil, seq(v, k0, k1a)))
			return put(t, mb, rawNode(t, &child, []rawEntry{full(k2)}))
		},
		"child on the wrong layer": func(mb *MemBlocks) cid.Cid {
			child := put(t, mb, rawNode(t, nil, seq(v, k0)))
			return put(t, mb, rawNode(t, &child, []rawEntry{full(k2)}))
		},
		"unsorted child": func(mb *MemBlocks) cid.Cid {
			child := put(t, mb, rawNode(t, nil, []rawEntry{full(k1b), {p: CommonPrefixLen(k1b, k1a), suffix: k1a[CommonPrefixLen(k1b, k1a):], v: v}}))
			return put(t, mb, rawNode(t, &child, []rawEntry{full(k2)}))
		},
	} {
		var mb MemBlocks
		root := mk(&mb)
		walkErr := Load(&mb, root).Walk(ctx, func(string, cid.Cid) error { return nil })
		_, diffErr := Diff(ctx, Empty(nil), Load(&mb, root))
		var we, de *NodeError
		if !errors.As(walkErr, &we) || !errors.As(diffErr, &de) {
			t.Fatalf("%s: walk error %v, diff error %v; want *NodeErrors", name, walkErr, diffErr)
		}
		if we.Rule != de.Rule || we.CID != de.CID || we.Entry != de.Entry {
			t.Fatalf("%s: diff error %v, walk error %v", name, diffErr, walkErr)
		}
	}
}
