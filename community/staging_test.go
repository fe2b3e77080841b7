package community

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
)

// gatedStore lets the test hold the store's commits: while held, each
// Apply announces itself on entered and waits for a release. The Apply
// numbered fail (from 1 once armed; 0: none) fails.
type gatedStore struct {
	repo.Store
	mu      sync.Mutex
	held    bool
	entered chan struct{}
	release chan struct{}
	n, fail int
	failed  bool
}

var errStoreDown = errors.New("injected store failure")

func newGatedStore() *gatedStore {
	return &gatedStore{Store: repo.NewMemStore(), entered: make(chan struct{}, 16), release: make(chan struct{}, 16)}
}

func (g *gatedStore) Apply(ctx context.Context, did string, w *repo.StoreWrite) (int64, error) {
	g.mu.Lock()
	held := g.held
	g.n++
	fail := g.n == g.fail
	g.mu.Unlock()
	if held {
		g.entered <- struct{}{}
		<-g.release
	}
	if fail {
		g.mu.Lock()
		g.failed = true
		g.mu.Unlock()
		return 0, errStoreDown
	}
	return g.Store.Apply(ctx, did, w)
}

// hold makes the next Applies wait; failNext makes the next Apply fail.
func (g *gatedStore) hold(failNext bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held = true
	if failNext {
		g.fail = g.n + 1
	}
}

// stagedPair has alice write record a, holds its commit in the store, then
// has her write record b, and waits until the writer has built b's commit
// on a's (LatestTree holds b) while neither is stored.
func stagedPair(t *testing.T, failFirst bool) (c *Community, g *gatedStore, errs chan error, a, b string) {
	t.Helper()
	ctx := context.Background()
	w := newWorld(t)
	g = newGatedStore()
	h := w.newHostOn(g, NewMemPrivateStore(), "host1")
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	g.hold(failFirst)
	a, b = newTID(), newTID()
	errs = make(chan error, 2)
	go func() {
		_, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, a, message("first"))))
		errs <- err
	}()
	<-g.entered // a's commit is in the store, held
	go func() {
		_, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, b, message("second"))))
		errs <- err
	}()
	for {
		if _, ok, err := c.Repo().LatestTree().Get(ctx, NSIDMessage+"/"+b); err != nil {
			t.Fatal(err)
		} else if ok {
			break
		}
		runtime.Gosched()
	}
	return c, g, errs, a, b
}

// TestStagedRound: the writer builds the next round's commit while the
// store writes the one before; neither is visible in Tree nor answered
// until stored, and both land in order.
func TestStagedRound(t *testing.T) {
	ctx := context.Background()
	c, g, errs, a, b := stagedPair(t, false)
	for _, k := range []string{a, b} {
		if _, ok, _ := c.Repo().Tree().Get(ctx, NSIDMessage+"/"+k); ok {
			t.Fatalf("record %s is in the stored tree before its commit is stored", k)
		}
	}
	select {
	case err := <-errs:
		t.Fatalf("a write was answered before its commit was stored: %v", err)
	default:
	}
	g.release <- struct{}{}
	g.release <- struct{}{}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{a, b} {
		if _, _, err := c.GetRecord(ctx, NSIDMessage, k); err != nil {
			t.Fatalf("record %s: %v", k, err)
		}
	}
}

// TestStagedRoundStoreFailure: when the store fails a round's commit, that
// round and the one built on it are admitted and committed again: both
// writes succeed, and the repository verifies.
func TestStagedRoundStoreFailure(t *testing.T) {
	ctx := context.Background()
	c, g, errs, a, b := stagedPair(t, true)
	g.mu.Lock()
	g.held = false
	g.mu.Unlock()
	g.release <- struct{}{} // a's commit fails; b's fails as built on it
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	g.mu.Lock()
	failed := g.failed
	g.mu.Unlock()
	if !failed {
		t.Fatal("the store failure was not injected")
	}
	for _, k := range []string{a, b} {
		if _, _, err := c.GetRecord(ctx, NSIDMessage, k); err != nil {
			t.Fatalf("record %s: %v", k, err)
		}
		if _, _, err := c.GetRecord(ctx, NSIDReceipt, ReceiptKey(NSIDMessage+"/"+k)); err != nil {
			t.Fatalf("receipt of %s: %v", k, err)
		}
	}
	var car bytes.Buffer
	if err := c.Export(ctx, &car); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.VerifyCAR(ctx, &car, repo.VerifyOptions{Key: c.SigningKey(), DID: c.DID(), MaxClockSkew: -1}); err != nil {
		t.Fatal(err)
	}
}

// TestStagedRoundBeforeOwnerCheck: one writer batch holds alice's create of
// a record and her update of it. The update names the same path, so it is
// deferred to the batch's second round, after the create's round has been
// staged; its owner check reads the create's receipt from the store, so
// the writer must wait for the staged round first (it once checked only
// before the batch's first round, and the update failed reading a receipt
// the store did not have yet).
func TestStagedRoundBeforeOwnerCheck(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	g := newGatedStore()
	h := w.newHostOn(g, NewMemPrivateStore(), "host1")
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	g.hold(false)
	errs := make(chan error, 4)
	send := func(r *Request) {
		go func() {
			_, err := c.Invoke(ctx, r)
			errs <- err
		}()
	}
	// queued waits until n requests wait in the writer's queue.
	queued := func(n int) {
		for len(c.reqs) != n {
			runtime.Gosched()
		}
	}
	// releaseAll lets the held Apply and every later one through.
	var once sync.Once
	releaseAll := func() {
		once.Do(func() {
			g.mu.Lock()
			g.held = false
			g.mu.Unlock()
			g.release <- struct{}{}
		})
	}
	t.Cleanup(releaseAll)
	// writerWaits waits until the writer waits for a staged round in
	// settle, called from caller, or fails the test if a request is
	// answered first.
	writerWaits := func(caller string) {
		t.Helper()
		for {
			select {
			case err := <-errs:
				releaseAll()
				t.Fatalf("a request was answered before the writer waited for the staged round: %v", err)
			default:
			}
			buf := make([]byte, 1<<20)
			for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
				if strings.Contains(g, "repo.(*Pending).Wait(") && strings.Contains(g, "community.(*Community).settle(") &&
					strings.Contains(g, caller) {
					return
				}
			}
			runtime.Gosched()
		}
	}
	x, k := newTID(), newTID()
	send(w.rq(alice.sess.Create(NSIDMessage, x, message("x"))))
	<-g.entered // x's round is staged and held in the store
	send(w.rq(alice.sess.Update(NSIDMessage, x, message("x, edited"))))
	writerWaits("community.(*Community).commitBatch(") // the writer holds the update
	send(w.rq(alice.sess.Create(NSIDMessage, k, message("k"))))
	queued(1)
	send(w.rq(alice.sess.Update(NSIDMessage, k, message("k, edited"))))
	queued(2)               // one batch for the writer: create k, then update k
	g.release <- struct{}{} // x's round is stored
	<-g.entered             // x's update, committed synchronously
	g.release <- struct{}{}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	<-g.entered // k's create, staged (its round), held in the store
	// The update, deferred to the batch's second round, must wait for it.
	writerWaits("community.(*Community).commitBatch(")
	releaseAll()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	want := m(drisl.Marshal(message("k, edited"))).must(t)
	if _, data, err := c.GetRecord(ctx, NSIDMessage, k); err != nil || !bytes.Equal(data, want) {
		t.Fatalf("record k: %v, is the edit %v", err, bytes.Equal(data, want))
	}
}
