package community

import (
	"context"
	"errors"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
)

// TestBlockCacheBounded: the cache never holds more than its bound in
// bytes, serves what it holds, and passes misses and errors through.
func TestBlockCacheBounded(t *testing.T) {
	ctx := context.Background()
	s := repo.NewMemStore()
	const bound = 8 * (blockEntryOverhead + 16)
	bc := newBlockCache(s, bound)
	for i := 0; i < 100; i++ {
		data := m(drisl.Marshal(map[string]any{"i": int64(i)})).must(t)
		bc.mu.Lock()
		bc.put("did:plc:x", drisl.SumCID(drisl.CodecDagCBOR, data), data)
		size := 0
		for _, gen := range []map[blockKey][]byte{bc.cur, bc.old} {
			for _, d := range gen {
				size += len(d) + blockEntryOverhead
			}
		}
		bc.mu.Unlock()
		if size > bound {
			t.Fatalf("%d bytes for a bound of %d", size, bound)
		}
	}
	huge := make([]byte, bound)
	bc.mu.Lock()
	bc.put("did:plc:x", drisl.SumCID(drisl.CodecRaw, huge), huge)
	_, cached := bc.cur[blockKey{"did:plc:x", drisl.SumCID(drisl.CodecRaw, huge).KeyString()}]
	bc.mu.Unlock()
	if cached {
		t.Fatal("a block larger than a generation was cached")
	}
	data := m(drisl.Marshal(map[string]any{"i": int64(99)})).must(t)
	got, err := bc.GetBlock(ctx, "did:plc:x", drisl.SumCID(drisl.CodecDagCBOR, data))
	if err != nil || string(got) != string(data) {
		t.Fatalf("cached block: %v", err)
	}
	other := m(drisl.Marshal(map[string]any{"i": int64(1000)})).must(t)
	if _, err := bc.GetBlock(ctx, "did:plc:x", drisl.SumCID(drisl.CodecDagCBOR, other)); !errors.Is(err, repo.ErrRepoNotFound) && !errors.Is(err, repo.ErrBlockNotFound) {
		t.Fatalf("miss: %v", err)
	}
}

// TestBlockCacheSkipsRecords: a commit's record blocks pass through, its
// other blocks (MST nodes, the commit) are cached.
func TestBlockCacheSkipsRecords(t *testing.T) {
	ctx := context.Background()
	bc := newBlockCache(repo.NewMemStore(), 1<<20)
	rec := m(drisl.Marshal(map[string]any{"$type": "x.y.z"})).must(t)
	node := m(drisl.Marshal(map[string]any{"e": []any{}})).must(t)
	rc, nc := drisl.SumCID(drisl.CodecDagCBOR, rec), drisl.SumCID(drisl.CodecDagCBOR, node)
	w := &repo.StoreWrite{Head: repo.Head{DID: "did:plc:x", Commit: nc, Rev: "3kabc2222222a", Data: nc},
		Blocks:  []repo.Block{{CID: rc, Data: rec}, {CID: nc, Data: node}},
		Records: []repo.RecordEntry{{Collection: "x.y.z", RKey: "a", CID: rc}}}
	if _, err := bc.Apply(ctx, "did:plc:x", w); err != nil {
		t.Fatal(err)
	}
	_, recCached := bc.cur[blockKey{"did:plc:x", rc.KeyString()}]
	_, nodeCached := bc.cur[blockKey{"did:plc:x", nc.KeyString()}]
	if recCached || !nodeCached {
		t.Fatalf("record cached: %v, node cached: %v", recCached, nodeCached)
	}
	// The cache keeps a copy: the node's bytes may be a slice of a slab
	// shared with other blocks (mst.Tree.NewBlocks), which it must not pin.
	if got := bc.cur[blockKey{"did:plc:x", nc.KeyString()}]; &got[0] == &node[0] || string(got) != string(node) {
		t.Fatal("the cache keeps the written slice itself, not a copy")
	}
	if got, err := bc.GetBlock(ctx, "did:plc:x", rc); err != nil || string(got) != string(rec) {
		t.Fatalf("record read through: %v", err)
	}
}
