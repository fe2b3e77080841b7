package mst

import (
	"hash/maphash"

	"github.com/ipfs/go-cid"
)

// bulkSet is the content of an Editor that started from an empty tree:
// the entries in the order they were first put, in fixed-size chunks (so
// that growing never copies them), and an open-addressing index over them
// keyed by a seeded hash of the key (hash/maphash). A deleted entry keeps
// its slot with an undefined value. The keys' layers (one SHA-256 each) are
// computed once, in a batch, when the tree is built.
type bulkSet struct {
	chunks []*[bulkChunk]bulkEntry
	n      int     // entries, live or deleted
	slots  []int32 // 1 + index of the entry; 0 is empty
	live   int
	seed   maphash.Seed
}

const bulkChunkBits = 8
const bulkChunk = 1 << bulkChunkBits

type bulkEntry struct {
	key string
	val cid.Cid // undefined once deleted
	hv  uint64  // maphash of key, for growing the index
}

// kv is one entry of a build, in key order.
type kv struct {
	key string
	val cid.Cid
	h   uint8 // layer
	op  int32 // Editor.Apply: the index of the op that puts it
}

func newBulkSet() *bulkSet { return &bulkSet{seed: maphash.MakeSeed()} }

func (b *bulkSet) at(i int) *bulkEntry {
	return &b.chunks[i>>bulkChunkBits][i&(bulkChunk-1)]
}

// find returns the slot of key, or of the empty slot where it would go.
func (b *bulkSet) find(key string, hv uint64) int {
	mask := len(b.slots) - 1
	i := int(hv) & mask
	for {
		s := b.slots[i]
		if s == 0 {
			return i
		}
		if e := b.at(int(s) - 1); e.hv == hv && e.key == key {
			return i
		}
		i = (i + 1) & mask
	}
}

// put sets key to val and returns the previous value.
func (b *bulkSet) put(key string, val cid.Cid) cid.Cid {
	hv := maphash.String(b.seed, key)
	if (b.n+1)*4 > len(b.slots)*3 {
		b.grow()
	}
	i := b.find(key, hv)
	if s := b.slots[i]; s != 0 {
		e := b.at(int(s) - 1)
		prev := e.val
		if !prev.Defined() {
			b.live++
		}
		e.val = val
		return prev
	}
	if b.n == len(b.chunks)*bulkChunk {
		b.chunks = append(b.chunks, new([bulkChunk]bulkEntry))
	}
	*b.at(b.n) = bulkEntry{key: key, val: val, hv: hv}
	b.n++
	b.slots[i] = int32(b.n)
	b.live++
	return cid.Undef
}

// get returns the value of key (cid.Undef if absent); if del is set it
// also removes it.
func (b *bulkSet) get(key string, del bool) cid.Cid {
	if len(b.slots) == 0 {
		return cid.Undef
	}
	s := b.slots[b.find(key, maphash.String(b.seed, key))]
	if s == 0 {
		return cid.Undef
	}
	e := b.at(int(s) - 1)
	prev := e.val
	if del && prev.Defined() {
		e.val = cid.Undef
		b.live--
	}
	return prev
}

func (b *bulkSet) grow() {
	n := max(64, 2*len(b.slots))
	b.slots = make([]int32, n)
	mask := n - 1
	for idx := range b.n {
		i := int(b.at(idx).hv) & mask
		for b.slots[i] != 0 {
			i = (i + 1) & mask
		}
		b.slots[i] = int32(idx + 1)
	}
}

// buildSorted builds the tree holding the live entries of b in one pass
// over their sorted keys.
func buildSorted(b *bulkSet, tok *token) (ref, int) {
	if b.live == 0 {
		return ref{}, 0
	}
	kvs := make([]kv, 0, b.live)
	for ci, c := range b.chunks {
		for i := range min(bulkChunk, b.n-ci*bulkChunk) {
			if e := &c[i]; e.val.Defined() {
				kvs = append(kvs, kv{key: e.key, val: e.val})
			}
		}
	}
	// Every key's layer: one SHA-256 each, eight at a time.
	top := 0
	for i, h := range keyLayers(len(kvs), func(i int) string { return kvs[i].key }) {
		kvs[i].h = h
		top = max(top, int(h))
	}
	sortKVs(kvs)
	bl := builder{kvs: kvs, tok: tok, entries: make([]entry, len(kvs))}
	return bl.build(top), top
}

type builder struct {
	kvs     []kv
	tok     *token
	entries []entry // one slab for all nodes' entries, handed out in order
	nodes   []node  // slab of nodes
}

func (b *builder) newNode(h int) *node {
	if len(b.nodes) == cap(b.nodes) {
		// A small build (Editor.Apply fills empty gaps with a few keys)
		// needs at most a node per key and a few above them.
		b.nodes = make([]node, 0, max(min(64, len(b.kvs)+4), len(b.kvs)/8))
	}
	b.nodes = b.nodes[:len(b.nodes)+1]
	n := &b.nodes[len(b.nodes)-1]
	n.height, n.owner = h, b.tok
	return n
}

// build returns the tree holding b.kvs (sorted, layers set, top the
// highest), in one pass over them. It keeps one open node per layer: a key
// on layer h closes the open nodes below h (each becomes the last gap of
// the one above it, a node without entries wrapping a lower one where a
// layer has no keys in that range) and joins layer h's open node.
func (b *builder) build(top int) ref {
	open := make([]openNode, top+1)
	for i := range b.kvs {
		kv := &b.kvs[i]
		h := int(kv.h)
		var carry ref
		for l := 0; l < h; l++ {
			carry = b.close(&open[l], l, carry)
		}
		o := &open[h]
		o.setLastGap(carry)
		o.entries = append(o.entries, entry{key: kv.key, val: kv.val})
	}
	var carry ref
	for l := range open {
		carry = b.close(&open[l], l, carry)
	}
	return carry
}

// openNode is a node being built: its entries so far, and its left gap.
type openNode struct {
	left    ref
	entries []entry
}

func (o *openNode) setLastGap(r ref) {
	if len(o.entries) == 0 {
		o.left = r
	} else {
		o.entries[len(o.entries)-1].right = r
	}
}

// close completes o (layer h) with carry as its last gap and returns it
// (empty if it holds nothing); o is then reset.
func (b *builder) close(o *openNode, h int, carry ref) ref {
	o.setLastGap(carry)
	if len(o.entries) == 0 && o.left.empty() {
		return ref{}
	}
	n := b.newNode(h)
	k := len(o.entries)
	// Capacity is capped so that appends made later by an Editor copy.
	n.entries = b.entries[:k:k]
	b.entries = b.entries[k:]
	copy(n.entries, o.entries)
	n.left = o.left
	o.entries = o.entries[:0]
	o.left = ref{}
	return ref{n: n}
}
