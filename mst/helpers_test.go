package mst

import (
	"context"
	"testing"

	"github.com/ipfs/go-cid"
)

// testCID returns the raw-codec CID of s, a stand-in for a record CID.
func testCID(s string) cid.Cid {
	c := sumCID([]byte(s))
	return cid.NewCidV1(cid.Raw, c.Hash())
}

func mustRoot(t testing.TB, tr *Tree) cid.Cid {
	t.Helper()
	c, err := tr.Root(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkInvariants writes t's blocks to a fresh store and reloads every node
// through the strict loader, which checks layers, order, bounds, canonical
// encoding and that no intermediate node is empty.
func checkInvariants(t testing.TB, tr *Tree) {
	t.Helper()
	ctx := context.Background()
	var mb MemBlocks
	root, err := tr.WriteBlocks(ctx, &mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	re := Load(&mb, root)
	n := 0
	if err := re.Walk(ctx, func(string, cid.Cid) error { n++; return nil }); err != nil {
		t.Fatalf("reloaded tree fails strict loading: %v", err)
	}
	m := 0
	if err := tr.Walk(ctx, func(string, cid.Cid) error { m++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != m {
		t.Fatalf("reloaded tree has %d keys, tree has %d", n, m)
	}
}
