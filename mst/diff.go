package mst

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
)

// Op is one change to one key: a create (Old undefined), an update (both
// defined) or a delete (New undefined). Diff returns them; Invert and
// InversionBlocks take them.
type Op struct {
	Key string
	Old cid.Cid
	New cid.Cid
}

// IsCreate reports whether op creates its key.
func (op Op) IsCreate() bool { return !op.Old.Defined() && op.New.Defined() }

// IsUpdate reports whether op changes the value of an existing key.
func (op Op) IsUpdate() bool { return op.Old.Defined() && op.New.Defined() }

// IsDelete reports whether op removes its key.
func (op Op) IsDelete() bool { return op.Old.Defined() && !op.New.Defined() }

// item is what a walker stands on: a subtree not yet opened (in gap gap of
// the node on top of the stack, or the root if the stack is empty), or an
// entry. It is kept small, as the walk writes one for every step; a
// subtree's key bounds are found from its gap when it is opened. The
// fields that do not apply to the current kind are stale.
type item struct {
	sub    ref
	key    string
	val    cid.Cid
	h      int32
	gap    int32
	isSub  bool
	inKeys bool // key is in the walker's keys buffer
}

// ownKey returns the key of w's current entry as a string that stays
// valid after the walk: a key in the walker's buffer is copied into
// arena, which only grows (see walker), so one allocation serves many.
func (w *walker) ownKey(arena *[]byte) string {
	k := w.cur.key
	if !w.cur.inKeys {
		return k
	}
	*arena = append(*arena, k...)
	return bstr((*arena)[len(*arena)-len(k):])
}

// frame is one open node of a walk: a node, or (n nil) a view, whose
// block is data, whose entries are in the walker's ents buffer from ebase
// on, and whose keys are in its keys buffer from kbase on (ko: the next
// entry's key). It is kept small: a walk pushes one per node it opens.
type frame struct {
	n      *node
	data   []byte
	lo, hi string
	h      int32
	j      int32 // position in gap0, entry0, gap1, ... gapN
	count  int32 // entries
	left   int32 // view: offset of the left link in data, or -1
	ko     int32
	kbase  int32
	ebase  int32
}

// opened is what a recording walk opened, in order: nodes, and nil for
// each view, which views holds in the same order (the common case, nodes,
// costs a pointer each).
type opened struct {
	nodes []*node
	views []openedView
}

type openedView struct {
	c    cid.Cid
	data []byte
}

// walker steps through a tree in key order, opening subtrees only when
// asked (expand), so that equal subtrees of two trees can be skipped whole.
// The entries of the views on its stack are in ents, and their keys are
// rebuilt into keys, one node after the other, and read from there in
// place: a string or slice taken from these buffers stays valid, because
// they only grow (into a new array when full, leaving the old one
// unchanged) or drop the part of a node that is closed.
type walker struct {
	s      *store
	stack  []frame
	cur    item
	done   bool
	opened opened // nodes expanded, if record is set
	record bool
	checks *deferred // strict loads not yet checked, shared by both walkers
	keys   []byte
	ents   []vent
}

// init sets w to walk t. Walkers live on diffWalk's stack, so that the
// items and frames they write need no write barriers.
func (w *walker) init(ctx context.Context, t *Tree, record bool) error {
	*w = walker{s: t.s, record: record}
	n, H, err := t.s.rootNode(ctx, t.root, t.height)
	if err != nil {
		return err
	}
	if n == nil {
		w.done = true
		return nil
	}
	w.cur = item{isSub: true, sub: ref{n: n, cid: t.root.id()}, h: int32(H)}
	return nil
}

// viewBounds returns the exclusive key bounds of gap i of frame f, a view.
func (w *walker) viewBounds(f *frame, i int) (string, string) {
	lo, hi := f.lo, f.hi
	if i > 0 { // the walk passed entry i-1 last: its key ends at ko
		lo = bstr(w.keys[int(f.ko)-w.ents[int(f.ebase)+i-1].keyLen() : f.ko])
	}
	if i < int(f.count) {
		hi = bstr(w.keys[f.ko : int(f.ko)+w.ents[int(f.ebase)+i].keyLen()])
	}
	return lo, hi
}

