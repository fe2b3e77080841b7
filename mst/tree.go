package mst

import (
	"context"
	"fmt"
	"sync"
	"unsafe"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/internal/sha256x8"
)

// DefaultCacheNodes is the default bound on decoded nodes a store keeps.
const DefaultCacheNodes = 4096

// keyMax sorts after every valid key (valid keys are printable ASCII).
const keyMax = "\xff"

// Options configures trees. The zero value means the defaults.
type Options struct {
	// CacheNodes bounds the number of decoded nodes kept in memory for the
	// trees that share one Load or Empty call (default DefaultCacheNodes).
	CacheNodes int

	// InsecureTrustSource declares that every block the BlockSource returns
	// hashes to its CID and, if it is a node, is canonical: the source is
	// a store that only this package's trees wrote to, or that checked
	// blocks when they were written. The tree then skips the SHA-256 work
	// of strict loading: the hash of each block read, and the layer of
	// every key (a node's layer is its place in the tree; a root's, that of
	// its first key). Every other check still runs, so a malformed block
	// still yields an error, never a panic; but a forged block under a
	// wrong CID, or keys on mixed layers, go unnoticed. The default (false)
	// checks everything: never set it for blocks from the network, a CAR
	// file or any other party.
	InsecureTrustSource bool

	// InsecureSkipHashCheck declares only that every block the BlockSource returns
	// hashes to its CID: the caller checked each one when it read it (as
	// package repo does for the blocks of a sync event, all in one batch of
	// multi-buffer SHA-256). The tree then skips the hash of each block it
	// reads, and nothing else: every node is still checked to be canonical
	// and to hold its keys on its layer. Never set it for a source whose
	// blocks nobody checked.
	InsecureSkipHashCheck bool
}

// store is what a tree and every tree derived from it share: the block
// source, the node cache and the lock that orders hashing.
type store struct {
	src    BlockSource
	cache  *nodeCache
	hashMu *sync.Mutex
	// record, if set, is told of every node an operation reads (see
	// InversionBlocks).
	record func(*node)
	// trusted skips hash and per-key layer checks (Options.InsecureTrustSource).
	trusted bool
	// hashed skips hash checks only (Options.InsecureSkipHashCheck).
	hashed bool
}

func (o Options) newStore(src BlockSource) *store {
	n := o.CacheNodes
	if n <= 0 {
		n = DefaultCacheNodes
	}
	return &store{src: src, cache: newNodeCache(n), hashMu: new(sync.Mutex), trusted: o.InsecureTrustSource,
		hashed: o.InsecureTrustSource || o.InsecureSkipHashCheck}
}

// Tree is an immutable Merkle Search Tree. Put and Delete return new trees
// that share unchanged nodes with the old one; nodes are read from the
// BlockSource on demand, checked, and kept in a bounded cache.
//
// A Tree is safe for concurrent use by multiple goroutines (its BlockSource
// must be too). The zero Tree is not valid: use Empty or Load.
type Tree struct {
	s      *store
	root   ref
	height int // layer of the root; meaningful when root.n != nil
}

// Load returns the tree whose root node has CID root, read lazily from src.
// Nothing is read until the tree is used, so a bad root is reported by the
// first operation that reads it.
func Load(src BlockSource, root cid.Cid) *Tree { return Options{}.Load(src, root) }

// Load is like the package-level Load, with options.
func (o Options) Load(src BlockSource, root cid.Cid) *Tree {
	return &Tree{s: o.newStore(src), root: ref{cid: root}}
}

// LoadRoot returns the tree whose root node has CID root, read lazily from
// t's block source and sharing t's node cache: use it to open an earlier or
// later commit's tree of the same repository without reading shared nodes
// again.
func (t *Tree) LoadRoot(root cid.Cid) *Tree {
	return &Tree{s: t.s, root: ref{cid: root}}
}

// Empty returns an empty tree. src may be nil; it is used only by trees that
// are later combined with loaded nodes (it is shared by derived trees).
func Empty(src BlockSource) *Tree { return Options{}.Empty(src) }

// Empty is like the package-level Empty, with options.
func (o Options) Empty(src BlockSource) *Tree {
	return &Tree{s: o.newStore(src)}
}

