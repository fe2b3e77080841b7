package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
)

// gatedStore holds each Apply until the test lets it through, and fails
// the Apply numbered fail (from 1; 0: none).
type gatedStore struct {
	Store
	gate chan struct{}
	mu   sync.Mutex
	n    int
	fail int
}

var errInjected = errors.New("injected store failure")

func (g *gatedStore) Apply(ctx context.Context, did string, w *StoreWrite) (int64, error) {
	<-g.gate
	g.mu.Lock()
	g.n++
	n := g.n
	g.mu.Unlock()
	if n == g.fail {
		return 0, errInjected
	}
	return g.Store.Apply(ctx, did, w)
}

func asyncWrites(from, n int) []Write {
	var ws []Write
	for i := from; i < from+n; i++ {
		ws = append(ws, Write{Action: ActionCreate, Collection: "app.bsky.feed.post", RKey: fmt.Sprintf("3m%011d", i), Record: post(i)})
	}
	return ws
}

// TestApplyAsyncChain: commits built one on another before any is stored
// land in order; Tree shows stored commits only, LatestTree the latest
// built; each #commit event chains to the one before (a consumer verifies
// them in order); Apply waits for them; the exported repository verifies.
// With a node cache of two nodes, the trees built on unstored commits
// read their nodes from the repository's pending blocks.
func TestApplyAsyncChain(t *testing.T) {
	for _, name := range []string{"mem", "sqlite", "tiny-cache"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var s Store = NewMemStore()
			if name == "sqlite" {
				s = newTestSQLite(t)
			}
			close0 := make(chan struct{})
			close(close0)
			g := &gatedStore{Store: s, gate: close0} // Create goes through
			key := fixedKey(t)
			pub, _ := key.PublicKey()
			opts := Options{Now: fakeClock()}
			if name == "tiny-cache" {
				opts.CacheNodes = 2
			}
			r, err := Create(ctx, g, testDID, key, opts)
			if err != nil {
				t.Fatal(err)
			}
			created := r.Head()
			g.gate = make(chan struct{})
			var ps []*Pending
			for i := range 3 {
				p, err := r.ApplyAsync(ctx, asyncWrites(i*300, 300)) // #sync events: more than MaxEventOps
				if err != nil {
					t.Fatal(err)
				}
				ps = append(ps, p)
			}
			small, err := r.ApplyAsync(ctx, asyncWrites(900, 5))
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, small)
			// Nothing is stored yet.
			if r.Head() != created {
				t.Fatalf("Head moved before any commit was stored")
			}
			if _, ok, _ := r.Tree().Get(ctx, "app.bsky.feed.post/3m00000000000"); ok {
				t.Fatal("Tree shows an unstored record")
			}
			if _, ok, err := r.LatestTree().Get(ctx, "app.bsky.feed.post/3m00000000904"); !ok || err != nil {
				t.Fatalf("LatestTree lacks the latest record: %v", err)
			}
			// A create of a record only the unstored commits hold fails at once.
			if _, err := r.ApplyAsync(ctx, asyncWrites(0, 1)); !errors.Is(err, ErrRecordExists) {
				t.Fatalf("create of a pending record: %v", err)
			}
			close(g.gate)
			var prev *CommitResult
			for i, p := range ps {
				res, err := p.Wait()
				if err != nil {
					t.Fatalf("commit %d: %v", i, err)
				}
				if prev != nil && (res.Seq <= prev.Seq || res.Rev <= prev.Rev) {
					t.Fatalf("commit %d: seq %d rev %s after seq %d rev %s", i, res.Seq, res.Rev, prev.Seq, prev.Rev)
				}
				prev = res
				// A stored commit holds no earlier one (or the chain of
				// an import's commits would stay in memory).
				if p.prev != nil || p.base != nil {
					t.Fatalf("commit %d still links to an earlier one", i)
				}
			}
			// The last event is a #commit on top of the third commit.
			ev := small.res.Event
			if ev == nil || *ev.Since != ps[2].res.Rev || *ev.PrevData != ps[2].res.Data {
				t.Fatalf("event of the last commit: %+v", ev)
			}
			known := &SyncState{DID: testDID, Rev: ps[2].res.Rev, Data: ps[2].res.Data}
			if _, err := VerifyCommitEvent(ctx, ev, CommitCheckOptions{Key: pub, DID: testDID, Known: known, Now: fakeClock()}); err != nil {
				t.Fatalf("VerifyCommitEvent: %v", err)
			}
			if h := r.Head(); h.Commit != small.res.Commit || r.Tree() != r.LatestTree() {
				t.Fatalf("head after the last commit: %+v", h)
			}
			// Apply after ApplyAsync builds on it.
			res, err := r.Apply(ctx, asyncWrites(905, 1), ApplyOptions{SwapCommit: small.res.Commit})
			if err != nil {
				t.Fatal(err)
			}
			var car bytes.Buffer
			if err := r.Export(ctx, &car); err != nil {
				t.Fatal(err)
			}
			v, err := VerifyCAR(ctx, &car, VerifyOptions{Key: pub, DID: testDID})
			if err != nil {
				t.Fatal(err)
			}
			if v.Commit.Data != res.Data {
				t.Fatalf("exported data %s, want %s", v.Commit.Data, res.Data)
			}
			n := 0
			if err := r.Tree().Walk(ctx, func(string, cid.Cid) error { n++; return nil }); err != nil || n != 906 {
				t.Fatalf("%d records, want 906: %v", n, err)
			}
		})
	}
}

