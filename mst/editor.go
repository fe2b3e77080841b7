package mst

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/internal/sha256x8"
)

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
	bulk *bulkSet
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
		v := e.bulk.get(key, false)
		return v, v.Defined(), nil
	}
	return get(ctx, e.s, e.root, e.height, key)
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
	return e.putAt(ctx, key, val, -1)
}

// Apply makes the changes ops name, in order: an op whose New is defined
// sets its Key to New, one whose New is undefined deletes its Key. It sets
// each applied op's Old to the value its key had before (cid.Undef if
// none), so that ops then describe the changes made (see Diff's Op).
//
// Apply is Put and Delete for a batch: the result is the same, but the
// keys' layers (one SHA-256 each) are computed up front, eight at a time
// (internal/sha256x8), instead of one after another. On failure it returns
// the index of the op that failed and its error (the same error its Put or
// Delete would return): the ops before it are applied, it and the ops
// after it are not. On success it returns len(ops) and nil.
func (e *Editor) Apply(ctx context.Context, ops []Op) (int, error) {
	// An Editor that started empty collects its keys and hashes them when
	// the tree is built: it needs no layers here.
	var layers []uint8
	if e.bulk == nil && !e.root.empty() && len(ops) > 1 {
		layers = keyLayers(len(ops), func(i int) string { return ops[i].Key })
		if e.putSorted(ctx, ops, layers) {
			return len(ops), nil
		}
	}
	for i := range ops {
		op := &ops[i]
		if err := ValidateKey(op.Key); err != nil {
			return i, err
		}
		h := -1
		if layers != nil {
			h = int(layers[i])
		}
		var prev cid.Cid
		var err error
		if op.New.Defined() {
			prev, err = e.putAt(ctx, op.Key, op.New, h)
		} else {
			prev, err = e.deleteAt(ctx, op.Key, h)
		}
		if err != nil {
			return i, err
		}
		op.Old = prev
	}
	return len(ops), nil
}

// putSorted applies ops if they all put distinct valid keys in at most
// maxMergeRuns ascending runs, in one pass over their sorted keys
// (insertSorted) instead of one descent each, and reports whether it did. It changes nothing if it returns false (the ops
// are then applied one at a time, which finds the error, if any, that
// Apply reports): it only makes new nodes, and sets e.root once it has
// succeeded.
func (e *Editor) putSorted(ctx context.Context, ops []Op, layers []uint8) bool {
	if len(ops) > math.MaxInt32 { // kv.op is an int32
		return false
	}
	kvs := make([]kv, len(ops))
	top := 0
	for i := range ops {
		op := &ops[i]
		if !op.New.Defined() || ValidateKey(op.Key) != nil {
			return false
		}
		kvs[i] = kv{key: op.Key, val: op.New, h: layers[i], op: int32(i)}
		top = max(top, int(layers[i]))
	}
	if !sortRuns(kvs) {
		return false // keys in no useful order: one descent each
	}
	for i := 1; i < len(kvs); i++ {
		if kvs[i].key == kvs[i-1].key {
			return false
		}
	}
	_, H, err := e.s.rootNode(ctx, e.root, e.height)
	if err != nil {
		return false
	}
	r := e.root
	if top > H {
		r = e.wrap(r, H, top)
		H = top
	}
	olds := make([]cid.Cid, len(ops))
	nr, err := e.insertSorted(ctx, r, H, "", keyMax, kvs, olds)
	if err != nil {
		return false
	}
	e.root, e.height = nr, H
	for i := range ops {
		ops[i].Old = olds[i]
	}
	return true
}

