package mst

import "github.com/ipfs/go-cid"

// buildSorted builds the tree holding m in one pass over its sorted keys.
func buildSorted(m map[string]cid.Cid, tok *token) (ref, int) {
	if len(m) == 0 {
		return ref{}, 0
	}
	kvs := make([]kv, 0, len(m))
	for k, v := range m {
		kvs = append(kvs, kv{k, v})
	}
	sortKVs(kvs)
	heights := make([]uint8, len(kvs))
	top := 0
	for i := range kvs {
		h := KeyHeight(kvs[i].key)
		heights[i] = uint8(h)
		top = max(top, h)
	}
	b := builder{kvs: kvs, heights: heights, tok: tok, entries: make([]entry, len(kvs))}
	return b.build(0, len(kvs), top), top
}

type kv struct {
	key string
	val cid.Cid
}

type builder struct {
	kvs     []kv
	heights []uint8
	tok     *token
	entries []entry // one slab for all nodes' entries, handed out in order
	nodes   []node  // slab of nodes
}

func (b *builder) newNode(h int) *node {
	if len(b.nodes) == cap(b.nodes) {
		b.nodes = make([]node, 0, max(64, len(b.kvs)/8))
	}
	b.nodes = b.nodes[:len(b.nodes)+1]
	n := &b.nodes[len(b.nodes)-1]
	n.height, n.owner = h, b.tok
	return n
}

// build returns the subtree on layer h holding keys[lo:hi], all of which
// are on layer h or below.
func (b *builder) build(lo, hi, h int) ref {
	if lo == hi {
		return ref{}
	}
	count := 0
	for i := lo; i < hi; i++ {
		if int(b.heights[i]) == h {
			count++
		}
	}
	n := b.newNode(h)
	// Capacity is capped so that appends made later by an Editor copy.
	n.entries = b.entries[:0:count]
	b.entries = b.entries[count:]
	start := lo
	for i := lo; i < hi; i++ {
		if int(b.heights[i]) != h {
			continue
		}
		g := b.build(start, i, h-1)
		n.setGap(len(n.entries), g)
		n.entries = append(n.entries, entry{key: b.kvs[i].key, val: b.kvs[i].val})
		start = i + 1
	}
	n.setGap(len(n.entries), b.build(start, hi, h-1))
	return ref{n: n}
}
