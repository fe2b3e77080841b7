package community

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// TestPrecheckedRounds: the writer trusts a caller's precheck only while no
// later commit wrote the op's path, and only for recentRounds commits.
func TestPrecheckedRounds(t *testing.T) {
	c := &Community{}
	o := &op{collection: NSIDMessage, rkey: "3kabcdefghij2", receipt: &receiptBlock{}}
	o.prepare(nil)
	o.pre = precheck{gen: 0, valid: true, receiptExists: true}
	other := map[pathKey]bool{{"", NSIDMessage + "/3kabcdefghij3"}: true, {"staff", o.path()}: true}
	c.endRound(other, nil)
	if pre, ok := c.prechecked(o); !ok || !pre.receiptExists {
		t.Fatalf("a commit of other paths (and of the same path in an audience) discarded the precheck: %v %+v", ok, pre)
	}
	c.endRound(map[pathKey]bool{{"", o.path()}: true}, nil)
	if _, ok := c.prechecked(o); ok {
		t.Fatal("a precheck survived a later commit of its path")
	}
	o.pre.gen = c.gen
	for range recentRounds - 1 {
		c.endRound(other, nil)
	}
	if _, ok := c.prechecked(o); !ok {
		t.Fatalf("a precheck %d commits old was discarded", recentRounds-1)
	}
	c.endRound(other, nil)
	if _, ok := c.prechecked(o); ok {
		t.Fatalf("a precheck %d commits old was trusted (the writer no longer knows what they wrote)", recentRounds)
	}
	if _, ok := c.prechecked(&op{collection: NSIDMessage, rkey: "x"}); ok {
		t.Fatal("an op without a precheck was trusted")
	}
}

// TestStalePrecheck: a request prechecked against a tree that a later commit
// changed is judged on the current tree: a create of a record created since
// is refused with ErrRecordExists (not left to the repository), and a
// re-create after a delete updates the receipt the delete left.
func TestStalePrecheck(t *testing.T) {
	w := newWorld(t)
	h := w.newHost(memHost, "host")
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	ctx := context.Background()

	rk := newTID()
	stale := c.snap.Load()
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, rk, message("first")))); err != nil {
		t.Fatal(err)
	}
	if c.snap.Load().gen == stale.gen {
		t.Fatal("the commit did not publish a new tree")
	}
	// Callers now precheck against the tree from before the create.
	c.snap.Store(stale)
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, rk, message("again")))); !errors.Is(err, ErrRecordExists) {
		t.Fatalf("create of an existing record with a stale precheck: %v", err)
	}
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Delete(NSIDMessage, rk))); err != nil {
		t.Fatal(err)
	}
	beforeRecreate := c.snap.Load()
	// The receipt of the delete exists, the record does not: the re-create
	// must update the receipt, also when prechecked before the delete.
	c.snap.Store(stale)
	res, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, rk, message("recreated"))))
	if err != nil {
		t.Fatalf("re-create after delete with a stale precheck: %v", err)
	}
	c.snap.Store(beforeRecreate)
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, rk, message("third")))); !errors.Is(err, ErrRecordExists) {
		t.Fatalf("create of an existing record: %v", err)
	}
	_, data, err := c.GetRecord(ctx, NSIDReceipt, ReceiptKey(NSIDMessage+"/"+rk))
	if err != nil {
		t.Fatal(err)
	}
	var rec Receipt
	if err := drisl.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Author != alice.did {
		t.Errorf("receipt author %s, want %s", rec.Author, alice.did)
	}
	if got, _, err := c.GetRecord(ctx, NSIDMessage, rk); err != nil || got != res.CIDs[0] {
		t.Errorf("record %s (%v), want %s", got, err, res.CIDs[0])
	}
}

// TestConcurrentCreatesOfOnePath: of many concurrent creates of one path
// (all prechecked against the same tree, where it is missing), exactly one
// succeeds and the others get ErrRecordExists.
func TestConcurrentCreatesOfOnePath(t *testing.T) {
	w := newWorld(t)
	h := w.newHost(memHost, "host")
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	ctx := context.Background()
	rk := newTID()
	const n = 16
	reqs := make([]*Request, n)
	for i := range reqs {
		reqs[i] = w.rq(alice.sess.Create(NSIDMessage, rk, message("racer")))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range reqs {
		wg.Go(func() { _, errs[i] = c.Invoke(ctx, reqs[i]) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrRecordExists):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d creates of one path succeeded, want 1", ok)
	}
}

// TestPrechecksMatchLookup: prechecks, which looks the receipts of a
// request up in one mst.Tree.HasMany, records for every public receipted
// op what lookup finds for it in the same snapshot: updates of committed
// records (their receipts exist, so their records are looked up too) in
// descending key order, new creates, and a delete; ops without a receipt
// (the invocation record) get no precheck.
func TestPrechecksMatchLookup(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	c, founder := w.newCommunity(w.newHost(memHost, "host"), "")
	ws := checkWrites(40)
	m(c.Invoke(ctx, w.rq(founder.sess.Batch(ws[:20])))).must(t)
	var next []Write
	for i := 19; i >= 10; i-- {
		u := ws[i]
		u.Action = repo.ActionUpdate
		next = append(next, u)
	}
	next = append(next, ws[20:30]...)
	next = append(next, Write{Action: repo.ActionDelete, Collection: NSIDMessage, RKey: ws[0].RKey})
	req := w.rq(founder.sess.Batch(next))
	inv, err := ucan.ParseInvocation(req.Invocation)
	if err != nil {
		t.Fatal(err)
	}
	member, _ := c.memberOf(inv.Issuer)
	ops, err := c.writeOps(ctx, inv, member, req.Records)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ops {
		ops[i].prepare(&c.receiptPrefix)
	}
	s := c.snap.Load()
	c.prechecks(ctx, ops)
	var exist, absent int
	for i := range ops {
		o := &ops[i]
		if o.audience != "" || o.receipt == nil {
			if o.pre.valid {
				t.Fatalf("op %d (%s) has a precheck", i, o.path())
			}
			continue
		}
		ex, re, err := c.lookup(ctx, s.tree, o)
		if err != nil {
			t.Fatal(err)
		}
		if want := (precheck{gen: s.gen, valid: true, exists: ex, receiptExists: re}); o.pre != want {
			t.Fatalf("op %d (%s %s): precheck %+v, lookup %+v", i, o.action, o.path(), o.pre, want)
		}
		if ex {
			exist++
		} else {
			absent++
		}
	}
	if exist != 11 || absent != 10 {
		t.Fatalf("%d ops found, %d not: want 11 and 10", exist, absent)
	}
}
