package mst

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

func buildMap(t testing.TB, m map[string]cid.Cid) *Tree {
	t.Helper()
	e := Empty(nil).Edit()
	for k, v := range m {
		if _, err := e.Put(context.Background(), k, v); err != nil {
			t.Fatal(err)
		}
	}
	return e.Tree()
}

// naiveDiff is the map difference, sorted by key.
func naiveDiff(a, b map[string]cid.Cid) []Op {
	var ops []Op
	for k, va := range a {
		if vb, ok := b[k]; !ok {
			ops = append(ops, Op{Key: k, Old: va})
		} else if vb != va {
			ops = append(ops, Op{Key: k, Old: va, New: vb})
		}
	}
	for k, vb := range b {
		if _, ok := a[k]; !ok {
			ops = append(ops, Op{Key: k, New: vb})
		}
	}
	slices.SortFunc(ops, func(x, y Op) int { return strings.Compare(x.Key, y.Key) })
	return ops
}

// nodeCIDs returns the CIDs of every node of a stored tree.
func nodeCIDs(t testing.TB, mb *MemBlocks, root cid.Cid) map[string]bool {
	t.Helper()
	rec := &recordingSource{tree: Load(mb, root), mem: map[string]*node{}, seen: map[string]bool{}}
	if err := Load(rec, root).Walk(context.Background(), func(string, cid.Cid) error { return nil }); err != nil {
		t.Fatal(err)
	}
	return rec.seen
}

func TestDiffAgainstNaive(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	runs := 150
	if raceEnabled || testing.Short() {
		runs = 30
	}
	for run := range runs {
		n := r.IntN(3000)
		a := map[string]cid.Cid{}
		for len(a) < n {
			a[randomKey(r)] = randomValue(r)
		}
		b := make(map[string]cid.Cid, len(a))
		for k, v := range a {
			b[k] = v
		}
		changes := r.IntN(60)
		for range changes {
			switch r.IntN(3) {
			case 0:
				b[randomKey(r)] = randomValue(r)
			case 1:
				for k := range b {
					b[k] = randomValue(r)
					break
				}
			default:
				for k := range b {
					delete(b, k)
					break
				}
			}
		}
		ta, tb := buildMap(t, a), buildMap(t, b)
		want := naiveDiff(a, b)
		got, err := Diff(ctx, ta, tb)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("run %d: Diff has %d ops, naive %d", run, len(got), len(want))
		}
		// The same through lazily loaded trees in one store, and NewBlocks.
		var mb MemBlocks
		rootA, err := ta.WriteBlocks(ctx, &mb, nil)
		if err != nil {
			t.Fatal(err)
		}
		nodesA := nodeCIDs(t, &mb, rootA)
		la := Load(&mb, rootA)
		// Rebuild b as edits of the loaded a, as a repo would.
		e := la.Edit()
		for _, op := range want {
			if op.New.Defined() {
				_, err = e.Put(ctx, op.Key, op.New)
			} else {
				_, err = e.Delete(ctx, op.Key)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		lb := e.Tree()
		if mustRoot(t, lb) != mustRoot(t, tb) {
			t.Fatalf("run %d: edited tree root differs from built tree", run)
		}
		blocks, err := lb.NewBlocks(ctx, la)
		if err != nil {
			t.Fatal(err)
		}
		for _, blk := range blocks {
			if nodesA[blk.CID.KeyString()] {
				t.Fatalf("run %d: NewBlocks returned %s, which the base has", run, blk.CID)
			}
			if sumCID(blk.Data) != blk.CID {
				t.Fatalf("run %d: block data does not hash to its CID", run)
			}
			if err := mb.PutBlock(ctx, blk.CID, blk.Data); err != nil {
				t.Fatal(err)
			}
		}
		rootB := mustRoot(t, lb)
		nodesB := nodeCIDs(t, &mb, rootB) // fails if a block is missing
		newCount := 0
		for k := range nodesB {
			if !nodesA[k] {
				newCount++
			}
		}
		if newCount != len(blocks) {
			t.Fatalf("run %d: NewBlocks returned %d blocks, the new tree has %d new nodes", run, len(blocks), newCount)
		}
		got, err = Diff(ctx, Load(&mb, rootA), Load(&mb, rootB))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("run %d: Diff of loaded trees has %d ops, naive %d", run, len(got), len(want))
		}
		// And inversion: the ops' blocks let a consumer get back to a.
		proof, err := InversionBlocks(ctx, lb, want)
		if err != nil {
			t.Fatal(err)
		}
		var pb MemBlocks
		for _, blk := range proof {
			pb.PutBlock(ctx, blk.CID, blk.Data)
		}
		inv, err := Invert(ctx, Load(&pb, rootB), want)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if mustRoot(t, inv) != rootA {
			t.Fatalf("run %d: inversion gives %s, want %s", run, mustRoot(t, inv), rootA)
		}
	}
}

