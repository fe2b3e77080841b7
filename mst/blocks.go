package mst

import (
	"context"
	"fmt"
	"sync"

	"github.com/ipfs/go-cid"
)

// BlockSource reads blocks by CID. A block that is not there is reported
// with an error wrapping ErrNotFound. Implementations must be safe for
// concurrent use if trees that share them are used concurrently. The tree
// verifies that every block it reads hashes to its CID, so a source need not.
// The tree may keep a returned slice (a diff keeps the blocks it reads in
// the node cache instead of copying them), so neither the source nor its
// caller may modify it afterwards.
type BlockSource interface {
	GetBlock(ctx context.Context, c cid.Cid) ([]byte, error)
}

// BlockSink stores blocks. The tree never calls it on its own: callers pass
// the blocks from Tree.NewBlocks (or Tree.WriteBlocks) to their sink when
// they commit.
type BlockSink interface {
	PutBlock(ctx context.Context, c cid.Cid, data []byte) error
}

// Block is one encoded node and its CID.
type Block struct {
	CID  cid.Cid
	Data []byte
}

// MemBlocks is an in-memory BlockSource and BlockSink, safe for concurrent
// use. The zero value is empty and ready to use.
type MemBlocks struct {
	mu sync.RWMutex
	m  map[string][]byte
}

// GetBlock returns the block stored under c, or an error wrapping
// ErrNotFound. The returned slice must not be modified.
func (m *MemBlocks) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	m.mu.RLock()
	b, ok := m.m[c.KeyString()]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, c)
	}
	return b, nil
}

// PutBlock stores a copy of data under c.
func (m *MemBlocks) PutBlock(ctx context.Context, c cid.Cid, data []byte) error {
	b := append([]byte(nil), data...)
	m.mu.Lock()
	if m.m == nil {
		m.m = make(map[string][]byte)
	}
	m.m[c.KeyString()] = b
	m.mu.Unlock()
	return nil
}

// Len returns the number of blocks stored.
func (m *MemBlocks) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.m)
}

// Has reports whether a block is stored under c.
func (m *MemBlocks) Has(c cid.Cid) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.m[c.KeyString()]
	return ok
}

// CIDs returns the CIDs of all stored blocks, in no particular order.
func (m *MemBlocks) CIDs() []cid.Cid {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]cid.Cid, 0, len(m.m))
	for k := range m.m {
		c, err := cid.Cast([]byte(k))
		if err == nil {
			out = append(out, c)
		}
	}
	return out
}

// nodeCache is a bounded cache of decoded nodes keyed by CID: two
// generations, each at most half the capacity; when the young one fills, the
// old one is dropped. Each node is held either decoded (a *node) or as the
// block a diff walk read and checked (see view), in maps of their own (made
// on the first block, which is kept as a string to keep the maps small);
// both are immutable.
type nodeCache struct {
	mu         sync.Mutex
	young, old map[string]*node
	youngB     map[string]string
	oldB       map[string]string
	halfSize   int
}

func newNodeCache(size int) *nodeCache {
	h := max(size/2, 1)
	return &nodeCache{young: make(map[string]*node), halfSize: h}
}

// get returns the node cached under k, decoded or as its checked block, or
// neither (nil, "").
func (c *nodeCache) get(k string) (*node, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.young[k]; ok {
		return n, ""
	}
	if b, ok := c.youngB[k]; ok {
		return nil, b
	}
	if n, ok := c.old[k]; ok {
		c.addLocked(k, n, "")
		return n, ""
	}
	if b, ok := c.oldB[k]; ok {
		c.addLocked(k, nil, b)
		return nil, b
	}
	return nil, ""
}

func (c *nodeCache) add(k string, n *node) {
	c.mu.Lock()
	c.addLocked(k, n, "")
	c.mu.Unlock()
}

// addChecked caches block b under k: the block of a node that passed every
// check (see view); it must never change.
func (c *nodeCache) addChecked(k string, b []byte) {
	c.mu.Lock()
	c.addLocked(k, nil, bstr(b))
	c.mu.Unlock()
}

// addLocked caches n or block b under k (a node replaces a block).
func (c *nodeCache) addLocked(k string, n *node, b string) {
	if len(c.young)+len(c.youngB) >= c.halfSize {
		c.old, c.oldB = c.young, c.youngB
		c.young = make(map[string]*node, min(c.halfSize, 1024))
		c.youngB = nil
	}
	if n != nil {
		c.young[k] = n
		delete(c.youngB, k)
		return
	}
	if c.youngB == nil {
		c.youngB = make(map[string]string)
	}
	c.youngB[k] = b
}
