package mst_test

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/mst"
)

// orderLookup looks key up in the proof blocks the way the TypeScript
// reference's verifier does: by key order alone, descending into the gap's
// subtree without regard to key heights. It fails if a node it needs is
// missing from the blocks.
func orderLookup(blocks map[cid.Cid][]byte, root cid.Cid, key string) (bool, error) {
	c := root
	for {
		data, ok := blocks[c]
		if !ok {
			return false, fmt.Errorf("missing node %s", c)
		}
		var n struct {
			L *cid.Cid `cbor:"l"`
			E []struct {
				P int      `cbor:"p"`
				K []byte   `cbor:"k"`
				V cid.Cid  `cbor:"v"`
				T *cid.Cid `cbor:"t"`
			} `cbor:"e"`
		}
		if err := drisl.Unmarshal(data, &n); err != nil {
			return false, err
		}
		next := n.L
		prev := ""
		for _, e := range n.E {
			k := prev[:e.P] + string(e.K)
			prev = k
			if k == key {
				return true, nil
			}
			if k > key {
				break
			}
			next = e.T
		}
		if next == nil {
			return false, nil
		}
		c = *next
	}
}

// TestProofsFollowKeyOrder checks that presence and absence proofs carry
// every node an order-only verifier needs (interop finding: absence proofs
// used to stop at the key's own layer, which the reference rejected with a
// missing block).
func TestProofsFollowKeyOrder(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewSource(7))
	val := drisl.SumCID(drisl.CodecDagCBOR, []byte("record"))
	for round := 0; round < 20; round++ {
		tree := mst.Empty(&mst.MemBlocks{})
		n := 1 + rng.Intn(300)
		var err error
		for i := 0; i < n; i++ {
			if tree, _, err = tree.Put(ctx, fmt.Sprintf("com.example.record/%d", rng.Intn(1000)), val); err != nil {
				t.Fatal(err)
			}
		}
		if round == 0 { // the interop reproduction: keys 0..6, absent 17
			tree = mst.Empty(&mst.MemBlocks{})
			for i := 0; i <= 6; i++ {
				if tree, _, err = tree.Put(ctx, fmt.Sprintf("com.example.record/%d", i), val); err != nil {
					t.Fatal(err)
				}
			}
		}
		root, err := tree.Root(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for q := 0; q < 50; q++ {
			key := fmt.Sprintf("com.example.record/%d", rng.Intn(1000))
			if round == 0 && q == 0 {
				key = "com.example.record/17"
			}
			blocks, err := tree.Prove(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			m := map[cid.Cid][]byte{}
			for _, b := range blocks {
				m[b.CID] = b.Data
			}
			_, want, err := tree.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			got, err := orderLookup(m, root, key)
			if err != nil {
				t.Fatalf("round %d, key %s: order-only lookup on the proof: %v", round, key, err)
			}
			if got != want {
				t.Fatalf("round %d, key %s: order-only lookup says present=%v, tree says %v", round, key, got, want)
			}
			if _, ok, err := mst.VerifyProof(ctx, root, key, blocks); err != nil || ok != want {
				t.Fatalf("round %d, key %s: VerifyProof = %v, %v; want %v", round, key, ok, err, want)
			}
		}
	}
}
