package mst

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"
)

// TestInvertSkipsUnchangedNeighbour is the shape of the interop finding
// th-inversion-extra-node: a commit creates c and deletes d, two keys of the
// root's layer with c < d, and the subtree x just left of c lies wholly
// below both. Undoing the create first would merge x into the gap where d
// goes back, and putting d back would then read x to split it; but x is the
// same before and after the commit and on no op's path, so a commit that
// leaves it out (the TypeScript reference accepts one) must invert.
func TestInvertSkipsUnchangedNeighbour(t *testing.T) {
	ctx := context.Background()
	// s < x < c < d < n; s, c, d and n on layer 1, x on layer 0.
	want := []int{1, 0, 1, 1, 1}
	var keys []string
	for i := 0; len(keys) < len(want); i++ {
		k := fmt.Sprintf("com.example.z/%06d", i)
		if KeyHeight(k) == want[len(keys)] {
			keys = append(keys, k)
		}
	}
	s, x, c, d, n := keys[0], keys[1], keys[2], keys[3], keys[4]
	v := testCID("v")
	before := buildMap(t, map[string]cid.Cid{s: v, x: v, d: v, n: v})
	after := buildMap(t, map[string]cid.Cid{s: v, x: v, c: v, n: v})
	ops := []Op{{Key: c, New: v}, {Key: d, Old: v}}

	var mb MemBlocks
	root, err := after.WriteBlocks(ctx, &mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	covering, err := InversionBlocks(ctx, after, ops)
	if err != nil {
		t.Fatal(err)
	}
	// The covering proof holds x's node (the path to c's predecessor x) and
	// the root.
	xNode, err := after.Prove(ctx, x)
	if err != nil || len(xNode) != 2 {
		t.Fatalf("path to x: %d nodes, %v; want root and x's node", len(xNode), err)
	}
	if len(covering) != 2 {
		t.Fatalf("covering proof has %d blocks, want 2 (root and x's node)", len(covering))
	}
	// Only the root: both ops' paths end there, and the root is the only
	// node that changes.
	var partial MemBlocks
	if err := partial.PutBlock(ctx, root, mustGetBlock(t, &mb, root)); err != nil {
		t.Fatal(err)
	}
	for _, order := range [][]Op{ops, {ops[1], ops[0]}} {
		inv, err := Invert(ctx, Load(&partial, root), order)
		if err != nil {
			t.Fatalf("Invert without x's node: %v", err)
		}
		if got := mustRoot(t, inv); got != mustRoot(t, before) {
			t.Fatalf("inverted root %s, want %s", got, mustRoot(t, before))
		}
	}
	// Without the root it cannot start.
	if _, err := Invert(ctx, Load(&MemBlocks{}, root), ops); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Invert without the root: err = %v, want ErrNotFound", err)
	}
}

func mustGetBlock(t *testing.T, mb *MemBlocks, c cid.Cid) []byte {
	t.Helper()
	b, err := mb.GetBlock(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInvertNeedsOnlyNecessaryNodes checks on random commits that Invert
// succeeds with no more than the nodes any inversion needs, in any order of
// ops: the nodes of after that the tree before lacks (they change), the
// paths of after to every op's key (the ops are checked there, and a key
// put back splits the subtrees along its path), and the root before when it
// is a node of after (a verifier must read it to know the tree stops
// there). And every node it reads is in InversionBlocks.
func TestInvertNeedsOnlyNecessaryNodes(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(31, 41))
	runs := 300
	if testing.Short() || raceEnabled {
		runs = 60
	}
	for run := range runs {
		base := map[string]cid.Cid{}
		for range r.IntN(300) {
			base[randomKey(r)] = randomValue(r)
		}
		next := map[string]cid.Cid{}
		for k, v := range base {
			next[k] = v
		}
		keys := make([]string, 0, len(base))
		for k := range base {
			keys = append(keys, k)
		}
		for range 1 + r.IntN(12) {
			switch r.IntN(3) {
			case 0:
				next[randomKey(r)] = randomValue(r)
			case 1:
				if len(keys) > 0 {
					delete(next, keys[r.IntN(len(keys))])
				}
			case 2:
				if len(keys) > 0 {
					next[keys[r.IntN(len(keys))]] = randomValue(r)
				}
			}
		}
		ops := naiveDiff(base, next)
		if len(ops) == 0 {
			continue
		}
		var mb MemBlocks
		rootA, err := buildMap(t, base).WriteBlocks(ctx, &mb, nil)
		if err != nil {
			t.Fatal(err)
		}
		rootB, err := buildMap(t, next).WriteBlocks(ctx, &mb, nil)
		if err != nil {
			t.Fatal(err)
		}
		after := Load(&mb, rootB)
		nodesA := nodeCIDs(t, &mb, rootA)
		var need MemBlocks
		add := func(c cid.Cid) {
			if !need.Has(c) {
				if err := need.PutBlock(ctx, c, mustGetBlock(t, &mb, c)); err != nil {
					t.Fatal(err)
				}
			}
		}
		nodesB := nodeCIDs(t, &mb, rootB)
		for k := range nodesB {
			if !nodesA[k] {
				c, err := cid.Cast([]byte(k))
				if err != nil {
					t.Fatal(err)
				}
				add(c)
			}
		}
		for _, op := range ops {
			path, err := after.Prove(ctx, op.Key)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range path {
				add(b.CID)
			}
		}
		if nodesB[rootA.KeyString()] {
			add(rootA)
		}
		r.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
		inv, err := Invert(ctx, Load(&need, rootB), ops)
		if err != nil {
			t.Fatalf("run %d (%d ops): Invert with only the necessary nodes: %v", run, len(ops), err)
		}
		if got := mustRoot(t, inv); got != rootA {
			t.Fatalf("run %d: inverted root %s, want %s", run, got, rootA)
		}
		covering, err := InversionBlocks(ctx, after, ops)
		if err != nil {
			t.Fatal(err)
		}
		var cb MemBlocks
		for _, b := range covering {
			cb.PutBlock(ctx, b.CID, b.Data)
		}
		for _, c := range need.CIDs() {
			if !cb.Has(c) {
				t.Fatalf("run %d: necessary node %s is not in InversionBlocks", run, c)
			}
		}
	}
}
