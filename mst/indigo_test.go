package mst

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	imst "github.com/bluesky-social/indigo/atproto/repo/mst"
	"github.com/ipfs/go-cid"
)

// This file checks the tree against indigo's atproto/repo/mst, used only as
// a test oracle: identical root CIDs for random key sets and for random
// interleavings of inserts, updates and deletes.

var collections = []string{"app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow", "com.example.record", "a", "dev.townhall.chat.message"}

const tidChars = "234567abcdefghijklmnopqrstuvwxyz"
const keyChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_~-:."

// randomKey returns a repo path: usually a TID-like record key in a common
// collection, sometimes a short or odd one, so that prefixes vary.
func randomKey(r *rand.Rand) string {
	c := collections[r.IntN(len(collections))]
	var b []byte
	switch r.IntN(4) {
	case 0, 1: // TID-like, with a shared time prefix
		b = append(b, "3l"...)
		for range 11 {
			b = append(b, tidChars[r.IntN(len(tidChars))])
		}
	case 2:
		for range 1 + r.IntN(6) {
			b = append(b, keyChars[r.IntN(len(keyChars))])
		}
	default:
		for range 1 + r.IntN(40) {
			b = append(b, keyChars[r.IntN(len(keyChars))])
		}
	}
	return c + "/" + string(b)
}

func randomValue(r *rand.Rand) cid.Cid {
	return testCID(fmt.Sprint(r.Uint64()))
}

// crossCheckSets is the number of random key sets; -short and -race run
// fewer so that `go test -race` stays within its budget.
func crossCheckSets() int {
	switch {
	case raceEnabled:
		return 40
	case testing.Short():
		return 100
	}
	return 1000
}

func TestCrossCheckIndigoKeySets(t *testing.T) {
	ctx := context.Background()
	sets := crossCheckSets()
	r := rand.New(rand.NewPCG(1, 2))
	maxKeys := 10000
	if raceEnabled {
		maxKeys = 2000
	}
	for i := range sets {
		// Sizes from 1 to maxKeys, log-uniform, and the largest size every
		// 100th set.
		n := int(math.Pow(float64(maxKeys), r.Float64()))
		if i%100 == 0 {
			n = maxKeys
		}
		m := make(map[string]cid.Cid, n)
		for len(m) < n {
			m[randomKey(r)] = randomValue(r)
		}
		keys := make([]string, 0, n)
		for k := range m {
			keys = append(keys, k)
		}
		r.Shuffle(len(keys), func(a, b int) { keys[a], keys[b] = keys[b], keys[a] })

		it := imst.NewEmptyTree()
		for _, k := range keys {
			if _, err := it.Insert([]byte(k), m[k]); err != nil {
				t.Fatal(err)
			}
		}
		want, err := it.RootCID()
		if err != nil {
			t.Fatal(err)
		}
		// Half through an Editor, half through persistent Puts.
		var tr *Tree
		if i%2 == 0 || n > 2000 {
			e := Empty(nil).Edit()
			for _, k := range keys {
				if _, err := e.Put(ctx, k, m[k]); err != nil {
					t.Fatal(err)
				}
			}
			tr = e.Tree()
		} else {
			tr = Empty(nil)
			for _, k := range keys {
				if tr, _, err = tr.Put(ctx, k, m[k]); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got := mustRoot(t, tr); got != *want {
			t.Fatalf("set %d (%d keys): root %s, indigo %s", i, n, got, want)
		}
		if i%50 == 0 {
			checkInvariants(t, tr)
		}
	}
}

func TestCrossCheckIndigoInterleaved(t *testing.T) {
	ctx := context.Background()
	runs, steps := 100, 1500
	if raceEnabled || testing.Short() {
		runs, steps = 20, 600
	}
	r := rand.New(rand.NewPCG(3, 4))
	for run := range runs {
		it := imst.NewEmptyTree()
		tr := Empty(nil)
		m := map[string]cid.Cid{}
		var present []string
		type snap struct {
			tr   *Tree
			root cid.Cid
		}
		var snaps []snap
		for step := range steps {
			var k string
			op := r.IntN(10)
			switch {
			case op < 5 || len(present) == 0: // insert
				k = randomKey(r)
			case op < 7: // update an existing key
				k = present[r.IntN(len(present))]
			case op < 9: // delete an existing key
				k = present[r.IntN(len(present))]
			default: // delete a key that is absent
				k = randomKey(r)
			}
			var err error
			if op < 7 || len(present) == 0 {
				v := randomValue(r)
				var prev cid.Cid
				if tr, prev, err = tr.Put(ctx, k, v); err != nil {
					t.Fatal(err)
				}
				old, had := m[k]
				if had != prev.Defined() || (had && prev != old) {
					t.Fatalf("Put(%s) prev = %v, want %v", k, prev, old)
				}
				if !had {
					present = append(present, k)
				}
				m[k] = v
				if _, err := it.Insert([]byte(k), v); err != nil {
					t.Fatal(err)
				}
			} else {
				var prev cid.Cid
				if tr, prev, err = tr.Delete(ctx, k); err != nil {
					t.Fatal(err)
				}
				old, had := m[k]
				if had != prev.Defined() || (had && prev != old) {
					t.Fatalf("Delete(%s) prev = %v, want %v", k, prev, old)
				}
				if had {
					delete(m, k)
					j := slices.Index(present, k)
					present = slices.Delete(present, j, j+1)
				}
				if _, err := it.Remove([]byte(k)); err != nil {
					t.Fatal(err)
				}
				if len(m) == 0 {
					// indigo keeps the old layer of a root emptied by
					// deletes, so its next insert builds a different
					// (wrong) tree; restart it from a fresh empty tree.
					it = imst.NewEmptyTree()
				}
			}
			if step%25 == 0 || step == steps-1 {
				want, err := it.RootCID()
				if err != nil {
					t.Fatal(err)
				}
				got := mustRoot(t, tr)
				if got != *want {
					fresh := Empty(nil).Edit()
					ifresh := imst.NewEmptyTree()
					for k, v := range m {
						fresh.Put(ctx, k, v)
						ifresh.Insert([]byte(k), v)
					}
					ic, _ := ifresh.RootCID()
					t.Logf("op %d key %s (layer %d) present=%v", op, k, KeyHeight(k), m[k].Defined())
					for _, pk := range present {
						t.Logf("  %s layer %d", pk, KeyHeight(pk))
					}
					t.Fatalf("run %d step %d: root %s, indigo %s; from scratch: ours %s, indigo %s", run, step, got, want, mustRoot(t, fresh.Tree()), ic)
				}
				snaps = append(snaps, snap{tr, got})
			}
		}
		// Persistence: every earlier tree still has its root.
		for _, s := range snaps {
			s.tr.s.hashMu.Lock()
			s.tr.s.hashMu.Unlock()
			if got := mustRoot(t, s.tr); got != s.root {
				t.Fatalf("run %d: an old tree changed root from %s to %s", run, s.root, got)
			}
		}
		if run%20 == 0 {
			checkInvariants(t, tr)
		}
	}
}
