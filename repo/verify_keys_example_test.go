package repo_test

import (
	"context"
	"fmt"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/townhall-dev/townhall/repo"
)

// A consumer that follows repositories keeps one KeyTables for all the
// events it checks: once a repository's key has signed enough accepted
// commits, its signatures are checked with a precomputed table.
func ExampleKeyTables() {
	ctx := context.Background()
	key, _ := atcrypto.GeneratePrivateKeyP256()
	pub, _ := key.PublicKey()
	store := repo.NewMemStore()
	r, _ := repo.Create(ctx, store, "did:plc:w4xbfzo7kqfes5zb7r6qv3rw", key, repo.Options{Now: exampleClock()})
	for i := 0; i < 20; i++ {
		r.Apply(ctx, []repo.Write{{Action: repo.ActionCreate, Collection: "dev.townhall.chat.message", Record: map[string]any{"n": int64(i)}}}, repo.ApplyOptions{})
	}

	tables := repo.NewKeyTables(0) // at most DefaultMaxKeyTables keys
	consumerClock := func() time.Time { return time.Date(2026, 1, 2, 4, 4, 5, 0, time.UTC) }
	var state *repo.SyncState
	events, _ := repo.ReadEvents(ctx, store, repo.EventsOptions{Limit: 100})
	for _, ev := range events {
		if ev.Commit == nil {
			continue
		}
		next, err := repo.VerifyCommitEvent(ctx, ev.Commit, repo.CommitCheckOptions{
			Key: pub, DID: r.DID(), Known: state, Now: consumerClock, KeyTables: tables,
		})
		if err != nil {
			fmt.Println("resync needed:", err)
			return
		}
		state = next
	}
	fmt.Println(state.Commit == r.Head().Commit, tables.Len())
	// Output: true 1
}
