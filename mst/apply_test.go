package mst

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	imst "github.com/bluesky-social/indigo/atproto/repo/mst"
	"github.com/ipfs/go-cid"
)

// TestEditorApplyIndigo applies random batches of creates, updates and
// deletes (of present and absent keys) with Editor.Apply, each batch to the
// stored tree of the one before (as package repo commits), and checks the
// Old values it reports against a map and the roots against indigo's. Every
// other batch only puts, which Apply does in one pass over the sorted keys.
func TestEditorApplyIndigo(t *testing.T) {
	ctx := context.Background()
	runs, batches := 20, 30
	if raceEnabled || testing.Short() {
		runs, batches = 5, 15
	}
	r := rand.New(rand.NewPCG(41, 42))
	for run := range runs {
		var mb MemBlocks
		tr := Empty(&mb)
		it := imst.NewEmptyTree()
		m := map[string]cid.Cid{}
		for batch := range batches {
			var present []string
			for k := range m {
				present = append(present, k)
			}
			slices.Sort(present)
			ops := make([]Op, 1+r.IntN(300))
			want := make([]cid.Cid, len(ops))
			inBatch := map[string]bool{}
			putsOnly := batch%2 == 1 // the one-pass path (Editor.putSorted)
			for i := range ops {
				var k string
				op := r.IntN(10)
				if putsOnly {
					op = r.IntN(7)
				}
				// A key of the tree not yet in the batch, if one comes
				// up in a few tries; otherwise a new random key.
				for try := 0; k == "" || inBatch[k]; try++ {
					if op < 5 || len(present) == 0 || op == 9 || try > 8 {
						k = randomKey(r)
					} else {
						k = present[r.IntN(len(present))]
					}
				}
				inBatch[k] = true
				ops[i].Key = k
				if op < 7 {
					ops[i].New = randomValue(r)
				}
				want[i] = m[k]
				if ops[i].New.Defined() {
					m[k] = ops[i].New
					if _, err := it.Insert([]byte(k), ops[i].New); err != nil {
						t.Fatal(err)
					}
				} else if want[i].Defined() {
					delete(m, k)
					if _, err := it.Remove([]byte(k)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if putsOnly {
				// A few ascending runs, as a repo commit's records and
				// receipts are (more would take the one-by-one path).
				order := make([]int, len(ops))
				for i := range order {
					order[i] = i
				}
				runs := 1 + r.IntN(5)
				for k := range runs {
					part := order[k*len(order)/runs : (k+1)*len(order)/runs]
					slices.SortFunc(part, func(a, b int) int { return strings.Compare(ops[a].Key, ops[b].Key) })
				}
				sortedOps, sortedWant := make([]Op, len(ops)), make([]cid.Cid, len(ops))
				for i, j := range order {
					sortedOps[i], sortedWant[i] = ops[j], want[j]
				}
				ops, want = sortedOps, sortedWant
			}
			e := tr.Edit()
			if n, err := e.Apply(ctx, ops); err != nil || n != len(ops) {
				t.Fatalf("run %d batch %d: Apply = %d, %v", run, batch, n, err)
			}
			for i, op := range ops {
				if op.Old != want[i] {
					t.Fatalf("run %d batch %d: op %d (%s): Old %s, want %s", run, batch, i, op.Key, op.Old, want[i])
				}
			}
			next := e.Tree()
			if len(m) == 0 {
				it = imst.NewEmptyTree() // see TestCrossCheckIndigoInterleaved
			}
			iroot, err := it.RootCID()
			if err != nil {
				t.Fatal(err)
			}
			if got := mustRoot(t, next); got != *iroot {
				t.Fatalf("run %d batch %d: root %s, indigo %s", run, batch, got, *iroot)
			}
			if _, err := next.WriteBlocks(ctx, &mb, tr); err != nil {
				t.Fatal(err)
			}
			if tr, err = next.Stored(ctx); err != nil {
				t.Fatal(err)
			}
		}
		checkInvariants(t, tr)
	}
}

// TestEditorApplyErrors checks that Apply stops at the first op that fails,
// returns its index and the error Put or Delete would return, and leaves the
// ops before it applied.
func TestEditorApplyErrors(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(43, 44))
	m := map[string]cid.Cid{}
	for range 2000 {
		m[randomKey(r)] = randomValue(r)
	}
	full := buildMap(t, m)
	var mb MemBlocks
	root, err := full.WriteBlocks(ctx, &mb, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("invalid key", func(t *testing.T) {
		e := Load(&mb, root).Edit()
		ops := []Op{{Key: "coll/a", New: testCID("a")}, {Key: "coll/b"}, {Key: "coll/c/d", New: testCID("c")}, {Key: "coll/e", New: testCID("e")}}
		n, err := e.Apply(ctx, ops)
		var ke *KeyError
		if n != 2 || !errors.As(err, &ke) {
			t.Fatalf("Apply = %d, %v; want 2 and a *KeyError", n, err)
		}
		tr := e.Tree()
		for _, c := range []struct {
			key  string
			want bool
		}{{"coll/a", true}, {"coll/e", false}} {
			if _, ok, err := tr.Get(ctx, c.key); err != nil || ok != c.want {
				t.Errorf("Get(%s) = %v, %v; want %v", c.key, ok, err, c.want)
			}
		}
	})

	t.Run("missing node", func(t *testing.T) {
		// Only the root block: the first op that descends below it fails.
		only := rootOnly(t, &mb, root)
		keys := make([]string, 0, 64)
		for range 64 {
			keys = append(keys, randomKey(r))
		}
		ops := make([]Op, len(keys))
		for i, k := range keys {
			ops[i] = Op{Key: k, New: testCID(k)}
		}
		// The one-by-one reference: the first Put that fails.
		ref := Load(only, root).Edit()
		wantN, wantErr := firstError(len(ops), func(i int) error {
			_, err := ref.Put(ctx, ops[i].Key, ops[i].New)
			return err
		})
		if wantErr == nil {
			t.Fatal("no Put failed: the test needs a key below the root")
		}
		n, err := Load(only, root).Edit().Apply(ctx, ops)
		if n != wantN || !errors.Is(err, ErrNotFound) || err.Error() != wantErr.Error() {
			t.Fatalf("Apply = %d, %v; want %d, %v", n, err, wantN, wantErr)
		}
	})
}

// TestGetMany checks GetMany against Get: present and absent keys of a
// loaded tree, an invalid key, and a key whose lookup needs a missing node.
func TestGetMany(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(45, 46))
	m, keys := randomEntries(r, 3000)
	var mb MemBlocks
	root, err := buildMap(t, m).WriteBlocks(ctx, &mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := Load(&mb, root)
	for range 1000 {
		keys = append(keys, randomKey(r)) // mostly absent
	}
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	vals := make([]cid.Cid, len(keys))
	if n, err := tr.GetMany(ctx, keys, vals); n != len(keys) || err != nil {
		t.Fatalf("GetMany = %d, %v", n, err)
	}
	for i, k := range keys {
		if vals[i] != m[k] {
			t.Fatalf("GetMany: %s = %s, want %s", k, vals[i], m[k])
		}
	}

	bad := []string{keys[0], keys[1], "no-slash", keys[2]}
	n, err := tr.GetMany(ctx, bad, vals)
	var ke *KeyError
	if n != 2 || !errors.As(err, &ke) || vals[1] != m[keys[1]] {
		t.Fatalf("GetMany with an invalid key = %d, %v; want 2 and a *KeyError", n, err)
	}
	if _, err := tr.GetMany(ctx, keys, vals[:1]); err == nil {
		t.Fatal("GetMany accepted fewer values than keys")
	}

	// Only the root block: the first key whose lookup leaves it fails.
	part := Load(rootOnly(t, &mb, root), root)
	wantN, wantErr := firstError(len(keys), func(i int) error {
		_, _, err := part.Get(ctx, keys[i])
		return err
	})
	if wantErr == nil {
		t.Fatal("no Get failed: the test needs a key below the root")
	}
	n, err = part.GetMany(ctx, keys, vals)
	if n != wantN || !errors.Is(err, ErrNotFound) || err.Error() != wantErr.Error() {
		t.Fatalf("GetMany = %d, %v; want %d, %v", n, err, wantN, wantErr)
	}
}

// TestEditorApplyRepeatedPut checks a batch of puts that names a key twice:
// the second put wins and reports the first's value, as one Put at a time.
func TestEditorApplyRepeatedPut(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(47, 48))
	m := map[string]cid.Cid{}
	for range 500 {
		m[randomKey(r)] = randomValue(r)
	}
	base := buildMap(t, m)
	ops := []Op{{Key: "coll/a", New: testCID("1")}, {Key: "coll/b", New: testCID("2")},
		{Key: "coll/a", New: testCID("3")}, {Key: "coll/c", New: testCID("4")}}
	e := base.Edit()
	if n, err := e.Apply(ctx, ops); n != len(ops) || err != nil {
		t.Fatalf("Apply = %d, %v", n, err)
	}
	if ops[2].Old != testCID("1") || ops[0].Old.Defined() {
		t.Fatalf("Old values %v, %v", ops[0].Old, ops[2].Old)
	}
	ref := base.Edit()
	for _, op := range ops {
		if _, err := ref.Put(ctx, op.Key, op.New); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := mustRoot(t, e.Tree()), mustRoot(t, ref.Tree()); got != want {
		t.Fatalf("root %s, one Put at a time %s", got, want)
	}
}

// TestSortRuns checks sortRuns against a stable sort on keys in a few
// ascending runs (with repeats), and that it refuses too many runs.
func TestSortRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(49, 50))
	for range 500 {
		var kvs []kv
		for range 1 + r.IntN(maxMergeRuns) {
			run := make([]kv, r.IntN(30))
			for i := range run {
				run[i] = kv{key: fmt.Sprintf("c/%03d", r.IntN(300)), op: int32(len(kvs) + i)}
			}
			slices.SortStableFunc(run, func(a, b kv) int { return strings.Compare(a.key, b.key) })
			kvs = append(kvs, run...)
		}
		want := slices.Clone(kvs)
		slices.SortStableFunc(want, func(a, b kv) int { return strings.Compare(a.key, b.key) })
		if !sortRuns(kvs) || !slices.Equal(kvs, want) {
			t.Fatalf("sortRuns: %v, want %v", kvs, want)
		}
	}
	desc := make([]kv, 2*maxMergeRuns)
	for i := range desc {
		desc[i].key = fmt.Sprintf("c/%03d", len(desc)-i)
	}
	if sortRuns(desc) {
		t.Fatalf("sortRuns sorted %d descending keys", len(desc))
	}
}

// TestHas checks Has against Get on present and absent keys, on a tree in
// memory and on the same tree loaded from its blocks, and on an invalid key.
func TestHas(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(51, 52))
	m, keys := randomEntries(r, 3000)
	mem := buildMapPuts(t, m)
	var mb MemBlocks
	root, err := mem.WriteBlocks(ctx, &mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3000 {
		keys = append(keys, randomKey(r)) // mostly absent, on every layer
	}
	high := 0
	for _, tr := range []*Tree{mem, Load(&mb, root)} {
		for _, k := range keys {
			_, want, err := tr.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tr.Has(ctx, k)
			if err != nil || got != want {
				t.Fatalf("Has(%s) = %v, %v; Get says %v", k, got, err, want)
			}
			if !want && KeyHeight(k) > 0 {
				high++
			}
		}
	}
	if high == 0 {
		t.Fatal("no absent key above layer 0: the test needs some")
	}
	var ke *KeyError
	if _, err := mem.Has(ctx, "no-slash"); !errors.As(err, &ke) {
		t.Fatalf("Has of an invalid key: %v", err)
	}
	if ok, err := Empty(nil).Has(ctx, keys[0]); ok || err != nil {
		t.Fatalf("empty tree: Has = %v, %v", ok, err)
	}
}

// TestHasTrustedIsGet: on a source taken on trust, a key stored on the
// wrong layer (a layer-1 key in a layer-0 node) is not found by Get, and
// Has and HasMany give Get's answer rather than finding it by descending.
func TestHasTrustedIsGet(t *testing.T) {
	ctx := context.Background()
	v := testCID("record")
	k0 := keyAt("app.bsky.feed.post/a", 0)
	kx := keyAt("app.bsky.feed.post/c", 1)
	k1 := keyAt("app.bsky.feed.post/m", 1)
	var mb MemBlocks
	leaf := put(t, &mb, rawNode(t, nil, seq(v, k0, kx)))
	root := put(t, &mb, rawNode(t, &leaf, []rawEntry{{suffix: k1, v: v}}))
	tr := Options{InsecureTrustSource: true}.Load(&mb, root)
	keys := []string{k0, kx, k1} // ascending: HasMany's sorted walk would find kx
	many := make([]bool, len(keys))
	if _, err := tr.HasMany(ctx, keys, many); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		_, want, err := tr.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := tr.Has(ctx, k); err != nil || got != want {
			t.Errorf("Has(%s) = %v, %v; Get says %v", k, got, err, want)
		}
		if many[i] != want {
			t.Errorf("HasMany says %v for %s; Get says %v", many[i], k, want)
		}
	}
	if _, found, _ := tr.Get(ctx, kx); found {
		t.Fatal("Get found the key on the wrong layer: the test does not build what it means to")
	}
}

