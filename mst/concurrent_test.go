package mst

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentUse shares trees between goroutines that read, derive new
// trees, hash and diff at the same time; run it with -race.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	base := Empty(nil)
	for i := range 300 {
		base, _, _ = base.Put(ctx, fmt.Sprintf("app.bsky.feed.post/%04d", i), testCID(fmt.Sprint(i)))
	}
	var mb MemBlocks
	root, err := base.WriteBlocks(ctx, &mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	loaded := Options{CacheNodes: 16}.Load(&mb, root) // a small cache: evictions race too
	unhashed, _, _ := base.Put(ctx, "app.bsky.feed.post/x", testCID("x"))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				k := fmt.Sprintf("app.bsky.feed.post/%04d", (g*37+i)%300)
				for _, tr := range []*Tree{loaded, unhashed} {
					if _, ok, err := tr.Get(ctx, k); err != nil || !ok {
						errs <- fmt.Errorf("get %s: %v %v", k, ok, err)
						return
					}
				}
				next, _, err := unhashed.Put(ctx, fmt.Sprintf("app.bsky.feed.post/g%d-%d", g, i), testCID("v"))
				if err != nil {
					errs <- err
					return
				}
				if _, err := next.Root(ctx); err != nil {
					errs <- err
					return
				}
				if _, err := unhashed.Root(ctx); err != nil {
					errs <- err
					return
				}
				ops, err := Diff(ctx, loaded, next)
				if err != nil || len(ops) != 2 {
					errs <- fmt.Errorf("diff: %d ops, %v", len(ops), err)
					return
				}
				if _, err := loaded.List(ctx, ListOptions{Prefix: "app.bsky.feed.post/", Limit: 5}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
