package repo

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

// TestSQLiteWriterQueue: while a pipelined write holds SQLite's write
// lock, the other writers of the process queue in the SQLiteStore holding
// no pooled connection, so the lock holder's reads through the pool (as
// its caller's ed.Put makes) find one, and every writer then succeeds.
// (Audit 4, F1: three writers waiting inside BEGIN IMMEDIATE took the rest
// of the pool of 4; the holder's GetBlock waited for the busy timeout and
// a writer failed with SQLITE_BUSY.) A queued writer whose context ends
// gives up with its error.
func TestSQLiteWriterQueue(t *testing.T) {
	ctx := context.Background()
	s := newTestSQLite(t)
	key := fixedKey(t)
	var repos []*Repo
	for _, d := range []string{"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb",
		"did:plc:cccccccccccccccccccccccc", "did:plc:dddddddddddddddddddddddd"} {
		r, err := Create(ctx, s, d, key, Options{Now: fakeClock()})
		if err != nil {
			t.Fatal(err)
		}
		repos = append(repos, r)
	}
	a := repos[0]
	h := a.Head()
	// A large write on A: its transaction begins while the caller builds
	// the rest.
	pipe := s.startApply(ctx, a.DID(), h.Commit, nil)
	for len(s.wlock) == 0 {
		runtime.Gosched()
	}
	headB := repos[1].Head()
	errs := make(chan error, len(repos)-1)
	for i, r := range repos[1:] {
		go func() {
			_, err := r.Apply(ctx, []Write{{Action: ActionCreate, Collection: "app.chat.message", Record: post(i)}}, ApplyOptions{})
			errs <- err
		}()
	}
	for s.writersWaiting.Load() < int32(len(repos)-1) {
		select {
		case err := <-errs:
			t.Fatalf("a writer finished while A's write held the lock: %v", err)
		default:
			runtime.Gosched()
		}
	}
	if n := s.db.Stats().InUse; n > 1 {
		t.Errorf("%d pooled connections in use with one write transaction open and 3 writers queued", n)
	}
	// A's caller reads a node of A's tree through the pool.
	if _, err := s.GetBlock(ctx, a.DID(), h.Data); err != nil {
		t.Fatalf("GetBlock while A's write holds the lock: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Apply(cctx, repos[1].DID(), &StoreWrite{Expect: headB.Commit}); !errors.Is(err, context.Canceled) {
		t.Errorf("a queued writer with a cancelled context: %v, want context.Canceled", err)
	}
	pipe.abort()
	for range len(repos) - 1 {
		if err := <-errs; err != nil {
			t.Errorf("writer: %v", err)
		}
	}
	if _, err := a.Apply(ctx, []Write{{Action: ActionCreate, Collection: "app.chat.message", Record: post(9)}}, ApplyOptions{}); err != nil {
		t.Fatalf("A after its abandoned write: %v", err)
	}
}
