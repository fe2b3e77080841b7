package community

import (
	"context"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/repo"
)

// DefaultBlockCacheBlocks bounds the host's block cache (HostOptions).
const DefaultBlockCacheBlocks = 1 << 15

// blockCache wraps the host's repo.Store with a bounded cache of blocks:
// the repository re-reads the MST nodes near the head on every commit,
// and blocks never change (they are named by their hash), so the blocks
// just written or read are kept in memory. Two generations of at most
// max/2 entries each bound the memory; everything else passes through.
type blockCache struct {
	repo.Store
	max int

	mu  sync.Mutex
	cur map[blockKey][]byte
	old map[blockKey][]byte
}

type blockKey struct {
	did string
	cid string
}

func newBlockCache(s repo.Store, max int) *blockCache {
	return &blockCache{Store: s, max: max, cur: map[blockKey][]byte{}}
}

func (b *blockCache) put(did string, c cid.Cid, data []byte) {
	if len(b.cur) >= b.max/2 {
		b.old, b.cur = b.cur, make(map[blockKey][]byte, b.max/2)
	}
	b.cur[blockKey{did, c.KeyString()}] = data
}

// GetBlock implements repo.Store.
func (b *blockCache) GetBlock(ctx context.Context, did string, c cid.Cid) ([]byte, error) {
	k := blockKey{did, c.KeyString()}
	b.mu.Lock()
	data, ok := b.cur[k]
	if !ok {
		if data, ok = b.old[k]; ok {
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

// Apply implements repo.Store; the written blocks enter the cache once the
// write is durable.
func (b *blockCache) Apply(ctx context.Context, did string, w *repo.StoreWrite) (int64, error) {
	seq, err := b.Store.Apply(ctx, did, w)
	if err != nil {
		return seq, err
	}
	b.mu.Lock()
	for _, blk := range w.Blocks {
		b.put(did, blk.CID, blk.Data)
	}
	b.mu.Unlock()
	return seq, nil
}
