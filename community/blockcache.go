package community

import (
	"bytes"
	"context"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/repo"
)

// DefaultBlockCacheBytes bounds the host's block cache (HostOptions).
const DefaultBlockCacheBytes = 4 << 20

// blockEntryOverhead is what one cached block costs besides its bytes: the
// CID key string and the map entry.
const blockEntryOverhead = 128

// blockCache wraps the host's repo.Store with a cache of blocks bounded in
// bytes: the repository re-reads the MST nodes near the head on every
// commit, and blocks never change (they are named by their hash), so the
// nodes just written and the blocks just read are kept in memory. Record
// blocks a commit writes are not cached: a writer rarely reads back what it
// was sent, and they would push the nodes out. Two generations of at most
// max/2 bytes each bound the memory; everything else passes through.
type blockCache struct {
	repo.Store
	max int

	mu       sync.Mutex
	cur, old map[blockKey][]byte
	curBytes int
}

type blockKey struct {
	did string
	cid string
}

func newBlockCache(s repo.Store, maxBytes int) *blockCache {
	return &blockCache{Store: s, max: maxBytes, cur: map[blockKey][]byte{}}
}

func (b *blockCache) put(did string, c cid.Cid, data []byte) {
	size := len(data) + blockEntryOverhead
	if size > b.max/2 {
		return
	}
	if b.curBytes+size > b.max/2 {
		b.old, b.cur, b.curBytes = b.cur, make(map[blockKey][]byte, len(b.cur)), 0
	}
	b.cur[blockKey{did, c.KeyString()}] = data
	b.curBytes += size
}

// GetBlock implements repo.Store.
func (b *blockCache) GetBlock(ctx context.Context, did string, c cid.Cid) ([]byte, error) {
	k := blockKey{did, c.KeyString()}
	b.mu.Lock()
	data, ok := b.cur[k]
	if !ok {
		if data, ok = b.old[k]; ok {
			delete(b.old, k)
			b.put(did, c, data)
		}
	}
	b.mu.Unlock()
	if ok {
		return data, nil
	}
	data, err := b.Store.GetBlock(ctx, did, c)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.put(did, c, data)
	b.mu.Unlock()
	return data, nil
}

// Apply implements repo.Store; the written blocks other than records (MST
// nodes, the commit) enter the cache once the write is durable, as copies:
// mst.Tree.NewBlocks cuts a commit's nodes from shared slabs of up to
// 64 KiB, and a cache that keeps some of them and drops the rest would
// otherwise keep whole slabs alive, far beyond the bytes it counts.
func (b *blockCache) Apply(ctx context.Context, did string, w *repo.StoreWrite) (int64, error) {
	seq, err := b.Store.Apply(ctx, did, w)
	if err != nil {
		return seq, err
	}
	records := make(map[cid.Cid]struct{}, len(w.Records))
	for _, r := range w.Records {
		records[r.CID] = struct{}{}
	}
	b.mu.Lock()
	for _, blk := range w.Blocks {
		if _, rec := records[blk.CID]; !rec {
			b.put(did, blk.CID, bytes.Clone(blk.Data))
		}
	}
	b.mu.Unlock()
	return seq, nil
}