// expand opens the current item, which must be a subtree.
func (w *walker) expand(ctx context.Context) error {
	lo, hi := "", keyMax
	if len(w.stack) > 0 {
		if f := &w.stack[len(w.stack)-1]; f.n != nil {
			lo, hi = f.n.gapBounds(int(w.cur.gap), f.lo, f.hi)
		} else {
			lo, hi = w.viewBounds(f, int(w.cur.gap))
		}
	}
	h := int(w.cur.h)
	kbase, ebase := len(w.keys), len(w.ents)
	n, v, err := w.s.loadWalk(ctx, w.cur.sub, h, lo, hi, w.checks, w)
	if err != nil {
		return err
	}
	f := frame{n: n, lo: lo, hi: hi, h: int32(h), j: -1}
	if n == nil {
		f.data, f.left, f.count = v.data, v.left, int32(len(v.ents))
		f.ko, f.kbase, f.ebase = int32(kbase), int32(kbase), int32(ebase)
		if w.record {
			w.opened.nodes = append(w.opened.nodes, nil)
			w.opened.views = append(w.opened.views, openedView{c: w.cur.sub.cid, data: v.data})
		}
	} else {
		f.count = int32(len(n.entries))
		if w.record {
			w.opened.nodes = append(w.opened.nodes, n)
		}
	}
	if w.stack == nil {
		w.stack = make([]frame, 0, 16) // deeper than most trees
	}
	w.stack = append(w.stack, f)
	w.advance()
	return nil
}

// advance moves past the current item without opening it.
func (w *walker) advance() {
	for len(w.stack) > 0 {
		f := &w.stack[len(w.stack)-1]
		f.j++
		if f.j > 2*f.count {
			if f.n == nil {
				w.keys, w.ents = w.keys[:f.kbase], w.ents[:f.ebase]
			}
			w.stack = w.stack[:len(w.stack)-1]
			continue
		}
		i := int(uint32(f.j) / 2) // j >= 0 here
		// Field by field: a whole-struct store into the heap-held walker
		// costs a bulk write barrier while the GC marks. An entry item's
		// sub, h and gap are stale and unused.
		if n := f.n; n != nil {
			if f.j&1 == 1 {
				e := &n.entries[i]
				w.cur.isSub, w.cur.inKeys, w.cur.key, w.cur.val = false, false, e.key, e.val
				return
			}
			g := n.gap(i)
			if g.empty() {
				continue
			}
			w.cur.isSub, w.cur.sub, w.cur.h, w.cur.gap = true, g, f.h-1, int32(i)
			return
		}
		if f.j&1 == 1 {
			e := &w.ents[int(f.ebase)+i]
			end := f.ko + int32(e.keyLen())
			k := bstr(w.keys[f.ko:end])
			f.ko = end
			w.cur.isSub, w.cur.inKeys, w.cur.key, w.cur.val = false, true, k, cidAt(f.data, e.v)
			return
		}
		off := f.left
		if i > 0 {
			off = w.ents[int(f.ebase)+i-1].t
		}
		if off < 0 {
			continue
		}
		w.cur.isSub, w.cur.sub, w.cur.h, w.cur.gap = true, ref{cid: cidAt(f.data, off)}, f.h-1, int32(i)
		return
	}
	w.done = true
}

// Diff returns the changes that turn tree a into tree b, in key order. It
// opens only subtrees whose CIDs differ, so its cost grows with the size of
// the difference times the depth, not with the size of the trees.
func Diff(ctx context.Context, a, b *Tree) ([]Op, error) {
	var ops []Op
	_, _, err := diffWalk(ctx, a, b, false, func(op Op) { ops = append(ops, op) })
	return ops, err
}

