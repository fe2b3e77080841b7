package lexicon

import (
	"context"
	"sync"
	"testing"
)

const realLexicons = "testdata/atproto-lexicons/lexicons"

var (
	realOnce sync.Once
	realCat  *Catalog
	realErr  error
)

// realCatalog loads the 402 real lexicons once per test binary.
func realCatalog(t testing.TB) *Catalog {
	t.Helper()
	realOnce.Do(func() {
		cat := NewCatalog(CatalogOptions{})
		if realErr = cat.LoadDir(context.Background(), realLexicons); realErr != nil {
			return
		}
		realErr = cat.CheckRefs(context.Background())
		realCat = cat
	})
	if realErr != nil {
		t.Fatal(realErr)
	}
	return realCat
}

func TestRealLexicons(t *testing.T) {
	cat := realCatalog(t)
	if n := len(cat.NSIDs()); n != 402 {
		t.Fatalf("%d schemas, want 402", n)
	}
	kinds := map[kind]int{}
	for _, id := range cat.NSIDs() {
		n, err := cat.lookup(context.Background(), id)
		if err != nil {
			continue // files without a main definition
		}
		kinds[n.kind]++
	}
	for _, k := range []kind{kRecord, kQuery, kProcedure, kSubscription, kPermissionSet} {
		if kinds[k] == 0 {
			t.Errorf("no %s among the real lexicons", kindName(k))
		}
	}
	t.Logf("main definitions: %d records, %d queries, %d procedures, %d subscriptions, %d permission sets",
		kinds[kRecord], kinds[kQuery], kinds[kProcedure], kinds[kSubscription], kinds[kPermissionSet])
}
