package mst

import (
	"slices"

	"github.com/ipfs/go-cid"
)

// bulkSet is the content of an Editor that started from an empty tree:
// the entries in the order they were first put, with their layers, and an
// open-addressing index over them keyed by the SHA-256 of the key, which
// the layer needs anyway. A deleted entry keeps its slot with an undefined
// value.
type bulkSet struct {
	kvs    []kv
	hashes []uint64 // per entry, for growing the index
	slots  []int32  // 1 + index into kvs; 0 is empty
	live   int
}

type kv struct {
	key string
	val cid.Cid
	h   uint8 // layer
}

// find returns the slot of key, or of the empty slot where it would go.
func (b *bulkSet) find(key string, hv uint64) int {
	mask := len(b.slots) - 1
	i := int(hv) & mask
	for {
		s := b.slots[i]
		if s == 0 || (b.hashes[s-1] == hv && b.kvs[s-1].key == key) {
			return i
		}
		i = (i + 1) & mask
	}
}

func keyHash(key string) (layer int, hv uint64) {
	sum := keySum(key)
	hv = uint64(sum[24]) | uint64(sum[25])<<8 | uint64(sum[26])<<16 | uint64(sum[27])<<24 |
		uint64(sum[28])<<32 | uint64(sum[29])<<40 | uint64(sum[30])<<48 | uint64(sum[31])<<56
	return sumLayer(sum), hv
}

// put sets key to val and returns the previous value.
func (b *bulkSet) put(key string, val cid.Cid) cid.Cid {
	layer, hv := keyHash(key)
	if (len(b.kvs)+1)*4 > len(b.slots)*3 {
		b.grow()
	}
	i := b.find(key, hv)
	if s := b.slots[i]; s != 0 {
		prev := b.kvs[s-1].val
		if !prev.Defined() {
			b.live++
		}
		b.kvs[s-1].val = val
		return prev
	}
	b.kvs = append(b.kvs, kv{key: key, val: val, h: uint8(layer)})
	b.hashes = append(b.hashes, hv)
	b.slots[i] = int32(len(b.kvs))
	b.live++
	return cid.Undef
}

// get returns the value of key (cid.Undef if absent); if del is set it
// also removes it.
func (b *bulkSet) get(key string, del bool) cid.Cid {
	if len(b.slots) == 0 {
		return cid.Undef
	}
	_, hv := keyHash(key)
	s := b.slots[b.find(key, hv)]
	if s == 0 {
		return cid.Undef
	}
	prev := b.kvs[s-1].val
	if del && prev.Defined() {
		b.kvs[s-1].val = cid.Undef
		b.live--
	}
	return prev
}

func (b *bulkSet) grow() {
	n := max(64, 2*len(b.slots))
	// Reserve the entries the new index can take before it grows again:
	// append alone grows large slices by 1.25x, which for 100,000 puts
	// allocates (and clears, and the GC scans) five times the final size.
	if c := n * 3 / 4; c > cap(b.kvs) {
		b.kvs = slices.Grow(b.kvs, c-len(b.kvs))
		b.hashes = slices.Grow(b.hashes, c-len(b.hashes))
	}
	b.slots = make([]int32, n)
	mask := n - 1
	for idx, hv := range b.hashes {
		i := int(hv) & mask
		for b.slots[i] != 0 {
			i = (i + 1) & mask
		}
		b.slots[i] = int32(idx + 1)
	}
}

// buildSorted builds the tree holding the live entries of b in one pass
// over their sorted keys. It takes b's entries over.
func buildSorted(b *bulkSet, tok *token) (ref, int) {
	if b.live == 0 {
		return ref{}, 0
	}
	kvs := b.kvs
	if b.live < len(kvs) {
		kvs = slices.DeleteFunc(kvs, func(x kv) bool { return !x.val.Defined() })
	}
	sortKVs(kvs)
	top := 0
	for i := range kvs {
		top = max(top, int(kvs[i].h))
	}
	bl := builder{kvs: kvs, tok: tok, entries: make([]entry, len(kvs))}
	return bl.build(0, len(kvs), top), top
}

type builder struct {
	kvs     []kv
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
		if int(b.kvs[i].h) == h {
			count++
		}
	}
	n := b.newNode(h)
	// Capacity is capped so that appends made later by an Editor copy.
	n.entries = b.entries[:0:count]
	b.entries = b.entries[count:]
	start := lo
	for i := lo; i < hi; i++ {
		if int(b.kvs[i].h) != h {
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