// diffWalk walks a and b together, calling emit for each difference, and
// returns the nodes it opened on each side if record is set. The ops'
// links may point into blocks the trees keep, which never change.
func diffWalk(ctx context.Context, a, b *Tree, record bool, emit func(Op)) (opened, opened, error) {
	if _, err := a.Root(ctx); err != nil {
		return opened{}, opened{}, err
	}
	if _, err := b.Root(ctx); err != nil {
		return opened{}, opened{}, err
	}
	var wa, wb walker
	if err := wa.init(ctx, a, record); err != nil {
		return opened{}, opened{}, err
	}
	err := wb.init(ctx, b, record)
	if err != nil {
		return opened{}, opened{}, err
	}
	// Nodes read from strict sources are checked in batches (deferred.go).
	d := &deferred{}
	wa.checks, wb.checks = d, d
	var arena []byte // the ops' keys (ownKey)
	steps := 0
	for !wa.done || !wb.done {
		if steps++; steps&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return opened{}, opened{}, err
			}
		}
		switch {
		case wa.done:
			if wb.cur.isSub {
				err = wb.expand(ctx)
			} else {
				emit(Op{Key: wb.ownKey(&arena), New: wb.cur.val})
				wb.advance()
			}
		case wb.done:
			if wa.cur.isSub {
				err = wa.expand(ctx)
			} else {
				emit(Op{Key: wa.ownKey(&arena), Old: wa.cur.val})
				wa.advance()
			}
		case wa.cur.isSub && wb.cur.isSub:
			switch {
			case wa.cur.sub.id() == wb.cur.sub.id():
				wa.advance()
				wb.advance()
			case wa.cur.h > wb.cur.h:
				err = wa.expand(ctx)
			case wb.cur.h > wa.cur.h:
				err = wb.expand(ctx)
			default:
				if err = wa.expand(ctx); err == nil {
					err = wb.expand(ctx)
				}
			}
		case wa.cur.isSub:
			err = wa.expand(ctx)
		case wb.cur.isSub:
			err = wb.expand(ctx)
		default:
			ka, kb := wa.cur.key, wb.cur.key
			switch {
			case ka == kb:
				if wa.cur.val != wb.cur.val {
					emit(Op{Key: wa.ownKey(&arena), Old: wa.cur.val, New: wb.cur.val})
				}
				wa.advance()
				wb.advance()
			case ka < kb:
				emit(Op{Key: wa.ownKey(&arena), Old: wa.cur.val})
				wa.advance()
			default:
				emit(Op{Key: wb.ownKey(&arena), New: wb.cur.val})
				wb.advance()
			}
		}
		if err != nil {
			return opened{}, opened{}, err
		}
	}
	if err := d.flush(); err != nil {
		return opened{}, opened{}, err
	}
	return wa.opened, wb.opened, nil
}

// NewBlocks's slabs: up to slabBytes each (less for a few nodes), a new one
// when less than slabRoom (more than most nodes take) is left.
const (
	slabBytes = 64 << 10
	slabRoom  = 4 << 10
)