// load returns the node r points to, which must sit at layer h with every
// key strictly between lo and hi.
func (s *store) load(ctx context.Context, r ref, h int, lo, hi string) (*node, error) {
	if r.n != nil {
		if s.record != nil {
			s.record(r.n)
		}
		return r.n, nil
	}
	k := r.cid.KeyString()
	n, err := s.cached(k, r.cid)
	if err != nil {
		return nil, err
	}
	if n == nil {
		data, err := s.fetch(ctx, r.cid)
		if err != nil {
			return nil, err
		}
		if n, err = s.check(r.cid, data, h); err != nil {
			return nil, err
		}
		s.cache.add(k, n)
	}
	return s.place(n, r.cid, h, lo, hi)
}

// cached returns the node cached under k (CID c), or nil. A block a diff
// walk cached (see view) is decoded again, and replaces the block: it was
// checked when it was read, so only its first key's layer is computed (all
// its keys are on that layer).
func (s *store) cached(k string, c cid.Cid) (*node, error) {
	n, b := s.cache.get(k)
	if n != nil || b == "" {
		return n, nil
	}
	n, err := decodeNode(unsafe.Slice(unsafe.StringData(b), len(b)), c, true, -1)
	if err != nil {
		return nil, err // unreachable: the block passed the same checks
	}
	s.cache.add(k, n)
	return n, nil
}

