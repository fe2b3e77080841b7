package mst

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
)

// TestDiffViewsThenReads checks the nodes a Diff leaves in the cache as
// checked blocks (see view): later reads of the same trees (Get, Walk, Prove, another Diff,
// NewBlocks) decode them again and give the same answers as fresh trees,
// and the ops of a Diff keep their keys and links after later walks reuse
// the walkers' buffers.
func TestDiffViewsThenReads(t *testing.T) {
	ctx := context.Background()
	a := map[string]cid.Cid{}
	for i := range 2000 {
		a[fmt.Sprintf("app.bsky.feed.post/%05d", i*3)] = testCID(fmt.Sprint(i))
	}
	b := map[string]cid.Cid{}
	for k, v := range a {
		b[k] = v
	}
	for i := range 60 {
		b[fmt.Sprintf("app.bsky.feed.post/%05d", i*97+1)] = testCID(fmt.Sprint("new", i))
		delete(b, fmt.Sprintf("app.bsky.feed.post/%05d", i*93))
	}
	var mb MemBlocks
	rootA, err := buildMap(t, a).WriteBlocks(ctx, &mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	rootB, err := buildMap(t, b).WriteBlocks(ctx, &mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := naiveDiff(a, b)
	for _, opts := range []Options{{}, {InsecureTrustSource: true}} {
		ta := opts.Load(&mb, rootA)
		tb := ta.LoadRoot(rootB)
		ops, err := Diff(ctx, ta, tb)
		if err != nil || fmt.Sprint(ops) != fmt.Sprint(want) {
			t.Fatalf("trusted %v: diff: %d ops, %v; want %d", opts.InsecureTrustSource, len(ops), err, len(want))
		}
		saved := fmt.Sprint(ops)
		// Reverse, again (nodes now cached as views, then decoded).
		for range 2 {
			back, err := Diff(ctx, tb, ta)
			if err != nil || len(back) != len(want) {
				t.Fatalf("reverse diff: %d ops, %v", len(back), err)
			}
		}
		if fmt.Sprint(ops) != saved {
			t.Fatal("a later diff changed the ops of an earlier one")
		}
		for k, v := range b {
			got, ok, err := tb.Get(ctx, k)
			if err != nil || !ok || got != v {
				t.Fatalf("get %s = %v, %v, %v", k, got, ok, err)
			}
		}
		var keys []string
		if err := tb.Walk(ctx, func(k string, v cid.Cid) error {
			if b[k] != v {
				t.Fatalf("walk: %s = %v, want %v", k, v, b[k])
			}
			keys = append(keys, k)
			return nil
		}); err != nil || len(keys) != len(b) || !slices.IsSorted(keys) {
			t.Fatalf("walk: %d keys, %v", len(keys), err)
		}
		for _, k := range keys[:50] {
			p, err := tb.Prove(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if v, ok, err := VerifyProof(ctx, rootB, k, p); err != nil || !ok || v != b[k] {
				t.Fatalf("proof of %s: %v, %v, %v", k, v, ok, err)
			}
		}
		// NewBlocks over loaded trees returns the blocks as stored.
		blocks, err := tb.NewBlocks(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, blk := range blocks {
			stored, err := mb.GetBlock(ctx, blk.CID)
			if err != nil || string(stored) != string(blk.Data) || sumCID(blk.Data) != blk.CID {
				t.Fatalf("NewBlocks block %s differs from the stored one (%v)", blk.CID, err)
			}
		}
	}
}

// TestDecodeViewMatchesNode checks decodeView against decodeNode with a
// known layer on valid nodes of every size and on every one-byte change of
// small ones: the same acceptance, errors, keys and links.
func TestDecodeViewMatchesNode(t *testing.T) {
	ctx := context.Background()
	var mb MemBlocks
	m := map[string]cid.Cid{}
	for i := range 400 {
		m[fmt.Sprintf("app.bsky.feed.post/%04d", i*7)] = testCID(fmt.Sprint(i))
	}
	if _, err := buildMap(t, m).WriteBlocks(ctx, &mb, nil); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range mb.CIDs() {
		data, _ := mb.GetBlock(ctx, c)
		nd, err := decodeNode(data, c, true, -1)
		if err != nil {
			t.Fatal(err)
		}
		checkViewMatches(t, data, c, nd.height)
		if len(data) < 400 {
			for i := range data {
				mut := slices.Clone(data)
				for _, x := range []byte{1, 0x20, 0x80} {
					mut[i] = data[i] ^ x
					checkViewMatches(t, mut, c, nd.height)
					n++
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no small nodes to change")
	}
}

func checkViewMatches(t *testing.T, data []byte, c cid.Cid, h int) {
	t.Helper()
	nd, nerr := decodeNode(data, c, true, h)
	prefix := []byte("xyz")
	v, keys, ents, verr := decodeView(data, c, h, prefix, make([]vent, 2))
	if (nerr == nil) != (verr == nil) || (nerr != nil && nerr.Error() != verr.Error()) {
		t.Fatalf("decodeNode error %v, decodeView error %v", nerr, verr)
	}
	if nerr != nil {
		return
	}
	if string(keys[:3]) != "xyz" || len(v.ents) != len(nd.entries) || len(ents) != 2+len(v.ents) || int(v.height) != nd.height {
		t.Fatalf("view: %d entries on layer %d, node: %d on %d", len(v.ents), v.height, len(nd.entries), nd.height)
	}
	if again := v.keys(nil); string(again) != string(keys[3:]) {
		t.Fatalf("view keys rebuilt %q, decoded %q", again, keys[3:])
	}
	at := 3
	for i, e := range nd.entries {
		k := string(keys[at : at+v.ents[i].keyLen()])
		at += v.ents[i].keyLen()
		right, ok := v.gap(i + 1)
		if k != e.key || cidAt(v.data, v.ents[i].v) != e.val || ok != e.right.cid.Defined() || right != e.right.cid {
			t.Fatalf("entry %d: view %q %v %v, node %q %v %v", i, k, cidAt(v.data, v.ents[i].v), right, e.key, e.val, e.right.cid)
		}
	}
	if left, ok := v.gap(0); ok != nd.left.cid.Defined() || left != nd.left.cid {
		t.Fatalf("left: view %v, node %v", left, nd.left.cid)
	}
}
