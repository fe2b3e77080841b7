package mst

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/ipfs/go-cid"
)

// Prove returns the blocks that prove key's value, or its absence, under
// t's root: the nodes on the path from the root to the entry, or to the
// empty gap where key would be. VerifyProof checks them.
func (t *Tree) Prove(ctx context.Context, key string) ([]Block, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if _, err := t.Root(ctx); err != nil {
		return nil, err
	}
	n, H, err := t.s.rootNode(ctx, t.root, t.height)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return []Block{{CID: sumCID(emptyNodeBytes), Data: append([]byte(nil), emptyNodeBytes...)}}, nil
	}
	var out []Block
	h := KeyHeight(key)
	lo, hi := "", keyMax
	for {
		out = append(out, Block{CID: n.cid, Data: appendNode(nil, n)})
		if h >= H {
			return out, nil
		}
		i, _ := n.search(key)
		g := n.gap(i)
		if g.empty() {
			return out, nil
		}
		lo, hi = n.gapBounds(i, lo, hi)
		H--
		if n, err = t.s.load(ctx, g, H, lo, hi); err != nil {
			return nil, err
		}
	}
}

// VerifyProof checks that blocks prove the value of key under root. It
// returns the value and true, or cid.Undef and false for a proven absence.
// A block that does not hash to its CID or is not a canonical node fails
// with a *NodeError; a missing block fails with an error wrapping
// ErrNotFound.
func VerifyProof(ctx context.Context, root cid.Cid, key string, blocks []Block) (cid.Cid, bool, error) {
	var src MemBlocks
	for _, b := range blocks {
		if err := src.PutBlock(ctx, b.CID, b.Data); err != nil {
			return cid.Undef, false, err
		}
	}
	return Load(&src, root).Get(ctx, key)
}

// Invert applies ops backwards to after, a tree on which they were applied
// (it may be partial: a tree loaded from a commit's blocks), and returns the
// tree before them. Each op is first checked against after: a create or
// update must find its New value, a delete must find the key absent; a
// mismatch fails with an error wrapping ErrProof. Ops must name distinct
// keys. Missing blocks fail with an error wrapping ErrNotFound.
//
// A consumer of a sync 1.1 #commit message loads after from the message's
// blocks, inverts the ops, and compares the result's Root with the
// message's prevData.
func Invert(ctx context.Context, after *Tree, ops []Op) (*Tree, error) {
	ops, err := sortOps(ops)
	if err != nil {
		return nil, err
	}
	e := after.Edit()
	for _, op := range ops {
		got, found, err := e.Get(ctx, op.Key)
		if err != nil {
			return nil, err
		}
		switch {
		case op.IsCreate(), op.IsUpdate():
			if !found || got != op.New {
				return nil, fmt.Errorf("%w: %s is %v, op says %s", ErrProof, op.Key, got, op.New)
			}
			if op.IsCreate() {
				_, err = e.Delete(ctx, op.Key)
			} else {
				_, err = e.Put(ctx, op.Key, op.Old)
			}
		case op.IsDelete():
			if found {
				return nil, fmt.Errorf("%w: %s is still present after its delete", ErrProof, op.Key)
			}
			_, err = e.Put(ctx, op.Key, op.Old)
		default:
			return nil, fmt.Errorf("mst: op on %s has neither an old nor a new value", op.Key)
		}
		if err != nil {
			return nil, fmt.Errorf("mst: inverting op on %s: %w", op.Key, err)
		}
	}
	return e.Tree(), nil
}

// sortOps returns ops in the order Invert applies them: by key. The result
// of an inversion does not depend on the order, but the nodes it reads do,
// so InversionBlocks and Invert must agree.
func sortOps(ops []Op) ([]Op, error) {
	s := slices.Clone(ops)
	slices.SortFunc(s, func(a, b Op) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	for i := 1; i < len(s); i++ {
		if s[i].Key == s[i-1].Key {
			return nil, fmt.Errorf("mst: two ops on key %s", s[i].Key)
		}
	}
	for _, op := range s {
		if err := ValidateKey(op.Key); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// InversionBlocks returns the blocks of after that a sync 1.1 #commit
// message carries for ops: for each op, the nodes on the paths to its key
// and to the keys just before and after it (the "covering proof" of the
// atproto reference implementation), together with every node Invert reads
// when it undoes ops on a partial tree (the merges and splits reach into
// neighbouring subtrees). The result matches the reference's interop
// fixtures exactly.
func InversionBlocks(ctx context.Context, after *Tree, ops []Op) ([]Block, error) {
	root, err := after.Root(ctx)
	if err != nil {
		return nil, err
	}
	rec := &recordingSource{tree: after, mem: map[string]*node{}, seen: map[string]bool{}}
	collectNew(after.root, rec.mem)
	partial := Load(rec, root)
	if _, err := Invert(ctx, partial, ops); err != nil {
		return nil, err
	}
	for _, op := range ops {
		if _, _, err := partial.Get(ctx, op.Key); err != nil {
			return nil, err
		}
		for _, rev := range []bool{false, true} {
			if _, err := partial.List(ctx, ListOptions{Cursor: op.Key, Limit: 1, Reverse: rev}); err != nil {
				return nil, err
			}
		}
	}
	if len(rec.read) == 0 {
		// An empty after tree: its root was never read.
		return []Block{{CID: root, Data: append([]byte(nil), emptyNodeBytes...)}}, nil
	}
	return rec.read, nil
}

// collectNew indexes the in-memory nodes of a tree by CID.
func collectNew(r ref, m map[string]*node) {
	if r.n == nil {
		return
	}
	m[r.n.cid.KeyString()] = r.n
	collectNew(r.n.left, m)
	for i := range r.n.entries {
		collectNew(r.n.entries[i].right, m)
	}
}

// recordingSource serves a tree's nodes, in memory or from its source, and
// records every block read.
type recordingSource struct {
	tree *Tree
	mem  map[string]*node
	mu   sync.Mutex
	read []Block
	seen map[string]bool
}

func (r *recordingSource) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	var data []byte
	if n, ok := r.mem[c.KeyString()]; ok {
		data = appendNode(nil, n)
	} else {
		if r.tree.s.src == nil {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, c)
		}
		d, err := r.tree.s.src.GetBlock(ctx, c)
		if err != nil {
			return nil, err
		}
		data = d
	}
	r.mu.Lock()
	if !r.seen[c.KeyString()] {
		r.seen[c.KeyString()] = true
		r.read = append(r.read, Block{CID: c, Data: data})
	}
	r.mu.Unlock()
	return data, nil
}
