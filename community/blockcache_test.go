package community

import (
	"context"
	"errors"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
)

// TestBlockCacheBounded: the cache never holds more than its bound, serves
// what it holds, and passes misses and errors through.
func TestBlockCacheBounded(t *testing.T) {
	ctx := context.Background()
	s := repo.NewMemStore()
	bc := newBlockCache(s, 8)
	for i := 0; i < 100; i++ {
		data := m(drisl.Marshal(map[string]any{"i": int64(i)})).must(t)
		bc.mu.Lock()
		bc.put("did:plc:x", drisl.SumCID(drisl.CodecDagCBOR, data), data)
		n := len(bc.cur) + len(bc.old)
		bc.mu.Unlock()
		if n > 8 {
			t.Fatalf("%d entries for a bound of 8", n)
		}
	}
	data := m(drisl.Marshal(map[string]any{"i": int64(99)})).must(t)
	got, err := bc.GetBlock(ctx, "did:plc:x", drisl.SumCID(drisl.CodecDagCBOR, data))
	if err != nil || string(got) != string(data) {
		t.Fatalf("cached block: %v", err)
	}
	other := m(drisl.Marshal(map[string]any{"i": int64(1000)})).must(t)
	if _, err := bc.GetBlock(ctx, "did:plc:x", drisl.SumCID(drisl.CodecDagCBOR, other)); !errors.Is(err, repo.ErrRepoNotFound) && !errors.Is(err, repo.ErrBlockNotFound) {
		t.Fatalf("miss: %v", err)
	}
}
