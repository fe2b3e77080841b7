package mst

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// hasEach is HasMany one key at a time: Has for each key, up to the first
// error.
func hasEach(ctx context.Context, tr *Tree, keys []string) ([]bool, int, error) {
	found := make([]bool, len(keys))
	n, err := firstError(len(keys), func(i int) (err error) {
		found[i], err = tr.Has(ctx, keys[i])
		return err
	})
	return found, n, err
}

// TestHasMany: HasMany answers what Has answers for each key, on a tree
// built in memory, loaded from blocks (strict and trusted), and empty; for
// sorted batches (present and absent keys, duplicates, runs of
// consecutive keys) and unsorted ones; an invalid key stops it at its
// index, and a tree missing blocks fails at the first key whose Has fails,
// with Has's error.
func TestHasMany(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(61, 62))
	m, present := randomEntries(r, 3000)
	built := buildMap(t, m)
	var mb MemBlocks
	root, err := built.WriteBlocks(ctx, &mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	trees := map[string]*Tree{
		"built":   built,
		"loaded":  Load(&mb, root),
		"trusted": Options{InsecureTrustSource: true}.Load(&mb, root),
		"empty":   Empty(nil),
	}
	batches := map[string][]string{"none": nil}
	for _, n := range []int{1, 2, 8, 256, 2000} {
		var keys []string
		for range n {
			if r.IntN(2) == 0 {
				keys = append(keys, present[r.IntN(len(present))])
			} else {
				keys = append(keys, randomKey(r))
			}
		}
		keys = append(keys, keys[:n/4]...) // duplicates
		batches[fmt.Sprintf("%d unsorted", len(keys))] = slices.Clone(keys)
		slices.Sort(keys)
		batches[fmt.Sprintf("%d sorted", len(keys))] = keys
	}
	var run []string // consecutive TIDs past the last key, and the last keys
	for i := range 300 {
		run = append(run, fmt.Sprintf("app.bsky.feed.post/3zzz%09d", i))
	}
	run = append(run, slices.Max(present))
	slices.Sort(run)
	batches["run"] = run
	for tn, tr := range trees {
		for bn, keys := range batches {
			want, _, err := hasEach(ctx, tr, keys)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]bool, len(keys))
			if n, err := tr.HasMany(ctx, keys, got); n != len(keys) || err != nil {
				t.Fatalf("%s, %s: HasMany = %d, %v", tn, bn, n, err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s, %s: HasMany %v, Has %v", tn, bn, got, want)
			}
		}
	}

	keys := batches["2500 sorted"]
	if keys == nil {
		t.Fatal("no batch of 2500 keys")
	}
	bad := slices.Clone(keys[:10])
	bad[6] = "no-slash"
	got := make([]bool, len(bad))
	n, err := trees["loaded"].HasMany(ctx, bad, got)
	var ke *KeyError
	if n != 6 || !errors.As(err, &ke) {
		t.Fatalf("HasMany with an invalid key = %d, %v; want 6 and a *KeyError", n, err)
	}
	want, _, _ := hasEach(ctx, trees["loaded"], bad[:6])
	if !slices.Equal(got[:6], want) {
		t.Fatalf("HasMany before the invalid key: %v, want %v", got[:6], want)
	}
	if _, err := trees["loaded"].HasMany(ctx, keys, got[:1]); err == nil {
		t.Fatal("HasMany accepted fewer results than keys")
	}

	// Only the root block: the first key whose Has leaves it fails.
	part := Load(rootOnly(t, &mb, root), root)
	_, wantN, wantErr := hasEach(ctx, part, keys)
	if wantErr == nil {
		t.Fatal("no Has failed: the test needs a key below the root")
	}
	got = make([]bool, len(keys))
	n, err = part.HasMany(ctx, keys, got)
	if n != wantN || !errors.Is(err, ErrNotFound) || err.Error() != wantErr.Error() {
		t.Fatalf("HasMany = %d, %v; want %d, %v", n, err, wantN, wantErr)
	}
}

// BenchmarkHasMany looks up 256 consecutive absent keys (TIDs after the
// last of 50,000 in one collection: a community's next batch of chat
// messages) in a tree loaded from blocks, with Has for each key and with
// HasMany.
func BenchmarkHasMany(b *testing.B) {
	ctx := context.Background()
	e := Empty(nil).Edit()
	for i := range 50000 {
		if _, err := e.Put(ctx, fmt.Sprintf("dev.townhall.chat.message/3lb%010d", i), testCID(fmt.Sprint(i))); err != nil {
			b.Fatal(err)
		}
	}
	var mb MemBlocks
	root, err := e.Tree().WriteBlocks(ctx, &mb, nil)
	if err != nil {
		b.Fatal(err)
	}
	tr := Load(&mb, root)
	keys := make([]string, 256)
	for i := range keys {
		keys[i] = fmt.Sprintf("dev.townhall.chat.message/3lb%010d", 50000+i)
	}
	found := make([]bool, len(keys))
	b.Run("Has", func(b *testing.B) {
		for b.Loop() {
			for i, k := range keys {
				ok, err := tr.Has(ctx, k)
				if err != nil || ok {
					b.Fatal(ok, err)
				}
				found[i] = ok
			}
		}
	})
	b.Run("HasMany", func(b *testing.B) {
		for b.Loop() {
			if n, err := tr.HasMany(ctx, keys, found); n != len(keys) || err != nil {
				b.Fatal(n, err)
			}
		}
	})
}