// TestNewBlocksLargeNodes: nodes larger than a slab's room (long keys on
// one layer) get their own bytes, and every block of NewBlocks, small or
// large, still hashes to its CID and is what WriteBlocks stores.
func TestNewBlocksLargeNodes(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(61, 62))
	m := map[string]cid.Cid{}
	for i := range 400 {
		long := "app.bsky.feed.post/" + strings.Repeat(fmt.Sprintf("%03d", i), 1+r.IntN(300))
		m[long] = randomValue(r)
		m[randomKey(r)] = randomValue(r)
	}
	tr := buildMapPuts(t, m)
	blocks, err := tr.NewBlocks(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mb MemBlocks
	if _, err := tr.WriteBlocks(ctx, &mb, nil); err != nil {
		t.Fatal(err)
	}
	large := 0
	for _, b := range blocks {
		if sumCID(b.Data) != b.CID {
			t.Fatalf("block %s: bytes hash to %s", b.CID, sumCID(b.Data))
		}
		if want, err := mb.GetBlock(ctx, b.CID); err != nil || !bytes.Equal(want, b.Data) {
			t.Fatalf("block %s differs from WriteBlocks' (%v)", b.CID, err)
		}
		if len(b.Data) > slabRoom {
			large++
		}
	}
	if large == 0 {
		t.Fatal("no node larger than slabRoom: the test needs some")
	}
}

// firstError returns the index and error of the first of f(0), ...,
// f(n-1) that fails, or n and nil: the one-at-a-time reference for a batch
// operation that stops at its first failure.
func firstError(n int, f func(i int) error) (int, error) {
	for i := range n {
		if err := f(i); err != nil {
			return i, err
		}
	}
	return n, nil
}

// randomEntries draws n random keys with random values: the entries (a
// key drawn twice keeps its last value) and the keys in the order drawn.
func randomEntries(r *rand.Rand, n int) (map[string]cid.Cid, []string) {
	m := map[string]cid.Cid{}
	var keys []string
	for range n {
		k := randomKey(r)
		m[k] = randomValue(r)
		keys = append(keys, k)
	}
	return m, keys
}

// rootOnly returns a store holding only src's block root: a tree whose
// lookups fail as soon as they leave the root node.
func rootOnly(t *testing.T, src *MemBlocks, root cid.Cid) *MemBlocks {
	t.Helper()
	data, err := src.GetBlock(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	var only MemBlocks
	if err := only.PutBlock(context.Background(), root, data); err != nil {
		t.Fatal(err)
	}
	return &only
}