// NewBlocks returns the encoded nodes of t that base does not have: what a
// store holding base needs to hold t. A nil base means a store that holds
// nothing (for an empty t, the result is then the empty node). The
// blocks come in the order the walk found them (parents before children).
// Nothing is written anywhere. The blocks' Data share memory: they are cut
// from slabs of up to 64 KiB, so a holder that keeps a few blocks of a
// commit for long (a cache) should copy them.
func (t *Tree) NewBlocks(ctx context.Context, base *Tree) ([]Block, error) {
	nothingStored := base == nil
	if base == nil {
		base = Empty(nil)
	}
	baseOpened, opened, err := diffWalk(ctx, base, t, true, func(Op) {})
	if err != nil {
		return nil, err
	}
	// diffWalk opens a node of t only where t differs from base at that
	// place; a node opened on both sides (the same subtree met at different
	// depths of the walk) is not new.
	seen := make(map[string]bool, len(opened.nodes)+len(baseOpened.nodes))
	for _, n := range baseOpened.nodes {
		if n != nil {
			seen[n.cid.KeyString()] = true
		}
	}
	for _, o := range baseOpened.views {
		seen[o.c.KeyString()] = true
	}
	out := make([]Block, 0, len(opened.nodes)+1)
	// The blocks' bytes share a few allocations: each is appended to slab
	// and keeps its own part (capped, so that no append reaches the next).
	// A new slab starts when less than slabRoom is left. A node that does
	// not fit (larger than slabRoom) gets its own copy instead, and the
	// slab is closed: growing it would copy the parts already handed out.
	var slab []byte
	views := opened.views
	for _, n := range opened.nodes {
		var c cid.Cid
		var data []byte
		if n != nil {
			c = n.cid
		} else {
			c, data = views[0].c, views[0].data
			views = views[1:]
		}
		k := c.KeyString()
		if seen[k] {
			continue
		}
		seen[k] = true
		if cap(slab)-len(slab) < slabRoom {
			slab = make([]byte, 0, min(slabBytes, slabRoom+256*len(opened.nodes)))
		}
		start, prev := len(slab), slab
		if n != nil {
			slab = appendNode(slab, n)
		} else {
			slab = append(slab, data...)
		}
		part := slab[start:len(slab):len(slab)]
		if cap(slab) != cap(prev) { // it grew: keep the node alone
			part = append([]byte(nil), part...)
			slab = prev[:len(prev):len(prev)]
		}
		out = append(out, Block{CID: c, Data: part})
	}
	// The empty tree is one node with no entries, which the walk never opens.
	tEmpty, err := t.IsEmpty(ctx)
	if err != nil {
		return nil, err
	}
	baseEmpty, err := base.IsEmpty(ctx)
	if err != nil {
		return nil, err
	}
	if tEmpty && (!baseEmpty || nothingStored) {
		out = append(out, Block{CID: sumCID(emptyNodeBytes), Data: append([]byte(nil), emptyNodeBytes...)})
	}
	return out, nil
}

// WriteBlocks puts the blocks of NewBlocks(ctx, base) into sink and returns
// the root CID of t.
func (t *Tree) WriteBlocks(ctx context.Context, sink BlockSink, base *Tree) (cid.Cid, error) {
	blocks, err := t.NewBlocks(ctx, base)
	if err != nil {
		return cid.Undef, err
	}
	for _, b := range blocks {
		if err := sink.PutBlock(ctx, b.CID, b.Data); err != nil {
			return cid.Undef, fmt.Errorf("mst: writing block %s: %w", b.CID, err)
		}
	}
	return t.Root(ctx)
}

// Stored returns a tree equal to t that keeps none of t's new nodes in
// memory: they move to the node cache, as if read from t's BlockSource, and
// are read from it again once evicted. Call it after the blocks of
// NewBlocks are in that BlockSource (after the commit that wrote them), so
// that a tree held for a long time and changed by many commits does not
// keep every node it ever created. It walks only the in-memory nodes.
func (t *Tree) Stored(ctx context.Context) (*Tree, error) {
	root, err := t.Root(ctx)
	if err != nil {
		return nil, err
	}
	if t.root.n == nil { // loaded or empty: nothing in memory
		return t, nil
	}
	var move func(n *node)
	move = func(n *node) {
		m := &node{left: ref{cid: n.left.id()}, cid: n.cid, height: n.height}
		m.entries = make([]entry, len(n.entries))
		for i, e := range n.entries {
			m.entries[i] = entry{key: e.key, val: e.val, right: ref{cid: e.right.id()}}
		}
		if len(m.entries) == 0 {
			m.height = -1
		}
		t.s.cache.add(n.cid.KeyString(), m)
		if c := n.left.n; c != nil {
			move(c)
		}
		for i := range n.entries {
			if c := n.entries[i].right.n; c != nil {
				move(c)
			}
		}
	}
	move(t.root.n)
	return &Tree{s: t.s, root: ref{cid: root}}, nil
}
