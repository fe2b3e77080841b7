package mst

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
)

// drislNode is the node shape for package drisl's reflective codec.
type drislEntry struct {
	K []byte   `cbor:"k"`
	P int64    `cbor:"p"`
	T *cid.Cid `cbor:"t"`
	V cid.Cid  `cbor:"v"`
}

type drislNode struct {
	E []drislEntry `cbor:"e"`
	L *cid.Cid     `cbor:"l"`
}

// TestEncodingMatchesDrisl checks the hand-written node encoding against
// package drisl: every node of random trees re-encodes byte for byte.
func TestEncodingMatchesDrisl(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(11, 12))
	for range 20 {
		m := map[string]cid.Cid{}
		for n := r.IntN(2000); len(m) < n; {
			m[randomKey(r)] = randomValue(r)
		}
		blocks, err := buildMap(t, m).NewBlocks(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			if err := drisl.Validate(b.Data); err != nil {
				t.Fatalf("node is not DRISL: %v", err)
			}
			var dn drislNode
			if err := (drisl.DecOptions{DisallowUnknownFields: true}).Unmarshal(b.Data, &dn); err != nil {
				t.Fatal(err)
			}
			again, c, err := drisl.MarshalCID(dn)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(b.Data) || c != b.CID {
				t.Fatalf("drisl re-encodes node %s differently", b.CID)
			}
		}
	}
}

// FuzzDecodeNode feeds arbitrary bytes to the node decoder: it must never
// panic, and a node it accepts must be DRISL and re-encode identically;
// decodeView must read it as decodeNode does.
func FuzzDecodeNode(f *testing.F) {
	f.Add(emptyNodeBytes)
	f.Fuzz(func(t *testing.T, data []byte) {
		c := sumCID(data)
		n, err := decodeNode(data, c, false, -1)
		// The trusted decoder (first key's layer only) must not panic
		// either, and accepts whatever the strict one accepts.
		nt, errt := decodeNode(data, c, true, -1)
		if err == nil && (errt != nil || string(appendNode(nil, nt)) != string(data)) {
			t.Fatalf("trusted decoder differs on an accepted node: %v", errt)
		}
		// A diff's view decoder agrees with the trusted one, errors too.
		checkViewMatches(t, data, c, 1)
		if errt == nil {
			checkViewMatches(t, data, c, nt.height)
		}
		if err != nil {
			var ne *NodeError
			if !errors.As(err, &ne) {
				t.Fatalf("error is not a *NodeError: %v", err)
			}
			return
		}
		if got := appendNode(nil, n); string(got) != string(data) {
			t.Fatalf("accepted node re-encodes differently:\n%x\n%x", data, got)
		}
		if err := drisl.Validate(data); err != nil {
			t.Fatalf("accepted node is not DRISL: %v", err)
		}
		// Loading it as a root must not panic either.
		var mb MemBlocks
		mb.PutBlock(context.Background(), c, data)
		_ = Load(&mb, c).Walk(context.Background(), func(string, cid.Cid) error { return nil })
	})
}

// FuzzOps reads data as a sequence of operations on a small key space and
// checks after each step that the tree agrees with a map, that the previous
// tree is unchanged, and at the end that the tree's root equals that of a
// tree built from scratch and that it passes strict loading.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 600 {
			data = data[:600]
		}
		ctx := context.Background()
		tr := Empty(nil)
		m := map[string]cid.Cid{}
		for i := 0; i+1 < len(data); i += 2 {
			op, arg := data[i], data[i+1]
			k := fuzzKeys[int(arg)%len(fuzzKeys)]
			before := tr
			beforeVal, beforeHad := m[k]
			var err error
			var prev cid.Cid
			if op%4 == 3 {
				tr, prev, err = tr.Delete(ctx, k)
				delete(m, k)
			} else {
				v := testCID(string([]byte{op, arg}))
				tr, prev, err = tr.Put(ctx, k, v)
				m[k] = v
			}
			if err != nil {
				t.Fatal(err)
			}
			if prev.Defined() != beforeHad || (beforeHad && prev != beforeVal) {
				t.Fatalf("step %d: prev = %v, want %v", i/2, prev, beforeVal)
			}
			// The old tree still answers as before.
			got, had, err := before.Get(ctx, k)
			if err != nil || had != beforeHad || (had && got != beforeVal) {
				t.Fatalf("step %d: old tree changed", i/2)
			}
			got, had, err = tr.Get(ctx, k)
			if err != nil || had != m[k].Defined() || (had && got != m[k]) {
				t.Fatalf("step %d: Get(%s) = %v %v %v", i/2, k, got, had, err)
			}
		}
		want := Empty(nil)
		for k, v := range m {
			want, _, _ = want.Put(ctx, k, v)
		}
		if mustRoot(t, tr) != mustRoot(t, want) {
			t.Fatal("root differs from a tree built from scratch")
		}
		// The same sequence through one Editor (bulk mode on an empty tree,
		// in place after a Tree call halfway).
		e := Empty(nil).Edit()
		for i := 0; i+1 < len(data); i += 2 {
			op, arg := data[i], data[i+1]
			k := fuzzKeys[int(arg)%len(fuzzKeys)]
			if op%4 == 3 {
				e.Delete(ctx, k)
			} else {
				e.Put(ctx, k, testCID(string([]byte{op, arg})))
			}
			if i == len(data)/4*2 {
				e.Tree()
			}
		}
		if mustRoot(t, e.Tree()) != mustRoot(t, want) {
			t.Fatal("Editor root differs from a tree built from scratch")
		}
		checkInvariants(t, tr)
	})
}

// fuzzKeys spans several layers so that operations split and merge.
var fuzzKeys = func() []string {
	want := map[int]int{0: 24, 1: 12, 2: 6, 3: 3}
	var ks []string
	for i := 0; len(ks) < 45; i++ {
		k := "c/k" + strconv.Itoa(i)
		if h := KeyHeight(k); want[h] > 0 {
			want[h]--
			ks = append(ks, k)
		}
	}
	return ks
}()