func TestListAndWalk(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 8))
	m := map[string]cid.Cid{}
	for len(m) < 2000 {
		m[randomKey(r)] = randomValue(r)
	}
	tr := buildMap(t, m)
	var mb MemBlocks
	root, err := tr.WriteBlocks(ctx, &mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	lt := Load(&mb, root)
	all := make([]string, 0, len(m))
	for k := range m {
		all = append(all, k)
	}
	slices.Sort(all)
	for _, tree := range []*Tree{tr, lt} {
		var walked []string
		if err := tree.Walk(ctx, func(k string, v cid.Cid) error {
			if m[k] != v {
				t.Fatalf("walk: %s has the wrong value", k)
			}
			walked = append(walked, k)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(walked, all) {
			t.Fatal("Walk is not the sorted key list")
		}
		for _, coll := range append(collections, "app.bsky", "zzz") {
			prefix := coll + "/"
			var want []string
			for _, k := range all {
				if strings.HasPrefix(k, prefix) {
					want = append(want, k)
				}
			}
			for _, rev := range []bool{false, true} {
				w := slices.Clone(want)
				if rev {
					slices.Reverse(w)
				}
				// Page through with a cursor.
				var got []string
				cursor := ""
				for {
					page, err := tree.List(ctx, ListOptions{Prefix: prefix, Cursor: cursor, Limit: 37, Reverse: rev})
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range page {
						got = append(got, e.Key)
					}
					if len(page) < 37 {
						break
					}
					cursor = page[len(page)-1].Key
				}
				if !slices.Equal(got, w) {
					t.Fatalf("List(%q, reverse=%v) = %d keys, want %d", prefix, rev, len(got), len(w))
				}
			}
		}
	}
}

func TestProofs(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(9, 10))
	m := map[string]cid.Cid{}
	for len(m) < 3000 {
		m[randomKey(r)] = randomValue(r)
	}
	tr := buildMap(t, m)
	root := mustRoot(t, tr)
	var present []string
	for k := range m {
		present = append(present, k)
	}
	slices.Sort(present)
	for i := 0; i < len(present); i += 97 {
		k := present[i]
		proof, err := tr.Prove(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		v, ok, err := VerifyProof(ctx, root, k, proof)
		if err != nil || !ok || v != m[k] {
			t.Fatalf("VerifyProof(%s) = %v %v %v", k, v, ok, err)
		}
		// Drop any block: incomplete.
		for j := range proof {
			short := slices.Delete(slices.Clone(proof), j, j+1)
			if _, _, err := VerifyProof(ctx, root, k, short); !errors.Is(err, ErrNotFound) {
				t.Fatalf("proof without block %d: err = %v, want ErrNotFound", j, err)
			}
		}
		// Tamper with any block: the hash no longer matches.
		for j := range proof {
			bad := slices.Clone(proof)
			data := slices.Clone(bad[j].Data)
			data[len(data)/2] ^= 1
			bad[j] = Block{CID: bad[j].CID, Data: data}
			if _, _, err := VerifyProof(ctx, root, k, bad); !errors.Is(err, ErrInvalidNode) {
				t.Fatalf("tampered block %d: err = %v, want ErrInvalidNode", j, err)
			}
		}
		// Absence of a key that is not there.
		absent := k + "x"
		if _, ok := m[absent]; ok {
			continue
		}
		proof, err = tr.Prove(ctx, absent)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := VerifyProof(ctx, root, absent, proof); err != nil || ok {
			t.Fatalf("absence proof of %s: ok=%v err=%v", absent, ok, err)
		}
		// A proof for one key does not prove another's value wrongly: a
		// value proof checked against a different root fails.
		if _, _, err := VerifyProof(ctx, testCID("other root"), k, proof); err == nil {
			t.Fatal("proof verified against a foreign root")
		}
	}
}

func TestEmptyTree(t *testing.T) {
	ctx := context.Background()
	tr := Empty(nil)
	root := mustRoot(t, tr)
	if root.String() != "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm" {
		t.Fatalf("empty root = %s", root)
	}
	blocks, err := tr.NewBlocks(ctx, nil)
	if err != nil || len(blocks) != 1 || blocks[0].CID != root {
		t.Fatalf("NewBlocks of empty tree = %v, %v", blocks, err)
	}
	var mb MemBlocks
	mb.PutBlock(ctx, root, blocks[0].Data)
	lt := Load(&mb, root)
	if empty, err := lt.IsEmpty(ctx); err != nil || !empty {
		t.Fatalf("loaded empty tree: %v %v", empty, err)
	}
	t2, _, err := lt.Put(ctx, "a/b", testCID("x"))
	if err != nil {
		t.Fatal(err)
	}
	t3, prev, err := t2.Delete(ctx, "a/b")
	if err != nil || !prev.Defined() {
		t.Fatal(err)
	}
	if mustRoot(t, t3) != root {
		t.Fatal("put then delete does not give the empty root")
	}
	blocks, err = t3.NewBlocks(ctx, t2)
	if err != nil || len(blocks) != 1 || blocks[0].CID != root {
		t.Fatalf("NewBlocks(emptied, base) = %v, %v", blocks, err)
	}
}

func TestKnownRoots(t *testing.T) {
	// From the atproto MST interop tests (TypeScript and indigo).
	ctx := context.Background()
	v := cid.MustParse("bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454")
	cases := []struct {
		keys []string
		root string
	}{
		{[]string{"com.example.record/3jqfcqzm3fo2j"}, "bafyreibj4lsc3aqnrvphp5xmrnfoorvru4wynt6lwidqbm2623a6tatzdu"},
		{[]string{"com.example.record/3jqfcqzm3fx2j"}, "bafyreih7wfei65pxzhauoibu3ls7jgmkju4bspy4t2ha2qdjnzqvoy33ai"},
		{[]string{"com.example.record/3jqfcqzm3fp2j", "com.example.record/3jqfcqzm3fr2j", "com.example.record/3jqfcqzm3fs2j", "com.example.record/3jqfcqzm3ft2j", "com.example.record/3jqfcqzm4fc2j"}, "bafyreicmahysq4n6wfuxo522m6dpiy7z7qzym3dzs756t5n7nfdgccwq7m"},
	}
	for _, c := range cases {
		tr := Empty(nil)
		var err error
		for _, k := range c.keys {
			if tr, _, err = tr.Put(ctx, k, v); err != nil {
				t.Fatal(err)
			}
		}
		if got := mustRoot(t, tr).String(); got != c.root {
			t.Errorf("root of %v = %s, want %s", c.keys, got, c.root)
		}
	}
}

// TestEditorSnapshots checks that a tree returned by Editor.Tree does not
// change when the Editor goes on, in bulk mode and in place.
func TestEditorSnapshots(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(15, 16))
	e := Empty(nil).Edit()
	m := map[string]cid.Cid{}
	type snap struct {
		tr   *Tree
		root cid.Cid
		m    map[string]cid.Cid
	}
	var snaps []snap
	for round := range 6 {
		for range 200 {
			k, v := randomKey(r), randomValue(r)
			if _, err := e.Put(ctx, k, v); err != nil {
				t.Fatal(err)
			}
			m[k] = v
		}
		n := 0
		for k := range m {
			if n++; n > 50 {
				break
			}
			if _, err := e.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
			delete(m, k)
		}
		tr := e.Tree()
		cp := make(map[string]cid.Cid, len(m))
		for k, v := range m {
			cp[k] = v
		}
		want := mustRoot(t, buildMapPuts(t, cp))
		if got := mustRoot(t, tr); got != want {
			t.Fatalf("round %d: root %s, want %s", round, got, want)
		}
		snaps = append(snaps, snap{tr, want, cp})
	}
	for i, s := range snaps {
		if got := mustRoot(t, s.tr); got != s.root {
			t.Fatalf("snapshot %d changed", i)
		}
		var n int
		if err := s.tr.Walk(ctx, func(k string, v cid.Cid) error {
			if s.m[k] != v {
				return errors.New("value differs")
			}
			n++
			return nil
		}); err != nil || n != len(s.m) {
			t.Fatalf("snapshot %d: %v, %d keys of %d", i, err, n, len(s.m))
		}
	}
}

// buildMapPuts builds m with persistent Puts (not the bulk path).
func buildMapPuts(t testing.TB, m map[string]cid.Cid) *Tree {
	t.Helper()
	tr := Empty(nil)
	for k, v := range m {
		var err error
		if tr, _, err = tr.Put(context.Background(), k, v); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

func TestWalkBlocks(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(17, 18))
	m := map[string]cid.Cid{}
	for len(m) < 1500 {
		m[randomKey(r)] = randomValue(r)
	}
	tr := buildMap(t, m)
	want, err := tr.NewBlocks(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mb MemBlocks
	root, _ := tr.WriteBlocks(ctx, &mb, nil)
	for _, x := range []*Tree{tr, Load(&mb, root)} {
		got := map[string]string{}
		first := cid.Undef
		if err := x.WalkBlocks(ctx, func(c cid.Cid, data []byte) error {
			if !first.Defined() {
				first = c
			}
			if sumCID(data) != c {
				t.Fatalf("block %s does not hash to its CID", c)
			}
			got[c.KeyString()] = string(data)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if first != root || len(got) != len(want) {
			t.Fatalf("WalkBlocks: first %s (root %s), %d blocks, want %d", first, root, len(got), len(want))
		}
		for _, b := range want {
			if got[b.CID.KeyString()] != string(b.Data) {
				t.Fatalf("block %s missing or different", b.CID)
			}
		}
	}
	var n int
	if err := Empty(nil).WalkBlocks(ctx, func(c cid.Cid, data []byte) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("empty tree: %d blocks, %v", n, err)
	}
}

func TestStored(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(19, 20))
	var mb MemBlocks
	tr := Empty(&mb)
	m := map[string]cid.Cid{}
	for round := range 20 {
		base := tr
		e := tr.Edit()
		for range 50 {
			k, v := randomKey(r), randomValue(r)
			e.Put(ctx, k, v)
			m[k] = v
		}
		next := e.Tree()
		if _, err := next.WriteBlocks(ctx, &mb, base); err != nil {
			t.Fatal(err)
		}
		want := mustRoot(t, next)
		var err error
		if tr, err = next.Stored(ctx); err != nil {
			t.Fatal(err)
		}
		if tr.root.n != nil || mustRoot(t, tr) != want {
			t.Fatalf("round %d: Stored tree holds memory or changed root", round)
		}
	}
	// Everything reads back through cache and store, strictly checked.
	n := 0
	if err := tr.Walk(ctx, func(k string, v cid.Cid) error {
		if m[k] != v {
			return errors.New("wrong value")
		}
		n++
		return nil
	}); err != nil || n != len(m) {
		t.Fatalf("%v, %d keys of %d", err, n, len(m))
	}
	if err := Load(&mb, mustRoot(t, tr)).Walk(ctx, func(string, cid.Cid) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestInvertErrors(t *testing.T) {
	ctx := context.Background()
	before := Empty(nil)
	for i := range 200 {
		before, _, _ = before.Put(ctx, fmt.Sprintf("app.bsky.feed.post/%04d", i), testCID(fmt.Sprint(i)))
	}
	v := testCID("new")
	after, _, _ := before.Put(ctx, "app.bsky.feed.post/0500", v)
	after, old, _ := after.Delete(ctx, "app.bsky.feed.post/0042")
	ops := []Op{{Key: "app.bsky.feed.post/0500", New: v}, {Key: "app.bsky.feed.post/0042", Old: old}}
	blocks, err := InversionBlocks(ctx, after, ops)
	if err != nil {
		t.Fatal(err)
	}
	var mb MemBlocks
	for _, b := range blocks {
		mb.PutBlock(ctx, b.CID, b.Data)
	}
	root := mustRoot(t, after)
	// A create whose value is not the one in the tree.
	bad := []Op{{Key: "app.bsky.feed.post/0500", New: testCID("other")}, ops[1]}
	if _, err := Invert(ctx, Load(&mb, root), bad); !errors.Is(err, ErrProof) {
		t.Errorf("wrong value: err = %v, want ErrProof", err)
	}
	// A delete of a key that is still there.
	bad = []Op{ops[0], {Key: "app.bsky.feed.post/0001", Old: v}}
	if _, err := Invert(ctx, Load(&mb, root), bad); err == nil {
		t.Error("delete of a present key inverted without error")
	}
	// Duplicate keys.
	if _, err := Invert(ctx, Load(&mb, root), []Op{ops[0], ops[0]}); err == nil {
		t.Error("duplicate ops accepted")
	}
	// An op outside the proof: its path is missing.
	far := []Op{{Key: "app.bsky.feed.post/0150", Old: testCID("150"), New: v}}
	if _, err := Invert(ctx, Load(&mb, root), far); !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrProof) {
		t.Errorf("op outside the proof: err = %v", err)
	}
	// Dropping any proof block makes the inversion fail or give another root.
	for i := range blocks {
		var partial MemBlocks
		for j, b := range blocks {
			if j != i {
				partial.PutBlock(ctx, b.CID, b.Data)
			}
		}
		inv, err := Invert(ctx, Load(&partial, root), ops)
		if err == nil && mustRoot(t, inv) == mustRoot(t, before) {
			t.Errorf("inversion succeeded without block %d (%s)", i, blocks[i].CID)
		}
	}
}
