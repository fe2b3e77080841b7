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
// old one is dropped. Each node is held either decoded (a *node) or as a
// diff walk read it (a *view, in maps of their own, made on the first);
// both are immutable.
type nodeCache struct {
	mu         sync.Mutex
	young, old map[string]*node
	youngV     map[string]*view
	oldV       map[string]*view
	halfSize   int
}

func newNodeCache(size int) *nodeCache {
	h := max(size/2, 1)
	return &nodeCache{young: make(map[string]*node), halfSize: h}
}

// get returns the node cached under k, as a node or as a view, or neither.
func (c *nodeCache) get(k string) (*node, *view) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.young[k]; ok {
		return n, nil
	}
	if v, ok := c.youngV[k]; ok {
		return nil, v
	}
	if n, ok := c.old[k]; ok {
		c.addLocked(k, n, nil)
		return n, nil
	}
	if v, ok := c.oldV[k]; ok {
		c.addLocked(k, nil, v)
		return nil, v
	}
	return nil, nil
}

func (c *nodeCache) add(k string, n *node) {
	c.mu.Lock()
	c.addLocked(k, n, nil)
	c.mu.Unlock()
}

func (c *nodeCache) addView(k string, v *view) {
	c.mu.Lock()
	c.addLocked(k, nil, v)
	c.mu.Unlock()
}

// addLocked caches n or v under k (a node replaces a view).
func (c *nodeCache) addLocked(k string, n *node, v *view) {
	if len(c.young)+len(c.youngV) >= c.halfSize {
		c.old, c.oldV = c.young, c.youngV
		c.young = make(map[string]*node, min(c.halfSize, 1024))
		c.youngV = nil
	}
	if n != nil {
		c.young[k] = n
		delete(c.youngV, k)
		return
	}
	if c.youngV == nil {
		c.youngV = make(map[string]*view)
	}
	c.youngV[k] = v
}
