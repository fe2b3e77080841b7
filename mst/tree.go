package mst

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/ipfs/go-cid"
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
}

// store is what a tree and every tree derived from it share: the block
// source, the node cache and the lock that orders hashing.
type store struct {
	src    BlockSource
	cache  *nodeCache
	hashMu sync.Mutex
}

func (o Options) newStore(src BlockSource) *store {
	n := o.CacheNodes
	if n <= 0 {
		n = DefaultCacheNodes
	}
	return &store{src: src, cache: newNodeCache(n)}
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
		return r.n, nil
	}
	k := r.cid.KeyString()
	n := s.cache.get(k)
	if n == nil {
		if s.src == nil {
			return nil, fmt.Errorf("mst: node %s: %w (tree has no block source)", r.cid, ErrNotFound)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := s.src.GetBlock(ctx, r.cid)
		if err != nil {
			return nil, fmt.Errorf("mst: reading node %s: %w", r.cid, err)
		}
		if !hashMatches(r.cid, data) {
			return nil, nodeErr(r.cid, RuleHash, -1, "block does not hash to its CID")
		}
		n, err = decodeNode(data, r.cid)
		if err != nil {
			return nil, err
		}
		s.cache.add(k, n)
	}
	if len(n.entries) == 0 {
		if n.left.empty() {
			return nil, nodeErr(r.cid, RuleEmptyNode, -1, "intermediate node on layer %d is empty", h)
		}
		if h <= 0 {
			return nil, nodeErr(r.cid, RuleLeafChild, -1, "node on layer 0 has a left child")
		}
		return n, nil
	}
	if n.height != h {
		return nil, nodeErr(r.cid, RuleKeyHeight, 0, "node's keys are on layer %d, its place in the tree is layer %d", n.height, h)
	}
	if first := n.entries[0].key; first <= lo {
		return nil, nodeErr(r.cid, RuleChildSide, 0, "key %q is not above %q", first, lo)
	}
	if last := n.entries[len(n.entries)-1].key; last >= hi {
		return nil, nodeErr(r.cid, RuleChildSide, len(n.entries)-1, "key %q is not below %q", last, hi)
	}
	return n, nil
}

