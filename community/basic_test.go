package community

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

func TestCreateJoinWrite(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host1")
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	bob := w.join(c, "bob", nil, Role{})
	rk := newTID()
	res, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, rk, message("hello"))))
	if err != nil {
		t.Fatal(err)
	}
	_, data, err := c.GetRecord(ctx, NSIDMessage, rk)
	if err != nil || len(data) == 0 {
		t.Fatal(err)
	}
	if res.Commit != c.Repo().Head().Commit {
		t.Fatal("result commit is not the head")
	}
	// bob may not update alice's record
	head := c.Repo().Head().Commit
	_, err = c.Invoke(ctx, w.rq(bob.sess.Update(NSIDMessage, rk, message("mine"))))
	if err == nil {
		t.Fatal("bob updated alice's record")
	}
	t.Log(err)
	if c.Repo().Head().Commit != head {
		t.Fatal("head moved")
	}
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Update(NSIDMessage, rk, message("edited")))); err != nil {
		t.Fatal(err)
	}
}

func TestBundle(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host1")
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	rk := newTID()
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, rk, message("hello")))); err != nil {
		t.Fatal(err)
	}
	b, err := c.Bundle(ctx, NSIDMessage, rk)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := w.plc.Resolve(ctx, c.DID())
	if err != nil {
		t.Fatal(err)
	}
	a, err := VerifyBundle(ctx, b, VerifyOptions{Document: doc})
	if err != nil {
		t.Fatal(err)
	}
	if a.Author != alice.did {
		t.Fatalf("author %s", a.Author)
	}
}

