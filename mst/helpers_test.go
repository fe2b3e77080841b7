package mst

import (
	"context"
	"fmt"
	"sync"
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

// collectNew indexes the in-memory nodes of a tree by CID.
func collectNew(r ref, m map[string]*node) {
	if r.n == nil {
		return
	}
	m[r.n.cid.KeyString()] = r.n
	collectNew(r.n.left, m)
	for i := range r.n.entries {
		collectNew(r.n.entries[i].right, m)
	}
}

// recordingSource serves a tree's nodes, in memory or from its source, and
// records every block read.
type recordingSource struct {
	tree *Tree
	mem  map[string]*node
	mu   sync.Mutex
	read []Block
	seen map[string]bool
}

func (r *recordingSource) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	var data []byte
	if n, ok := r.mem[c.KeyString()]; ok {
		data = appendNode(nil, n)
	} else {
		if r.tree.s.src == nil {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, c)
		}
		d, err := r.tree.s.src.GetBlock(ctx, c)
		if err != nil {
			return nil, err
		}
		data = d
	}
	r.mu.Lock()
	if !r.seen[c.KeyString()] {
		r.seen[c.KeyString()] = true
		r.read = append(r.read, Block{CID: c, Data: data})
	}
	r.mu.Unlock()
	return data, nil
}

// memBlocksOf returns a MemBlocks holding blocks.
func memBlocksOf(t testing.TB, blocks []Block) *MemBlocks {
	t.Helper()
	src := new(MemBlocks)
	for _, b := range blocks {
		if err := src.PutBlock(context.Background(), b.CID, b.Data); err != nil {
			t.Fatal(err)
		}
	}
	return src
}