// insertSorted returns the subtree r (layer H, keys in (lo, hi)) with the
// keys of kvs put in it: sorted, distinct, in (lo, hi), on layers H or
// below. It sets olds[kv.op] to the value a key had. It makes new nodes
// and never changes one.
func (e *Editor) insertSorted(ctx context.Context, r ref, H int, lo, hi string, kvs []kv, olds []cid.Cid) (ref, error) {
	if len(kvs) == 0 {
		return r, nil
	}
	if r.empty() {
		top := 0
		for i := range kvs {
			top = max(top, int(kvs[i].h))
		}
		bl := builder{kvs: kvs, tok: e.tok, entries: make([]entry, len(kvs))}
		return e.wrap(bl.build(top), top, H), nil
	}
	n, err := e.s.load(ctx, r, H, lo, hi)
	if err != nil {
		return ref{}, err
	}
	atH := 0
	for i := range kvs {
		if int(kvs[i].h) == H {
			atH++
		}
	}
	m := &node{left: n.left, height: H, owner: e.tok, entries: make([]entry, 0, len(n.entries)+atH)}
	// The walk: cur is the subtree of the gap being filled (keys in
	// (curLo, the next entry's key)), kvs[s:j] the lower keys that go in it.
	cur, curLo, s := n.left, lo, 0
	i := 0 // next entry of n
	closeGap := func(end int, bound string) error {
		g, err := e.insertSorted(ctx, cur, H-1, curLo, bound, kvs[s:end], olds)
		if err != nil {
			return err
		}
		if len(m.entries) == 0 {
			m.left = g
		} else {
			m.entries[len(m.entries)-1].right = g
		}
		return nil
	}
	for j := range kvs {
		x := &kvs[j]
		for i < len(n.entries) && n.entries[i].key < x.key {
			if err := closeGap(j, n.entries[i].key); err != nil {
				return ref{}, err
			}
			m.entries = append(m.entries, n.entries[i])
			cur, curLo, s = n.entries[i].right, n.entries[i].key, j
			i++
		}
		if int(x.h) != H {
			continue
		}
		if i < len(n.entries) && n.entries[i].key == x.key {
			if err := closeGap(j, x.key); err != nil {
				return ref{}, err
			}
			olds[x.op] = n.entries[i].val
			m.entries = append(m.entries, entry{key: x.key, val: x.val})
			cur, curLo, s = n.entries[i].right, x.key, j+1
			i++
			continue
		}
		// A new entry inside the gap: split the gap's subtree at it.
		bound := hi
		if i < len(n.entries) {
			bound = n.entries[i].key
		}
		var gl, gr ref
		if !cur.empty() {
			if gl, gr, err = e.split(ctx, cur, H-1, curLo, bound, x.key); err != nil {
				return ref{}, err
			}
		}
		cur = gl
		if err := closeGap(j, x.key); err != nil {
			return ref{}, err
		}
		m.entries = append(m.entries, entry{key: x.key, val: x.val})
		cur, curLo, s = gr, x.key, j+1
	}
	for ; i < len(n.entries); i++ {
		if err := closeGap(len(kvs), n.entries[i].key); err != nil {
			return ref{}, err
		}
		m.entries = append(m.entries, n.entries[i])
		cur, curLo, s = n.entries[i].right, n.entries[i].key, len(kvs)
	}
	if err := closeGap(len(kvs), hi); err != nil {
		return ref{}, err
	}
	return ref{n: m}, nil
}

// keyLayers returns the layers of n keys (key(i) is key i), computed in
// one batch.
func keyLayers(n int, key func(i int) string) []uint8 {
	layers := make([]uint8, n)
	sha256x8.SumMany(n, func(i, _ int) []byte {
		k := key(i)
		return unsafe.Slice(unsafe.StringData(k), len(k))
	}, func(i int, sum [32]byte) {
		layers[i] = uint8(sumLayer(sum))
	})
	return layers
}

// putAt is Put for a valid key whose layer is h, or unknown if h is
// negative.
func (e *Editor) putAt(ctx context.Context, key string, val cid.Cid, h int) (cid.Cid, error) {
	if !val.Defined() {
		return cid.Undef, errUndefValue
	}
	if e.bulk == nil && e.root.empty() {
		e.bulk = newBulkSet()
	}
	if e.bulk != nil {
		if e.bulk.n >= 1<<31-2 {
			return cid.Undef, errors.New("mst: too many keys in one Editor batch")
		}
		return e.bulk.put(key, val), nil
	}
	root, H, err := e.s.rootNode(ctx, e.root, e.height)
	if err != nil {
		return cid.Undef, err
	}
	if h < 0 {
		h = KeyHeight(key)
	}
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
	return e.deleteAt(ctx, key, -1)
}

// deleteAt is Delete for a valid key whose layer is h, or unknown if h is
// negative.
func (e *Editor) deleteAt(ctx context.Context, key string, h int) (cid.Cid, error) {
	if e.bulk != nil {
		return e.bulk.get(key, true), nil
	}
	root, H, err := e.s.rootNode(ctx, e.root, e.height)
	if err != nil || root == nil {
		return cid.Undef, err
	}
	if h < 0 {
		h = KeyHeight(key)
	}
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