// rootNode returns the root node and its layer, or nil for an empty tree.
func (s *store) rootNode(ctx context.Context, r ref, height int) (*node, int, error) {
	if r.empty() {
		return nil, 0, nil
	}
	if r.n != nil {
		return r.n, height, nil
	}
	// The root's layer is that of its keys; a root without keys is either
	// the empty tree or not trimmed.
	n := s.cache.get(r.cid.KeyString())
	if n == nil {
		var err error
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
	if !hashMatches(c, data) {
		return nil, nodeErr(c, RuleHash, -1, "block does not hash to its CID")
	}
	n, err := decodeNode(data, c)
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

func get(ctx context.Context, s *store, root ref, height int, key string) (cid.Cid, bool, error) {
	n, H, err := s.rootNode(ctx, root, height)
	if err != nil || n == nil {
		return cid.Undef, false, err
	}
	h := KeyHeight(key)
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
	var buf []byte
	if err := hashNode(ctx, t.root.n, &buf, 0); err != nil {
		return cid.Undef, err
	}
	return t.root.n.cid, nil
}

// hashNode computes and memoises the CID of n and of the new nodes under it.
func hashNode(ctx context.Context, n *node, buf *[]byte, depth int) error {
	if n.cid.Defined() {
		return nil
	}
	if depth&63 == 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if c := n.left.n; c != nil && !c.cid.Defined() {
		if err := hashNode(ctx, c, buf, depth+1); err != nil {
			return err
		}
	}
	for i := range n.entries {
		if c := n.entries[i].right.n; c != nil && !c.cid.Defined() {
			if err := hashNode(ctx, c, buf, depth+1); err != nil {
				return err
			}
		}
	}
	*buf = appendNode((*buf)[:0], n)
	n.cid = sumCID(*buf)
	return nil
}

// Editor applies many changes to a tree faster than Tree.Put and
// Tree.Delete: nodes it created are changed in place instead of copied, and
// changes to an empty tree are collected and built in one pass when Tree is
// called. The tree it started from is never changed. An Editor is not safe
// for concurrent use.
type Editor struct {
	s      *store
	root   ref
	height int
	tok    *token
	// bulk holds the whole content while the edited tree started empty:
	// building from sorted keys is much faster than inserting one by one.
	bulk map[string]cid.Cid
}

// Edit returns an Editor that starts from t.
func (t *Tree) Edit() *Editor {
	return &Editor{s: t.s, root: t.root, height: t.height, tok: new(token)}
}

// Tree returns the edited tree. The Editor stays usable; later edits do not
// change the returned tree.
func (e *Editor) Tree() *Tree {
	if e.bulk != nil {
		e.root, e.height = buildSorted(e.bulk, e.tok)
		e.bulk = nil
	}
	t := &Tree{s: e.s, root: e.root, height: e.height}
	e.tok = new(token) // nodes made so far now belong to t
	return t
}

// Get returns the value stored under key in the tree being edited.
func (e *Editor) Get(ctx context.Context, key string) (cid.Cid, bool, error) {
	if err := ValidateKey(key); err != nil {
		return cid.Undef, false, err
	}
	if e.bulk != nil {
		v, ok := e.bulk[key]
		return v, ok, nil
	}
	return get(ctx, e.s, e.root, e.height, key)
}

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

// errUndefValue is returned for a Put of cid.Undef.
var errUndefValue = errors.New("mst: value is not a defined CID")

func (e *Editor) own(n *node, h int) *node {
	if n.owner == e.tok {
		n.cid = cid.Undef
		return n
	}
	m := &node{left: n.left, height: h, owner: e.tok}
	m.entries = make([]entry, len(n.entries), len(n.entries)+1)
	copy(m.entries, n.entries)
	return m
}

func (e *Editor) wrap(r ref, from, to int) ref {
	for h := from; h < to && !r.empty(); h++ {
		r = ref{n: &node{left: r, height: h + 1, owner: e.tok}}
	}
	return r
}

// Put sets key to val and returns the previous value (cid.Undef if none).
func (e *Editor) Put(ctx context.Context, key string, val cid.Cid) (cid.Cid, error) {
	if err := ValidateKey(key); err != nil {
		return cid.Undef, err
	}
	if !val.Defined() {
		return cid.Undef, errUndefValue
	}
	if e.bulk == nil && e.root.empty() {
		e.bulk = make(map[string]cid.Cid)
	}
	if e.bulk != nil {
		prev := e.bulk[key]
		e.bulk[key] = val
		return prev, nil
	}
	root, H, err := e.s.rootNode(ctx, e.root, e.height)
	if err != nil {
		return cid.Undef, err
	}
	h := KeyHeight(key)
	if root == nil {
		e.root = ref{n: &node{entries: []entry{{key: key, val: val}}, height: h, owner: e.tok}}
		e.height = h
		return cid.Undef, nil
	}
	r := e.root // a CID-only root is found in the cache by load
	if h > H {
		l, rr, err := e.split(ctx, r, H, "", keyMax, key)
		if err != nil {
			return cid.Undef, err
		}
		n := &node{left: e.wrap(l, H, h-1), height: h, owner: e.tok,
			entries: []entry{{key: key, val: val, right: e.wrap(rr, H, h-1)}}}
		e.root, e.height = ref{n: n}, h
		return cid.Undef, nil
	}
	nr, prev, err := e.insert(ctx, r, H, "", keyMax, key, h, val)
	if err != nil {
		return cid.Undef, err
	}
	e.root, e.height = nr, H
	return prev, nil
}

func (e *Editor) insert(ctx context.Context, r ref, H int, lo, hi, k string, h int, v cid.Cid) (ref, cid.Cid, error) {
	n, err := e.s.load(ctx, r, H, lo, hi)
	if err != nil {
		return r, cid.Undef, err
	}
	i, found := n.search(k)
	if h == H {
		if found {
			old := n.entries[i].val
			if old == v {
				return r, old, nil
			}
			m := e.own(n, H)
			m.entries[i].val = v
			return ref{n: m}, old, nil
		}
		var gl, gr ref
		if g := n.gap(i); !g.empty() {
			glo, ghi := n.gapBounds(i, lo, hi)
			if gl, gr, err = e.split(ctx, g, H-1, glo, ghi, k); err != nil {
				return r, cid.Undef, err
			}
		}
		m := e.own(n, H)
		m.setGap(i, gl)
		m.entries = slices.Insert(m.entries, i, entry{key: k, val: v, right: gr})
		return ref{n: m}, cid.Undef, nil
	}
	g := n.gap(i)
	var ng ref
	var prev cid.Cid
	if g.empty() {
		ng = e.wrap(ref{n: &node{entries: []entry{{key: k, val: v}}, height: h, owner: e.tok}}, h, H-1)
	} else {
		glo, ghi := n.gapBounds(i, lo, hi)
		if ng, prev, err = e.insert(ctx, g, H-1, glo, ghi, k, h, v); err != nil {
			return r, cid.Undef, err
		}
		if ng == g {
			return r, prev, nil
		}
	}
	m := e.own(n, H)
	m.setGap(i, ng)
	return ref{n: m}, prev, nil
}

// split divides the subtree r (layer H, keys in (lo, hi)) into the parts
// below and above k, which it does not contain.
func (e *Editor) split(ctx context.Context, r ref, H int, lo, hi, k string) (ref, ref, error) {
	n, err := e.s.load(ctx, r, H, lo, hi)
	if err != nil {
		return ref{}, ref{}, err
	}
	i, found := n.search(k)
	if found {
		return ref{}, ref{}, nodeErr(r.cid, RuleKeyHeight, i, "key %q found below its layer", k)
	}
	g := n.gap(i)
	var gl, gr ref
	if !g.empty() {
		glo, ghi := n.gapBounds(i, lo, hi)
		if gl, gr, err = e.split(ctx, g, H-1, glo, ghi, k); err != nil {
			return ref{}, ref{}, err
		}
	}
	if gr.empty() && gl == g && i == len(n.entries) {
		return r, ref{}, nil
	}
	if gl.empty() && gr == g && i == 0 {
		return ref{}, r, nil
	}
	var L, R ref
	if i > 0 || !gl.empty() {
		ln := &node{left: n.left, height: H, owner: e.tok, entries: slices.Clone(n.entries[:i])}
		ln.setGap(i, gl)
		L = ref{n: ln}
	}
	if i < len(n.entries) || !gr.empty() {
		R = ref{n: &node{left: gr, height: H, owner: e.tok, entries: slices.Clone(n.entries[i:])}}
	}
	return L, R, nil
}

// Delete removes key and returns its value (cid.Undef if it was absent).
func (e *Editor) Delete(ctx context.Context, key string) (cid.Cid, error) {
	if err := ValidateKey(key); err != nil {
		return cid.Undef, err
	}
	if e.bulk != nil {
		prev := e.bulk[key]
		delete(e.bulk, key)
		return prev, nil
	}
	root, H, err := e.s.rootNode(ctx, e.root, e.height)
	if err != nil || root == nil {
		return cid.Undef, err
	}
	h := KeyHeight(key)
	if h > H {
		return cid.Undef, nil
	}
	r := e.root // a CID-only root is found in the cache by load
	nr, prev, err := e.delete(ctx, r, H, "", keyMax, key, h)
	if err != nil || !prev.Defined() {
		return cid.Undef, err
	}
	// Trim the top: a root must hold entries.
	for !nr.empty() {
		n, err := e.s.load(ctx, nr, H, "", keyMax)
		if err != nil {
			return cid.Undef, fmt.Errorf("mst: trimming the root: %w", err)
		}
		if len(n.entries) > 0 {
			break
		}
		nr = n.left
		H--
	}
	if nr.empty() {
		H = 0
	}
	e.root, e.height = nr, H
	return prev, nil
}

func (e *Editor) delete(ctx context.Context, r ref, H int, lo, hi, k string, h int) (ref, cid.Cid, error) {
	n, err := e.s.load(ctx, r, H, lo, hi)
	if err != nil {
		return r, cid.Undef, err
	}
	i, found := n.search(k)
	if h == H {
		if !found {
			return r, cid.Undef, nil
		}
		alo, _ := n.gapBounds(i, lo, hi)
		_, bhi := n.gapBounds(i+1, lo, hi)
		mg, err := e.merge(ctx, n.gap(i), n.entries[i].right, H-1, alo, k, bhi)
		if err != nil {
			return r, cid.Undef, err
		}
		prev := n.entries[i].val
		m := e.own(n, H)
		m.entries = slices.Delete(m.entries, i, i+1)
		m.setGap(i, mg)
		if len(m.entries) == 0 && m.left.empty() {
			return ref{}, prev, nil
		}
		return ref{n: m}, prev, nil
	}
	g := n.gap(i)
	if g.empty() {
		return r, cid.Undef, nil
	}
	glo, ghi := n.gapBounds(i, lo, hi)
	ng, prev, err := e.delete(ctx, g, H-1, glo, ghi, k, h)
	if err != nil || !prev.Defined() {
		return r, cid.Undef, err
	}
	m := e.own(n, H)
	m.setGap(i, ng)
	if len(m.entries) == 0 && m.left.empty() {
		return ref{}, prev, nil
	}
	return ref{n: m}, prev, nil
}

// merge joins subtrees a (keys in (lo, mid)) and b (keys in (mid, hi)), both
// on layer H.
func (e *Editor) merge(ctx context.Context, a, b ref, H int, lo, mid, hi string) (ref, error) {
	if a.empty() {
		return b, nil
	}
	if b.empty() {
		return a, nil
	}
	na, err := e.s.load(ctx, a, H, lo, mid)
	if err != nil {
		return ref{}, err
	}
	nb, err := e.s.load(ctx, b, H, mid, hi)
	if err != nil {
		return ref{}, err
	}
	la := len(na.entries)
	alo, bhi := lo, hi
	if la > 0 {
		alo = na.entries[la-1].key
	}
	if len(nb.entries) > 0 {
		bhi = nb.entries[0].key
	}
	seam, err := e.merge(ctx, na.gap(la), nb.left, H-1, alo, mid, bhi)
	if err != nil {
		return ref{}, err
	}
	m := &node{height: H, owner: e.tok, entries: make([]entry, 0, la+len(nb.entries)+1)}
	m.entries = append(append(m.entries, na.entries...), nb.entries...)
	m.left = na.left
	m.setGap(la, seam)
	return ref{n: m}, nil
}