// TestBatchForms writes a /repo/batch in each of its two forms (see
// batchShared): Session.Batch's shared form for writes of one collection,
// and the first form, each write naming its collection and action; a
// shared batch whose write names its own action. Every record lands and
// its authorship bundle verifies against the invocation that wrote it.
func TestBatchForms(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host1")
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	doc := m(w.plc.Resolve(ctx, c.DID())).must(t)
	var rks []string
	write := func(name string, req *Request) {
		t.Helper()
		inv := m(ucan.ParseInvocation(req.Invocation)).must(t)
		_, shared := inv.Args["collection"]
		if want := name != "first form"; shared != want {
			t.Fatalf("%s: shared form %v, want %v", name, shared, want)
		}
		if _, err := c.Invoke(ctx, req); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	var ws []Write
	for range 3 {
		rks = append(rks, newTID())
		ws = append(ws, Write{Action: repo.ActionCreate, Collection: NSIDMessage, RKey: rks[len(rks)-1], Record: message("shared")})
	}
	write("Session.Batch", w.rq(alice.sess.Batch(ws)))
	first, own := newTID(), newTID()
	rks = append(rks, first, own)
	enc := func(rec any) ([]byte, cid.Cid) {
		t.Helper()
		data, rc, err := drisl.MarshalCID(rec)
		if err != nil {
			t.Fatal(err)
		}
		return data, rc
	}
	data, rc := enc(message("first form"))
	write("first form", forceInvoke(t, alice.sess, CmdBatch, map[string]any{"writes": []any{
		map[string]any{"action": "create", "collection": NSIDMessage, "rkey": first, "cid": rc}}}, [][]byte{data}))
	data2, rc2 := enc(message("own action"))
	write("own action", forceInvoke(t, alice.sess, CmdBatch, map[string]any{"collection": NSIDMessage, "writes": []any{
		map[string]any{"action": "create", "rkey": own, "cid": rc2}}}, [][]byte{data2}))
	for _, rk := range rks {
		b := m(c.Bundle(ctx, NSIDMessage, rk)).must(t)
		if a, err := VerifyBundle(ctx, b, VerifyOptions{Document: doc}); err != nil || a.Author != alice.did || a.Command != CmdBatch {
			t.Fatalf("bundle of %s: %+v %v", rk, a, err)
		}
	}
}

// TestPrivateLifecycle: update and delete of private records by their
// author, refusal for another reader, moderation delete; the anchor follows.
func TestPrivateLifecycle(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host1")
	c, founder := w.newCommunity(h, "member")
	carol := w.join(c, "carol", founder, testRoles[1])
	dave := w.join(c, "dave", founder, testRoles[1])
	if _, err := c.Invoke(ctx, w.rq(founder.sess.CreateAudience("staff", "insider"))); err != nil {
		t.Fatal(err)
	}
	rec := func(text string) map[string]any {
		r := message(text)
		r["nonce"] = NewNonce()
		return r
	}
	rk1, rk2 := newTID(), newTID()
	if _, err := c.Invoke(ctx, w.rq(carol.sess.Batch([]Write{
		{Action: repo.ActionCreate, Collection: NSIDMessage, RKey: rk1, Audience: "staff", Record: rec("one")},
		{Action: repo.ActionCreate, Collection: NSIDMessage, RKey: rk2, Audience: "staff", Record: rec("two")},
	}))); err != nil {
		t.Fatal(err)
	}
	upd := Write{Action: repo.ActionUpdate, Collection: NSIDMessage, RKey: rk1, Audience: "staff", Record: rec("one, edited")}
	if _, err := c.Invoke(ctx, w.rq(dave.sess.Batch([]Write{upd}))); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("dave edited carol's private record: %v", err)
	}
	if _, err := c.Invoke(ctx, w.rq(carol.sess.Batch([]Write{upd}))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoke(ctx, w.rq(carol.sess.Batch([]Write{{Action: repo.ActionDelete, Collection: NSIDMessage, RKey: rk2, Audience: "staff"}}))); err != nil {
		t.Fatal(err)
	}
	v := m(c.ReadAudience(ctx, w.rq(dave.sess.Read("staff")))).must(t)
	if len(v.Records) != 1 || v.Records[0].RKey != rk1 {
		t.Fatalf("after update and delete: %+v", v.Records)
	}
	if _, err := c.Invoke(ctx, w.rq(founder.sess.Moderate(NSIDMessage, rk1, "staff", "off topic"))); err != nil {
		t.Fatal(err)
	}
	v = m(c.ReadAudience(ctx, w.rq(dave.sess.Read("staff")))).must(t)
	if len(v.Records) != 0 {
		t.Fatalf("after moderation: %+v", v.Records)
	}
	_, anchor, err := c.GetRecord(ctx, NSIDAudience, "staff")
	if err != nil {
		t.Fatal(err)
	}
	var a audienceRecord
	if err := drisl.Unmarshal(anchor, &a); err != nil || a.Root != v.Root {
		t.Fatalf("anchor %v, view root %v (%v)", a.Root, v.Root, err)
	}
}

// TestEventsOptions: Events reads only the community's repository (another
// community shares the host's store), pages by Cursor and Limit, and its
// zero options read from the start.
func TestEventsOptions(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host1")
	c, founder := w.newCommunity(h, "member")
	other, otherFounder := w.newCommunity(h, "member")
	for i := range 3 {
		if _, err := c.Invoke(ctx, w.rq(founder.sess.Create(NSIDMessage, newTID(), message(fmt.Sprint(i))))); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Invoke(ctx, w.rq(otherFounder.sess.Create(NSIDMessage, newTID(), message(fmt.Sprint(i))))); err != nil {
			t.Fatal(err)
		}
	}
	all := m(c.Events(ctx, EventsOptions{})).must(t)
	if len(all) < 4 {
		t.Fatalf("%d events, want the creation's and 3 writes'", len(all))
	}
	for _, e := range all {
		if e.Commit != nil && e.Commit.Repo != c.DID() || e.Sync != nil && e.Sync.DID != c.DID() {
			t.Fatalf("event %d is another repository's", e.Seq)
		}
	}
	var paged []repo.Event
	for cursor := int64(0); ; {
		page := m(c.Events(ctx, EventsOptions{Cursor: cursor, Limit: 2})).must(t)
		if len(page) > 2 {
			t.Fatalf("page of %d events, limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		cursor = page[len(page)-1].Seq
	}
	if len(paged) != len(all) {
		t.Fatalf("paging read %d events, one read %d", len(paged), len(all))
	}
	for i := range all {
		if paged[i].Seq != all[i].Seq {
			t.Fatalf("event %d: paged seq %d, want %d", i, paged[i].Seq, all[i].Seq)
		}
	}
}

// TestChanged: a waiter on Changed wakes after the next commit and finds
// the new event.
func TestChanged(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host1")
	c, founder := w.newCommunity(h, "member")
	evs := m(c.Events(ctx, EventsOptions{Limit: 1000})).must(t)
	cursor := evs[len(evs)-1].Seq
	ch := c.Changed()
	select {
	case <-ch:
		t.Fatal("woke before a commit")
	default:
	}
	if _, err := c.Invoke(ctx, w.rq(founder.sess.Create(NSIDMessage, newTID(), message("ping")))); err != nil {
		t.Fatal(err)
	}
	<-ch // closed right after the commit has answered its requests
	if next := m(c.Events(ctx, EventsOptions{Cursor: cursor, Limit: 1000})).must(t); len(next) != 1 {
		t.Fatalf("%d new events", len(next))
	}
}

// TestReceiptKey: receipt keys are valid record keys, sort like the records
// they describe, and fall back to a hash (without "~") for record keys too
// long to carry.
func TestReceiptKey(t *testing.T) {
	a, b := ReceiptKey(NSIDMessage+"/3kabc2222222a"), ReceiptKey(NSIDMessage+"/3kabc2222222b")
	if !(a < b) || !strings.HasSuffix(a, "~3kabc2222222a") || len(a) != 16+1+13 {
		t.Errorf("receipt keys %q, %q do not sort like their records", a, b)
	}
	if ReceiptKey(NSIDChannel+"/3kabc2222222a") == a {
		t.Error("two collections, one receipt key")
	}
	long := strings.Repeat("k", 496)
	for _, p := range []string{NSIDMessage + "/" + long, NSIDMessage + "/" + long[:495], "no-slash"} {
		k := ReceiptKey(p)
		if _, err := syntax.ParseRecordKey(k); err != nil {
			t.Errorf("ReceiptKey(%d-byte path) = %q: %v", len(p), k, err)
		}
	}
	if k := ReceiptKey(NSIDMessage + "/" + long); len(k) != 32 || strings.Contains(k, "~") {
		t.Errorf("long record key: receipt key %q", k)
	}
}

// TestReceiptKeyMemo: the writer's memoised receipt keys are ReceiptKey's,
// whatever the order of collections.
func TestReceiptKeyMemo(t *testing.T) {
	want := func(coll, rkey string) string {
		sum := sha256.Sum256([]byte(coll))
		return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10])) + "~" + rkey
	}
	var memo atomic.Pointer[receiptPrefix]
	// The key part of the receipt path the writer's prepare builds.
	receiptKey := func(path string, memo *atomic.Pointer[receiptPrefix]) string {
		return receiptPathOf(path, memo)[len(NSIDReceipt)+1:]
	}
	long := strings.Repeat("k", 496)
	for i, coll := range []string{NSIDMessage, NSIDMessage, NSIDChannel, NSIDMessage, NSIDChannel, NSIDChannel} {
		rkey := fmt.Sprintf("3kabc222222%02d", i)
		if got, w := receiptKey(coll+"/"+rkey, &memo), want(coll, rkey); got != w {
			t.Errorf("%d: receiptKey(%s/%s) = %q, want %q", i, coll, rkey, got, w)
		}
		if got, w := receiptKey(coll+"/"+long, &memo), ReceiptKey(coll+"/"+long); got != w {
			t.Errorf("%d: long key: %q, want %q", i, got, w)
		}
	}
	if got := ReceiptKey(NSIDMessage + "/3kabc2222222a"); got != want(NSIDMessage, "3kabc2222222a") {
		t.Errorf("ReceiptKey = %q", got)
	}
}
