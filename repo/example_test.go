package repo_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/townhall-dev/townhall/repo"
)

// exampleClock is a fixed clock, so that the examples' output is stable.
func exampleClock() func() time.Time {
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Millisecond); return t }
}

// Create a repository in SQLite, write a batch of records as one signed
// commit, and read them back.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "repo-example")
	defer os.RemoveAll(dir)

	store, err := repo.OpenSQLite(ctx, filepath.Join(dir, "repos.db"), repo.SQLiteOptions{})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	key, _ := atcrypto.GeneratePrivateKeyK256()

	r, err := repo.Create(ctx, store, "did:plc:w4xbfzo7kqfes5zb7r6qv3rw", key, repo.Options{Now: exampleClock()})
	if err != nil {
		panic(err)
	}
	res, err := r.Apply(ctx, []repo.Write{
		{Action: repo.ActionCreate, Collection: "dev.townhall.chat.message", RKey: "3kaaaaaaaaaa2", Record: map[string]any{"text": "hello"}},
		{Action: repo.ActionCreate, Collection: "dev.townhall.chat.message", RKey: "3kaaaaaaaaaa3", Record: map[string]any{"text": "world"}},
	}, repo.ApplyOptions{SwapCommit: r.Head().Commit})
	if err != nil {
		panic(err)
	}
	fmt.Println("rev:", res.Rev)
	recs, _, _ := r.ListRecords(ctx, "dev.townhall.chat.message", repo.ListOptions{Reverse: true})
	for _, rec := range recs {
		fmt.Println(rec.RKey, rec.CID)
	}
	d, _ := r.Describe(ctx)
	fmt.Println(d.Collections)
	// Output:
	// rev: 3mbfvv6tzrs22
	// 3kaaaaaaaaaa3 bafyreidpw4cbv6gr4ukh33z23pvvrpr3wi4gnpmi4doamlsl3sa4rgri2a
	// 3kaaaaaaaaaa2 bafyreidefdycgbfy3oglcb6ism3eqhyp5llsrpzxjsuac2gsy4mtrtx244
	// [dev.townhall.chat.message]
}

// Export a repository as CAR and verify it, as a relay or a new host would.
func ExampleVerifyCAR() {
	ctx := context.Background()
	key, _ := atcrypto.GeneratePrivateKeyP256()
	pub, _ := key.PublicKey()
	r, _ := repo.Create(ctx, repo.NewMemStore(), "did:plc:w4xbfzo7kqfes5zb7r6qv3rw", key, repo.Options{})
	r.Apply(ctx, []repo.Write{{Action: repo.ActionCreate, Collection: "dev.townhall.chat.message", Record: map[string]any{"text": "hi"}}}, repo.ApplyOptions{})

	var car bytes.Buffer
	if err := r.Export(ctx, &car); err != nil {
		panic(err)
	}
	v, err := repo.VerifyCAR(ctx, &car, repo.VerifyOptions{Key: pub, DID: r.DID()})
	fmt.Println(len(v.Records), err)
	// Output: 1 <nil>
}

// Follow a repository's #commit events and verify each one inductively.
func ExampleVerifyCommitEvent() {
	ctx := context.Background()
	key, _ := atcrypto.GeneratePrivateKeyK256()
	pub, _ := key.PublicKey()
	store := repo.NewMemStore()
	r, _ := repo.Create(ctx, store, "did:plc:w4xbfzo7kqfes5zb7r6qv3rw", key, repo.Options{Now: exampleClock()})
	for i := 0; i < 3; i++ {
		r.Apply(ctx, []repo.Write{{Action: repo.ActionCreate, Collection: "dev.townhall.chat.message", Record: map[string]any{"n": int64(i)}}}, repo.ApplyOptions{})
	}

	// A live consumer leaves Now nil (time.Now); this one is fixed an
	// hour after exampleClock starts, so the output never depends on the
	// machine's clock.
	consumerClock := func() time.Time { return time.Date(2026, 1, 2, 4, 4, 5, 0, time.UTC) }
	var state *repo.SyncState
	events, _ := repo.ReadEvents(ctx, store, repo.EventsOptions{Limit: 100})
	for _, ev := range events {
		next, err := repo.VerifyCommitEvent(ctx, ev.Commit, repo.CommitCheckOptions{Key: pub, DID: r.DID(), Known: state, Now: consumerClock})
		if err != nil {
			fmt.Println("resync needed:", err)
			return
		}
		state = next
	}
	fmt.Println(state.Commit == r.Head().Commit)
	// Output: true
}

// Prove one record with the getRecord CAR and check the proof.
func ExampleVerifyRecordProof() {
	ctx := context.Background()
	key, _ := atcrypto.GeneratePrivateKeyP256()
	pub, _ := key.PublicKey()
	r, _ := repo.Create(ctx, repo.NewMemStore(), "did:plc:w4xbfzo7kqfes5zb7r6qv3rw", key, repo.Options{})
	r.Apply(ctx, []repo.Write{{Action: repo.ActionCreate, Collection: "dev.townhall.chat.message", RKey: "3kaaaaaaaaaa2", Record: map[string]any{"text": "hello"}}}, repo.ApplyOptions{})

	var proof bytes.Buffer
	proved, _ := r.ProveRecord(ctx, &proof, "dev.townhall.chat.message", "3kaaaaaaaaaa2")
	fmt.Println(proved.Record.Defined(), proved.Head.Commit == r.Head().Commit)
	c, _, err := repo.VerifyRecordProof(ctx, &proof, "dev.townhall.chat.message", "3kaaaaaaaaaa2", repo.VerifyOptions{Key: pub, DID: r.DID()})
	fmt.Println(c, err)
	// Output:
	// true true
	// bafyreidefdycgbfy3oglcb6ism3eqhyp5llsrpzxjsuac2gsy4mtrtx244 <nil>
}
