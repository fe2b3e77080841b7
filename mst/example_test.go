package mst_test

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/mst"
)

var record = cid.MustParse("bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454")

// Build a tree, store its blocks, and reload it lazily from its root.
func Example() {
	ctx := context.Background()
	t := mst.Empty(nil)
	for _, k := range []string{"com.example.record/3jqfcqzm3fp2j", "com.example.record/3jqfcqzm3fr2j",
		"com.example.record/3jqfcqzm3fs2j", "com.example.record/3jqfcqzm3ft2j", "com.example.record/3jqfcqzm4fc2j"} {
		var err error
		if t, _, err = t.Put(ctx, k, record); err != nil {
			panic(err)
		}
	}
	var store mst.MemBlocks
	root, err := t.WriteBlocks(ctx, &store, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(root)

	loaded := mst.Load(&store, root)
	v, ok, err := loaded.Get(ctx, "com.example.record/3jqfcqzm3fs2j")
	fmt.Println(v == record, ok, err)
	// Output:
	// bafyreicmahysq4n6wfuxo522m6dpiy7z7qzym3dzs756t5n7nfdgccwq7m
	// true true <nil>
}

// A commit writes exactly the nodes the previous tree lacks.
func ExampleTree_NewBlocks() {
	ctx := context.Background()
	var store mst.MemBlocks
	base := mst.Empty(&store)
	e := base.Edit()
	for i := range 100 {
		if _, err := e.Put(ctx, fmt.Sprintf("app.bsky.feed.post/%04d", i), record); err != nil {
			panic(err)
		}
	}
	v1 := e.Tree()
	if _, err := v1.WriteBlocks(ctx, &store, nil); err != nil {
		panic(err)
	}
	v2, _, err := v1.Put(ctx, "app.bsky.feed.post/0100", record)
	if err != nil {
		panic(err)
	}
	blocks, err := v2.NewBlocks(ctx, v1)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(blocks) > 0 && len(blocks) < 10, store.Len() > 10)
	// Output: true true
}

func ExampleTree_List() {
	ctx := context.Background()
	t := mst.Empty(nil).Edit()
	for _, k := range []string{"app.bsky.feed.like/a", "app.bsky.feed.post/a", "app.bsky.feed.post/b", "app.bsky.feed.post/c"} {
		if _, err := t.Put(ctx, k, record); err != nil {
			panic(err)
		}
	}
	page, err := t.Tree().List(ctx, mst.ListOptions{Prefix: "app.bsky.feed.post/", Cursor: "app.bsky.feed.post/c", Reverse: true, Limit: 5})
	if err != nil {
		panic(err)
	}
	for _, e := range page {
		fmt.Println(e.Key)
	}
	// Output:
	// app.bsky.feed.post/b
	// app.bsky.feed.post/a
}

func ExampleDiff() {
	ctx := context.Background()
	a := mst.Empty(nil)
	a, _, _ = a.Put(ctx, "app.bsky.feed.post/a", record)
	a, _, _ = a.Put(ctx, "app.bsky.feed.post/b", record)
	other := cid.MustParse("bafyreibj4lsc3aqnrvphp5xmrnfoorvru4wynt6lwidqbm2623a6tatzdu")
	b, _, _ := a.Put(ctx, "app.bsky.feed.post/b", other)
	b, _, _ = b.Delete(ctx, "app.bsky.feed.post/a")
	b, _, _ = b.Put(ctx, "app.bsky.feed.post/c", record)
	ops, err := mst.Diff(ctx, a, b)
	if err != nil {
		panic(err)
	}
	for _, op := range ops {
		fmt.Println(op.Key, op.IsCreate(), op.IsUpdate(), op.IsDelete())
	}
	// Output:
	// app.bsky.feed.post/a false false true
	// app.bsky.feed.post/b false true false
	// app.bsky.feed.post/c true false false
}

func ExampleVerifyProof() {
	ctx := context.Background()
	t := mst.Empty(nil)
	for i := range 50 {
		t, _, _ = t.Put(ctx, fmt.Sprintf("app.bsky.feed.post/%03d", i), record)
	}
	root, _ := t.Root(ctx)
	proof, err := t.Prove(ctx, "app.bsky.feed.post/007")
	if err != nil {
		panic(err)
	}
	v, ok, err := mst.VerifyProof(ctx, root, "app.bsky.feed.post/007", proof)
	fmt.Println(v == record, ok, err)
	absent, _ := t.Prove(ctx, "app.bsky.feed.post/999")
	_, ok, err = mst.VerifyProof(ctx, root, "app.bsky.feed.post/999", absent)
	fmt.Println(ok, err)
	// Output:
	// true true <nil>
	// false <nil>
}

// A sync 1.1 consumer inverts a commit's ops on the partial tree its blocks
// form and compares the result with the commit's prevData.
func ExampleInvert() {
	ctx := context.Background()
	before := mst.Empty(nil)
	for i := range 30 {
		before, _, _ = before.Put(ctx, fmt.Sprintf("app.bsky.feed.post/%03d", i), record)
	}
	prevData, _ := before.Root(ctx)
	after, _, _ := before.Put(ctx, "app.bsky.feed.post/100", record)
	after, old, _ := after.Delete(ctx, "app.bsky.feed.post/003")
	ops := []mst.Op{{Key: "app.bsky.feed.post/100", New: record}, {Key: "app.bsky.feed.post/003", Old: old}}

	// The producer sends these blocks with the commit.
	blocks, err := mst.InversionBlocks(ctx, after, ops)
	if err != nil {
		panic(err)
	}
	// The consumer sees only them.
	var partial mst.MemBlocks
	for _, b := range blocks {
		partial.PutBlock(ctx, b.CID, b.Data)
	}
	data, _ := after.Root(ctx)
	inv, err := mst.Invert(ctx, mst.Load(&partial, data), ops)
	if err != nil {
		panic(err)
	}
	got, _ := inv.Root(ctx)
	fmt.Println(got == prevData)
	// Output: true
}

// An Editor applies a batch: here it builds a tree from a key set, then
// applies a commit's changes to it.
func ExampleEditor() {
	ctx := context.Background()
	e := mst.Empty(nil).Edit()
	for i := range 1000 {
		if _, err := e.Put(ctx, fmt.Sprintf("app.bsky.feed.like/%04d", i), record); err != nil {
			panic(err)
		}
	}
	v1 := e.Tree()

	e = v1.Edit()
	prev, _ := e.Delete(ctx, "app.bsky.feed.like/0007")
	_, _ = e.Put(ctx, "app.bsky.feed.like/1000", record)
	v2 := e.Tree()

	ops, _ := mst.Diff(ctx, v1, v2)
	fmt.Println(prev == record, len(ops), ops[0].Key, ops[0].IsDelete(), ops[1].Key, ops[1].IsCreate())
	// Output: true 2 app.bsky.feed.like/0007 true app.bsky.feed.like/1000 true
}