// TestApplyAsyncFailure: when the store fails a commit, the commits built
// on it fail with ErrConflict and store nothing; a commit built after the
// failure is known builds on the last stored commit and lands.
func TestApplyAsyncFailure(t *testing.T) {
	ctx := context.Background()
	open := make(chan struct{})
	close(open)
	g := &gatedStore{Store: NewMemStore(), gate: open, fail: 3}
	r, err := Create(ctx, g, testDID, fixedKey(t), Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	ok1, err := r.ApplyAsync(ctx, asyncWrites(0, 2)) // Apply 2: stored
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ok1.Wait(); err != nil {
		t.Fatal(err)
	}
	stored := r.Head()
	g.gate = make(chan struct{})
	bad, err := r.ApplyAsync(ctx, asyncWrites(2, 2)) // Apply 3: fails
	if err != nil {
		t.Fatal(err)
	}
	doomed, err := r.ApplyAsync(ctx, asyncWrites(4, 2)) // built on bad
	if err != nil {
		t.Fatal(err)
	}
	g.gate <- struct{}{}
	if _, err := bad.Wait(); !errors.Is(err, errInjected) {
		t.Fatalf("failed commit: %v", err)
	}
	// doomed has not reached the store (the gate is shut), yet fails.
	if _, err := doomed.Wait(); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit built on a failed one: %v", err)
	}
	if r.Head() != stored {
		t.Fatalf("head moved: %+v", r.Head())
	}
	if _, ok, _ := r.LatestTree().Get(ctx, "app.bsky.feed.post/3m00000000002"); ok {
		t.Fatal("LatestTree keeps a failed commit's record")
	}
	// The records of the failed commits can be written again.
	again, err := r.ApplyAsync(ctx, asyncWrites(2, 4))
	if err != nil {
		t.Fatal(err)
	}
	g.gate <- struct{}{}
	res, err := again.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if r.Head().Commit != res.Commit {
		t.Fatalf("head %s, want %s", r.Head().Commit, res.Commit)
	}
	if c, err := g.Store.Record(ctx, testDID, "app.bsky.feed.post", "3m00000000005"); err != nil || c != res.Results[3].CID {
		t.Fatalf("record of the retried commit: %s %v", c, err)
	}
}

// TestApplyAsyncThenApply: Apply waits for the commits ApplyAsync is
// storing and builds on the last of them; ApplyAsync with nothing in flight
// catches up with a commit another handle stored.
func TestApplyAsyncThenApply(t *testing.T) {
	ctx := context.Background()
	open := make(chan struct{})
	close(open)
	g := &gatedStore{Store: NewMemStore(), gate: open}
	key := fixedKey(t)
	r, err := Create(ctx, g, testDID, key, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	g.gate = make(chan struct{})
	p, err := r.ApplyAsync(ctx, asyncWrites(0, 2))
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		res *CommitResult
		err error
	}
	applied := make(chan outcome, 1)
	go func() {
		res, err := r.Apply(ctx, asyncWrites(2, 1), ApplyOptions{})
		applied <- outcome{res, err}
	}()
	// Apply must wait for p's commit before it builds: watch its stack
	// until it does (it must never reach the store first).
	for waiting := false; !waiting; runtime.Gosched() {
		buf := make([]byte, 1<<20)
		for _, st := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if !strings.Contains(st, "repo.(*Repo).Apply(") {
				continue
			}
			if strings.Contains(st, "repo.(*gatedStore).Apply(") {
				close(g.gate)
				t.Fatal("Apply reached the store while ApplyAsync's commit was pending")
			}
			waiting = waiting || strings.Contains(st, "repo.(*Repo).settle(")
		}
	}
	g.gate <- struct{}{} // p's commit
	g.gate <- struct{}{} // Apply's
	pres, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	a := <-applied
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.res.Event == nil || *a.res.Event.Since != pres.Rev || *a.res.Event.PrevData != pres.Data {
		t.Fatalf("Apply's commit does not build on the pending one: %+v", a.res.Event)
	}
	// Another handle commits; this one, with nothing in flight, catches up.
	close(g.gate)
	other, err := Open(ctx, g, testDID, key, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	ores, err := other.Apply(ctx, asyncWrites(3, 1), ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := r.ApplyAsync(ctx, asyncWrites(4, 1))
	if err != nil {
		t.Fatal(err)
	}
	qres, err := q.Wait()
	if err != nil {
		t.Fatalf("ApplyAsync after another handle's commit: %v", err)
	}
	if qres.Event == nil || *qres.Event.Since != ores.Rev {
		t.Fatalf("ApplyAsync's commit does not build on the other handle's: %+v", qres.Event)
	}
}
