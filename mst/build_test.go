package mst

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"
)

// TestEditorBulk drives an Editor that starts empty (the bulk set: chunked
// entries, a hash index, layers computed at build time) through puts,
// overwrites, deletes and re-puts of several thousand keys, more than a few
// chunks, checking every returned previous value against a map and the
// built tree against one made by persistent Puts of the final map.
func TestEditorBulk(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	keys := make([]string, 3000)
	for i := range keys {
		keys[i] = fmt.Sprintf("app.bsky.feed.post/%d", r.Uint64())
	}
	e := Empty(nil).Edit()
	want := map[string]cid.Cid{}
	for i := range 20000 {
		k := keys[r.IntN(len(keys))]
		switch r.IntN(4) {
		case 0:
			got, err := e.Delete(ctx, k)
			if err != nil || got != want[k] {
				t.Fatalf("op %d: Delete(%s) = %v, %v; want %v", i, k, got, err, want[k])
			}
			delete(want, k)
		case 1:
			got, ok, err := e.Get(ctx, k)
			if err != nil || got != want[k] || ok != want[k].Defined() {
				t.Fatalf("op %d: Get(%s) = %v, %v, %v; want %v", i, k, got, ok, err, want[k])
			}
		default:
			v := testCID(fmt.Sprint(i))
			got, err := e.Put(ctx, k, v)
			if err != nil || got != want[k] {
				t.Fatalf("op %d: Put(%s) = %v, %v; want %v", i, k, got, err, want[k])
			}
			want[k] = v
		}
	}
	tr := e.Tree()
	ref := Empty(nil)
	for k, v := range want {
		var err error
		if ref, _, err = ref.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	if got, exp := mustRoot(t, tr), mustRoot(t, ref); got != exp {
		t.Fatalf("bulk root %s, persistent Puts %s", got, exp)
	}
	checkInvariants(t, tr)
}