// fetch reads block c from the source.
func (s *store) fetch(ctx context.Context, c cid.Cid) ([]byte, error) {
	if s.src == nil {
		return nil, fmt.Errorf("mst: node %s: %w (tree has no block source)", c, ErrNotFound)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := s.src.GetBlock(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("mst: reading node %s: %w", c, err)
	}
	return data, nil
}

// check verifies block c (unless the source is trusted, or checked hashes)
// and decodes it as a node meant for layer h.
func (s *store) check(c cid.Cid, data []byte, h int) (*node, error) {
	if !s.hashed && !hashMatches(c, data) {
		return nil, nodeErr(c, RuleHash, -1, "block does not hash to its CID")
	}
	return decodeNode(data, c, s.trusted, h)
}

// place makes the checks of node n (CID c) that depend on its place: layer
// h, every key strictly between lo and hi.
func (s *store) place(n *node, c cid.Cid, h int, lo, hi string) (*node, error) {
	// The common case first; checkPlace names the rule a node breaks.
	if k := len(n.entries); k == 0 || n.height != h || n.entries[0].key <= lo || n.entries[k-1].key >= hi {
		first, last := "", ""
		if k > 0 {
			first, last = n.entries[0].key, n.entries[k-1].key
		}
		if err := checkPlace(c, k, !n.left.empty(), n.height, h, first, last, lo, hi); err != nil {
			return nil, err
		}
	}
	if s.record != nil {
		s.record(n)
	}
	return n, nil
}

// checkPlace makes the checks of a node (CID c) that depend on its place:
// layer h, every key strictly between lo and hi. The node has count entries
// on layer height, from first to last, and a left link if hasLeft.
func checkPlace(c cid.Cid, count int, hasLeft bool, height, h int, first, last, lo, hi string) error {
	if count == 0 {
		if !hasLeft {
			return nodeErr(c, RuleEmptyNode, -1, "intermediate node on layer %d is empty", h)
		}
		if h <= 0 {
			return nodeErr(c, RuleLeafChild, -1, "node on layer 0 has a left child")
		}
		return nil
	}
	if height != h {
		return nodeErr(c, RuleKeyHeight, 0, "node's keys are on layer %d, its place in the tree is layer %d", height, h)
	}
	if first <= lo {
		return nodeErr(c, RuleChildSide, 0, "key %q is not above %q", first, lo)
	}
	if last >= hi {
		return nodeErr(c, RuleChildSide, count-1, "key %q is not below %q", last, hi)
	}
	return nil
}

// rootNode returns the root node and its layer, or nil for an empty tree.
func (s *store) rootNode(ctx context.Context, r ref, height int) (*node, int, error) {
	if r.empty() {
		return nil, 0, nil
	}
	if r.n != nil {
		if s.record != nil {
			s.record(r.n)
		}
		return r.n, height, nil
	}
	// The root's layer is that of its keys; a root without keys is either
	// the empty tree or not trimmed.
	n, err := s.cached(r.cid.KeyString(), r.cid)
	if err != nil {
		return nil, 0, err
	}
	if n == nil {
		// Load with a layer that matches whatever the node holds; the real
		// check is made below.
		if n, err = s.loadUnchecked(ctx, r.cid); err != nil {
			return nil, 0, err
		}
	}
	if len(n.entries) == 0 {
		if n.left.empty() {
			return nil, 0, nil
		}
		return nil, 0, nodeErr(r.cid, RuleUntrimmedRoot, -1, "root has no entries, only a left child")
	}
	if s.record != nil {
		s.record(n)
	}
	return n, n.height, nil
}

func (s *store) loadUnchecked(ctx context.Context, c cid.Cid) (*node, error) {
	if s.src == nil {
		return nil, fmt.Errorf("mst: node %s: %w (tree has no block source)", c, ErrNotFound)
	}
	data, err := s.src.GetBlock(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("mst: reading node %s: %w", c, err)
	}
	if !s.hashed && !hashMatches(c, data) {
		return nil, nodeErr(c, RuleHash, -1, "block does not hash to its CID")
	}
	n, err := decodeNode(data, c, s.trusted, -1)
	if err != nil {
		return nil, err
	}
	s.cache.add(c.KeyString(), n)
	return n, nil
}

// Get returns the value stored under key, and whether it is there.
func (t *Tree) Get(ctx context.Context, key string) (cid.Cid, bool, error) {
	if err := ValidateKey(key); err != nil {
		return cid.Undef, false, err
	}
	return get(ctx, t.s, t.root, t.height, key)
}

// Has reports whether key is in the tree. It is Get without the value and
// without the key's layer (one SHA-256): it descends until it finds the key
// or meets an empty gap. For a key on layer 0 (three keys in four) it reads
// the nodes Get reads; for an absent key on a higher layer, the nodes below
// that layer on its way down too, which a Put of that key reads as well.
// On a complete tree whose nodes were checked (the default) or built here,
// its answer is Get's. On a tree missing blocks (a proof, an event's
// blocks) it may read a node Get would not and fail where Get answers. On
// a source taken on trust (Options.InsecureTrustSource), where a key could
// sit on the wrong layer, Has is Get.
func (t *Tree) Has(ctx context.Context, key string) (bool, error) {
	if t.s.trusted {
		_, ok, err := t.Get(ctx, key)
		return ok, err
	}
	if err := ValidateKey(key); err != nil {
		return false, err
	}
	n, H, err := t.s.rootNode(ctx, t.root, t.height)
	if err != nil || n == nil {
		return false, err
	}
	lo, hi := "", keyMax
	for {
		i, found := n.search(key)
		if found {
			return true, nil
		}
		g := n.gap(i)
		if g.empty() || H == 0 {
			return false, nil
		}
		lo, hi = n.gapBounds(i, lo, hi)
		H--
		if n, err = t.s.load(ctx, g, H, lo, hi); err != nil {
			return false, err
		}
	}
}

// HasMany reports whether each of keys is in the tree: it sets found[i]
// to what Has(keys[i]) returns (found must be as long as keys). For keys
// in ascending order (duplicates allowed) it descends once for the whole
// batch: the keys that fall in one gap of a node go down it together, so
// a node shared by their paths is loaded once, not once per key (each
// key found, or first in its gap, is still searched for among the node's
// entries; the others of its gap are compared with one entry); a batch
// of consecutive keys (a community's receipts, record keys that are TIDs)
// reads the few nodes along their common path. Keys out of order are
// looked up one at a time. On failure it returns the index of the first
// key whose lookup failed (a key that is not valid, or whose path met a
// node that failed to load) and its error; the values before it are set.
// On success it returns len(keys) and nil.
func (t *Tree) HasMany(ctx context.Context, keys []string, found []bool) (int, error) {
	if len(found) < len(keys) {
		return 0, fmt.Errorf("mst: HasMany of %d keys into %d results", len(keys), len(found))
	}
	valid, sorted := len(keys), true
	var keyErr error
	for i, k := range keys {
		if err := ValidateKey(k); err != nil {
			valid, keyErr = i, err
			break
		}
		if i > 0 && k < keys[i-1] {
			sorted = false
		}
	}
	if t.s.trusted || !sorted {
		for i, k := range keys[:valid] {
			ok, err := t.Has(ctx, k)
			if err != nil {
				return i, err
			}
			found[i] = ok
		}
		return valid, keyErr
	}
	n, H, err := t.s.rootNode(ctx, t.root, t.height)
	if err != nil {
		return 0, err
	}
	if n == nil {
		clear(found[:valid])
		return valid, keyErr
	}
	if i, err := t.hasSorted(ctx, n, H, "", keyMax, keys[:valid], found[:valid]); err != nil {
		return i, err
	}
	return valid, keyErr
}

// hasSorted is HasMany of keys, ascending, below node n at layer H, whose
// keys lie between lo and hi.
func (t *Tree) hasSorted(ctx context.Context, n *node, H int, lo, hi string, keys []string, found []bool) (int, error) {
	for j := 0; j < len(keys); {
		i, ok := n.search(keys[j])
		if ok {
			found[j] = true
			j++
			continue
		}
		// keys[j:e] fall in gap i: after entry i-1 (keys[j] does) and
		// before entry i.
		e := len(keys)
		if i < len(n.entries) {
			e = j + 1
			for e < len(keys) && keys[e] < n.entries[i].key {
				e++
			}
		}
		g := n.gap(i)
		if g.empty() || H == 0 {
			clear(found[j:e])
			j = e
			continue
		}
		clo, chi := n.gapBounds(i, lo, hi)
		c, err := t.s.load(ctx, g, H-1, clo, chi)
		if err != nil {
			return j, err
		}
		if k, err := t.hasSorted(ctx, c, H-1, clo, chi, keys[j:e], found[j:e]); err != nil {
			return j + k, err
		}
		j = e
	}
	return len(keys), nil
}

// GetMany looks up many keys: it sets vals[i] to the value stored under
// keys[i], or cid.Undef if it is absent (vals must be as long as keys). It
// is Get for a batch: the keys' layers (one SHA-256 each) are computed up
// front, eight at a time (internal/sha256x8), instead of one after
// another. On failure it returns the index of the first key whose lookup
// failed and its error (the one Get returns for it); the values before it
// are set. On success it returns len(keys) and nil.
func (t *Tree) GetMany(ctx context.Context, keys []string, vals []cid.Cid) (int, error) {
	if len(vals) < len(keys) {
		return 0, fmt.Errorf("mst: GetMany of %d keys into %d values", len(keys), len(vals))
	}
	var layers []uint8
	if !t.root.empty() && len(keys) > 1 {
		layers = keyLayers(len(keys), func(i int) string { return keys[i] })
	}
	for i, k := range keys {
		if err := ValidateKey(k); err != nil {
			return i, err
		}
		h := -1
		if layers != nil {
			h = int(layers[i])
		}
		v, _, err := getAt(ctx, t.s, t.root, t.height, k, h)
		if err != nil {
			return i, err
		}
		vals[i] = v
	}
	return len(keys), nil
}

func get(ctx context.Context, s *store, root ref, height int, key string) (cid.Cid, bool, error) {
	return getAt(ctx, s, root, height, key, -1)
}

// getAt is get for a key whose layer is h, or unknown if h is negative.
func getAt(ctx context.Context, s *store, root ref, height int, key string, h int) (cid.Cid, bool, error) {
	n, H, err := s.rootNode(ctx, root, height)
	if err != nil || n == nil {
		return cid.Undef, false, err
	}
	if h < 0 {
		h = KeyHeight(key)
	}
	lo, hi := "", keyMax
	for {
		if h > H {
			return cid.Undef, false, nil
		}
		i, found := n.search(key)
		if h == H {
			if found {
				return n.entries[i].val, true, nil
			}
			return cid.Undef, false, nil
		}
		g := n.gap(i)
		if g.empty() {
			return cid.Undef, false, nil
		}
		lo, hi = n.gapBounds(i, lo, hi)
		H--
		if n, err = s.load(ctx, g, H, lo, hi); err != nil {
			return cid.Undef, false, err
		}
	}
}

// Put returns a tree in which key maps to val, and the value key had before
// (cid.Undef if it was absent). t is unchanged.
func (t *Tree) Put(ctx context.Context, key string, val cid.Cid) (*Tree, cid.Cid, error) {
	e := t.Edit()
	prev, err := e.Put(ctx, key, val)
	if err != nil {
		return nil, cid.Undef, err
	}
	return e.Tree(), prev, nil
}

// Delete returns a tree without key, and the value key had (cid.Undef if it
// was absent, in which case the returned tree is t). t is unchanged.
func (t *Tree) Delete(ctx context.Context, key string) (*Tree, cid.Cid, error) {
	e := t.Edit()
	prev, err := e.Delete(ctx, key)
	if err != nil {
		return nil, cid.Undef, err
	}
	if !prev.Defined() {
		return t, prev, nil
	}
	return e.Tree(), prev, nil
}

// IsEmpty reports whether the tree holds no keys.
func (t *Tree) IsEmpty(ctx context.Context) (bool, error) {
	n, _, err := t.s.rootNode(ctx, t.root, t.height)
	return n == nil && err == nil, err
}

var emptyNodeBytes = []byte{cborMap2, textLen1, 'e', 0x80, textLen1, 'l', cborNull}

// Root returns the CID of the tree's root node, hashing new nodes as needed.
// For a tree from Load that was not changed, it is the CID given to Load.
func (t *Tree) Root(ctx context.Context) (cid.Cid, error) {
	if t.root.empty() {
		return sumCID(emptyNodeBytes), nil
	}
	if t.root.n == nil {
		return t.root.cid, nil
	}
	t.s.hashMu.Lock()
	defer t.s.hashMu.Unlock()
	if err := hashNew(ctx, t.root.n); err != nil {
		return cid.Undef, err
	}
	return t.root.n.cid, nil
}

// hashNew computes and memoises the CIDs of n and of the new nodes under it.
// Every node is encoded and hashed once, children before parents: the new
// nodes are grouped by rank (0 for those whose children all have CIDs, else
// one more than their highest-ranked new child), and each rank is hashed as
// one batch (sha256x8.SumMany, eight nodes at a time).
func hashNew(ctx context.Context, n *node) error {
	if n.cid.Defined() {
		return nil
	}
	// The new nodes with their ranks, in one slice (on the stack for the
	// few of an ordinary commit), then ordered by rank (a counting sort:
	// ranks are below the tree's height).
	var buf, sortBuf [32]rankedNode
	nodes, top := rankNew(n, buf[:0])
	var countBuf [34]int
	counts := countBuf[:0]
	if top+2 > len(countBuf) {
		counts = make([]int, top+2)
	}
	counts = counts[:top+2]
	for _, rn := range nodes {
		counts[rn.rank+1]++
	}
	for r := 1; r < len(counts); r++ {
		counts[r] += counts[r-1]
	}
	sorted := sortBuf[:0]
	if len(nodes) > len(sortBuf) {
		sorted = make([]rankedNode, len(nodes))
	}
	sorted = sorted[:len(nodes)]
	for _, rn := range nodes {
		sorted[counts[rn.rank]] = rn
		counts[rn.rank]++
	}
	nodes = sorted
	// The nodes' CIDs share one allocation, which each CID aliases (see
	// cidFromBinary); each 36-byte slot is written once, before its CID
	// is made.
	cids := make([]byte, 36*len(nodes))
	var bufs [8][]byte
	// Lane 0 hashes every rank, alone when it has few nodes: one buffer
	// large enough for most nodes saves its growing a few times.
	bufs[0] = make([]byte, 0, 2048)
	for len(nodes) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := 1
		for k < len(nodes) && nodes[k].rank == nodes[0].rank {
			k++
		}
		rank := nodes[:k]
		sha256x8.SumMany(len(rank), func(i, lane int) []byte {
			bufs[lane] = appendNode(bufs[lane][:0], rank[i].n)
			return bufs[lane]
		}, func(i int, sum [32]byte) {
			slot := cids[36*i : 36*i+36 : 36*i+36]
			slot[0], slot[1], slot[2], slot[3] = 0x01, codecDag, sha256Mh, digestLen
			copy(slot[4:], sum[:])
			rank[i].n.cid = cidFromBinary(bstr(slot))
		})
		nodes, cids = nodes[k:], cids[36*k:]
	}
	return nil
}

// rankedNode is a new node and its rank (see hashNew).
type rankedNode struct {
	n    *node
	rank int
}

// rankNew appends n and the new nodes under it to out, and returns out and
// n's rank.
func rankNew(n *node, out []rankedNode) ([]rankedNode, int) {
	r := 0
	if c := n.left.n; c != nil && !c.cid.Defined() {
		var cr int
		out, cr = rankNew(c, out)
		r = cr + 1
	}
	for i := range n.entries {
		if c := n.entries[i].right.n; c != nil && !c.cid.Defined() {
			var cr int
			out, cr = rankNew(c, out)
			r = max(r, cr+1)
		}
	}
	return append(out, rankedNode{n: n, rank: r}), r
}
