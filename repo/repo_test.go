package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	indigorepo "github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
)

const testDID = "did:plc:w4xbfzo7kqfes5zb7r6qv3rw"

// fakeClock advances one millisecond per call from a fixed start.
func fakeClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

func post(i int) map[string]any {
	return map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprintf("post number %d", i), "createdAt": "2026-01-02T03:04:05.000Z"}
}

// toIndigo converts an event through its wire encoding.
// postRepo creates testDID's repository in a MemStore, signed by key, and
// commits n posts to it in one write, which it returns.
func postRepo(t testing.TB, key atcrypto.PrivateKey, n int) (*Repo, *CommitResult) {
	t.Helper()
	ctx := context.Background()
	r, err := Create(ctx, NewMemStore(), testDID, key, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	var ws []Write
	for i := range n {
		ws = append(ws, Write{Action: ActionCreate, Collection: "app.bsky.feed.post", Record: post(i)})
	}
	res, err := r.Apply(ctx, ws, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r, res
}

func toIndigo(t testing.TB, ev *CommitEvent) *comatproto.SyncSubscribeRepos_Commit {
	b, err := drisl.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var m comatproto.SyncSubscribeRepos_Commit
	if err := m.UnmarshalCBOR(bytes.NewReader(b)); err != nil {
		t.Fatalf("indigo cannot decode our #commit: %v", err)
	}
	return &m
}

// writeWorkload applies a mix of batches and returns the results.
func writeWorkload(t *testing.T, r *Repo) []*CommitResult {
	ctx := context.Background()
	var out []*CommitResult
	apply := func(ws []Write) {
		t.Helper()
		res, err := r.Apply(ctx, ws, ApplyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res)
	}
	var ws []Write
	for i := 0; i < 40; i++ {
		ws = append(ws, Write{Action: ActionCreate, Collection: "app.bsky.feed.post", Record: post(i)})
	}
	apply(ws)
	apply([]Write{{Action: ActionCreate, Collection: "app.bsky.actor.profile", RKey: "self", Record: map[string]any{"displayName": "Alice"}}})
	for i := 0; i < 5; i++ {
		apply([]Write{{Action: ActionCreate, Collection: "app.bsky.feed.like", Record: map[string]any{"n": int64(i)}}})
	}
	rk := out[0].Results[3].RKey
	apply([]Write{
		{Action: ActionUpdate, Collection: "app.bsky.feed.post", RKey: rk, Record: post(1000)},
		{Action: ActionDelete, Collection: "app.bsky.feed.post", RKey: out[0].Results[7].RKey},
		{Action: ActionDelete, Collection: "app.bsky.feed.post", RKey: out[0].Results[8].RKey},
		{Action: ActionCreate, Collection: "app.bsky.feed.post", RKey: "3zzzzzzzzzzzz", Record: post(2000)},
	})
	return out
}

func TestRepoEndToEnd(t *testing.T) {
	for kname, key := range testKeys(t) {
		t.Run(kname, func(t *testing.T) {
			testStores(t, func(t *testing.T, s Store) { testEndToEnd(t, s, key) })
		})
	}
}

func testEndToEnd(t *testing.T, s Store, key atcrypto.PrivateKey) {
	ctx := context.Background()
	pub, _ := key.PublicKey()
	r, err := Create(ctx, s, testDID, key, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Create(ctx, s, testDID, key, Options{}); !errors.Is(err, ErrRepoExists) {
		t.Fatalf("second Create: %v", err)
	}
	results := writeWorkload(t, r)

	// Reads.
	first := results[0].Results
	c, data, err := r.GetRecord(ctx, "app.bsky.feed.post", first[0].RKey)
	if err != nil || c != first[0].CID || drisl.SumCID(drisl.CodecDagCBOR, data) != c {
		t.Fatalf("GetRecord: %v", err)
	}
	if _, _, err := r.GetRecord(ctx, "app.bsky.feed.post", first[7].RKey); !errors.Is(err, ErrRecordNotFound) {
		t.Fatalf("deleted record: %v", err)
	}
	recs, cursor, err := r.ListRecords(ctx, "app.bsky.feed.post", ListOptions{Limit: 10})
	if err != nil || len(recs) != 10 || cursor != recs[9].RKey || recs[0].RKey != first[0].RKey {
		t.Fatalf("ListRecords: %v %q", err, cursor)
	}
	for _, rec := range recs {
		if drisl.SumCID(drisl.CodecDagCBOR, rec.Value) != rec.CID {
			t.Fatalf("ListRecords: %s: value does not hash to %s", rec.RKey, rec.CID)
		}
	}
	all := 0
	for cursor = ""; ; {
		page, next, err := r.ListRecords(ctx, "app.bsky.feed.post", ListOptions{Limit: 7, Cursor: cursor, Reverse: true})
		if err != nil {
			t.Fatal(err)
		}
		all += len(page)
		if next == "" {
			break
		}
		cursor = next
	}
	if all != 40-2+1 {
		t.Fatalf("listed %d posts", all)
	}
	d, err := r.Describe(ctx)
	if err != nil || fmt.Sprint(d.Collections) != "[app.bsky.actor.profile app.bsky.feed.like app.bsky.feed.post]" || d.Head != r.Head().Commit {
		t.Fatalf("Describe: %+v %v", d, err)
	}

	// Events: every #commit passes indigo's check and ours, inductively.
	evs, err := ReadEvents(ctx, s, EventsOptions{DID: testDID, Limit: 1000})
	if err != nil || len(evs) != len(results)+1 {
		t.Fatalf("events: %d %v", len(evs), err)
	}
	var state *SyncState
	for i, ev := range evs {
		if ev.Commit == nil {
			t.Fatalf("event %d is not a commit", i)
		}
		if _, err := indigorepo.VerifyCommitMessage(ctx, toIndigo(t, ev.Commit)); err != nil {
			t.Fatalf("indigo rejects event %d: %v", i, err)
		}
		state, err = VerifyCommitEvent(ctx, ev.Commit, CommitCheckOptions{Key: pub, DID: testDID, Known: state, Now: consumerClock})
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if i > 0 && (ev.Seq != results[i-1].Seq || ev.Commit.Commit != results[i-1].Commit) {
			t.Fatalf("event %d does not match the commit", i)
		}
	}
	if state.Commit != r.Head().Commit || state.Data != r.Head().Data {
		t.Fatal("consumer state is not the head")
	}

	// Export: indigo loads it, agrees on every record, verifies the signature.
	var car bytes.Buffer
	if err := r.Export(ctx, &car); err != nil {
		t.Fatal(err)
	}
	icommit, irepo, err := indigorepo.LoadRepoFromCAR(ctx, bytes.NewReader(car.Bytes()))
	if err != nil {
		t.Fatalf("indigo LoadRepoFromCAR: %v", err)
	}
	if err := icommit.VerifySignature(pub); err != nil {
		t.Fatalf("indigo VerifySignature: %v", err)
	}
	iroot, err := irepo.MST.RootCID()
	if err != nil || *iroot != r.Head().Data {
		t.Fatalf("indigo root %v, ours %v", iroot, r.Head().Data)
	}
	n := 0
	if err := r.Tree().Walk(ctx, func(k string, v cid.Cid) error {
		nsid, rkey, err := syntax.ParseRepoPath(k)
		if err != nil {
			return err
		}
		_, ic, err := irepo.GetRecordBytes(ctx, nsid, rkey)
		if err != nil || *ic != v {
			return fmt.Errorf("indigo record %s: %v", k, err)
		}
		n++
		return nil
	}); err != nil || n != 39+1+5 {
		t.Fatalf("walk: %d %v", n, err)
	}

	// Import into a fresh store: same head, same records, a #sync event.
	dst := NewMemStore()
	ir, err := Import(ctx, dst, bytes.NewReader(car.Bytes()), nil, VerifyOptions{Key: pub, DID: testDID}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ir.Head() != r.Head() {
		t.Fatalf("imported head %+v, want %+v", ir.Head(), r.Head())
	}
	c2, _, err := ir.GetRecord(ctx, "app.bsky.feed.post", first[0].RKey)
	if err != nil || c2 != first[0].CID {
		t.Fatalf("imported record: %v", err)
	}
	sevs, _ := ReadEvents(ctx, dst, EventsOptions{Limit: 10})
	if len(sevs) != 1 || sevs[0].Sync == nil || sevs[0].Sync.Rev != r.Head().Rev {
		t.Fatalf("import events: %+v", sevs)
	}

	// Diff export since the third commit, applied to a copy at that
	// commit, holds every block of the head tree.
	var diff bytes.Buffer
	if err := r.ExportSince(ctx, &diff, results[1].Rev); err != nil {
		t.Fatal(err)
	}
	root, blocks, err := readCAR(bytes.NewReader(diff.Bytes()), CAROptions{})
	if err != nil || root != r.Head().Commit {
		t.Fatalf("diff CAR: %v", err)
	}
	if _, ok := blocks[r.Head().Commit]; !ok {
		t.Fatal("diff lacks the head commit")
	}
	if _, ok := blocks[first[0].CID]; ok {
		t.Fatal("diff holds a record from before since")
	}

	// Record proofs, present and absent.
	var proof bytes.Buffer
	proved, err := r.ProveRecord(ctx, &proof, "app.bsky.feed.post", first[0].RKey)
	if err != nil {
		t.Fatal(err)
	}
	if proved.Record != first[0].CID || proved.Head.Commit != r.Head().Commit {
		t.Fatalf("ProveRecord reported %+v, want record %s at head %s", proved, first[0].CID, r.Head().Commit)
	}
	pc, pdata, err := VerifyRecordProof(ctx, bytes.NewReader(proof.Bytes()), "app.bsky.feed.post", first[0].RKey, VerifyOptions{Key: pub, DID: testDID})
	if err != nil || pc != first[0].CID || drisl.SumCID(drisl.CodecDagCBOR, pdata) != pc {
		t.Fatalf("proof: %v", err)
	}
	proof.Reset()
	if proved, err = r.ProveRecord(ctx, &proof, "app.bsky.feed.post", first[7].RKey); err != nil {
		t.Fatal(err)
	}
	if proved.Record.Defined() || proved.Head.Commit != r.Head().Commit {
		t.Fatalf("ProveRecord of a deleted record reported %+v", proved)
	}
	if _, _, err := VerifyRecordProof(ctx, bytes.NewReader(proof.Bytes()), "app.bsky.feed.post", first[7].RKey, VerifyOptions{Key: pub, DID: testDID}); !errors.Is(err, ErrRecordNotFound) {
		t.Fatalf("absence proof: %v", err)
	}
	// The absence proof does not prove another, present record.
	if _, _, err := VerifyRecordProof(ctx, bytes.NewReader(proof.Bytes()), "app.bsky.feed.post", first[0].RKey, VerifyOptions{Key: pub, DID: testDID}); err == nil {
		t.Fatal("proof of the wrong key verified")
	}

	// Reopen: same head, and writing continues.
	r2, err := Open(ctx, s, testDID, key, Options{Now: fakeClock()})
	if err != nil || r2.Head() != r.Head() {
		t.Fatalf("Open: %v", err)
	}
	res, err := r2.Apply(ctx, []Write{{Action: ActionCreate, Collection: "app.bsky.feed.post", Record: post(5)}}, ApplyOptions{SwapCommit: r.Head().Commit})
	if err != nil || res.Rev <= r.Head().Rev {
		t.Fatalf("Apply after reopen: %v", err)
	}
	// The stale handle notices the new head; a stale swapCommit fails.
	if _, err := r.Apply(ctx, []Write{{Action: ActionCreate, Collection: "app.bsky.feed.post", Record: post(6)}}, ApplyOptions{SwapCommit: results[0].Commit}); !errors.Is(err, ErrSwapCommit) {
		t.Fatalf("stale swapCommit: %v", err)
	}
	if _, err := r.Apply(ctx, []Write{{Action: ActionCreate, Collection: "app.bsky.feed.post", Record: post(7)}}, ApplyOptions{}); err != nil {
		t.Fatalf("stale handle write: %v", err)
	}
}

func TestApplyRejects(t *testing.T) {
	ctx := context.Background()
	key := testKeys(t)["K-256"]
	r, err := Create(ctx, NewMemStore(), testDID, key, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Apply(ctx, []Write{{Action: ActionCreate, Collection: "a.b.c", RKey: "k", Record: post(1)}}, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	head := r.Head()
	wrong := res.Results[0].CID
	wrong2 := blk("x").CID
	cases := []struct {
		ws   []Write
		want error
	}{
		{[]Write{{Action: ActionCreate, Collection: "a.b.c", RKey: "k", Record: post(2)}}, ErrRecordExists},
		{[]Write{{Action: ActionUpdate, Collection: "a.b.c", RKey: "nope", Record: post(2)}}, ErrRecordNotFound},
		{[]Write{{Action: ActionDelete, Collection: "a.b.c", RKey: "nope"}}, ErrRecordNotFound},
		{[]Write{{Action: ActionDelete, Collection: "a.b.c", RKey: "k", SwapRecord: &wrong2}}, ErrSwapRecord},
		{[]Write{{Action: ActionCreate, Collection: "not an nsid", Record: post(2)}}, ErrInvalidWrite},
		{[]Write{{Action: ActionCreate, Collection: "a.b.c", RKey: "..", Record: post(2)}}, ErrInvalidWrite},
		{[]Write{{Action: "upsert", Collection: "a.b.c", Record: post(2)}}, ErrInvalidWrite},
		{[]Write{{Action: ActionCreate, Collection: "a.b.c", Record: "a string"}}, ErrInvalidWrite},
		{[]Write{{Action: ActionCreate, Collection: "a.b.c", RKey: "z", Record: post(1)}, {Action: ActionDelete, Collection: "a.b.c", RKey: "z"}}, ErrInvalidWrite},
		{nil, ErrInvalidWrite},
	}
	for i, c := range cases {
		if c.want == nil {
			continue
		}
		if _, err := r.Apply(ctx, c.ws, ApplyOptions{}); !errors.Is(err, c.want) {
			t.Errorf("case %d: %v, want %v", i, err, c.want)
		}
		if r.Head() != head {
			t.Fatalf("case %d changed the head", i)
		}
	}
	// A correct swapRecord works.
	if _, err := r.Apply(ctx, []Write{{Action: ActionDelete, Collection: "a.b.c", RKey: "k", SwapRecord: &wrong}}, ApplyOptions{SwapCommit: head.Commit}); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(ctx, r.Store(), testDID, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Apply(ctx, []Write{{Action: ActionCreate, Collection: "a.b.c", Record: post(1)}}, ApplyOptions{}); !errors.Is(err, ErrInvalidWrite) {
		t.Fatalf("read-only write: %v", err)
	}
}

// Concurrent writers through two handles of one store never lose updates.
func TestConcurrentWriters(t *testing.T) {
	testStores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		key := testKeys(t)["P-256"]
		// Both handles get a large retry budget: on the fast memory store
		// the other handle's two goroutines can land commits faster than
		// one handle rebuilds, and with the default 8 retries Apply would
		// (correctly) report ErrConflict instead of committing, which this
		// test, asserting that every write lands, does not allow.
		r1, err := Create(ctx, s, testDID, key, Options{Now: fakeClock(), MaxConflictRetries: 1000})
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Open(ctx, s, testDID, key, Options{Now: fakeClock(), ClockID: 1, MaxConflictRetries: 1000})
		if err != nil {
			t.Fatal(err)
		}
		const per = 15
		var wg sync.WaitGroup
		errs := make(chan error, 4*per)
		for g := 0; g < 4; g++ {
			h := r1
			if g%2 == 1 {
				h = r2
			}
			wg.Add(1)
			go func(g int, h *Repo) {
				defer wg.Done()
				for i := 0; i < per; i++ {
					_, err := h.Apply(ctx, []Write{{Action: ActionCreate, Collection: "a.b.c", RKey: fmt.Sprintf("g%d-%d", g, i), Record: post(i)}}, ApplyOptions{})
					if err != nil {
						errs <- err
					}
				}
			}(g, h)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		ro, _ := Open(ctx, s, testDID, nil, Options{})
		n := 0
		if err := ro.Tree().Walk(ctx, func(string, cid.Cid) error { n++; return nil }); err != nil || n != 4*per {
			t.Fatalf("%d records, %v", n, err)
		}
		evs, _ := ReadEvents(ctx, s, EventsOptions{DID: testDID, Limit: 1000})
		if len(evs) != 4*per+1 {
			t.Fatalf("%d events", len(evs))
		}
		pub, _ := key.PublicKey()
		var st *SyncState
		for i, ev := range evs {
			if st, err = VerifyCommitEvent(ctx, ev.Commit, CommitCheckOptions{Key: pub, DID: testDID, Known: st, Now: consumerClock}); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
		}
	})
}

// A copy of the repository at rev R plus ExportSince(R) holds the whole
// head: together they verify as a complete repository.
func TestExportSinceCompletes(t *testing.T) {
	testStores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		key := testKeys(t)["K-256"]
		pub, _ := key.PublicKey()
		r, err := Create(ctx, s, testDID, key, Options{Now: fakeClock()})
		if err != nil {
			t.Fatal(err)
		}
		var first []WriteResult
		for b := 0; b < 3; b++ {
			var ws []Write
			for i := 0; i < 30; i++ {
				ws = append(ws, Write{Action: ActionCreate, Collection: "app.bsky.feed.post", Record: post(b*100 + i)})
			}
			res, err := r.Apply(ctx, ws, ApplyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			first = append(first, res.Results...)
		}
		var early bytes.Buffer
		if err := r.Export(ctx, &early); err != nil {
			t.Fatal(err)
		}
		since := r.Head().Rev
		for b := 0; b < 3; b++ {
			ws := []Write{
				{Action: ActionCreate, Collection: "app.bsky.feed.like", Record: post(b)},
				{Action: ActionUpdate, Collection: "app.bsky.feed.post", RKey: first[b].RKey, Record: post(1000 + b)},
				{Action: ActionDelete, Collection: "app.bsky.feed.post", RKey: first[10+b].RKey},
			}
			if _, err := r.Apply(ctx, ws, ApplyOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		var diff bytes.Buffer
		if err := r.ExportSince(ctx, &diff, since); err != nil {
			t.Fatal(err)
		}
		_, old, err := readCAR(bytes.NewReader(early.Bytes()), CAROptions{})
		if err != nil {
			t.Fatal(err)
		}
		root, added, err := readCAR(bytes.NewReader(diff.Bytes()), CAROptions{})
		if err != nil || root != r.Head().Commit {
			t.Fatalf("diff root: %v", err)
		}
		if len(added) >= len(old) {
			t.Fatalf("diff has %d blocks, full repo %d", len(added), len(old))
		}
		var merged []Block
		merged = append(merged, Block{CID: root, Data: added[root]})
		for c, d := range old {
			merged = append(merged, Block{CID: c, Data: d})
		}
		for c, d := range added {
			merged = append(merged, Block{CID: c, Data: d})
		}
		v, err := VerifyCAR(ctx, bytes.NewReader(rawCAR([]cid.Cid{root}, merged)), VerifyOptions{Key: pub, DID: testDID})
		if err != nil {
			t.Fatalf("old + diff does not verify: %v", err)
		}
		if len(v.Records) != 90+3-3 {
			t.Fatalf("%d records", len(v.Records))
		}
	})
}

// Tampered blocks in a #commit event are caught: the commit, a record of an
// op, an MST node.
func TestVerifyCommitEventTampered(t *testing.T) {
	ctx := context.Background()
	key := testKeys(t)["P-256"]
	pub, _ := key.PublicKey()
	r, _ := postRepo(t, key, 50)
	res, err := r.Apply(ctx, []Write{{Action: ActionCreate, Collection: "app.bsky.feed.post", Record: post(99)}}, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev := res.Event
	if _, err := VerifyCommitEvent(ctx, ev, CommitCheckOptions{Key: pub, DID: testDID, Now: consumerClock}); err != nil {
		t.Fatal(err)
	}
	root, blocks := carSections(t, ev.Blocks)
	recCID := *ev.Ops[0].CID
	tree := r.Tree()
	node, _ := tree.Root(ctx)
	for _, target := range []cid.Cid{root, recCID, node} {
		var bs []Block
		for _, b := range blocks {
			if b.CID == target {
				d := bytes.Clone(b.Data)
				d[len(d)/2] ^= 0x20
				b = Block{CID: b.CID, Data: d}
			}
			bs = append(bs, b)
		}
		bad := *ev
		bad.Blocks = rawCAR([]cid.Cid{root}, bs)
		if _, err := VerifyCommitEvent(ctx, &bad, CommitCheckOptions{Key: pub, DID: testDID, Now: consumerClock}); !errors.Is(err, ErrBlockHash) {
			t.Errorf("tampered %s: %v", target, err)
		}
	}
}

func TestSyncEvents(t *testing.T) {
	testStores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		key := testKeys(t)["K-256"]
		pub, _ := key.PublicKey()
		r, err := Create(ctx, s, testDID, key, Options{Now: fakeClock()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Apply(ctx, []Write{{Action: ActionCreate, Collection: "a.b.c", Record: post(1)}}, ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		head := r.Head()
		sev, err := r.EmitSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Head() != head {
			t.Fatal("EmitSync moved the head")
		}
		evs, err := ReadEvents(ctx, s, EventsOptions{DID: testDID, Limit: 10})
		if err != nil || len(evs) != 3 || evs[2].Sync == nil || evs[2].Seq != sev.Seq {
			t.Fatalf("events: %+v %v", evs, err)
		}
		st, err := VerifySyncEvent(ctx, evs[2].Sync, SyncCheckOptions{Key: pub, DID: testDID, Now: consumerClock})
		if err != nil || st.Commit != head.Commit || st.Data != head.Data {
			t.Fatalf("VerifySyncEvent: %v", err)
		}
		other, _ := testKeys(t)["K-256"].PublicKey()
		if _, err := VerifySyncEvent(ctx, evs[2].Sync, SyncCheckOptions{Key: other, DID: testDID, Now: consumerClock}); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("wrong key: %v", err)
		}
		bad := *evs[2].Sync
		bad.Rev = "2222222222222"
		if _, err := VerifySyncEvent(ctx, &bad, SyncCheckOptions{Key: pub, DID: testDID, Now: consumerClock}); !errors.Is(err, ErrBadEvent) {
			t.Fatalf("wrong rev: %v", err)
		}
		if _, err := VerifySyncEvent(ctx, evs[2].Sync, SyncCheckOptions{Now: consumerClock}); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("no key: %v", err)
		}
		if st2, err := VerifySyncEvent(ctx, evs[2].Sync, SyncCheckOptions{InsecureSkipSignature: true, Now: consumerClock}); err != nil || st2.Commit != head.Commit {
			t.Fatalf("InsecureSkipSignature: %v", err)
		}
		if _, err := VerifySyncEvent(ctx, evs[2].Sync, SyncCheckOptions{Key: other, DID: testDID, InsecureSkipSignature: true, Now: consumerClock}); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("InsecureSkipSignature with a key: %v, want ErrBadSignature", err)
		}
		// Known: the rev must move forward, the DID must match.
		if _, err := VerifySyncEvent(ctx, evs[2].Sync, SyncCheckOptions{Key: pub, DID: testDID, Known: &SyncState{DID: testDID, Rev: head.Rev}, Now: consumerClock}); !errors.Is(err, ErrRevOrder) {
			t.Fatalf("known rev: %v", err)
		}
		if _, err := VerifySyncEvent(ctx, evs[2].Sync, SyncCheckOptions{Key: pub, DID: testDID, Known: &SyncState{DID: "did:plc:someoneelse", Rev: "2222222222222"}, Now: consumerClock}); !errors.Is(err, ErrBadEvent) {
			t.Fatalf("known DID: %v", err)
		}
		if _, err := VerifySyncEvent(ctx, evs[2].Sync, SyncCheckOptions{Key: pub, DID: testDID, Known: &SyncState{DID: testDID, Rev: "2222222222222"}, Now: consumerClock}); err != nil {
			t.Fatalf("older known rev: %v", err)
		}
		// Now: a rev far in the future of the consumer's clock.
		past := func() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }
		if _, err := VerifySyncEvent(ctx, evs[2].Sync, SyncCheckOptions{Key: pub, DID: testDID, Now: past}); !errors.Is(err, ErrFutureRev) {
			t.Fatalf("future rev: %v", err)
		}
		if _, err := VerifySyncEvent(ctx, evs[2].Sync, SyncCheckOptions{Key: pub, DID: testDID, Now: fakeClock()}); err != nil {
			t.Fatalf("clock: %v", err)
		}
		// CAR: the bound applies.
		if _, err := VerifySyncEvent(ctx, evs[2].Sync, SyncCheckOptions{Key: pub, DID: testDID, CAR: CAROptions{MaxCARBytes: int64(len(evs[2].Sync.Blocks) - 1)}, Now: consumerClock}); !errors.Is(err, ErrMalformedCAR) {
			t.Fatalf("CAR bound: %v", err)
		}
		if _, err := VerifySyncEvent(ctx, nil, SyncCheckOptions{Key: pub, DID: testDID, Now: consumerClock}); !errors.Is(err, ErrBadEvent) {
			t.Fatalf("nil event: %v", err)
		}
		// Writing continues after a #sync.
		if _, err := r.Apply(ctx, []Write{{Action: ActionCreate, Collection: "a.b.c", Record: post(2)}}, ApplyOptions{SwapCommit: head.Commit}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestEventFrame(t *testing.T) {
	ctx := context.Background()
	key := testKeys(t)["P-256"]
	r, err := Create(ctx, NewMemStore(), testDID, key, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Apply(ctx, []Write{{Action: ActionCreate, Collection: "a.b.c", Record: post(1)}}, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	frame, err := (&Event{Seq: res.Seq, Commit: res.Event}).Frame()
	if err != nil {
		t.Fatal(err)
	}
	var hdr frameHeader
	rest, err := drisl.UnmarshalFirst(frame, &hdr)
	if err != nil || hdr.Op != 1 || hdr.T != KindCommit {
		t.Fatalf("header %+v %v", hdr, err)
	}
	// indigo decodes the body.
	var m comatproto.SyncSubscribeRepos_Commit
	if err := m.UnmarshalCBOR(bytes.NewReader(rest)); err != nil || m.Seq != res.Seq || m.Rev != res.Rev {
		t.Fatalf("body: %v", err)
	}
	if _, err := (&Event{}).Frame(); !errors.Is(err, ErrBadEvent) {
		t.Fatalf("empty event: %v", err)
	}
}

// Large mixed batches (creates, updates, deletes across the key space)
// produce #commit events that indigo and our consumer check both accept.
func TestLargeMixedBatchesIndigo(t *testing.T) {
	ctx := context.Background()
	key := testKeys(t)["K-256"]
	pub, _ := key.PublicKey()
	s := NewMemStore()
	r, err := Create(ctx, s, testDID, key, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	var ws []Write
	for i := 0; i < 400; i++ {
		ws = append(ws, Write{Action: ActionCreate, Collection: "app.bsky.feed.post", RKey: fmt.Sprintf("k%05d", i*7%400), Record: post(i)})
	}
	if _, err := r.Apply(ctx, ws, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ {
		ws = ws[:0]
		for i := round; i < 400; i += 4 {
			rk := fmt.Sprintf("k%05d", i)
			switch (i / 4) % 3 {
			case 0:
				ws = append(ws, Write{Action: ActionDelete, Collection: "app.bsky.feed.post", RKey: rk})
			case 1:
				ws = append(ws, Write{Action: ActionUpdate, Collection: "app.bsky.feed.post", RKey: rk, Record: post(1000*round + i)})
			}
			ws = append(ws, Write{Action: ActionCreate, Collection: "app.bsky.feed.like", RKey: fmt.Sprintf("r%d-%05d", round, i), Record: post(i)})
		}
		if _, err := r.Apply(ctx, ws, ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := ReadEvents(ctx, s, EventsOptions{DID: testDID, Limit: 100})
	if err != nil || len(evs) != 5 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	// The 400-op commit exceeds the 200 ops of a #commit: it is a #sync.
	if evs[1].Sync == nil || evs[1].Commit != nil {
		t.Fatal("the 400-op commit is not announced by #sync")
	}
	var st *SyncState
	for i, ev := range evs {
		if ev.Sync != nil {
			if st, err = VerifySyncEvent(ctx, ev.Sync, SyncCheckOptions{Key: pub, DID: testDID, Now: consumerClock}); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
			continue
		}
		if len(ev.Commit.Ops) > MaxEventOps {
			t.Fatalf("event %d has %d ops", i, len(ev.Commit.Ops))
		}
		if _, err := indigorepo.VerifyCommitMessage(ctx, toIndigo(t, ev.Commit)); err != nil {
			t.Fatalf("indigo rejects event %d: %v", i, err)
		}
		if st, err = VerifyCommitEvent(ctx, ev.Commit, CommitCheckOptions{Key: pub, DID: testDID, Known: st, Now: consumerClock}); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if st.Commit != r.Head().Commit {
		t.Fatal("log does not end at the head")
	}
	// A consumer refuses an oversized #commit.
	big := *evs[2].Commit
	for len(big.Ops) <= MaxEventOps {
		big.Ops = append(big.Ops, big.Ops...)
	}
	if _, err := VerifyCommitEvent(ctx, &big, CommitCheckOptions{Key: pub, DID: testDID, Now: consumerClock}); !errors.Is(err, ErrBadEvent) {
		t.Fatalf("oversized event: %v", err)
	}
}

// TestApplyPreEncoded checks Write.RecordCID: pre-encoded records commit
// to the same tree as encoded ones, and every mismatch is refused.
func TestApplyPreEncoded(t *testing.T) {
	ctx := context.Background()
	key := fixedKey(t)
	plain, err := Create(ctx, NewMemStore(), testDID, key, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	pre, err := Create(ctx, NewMemStore(), testDID, key, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	var pws, ews []Write
	for i := 0; i < 10; i++ {
		data, c, err := drisl.MarshalCID(post(i))
		if err != nil {
			t.Fatal(err)
		}
		rkey := fmt.Sprintf("3k%011d", i)
		pws = append(pws, Write{Action: ActionCreate, Collection: "app.bsky.feed.post", RKey: rkey, Record: post(i)})
		ews = append(ews, Write{Action: ActionCreate, Collection: "app.bsky.feed.post", RKey: rkey, Record: drisl.Raw(data), RecordCID: c})
	}
	a, err := plain.Apply(ctx, pws, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := pre.Apply(ctx, ews, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Data != b.Data {
		t.Fatalf("data roots differ: %s %s", a.Data, b.Data)
	}
	for i := range a.Results {
		if a.Results[i].CID != b.Results[i].CID {
			t.Fatalf("write %d: %s %s", i, a.Results[i].CID, b.Results[i].CID)
		}
	}
	var buf bytes.Buffer
	if err := pre.Export(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	pub, _ := key.PublicKey()
	if _, err := VerifyCAR(ctx, bytes.NewReader(buf.Bytes()), VerifyOptions{Key: pub, DID: testDID}); err != nil {
		t.Fatalf("exported repository: %v", err)
	}

	data, c, _ := drisl.MarshalCID(post(100))
	other, _, _ := drisl.MarshalCID(post(101))
	list, lc, _ := drisl.MarshalCID([]any{int64(1)})
	nan := []byte{0xa1, 0x61, 0x61, 0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0} // {"a": NaN}
	bad := map[string]Write{
		"other bytes": {Record: drisl.Raw(other), RecordCID: c},
		"raw codec":   {Record: drisl.Raw(data), RecordCID: drisl.SumCID(drisl.CodecRaw, data)},
		"not Raw":     {Record: post(100), RecordCID: c},
		"bytes slice": {Record: data, RecordCID: c},
		"not DRISL":   {Record: drisl.Raw(nan), RecordCID: drisl.SumCID(drisl.CodecDagCBOR, nan)},
		"trailing":    {Record: drisl.Raw(append(bytes.Clone(data), 0x01)), RecordCID: drisl.SumCID(drisl.CodecDagCBOR, append(bytes.Clone(data), 0x01))},
		"not a map":   {Record: drisl.Raw(list), RecordCID: lc},
		"empty":       {Record: drisl.Raw(nil), RecordCID: drisl.SumCID(drisl.CodecDagCBOR, nil)},
	}
	head := pre.Head()
	for name, w := range bad {
		w.Action, w.Collection, w.RKey = ActionCreate, "app.bsky.feed.post", "3kbad"
		_, err := pre.Apply(ctx, []Write{w}, ApplyOptions{})
		if !errors.Is(err, ErrInvalidWrite) {
			t.Errorf("%s: %v", name, err)
			continue
		}
		// The rule that failed is said in lowercase after the write's
		// index, and a CID that is not the bytes' is ErrRecordCID.
		if _, detail, _ := strings.Cut(err.Error(), "write 0: "); detail == "" || unicode.IsUpper(rune(detail[0])) {
			t.Errorf("%s: %q", name, err)
		}
		if wantCID := name == "other bytes" || name == "raw codec"; errors.Is(err, ErrRecordCID) != wantCID {
			t.Errorf("%s: %v; ErrRecordCID %v, want %v", name, err, errors.Is(err, ErrRecordCID), wantCID)
		}
	}
	if _, err := pre.Apply(ctx, []Write{{Action: ActionCreate, Collection: "app.bsky.feed.post", RKey: "3kbad", Record: drisl.Raw(other), RecordCID: c}}, ApplyOptions{}); !errors.Is(err, ErrRecordCID) {
		t.Errorf("wrong CID: %v", err)
	}
	if pre.Head() != head {
		t.Fatal("a refused write moved the head")
	}
	// A block taken on InsecureSkipRecordCheck's word does not vouch for a
	// later write of the same slice without it: that one is checked.
	shared := drisl.Raw(other)
	_, err = pre.Apply(ctx, []Write{
		{Action: ActionCreate, Collection: "app.bsky.feed.post", RKey: "3kbad1", Record: shared, RecordCID: c, InsecureSkipRecordCheck: true},
		{Action: ActionCreate, Collection: "app.bsky.feed.post", RKey: "3kbad2", Record: shared, RecordCID: c},
	}, ApplyOptions{})
	if !errors.Is(err, ErrRecordCID) || !strings.Contains(err.Error(), "write 1") {
		t.Errorf("unchecked write after a skipped one of the same slice: %v, want ErrRecordCID at write 1", err)
	}
	if pre.Head() != head {
		t.Fatal("a refused write moved the head")
	}
}

// TestApplySharedBlock: writes that share one pre-encoded slice (as a
// community's receipts of one request do) store their block once (one
// SQLite row, not one per write), and the commit still verifies; bytes of
// the same CID in another slice are checked on their own.
func TestApplySharedBlock(t *testing.T) {
	ctx := context.Background()
	key := fixedKey(t)
	st, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "r.db"), SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := Create(ctx, st, testDID, key, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	data, c, err := drisl.MarshalCID(post(7))
	if err != nil {
		t.Fatal(err)
	}
	var ws []Write
	for i := 0; i < 3; i++ {
		ws = append(ws, Write{Action: ActionCreate, Collection: "app.bsky.feed.post", RKey: fmt.Sprintf("3k%011d", i), Record: drisl.Raw(data), RecordCID: c})
	}
	res, err := r.Apply(ctx, ws, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, wr := range res.Results {
		if wr.CID != c {
			t.Fatalf("write %d: %s, want %s", i, wr.CID, c)
		}
	}
	var rows int
	if err := st.db.QueryRowContext(ctx, `SELECT count(*) FROM blocks WHERE cid = ?`, c.Bytes()).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("the shared record is stored in %d rows (%v), want 1", rows, err)
	}
	pub, _ := key.PublicKey()
	if _, err := VerifyCommitEvent(ctx, res.Event, CommitCheckOptions{Key: pub, DID: testDID, Now: consumerClock}); err != nil {
		t.Fatalf("event: %v", err)
	}
	// Same CID, other memory holding other bytes: verified, refused.
	other, _, _ := drisl.MarshalCID(post(8))
	head := r.Head()
	bad := []Write{ws[0], ws[0]}
	bad[0].RKey, bad[1].RKey = "3kshared1", "3kshared2"
	bad[1].Record = drisl.Raw(other)
	if _, err := r.Apply(ctx, bad, ApplyOptions{}); !errors.Is(err, ErrRecordCID) {
		t.Fatalf("other bytes under the shared CID: %v", err)
	}
	if r.Head() != head {
		t.Fatal("a refused write moved the head")
	}
}

// A large batch, whose records are encoded in parallel, still reports the
// first failing write whichever check fails, and its results are the
// records' CIDs in order.
func TestApplyLargeBatchErrors(t *testing.T) {
	ctx := context.Background()
	r, err := Create(ctx, NewMemStore(), testDID, testKeys(t)["P-256"], Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	batch := func(n int) []Write {
		ws := make([]Write, n)
		for i := range ws {
			ws[i] = Write{Action: ActionCreate, Collection: "a.b.c", Record: post(i)}
		}
		return ws
	}
	head := r.Head()
	for _, c := range []struct {
		badRecord, badColl int // -1: none
		want               string
	}{
		{150, 170, "write 150:"},
		{170, 150, "write 150:"},
		{3, -1, "write 3:"},
		{299, -1, "write 299:"},
		{-1, 298, "write 298:"},
	} {
		ws := batch(300)
		if c.badRecord >= 0 {
			ws[c.badRecord].Record = "not a map"
		}
		if c.badColl >= 0 {
			ws[c.badColl].Collection = "not an nsid"
		}
		_, err := r.Apply(ctx, ws, ApplyOptions{})
		if !errors.Is(err, ErrInvalidWrite) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bad record %d, bad collection %d: %v, want %q", c.badRecord, c.badColl, err, c.want)
		}
		if r.Head() != head {
			t.Fatal("a refused batch changed the head")
		}
	}
	ws := batch(1000)
	res, err := r.Apply(ctx, ws, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range ws {
		_, c, err := drisl.MarshalCID(w.Record)
		if err != nil {
			t.Fatal(err)
		}
		if res.Results[i].CID != c {
			t.Fatalf("write %d: CID %s, want %s", i, res.Results[i].CID, c)
		}
		if got, err := r.Store().Record(ctx, testDID, "a.b.c", res.Results[i].RKey); err != nil || got != c {
			t.Fatalf("write %d: stored %s, %v", i, got, err)
		}
	}
}
