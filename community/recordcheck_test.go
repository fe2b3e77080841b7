package community

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// checkWrites returns n creates of chat messages shaped like the import
// example's (about 200 bytes of DRISL each; every fourth a reply), with
// record keys that start at TID clock time base.
func checkWrites(n int) []Write {
	ws := make([]Write, n)
	for i := range ws {
		rec := map[string]any{"$type": NSIDMessage, "channel": fmt.Sprintf("3lchannel%04d", i%7),
			"text":      fmt.Sprintf("message %d of the import, with enough text to look like a line of a chat export", i),
			"createdAt": fmt.Sprintf("2026-11-20T23:%02d:%02d.000Z", i/60%60, i%60)}
		if i%4 == 3 {
			rec["replyTo"] = newTID()
		}
		ws[i] = Write{Action: repo.ActionCreate, Collection: NSIDMessage, RKey: newTID(), Record: rec}
	}
	return ws
}

// checkBatch returns a community on a memory host, and a /repo/batch of n
// chat messages signed by its founder, parsed (not validated: the
// benchmark checks the writes, not the chain, and may check one
// invocation many times).
func checkBatch(tb testing.TB, n int) (*Community, *ucan.Invocation, string, [][]byte) {
	tb.Helper()
	w := newWorld(tb)
	h := w.newHost(memHost, "host")
	h.limits.MaxBatchWrites = max(n, DefaultMaxBatchWrites) // as the import example raises it
	c, founder := w.newCommunity(h, "")
	req := w.rq(founder.sess.Batch(checkWrites(n)))
	inv, err := ucan.ParseInvocation(req.Invocation)
	if err != nil {
		tb.Fatal(err)
	}
	member, ok := c.memberOf(inv.Issuer)
	if !ok {
		tb.Fatal("the founder's session key is bound to no member")
	}
	return c, inv, member, req.Records
}

// BenchmarkWriteOps checks a /repo/batch of 256 chat messages as Invoke
// does once the invocation is validated (the import example's -batch
// 256): arguments parsed, every record's CID, DRISL, data model and
// lexicon checked, and the receipt and invocation record built; nothing is
// committed.
func BenchmarkWriteOps(b *testing.B) {
	c, inv, member, records := checkBatch(b, 256)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.writeOps(ctx, inv, member, records); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBatchRecordCIDMismatch: a batch's records are hashed together
// (eight at a time), and a record whose bytes are not the CID its write
// names is refused with the index of that write: the first such write,
// counted among all the writes (a delete carries no record), whichever
// lane hashed it. Nothing is written.
func TestBatchRecordCIDMismatch(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	c, founder := w.newCommunity(w.newHost(memHost, "host"), "")
	ws := checkWrites(20)
	ws[2] = Write{Action: repo.ActionDelete, Collection: NSIDMessage, RKey: newTID()} // no record
	before := c.Repo().Head()
	for _, tc := range []struct {
		name  string
		bad   []int // writes whose record is swapped
		index int   // the write the error names
	}{
		{"first write", []int{0}, 0},
		{"write 5 (record 4)", []int{5}, 5},
		{"writes 5 and 9", []int{9, 5}, 5},
		{"last write", []int{19}, 19},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := w.rq(founder.sess.Batch(ws))
			var swapped []byte
			var named cid.Cid
			for j, b := range tc.bad {
				r := b
				if b > 2 {
					r-- // the delete at 2 has no record
				}
				if b == tc.index {
					named = drisl.SumCID(drisl.CodecDagCBOR, req.Records[r])
				}
				req.Records[r] = m(drisl.Marshal(message(fmt.Sprintf("swapped %d", j)))).must(t)
				if b == tc.index {
					swapped = req.Records[r]
				}
			}
			_, err := c.Invoke(ctx, req)
			var e *Error
			if !errors.Is(err, ErrBadRequest) || !errors.As(err, &e) || e.Index != tc.index {
				t.Fatalf("got %v, want %v at write %d", err, ErrBadRequest, tc.index)
			}
			want := fmt.Sprintf("record bytes hash to %s, the invocation names %s",
				drisl.SumCID(drisl.CodecDagCBOR, swapped), named)
			if e.Detail != want {
				t.Fatalf("detail %q, want %q", e.Detail, want)
			}
		})
	}
	if after := c.Repo().Head(); after != before {
		t.Fatalf("head moved from %v to %v", before, after)
	}
}

// TestCopyAndHash: the copies lie back to back, end where ends says, and
// hash to their digests, for empty, short and multi-block records.
func TestCopyAndHash(t *testing.T) {
	var records [][]byte
	for _, n := range []int{0, 1, 55, 56, 64, 0, 200, 1000, 3, 0} {
		r := make([]byte, n)
		for j := range r {
			r[j] = byte(n + j)
		}
		records = append(records, r)
	}
	arena, sums, ends := copyAndHash(records)
	start := 0
	for i, r := range records {
		got := arena[start:ends[i]]
		if !bytes.Equal(got, r) {
			t.Fatalf("record %d: copy %x, want %x", i, got, r)
		}
		if sums[i] != sha256.Sum256(r) {
			t.Fatalf("record %d: digest differs from sha256.Sum256", i)
		}
		start = ends[i]
	}
	if start != len(arena) {
		t.Fatalf("copies end at %d, arena is %d bytes", start, len(arena))
	}
}

// TestWriteOpsRepeatedPath: a request that names a path twice is refused
// at the second write naming it, whether the paths before it ascend (the
// usual batch of TIDs, checked without a set) or not; paths in any order
// that do not repeat pass.
func TestWriteOpsRepeatedPath(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	c, founder := w.newCommunity(w.newHost(memHost, "host"), "")
	ws := checkWrites(4) // ascending record keys
	a, b, cc, d := ws[0], ws[1], ws[2], ws[3]
	for _, tc := range []struct {
		name  string
		ws    []Write
		index int // -1: accepted
	}{
		{"ascending", []Write{a, b, cc, d}, -1},
		{"descending", []Write{d, cc, b, a}, -1},
		{"mixed", []Write{b, a, d, cc}, -1},
		{"ascending, then the first again", []Write{a, b, cc, a}, 3},
		{"twice in a row", []Write{a, b, b, cc}, 2},
		{"after a descent", []Write{cc, a, d, a}, 3},
		{"a delete of a written path", []Write{a, b, {Action: repo.ActionDelete, Collection: a.Collection, RKey: a.RKey}}, 2},
	} {
		req := w.rq(founder.sess.Batch(tc.ws))
		inv, err := ucan.ParseInvocation(req.Invocation)
		if err != nil {
			t.Fatal(err)
		}
		member, _ := c.memberOf(inv.Issuer)
		ops, err := c.writeOps(ctx, inv, member, req.Records)
		if tc.index < 0 {
			if err != nil || len(ops) != len(tc.ws)+1 {
				t.Fatalf("%s: %d ops, %v", tc.name, len(ops), err)
			}
			for i, o := range ops[:len(tc.ws)] {
				if want := tc.ws[i].Collection + "/" + tc.ws[i].RKey; o.path() != want {
					t.Fatalf("%s: op %d path %q, want %q", tc.name, i, o.path(), want)
				}
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrBadRequest) || e.Index != tc.index || e.Detail != "path written twice" {
			t.Fatalf("%s: %v, want path written twice at %d", tc.name, err, tc.index)
		}
	}
}
