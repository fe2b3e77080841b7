package repo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
)

// receiptBatches makes the writes of group commits as package community
// makes them for a /repo/batch of n chat messages: n pre-encoded records
// under TID keys, then their n receipts (one shared block, under keys of
// the receipt collection), all with InsecureSkipRecordCheck. Its batch
// function returns the next commit's writes; the n record blocks are
// encoded once and reused by every commit (under new keys), so that making
// a batch costs little beside Apply.
type receiptBatches struct {
	seq   int
	data  [][]byte
	cids  []cid.Cid
	rdata []byte
	rcid  cid.Cid
}

func newReceiptBatches(tb testing.TB, n int) *receiptBatches {
	g := &receiptBatches{data: make([][]byte, n), cids: make([]cid.Cid, n)}
	var err error
	for i := range n {
		if g.data[i], g.cids[i], err = drisl.MarshalCID(map[string]any{"$type": "dev.townhall.chat.message",
			"text": fmt.Sprintf("message number %d", i), "createdAt": "2026-01-02T03:04:05.000Z"}); err != nil {
			tb.Fatal(err)
		}
	}
	if g.rdata, g.rcid, err = drisl.MarshalCID(map[string]any{"$type": "dev.townhall.community.receipt",
		"author": testDID}); err != nil {
		tb.Fatal(err)
	}
	return g
}

func (g *receiptBatches) batch() []Write {
	n := len(g.data)
	ws := make([]Write, 0, 2*n)
	for i := range n {
		rkey := syntax.NewTID(1_767_000_000_000_000+int64(g.seq)*1000, 0).String()
		g.seq++
		ws = append(ws, Write{Action: ActionCreate, Collection: "dev.townhall.chat.message", RKey: rkey,
			Record: drisl.Raw(g.data[i]), RecordCID: g.cids[i], InsecureSkipRecordCheck: true})
	}
	for i := range n {
		ws = append(ws, Write{Action: ActionCreate, Collection: "dev.townhall.community.receipt", RKey: "bhjd6zd5nvogjkfq~" + ws[i].RKey,
			Record: drisl.Raw(g.rdata), RecordCID: g.rcid, InsecureSkipRecordCheck: true})
	}
	return ws
}

// BenchmarkApplyReceipts commits group commits shaped like package
// community's bulk imports (256 chat messages and their 256 receipts, each
// commit announced by a #sync event) to a MemStore repository that holds
// 20,480 records and receipts already: what the community's writer asks of
// Apply, without SQLite. The writes are built before the timer runs.
func BenchmarkApplyReceipts(b *testing.B) {
	ctx := context.Background()
	key, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		b.Fatal(err)
	}
	r, err := Create(ctx, NewMemStore(), testDID, key, Options{Now: fakeClock()})
	if err != nil {
		b.Fatal(err)
	}
	g := newReceiptBatches(b, 256)
	for range 40 {
		if _, err := r.Apply(ctx, g.batch(), ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	batches := make([][]Write, b.N)
	for i := range batches {
		batches[i] = g.batch()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := r.Apply(ctx, batches[i], ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFirstRepeat checks firstRepeat against a set of the paths so far on
// batches made of runs of increasing keys of two collections (disjoint,
// overlapping, with and without a repeat) and of keys in random order.
func TestFirstRepeat(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	naive := func(ps []prepared) int {
		seen := map[string]bool{}
		for i, p := range ps {
			if seen[p.path] {
				return i
			}
			seen[p.path] = true
		}
		return -1
	}
	// Writes of two collections: a run ends where the collection changes.
	writes := []Write{{Collection: "a.b"}, {Collection: "a.b.c"}}
	found := 0
	for range 3000 {
		var ps []prepared
		for range 1 + r.IntN(6) {
			base, n := r.IntN(200), 1+r.IntN(40)
			step := 1 + r.IntN(3)
			if r.IntN(8) == 0 {
				step = 0 // a run of one repeated key
			}
			w := &writes[r.IntN(len(writes))]
			for j := range n {
				ps = append(ps, prepared{w: w, path: fmt.Sprintf("%s/%04d", w.Collection, base+j*step)})
			}
		}
		if r.IntN(4) == 0 {
			r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		}
		want := naive(ps)
		if want >= 0 {
			found++
		}
		if got := firstRepeat(ps); got != want {
			t.Fatalf("firstRepeat = %d, want %d (%d paths)", got, want, len(ps))
		}
	}
	if found < 300 || found > 2700 {
		t.Fatalf("%d of 3000 batches had a repeat: the test needs both kinds", found)
	}
}
