package mst

import (
	"context"
	"fmt"
	"slices"

	"github.com/ipfs/go-cid"
)

// Prove returns the blocks that prove key's value, or its absence, under
// t's root: the nodes on the path, in key order, from the root to the entry,
// or to the empty gap where key would be (down to the bottom layer, so that
// verifiers which look keys up by order alone accept absence proofs too).
// VerifyProof checks them.
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
	// Follow key order down to the entry or to an empty gap, whatever the
	// key's height. A key of height h can only sit on layer h, so for this
	// package's VerifyProof the path could stop at that layer; but verifiers
	// such as the TypeScript reference's look a key up by order alone and
	// descend into the gap's subtree, so the proof carries that whole path.
	var out []Block
	lo, hi := "", keyMax
	for {
		out = append(out, Block{CID: n.cid, Data: appendNode(nil, n)})
		i, found := n.search(key)
		if found {
			return out, nil
		}
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
// Invert reads only the nodes an inversion cannot do without, whatever the
// order of ops: the nodes of after on the paths to the ops' keys, the nodes
// that differ between after and the result (where subtrees merge), and the
// result's root when it is a node of after. A consumer of a sync 1.1
// #commit message loads after from the message's blocks, inverts the ops,
// and compares the result's Root with the message's prevData.
func Invert(ctx context.Context, after *Tree, ops []Op) (*Tree, error) {
	e := after.Edit()
	if err := invertOps(ctx, after, e, ops); err != nil {
		return nil, err
	}
	return e.Tree(), nil
}

// invertOps checks ops against after and undoes them on e, which starts
// from after. The order of the edits decides which nodes are read, not the
// result: undoing a create merges the subtrees on either side of its key,
// and undoing a delete splits the subtree its key falls in. Merging first
// can hand a later split a subtree that lies wholly on one side of its key
// (the split must then read it to find out), and merging before a
// lower-layer create is undone can read a subtree that the lower undo
// would have emptied. So invertOps first undoes deletes and updates, whose
// splits only follow paths of after, and then creates in rising key
// height: by then the subtrees on either side of a create's key hold
// exactly what they hold before the ops, so every node a merge reads
// changes.
func invertOps(ctx context.Context, after *Tree, e *Editor, ops []Op) error {
	ops, err := sortOps(ops)
	if err != nil {
		return err
	}
	// Each key's layer, computed once (in one batch) for the lookups, the
	// edits and the order of the creates.
	hs := keyLayers(len(ops), func(i int) string { return ops[i].Key })
	for i, op := range ops {
		got, found, err := getAt(ctx, after.s, after.root, after.height, op.Key, int(hs[i]))
		if err != nil {
			return err
		}
		switch {
		case op.IsCreate(), op.IsUpdate():
			if !found || got != op.New {
				return fmt.Errorf("%w: %s is %v, op says %s", ErrProof, op.Key, got, op.New)
			}
		case op.IsDelete():
			if found {
				return fmt.Errorf("%w: %s is still present after its delete", ErrProof, op.Key)
			}
		default:
			return fmt.Errorf("%w: op on %s has neither an old nor a new value", ErrProof, op.Key)
		}
	}
	var creates []int // indexes in ops
	for i, op := range ops {
		if op.IsCreate() {
			creates = append(creates, i)
			continue
		}
		if _, err := e.putAt(ctx, op.Key, op.Old, int(hs[i])); err != nil {
			return fmt.Errorf("%w: inverting op on %s: %w", ErrProof, op.Key, err)
		}
	}
	slices.SortStableFunc(creates, func(a, b int) int { return int(hs[a]) - int(hs[b]) })
	for _, i := range creates {
		if _, err := e.deleteAt(ctx, ops[i].Key, int(hs[i])); err != nil {
			return fmt.Errorf("%w: inverting op on %s: %w", ErrProof, ops[i].Key, err)
		}
	}
	return nil
}

// sortOps returns ops sorted by key, and checks that their keys are valid
// and distinct.
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
			return nil, fmt.Errorf("%w: two ops on key %s", ErrProof, s[i].Key)
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
// atproto reference implementation). Every node Invert reads when it undoes
// ops on a partial tree is among them (the paths to the neighbouring keys
// hold the seams where subtrees merge); the result matches the reference's
// interop fixtures exactly.
func InversionBlocks(ctx context.Context, after *Tree, ops []Op) ([]Block, error) {
	root, err := after.Root(ctx)
	if err != nil {
		return nil, err
	}
	// Run the inversion and the covering reads on after itself, through a
	// store that records the nodes of after they read (not the nodes the
	// inversion creates). The inversion is run too, so that the blocks
	// suffice for Invert even if its reads ever left the covering proof.
	var out []Block
	seen := map[string]bool{}
	var invTok *token
	rs := new(store)
	*rs = *after.s // the same source, cache, lock and checks
	rs.record = func(n *node) {
		if invTok != nil && n.owner == invTok {
			return
		}
		k := n.cid.KeyString()
		if !seen[k] {
			seen[k] = true
			out = append(out, Block{CID: n.cid, Data: appendNode(nil, n)})
		}
	}
	rt := &Tree{s: rs, root: after.root, height: after.height}
	e := rt.Edit()
	invTok = e.tok
	if err := invertOps(ctx, rt, e, ops); err != nil {
		return nil, err
	}
	for _, op := range ops {
		if _, _, err := rt.Get(ctx, op.Key); err != nil {
			return nil, err
		}
		for _, rev := range []bool{false, true} {
			if _, err := rt.List(ctx, ListOptions{Cursor: op.Key, Limit: 1, Reverse: rev}); err != nil {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		// An empty after tree: its root was never read.
		return []Block{{CID: root, Data: append([]byte(nil), emptyNodeBytes...)}}, nil
	}
	return out, nil
}
