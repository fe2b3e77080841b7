package repo

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/internal/testvectors"
	"github.com/townhall-dev/townhall/mst"
)

// loadFirehoseJSON reads a #commit message in its JSON form through the
// atproto data model.
func loadFirehoseJSON(t *testing.T, path string) *CommitEvent {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := drisl.UnmarshalJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	for k, x := range m {
		if x == nil && k != "since" {
			delete(m, k) // "blobs": null, legacy "prev": null
		}
	}
	b, err := drisl.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var ev CommitEvent
	if err := drisl.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return &ev
}

// The 4 real firehose commits. Their signing keys belong to did:plc
// identities that cannot be resolved offline, so the signature check is
// skipped (InsecureSkipSignature) and everything else is checked: CAR,
// hashes, commit structure, ops against the tree. They predate prevData, so
// there is no inversion; with a known state they must be rejected.
func TestFirehoseVectors(t *testing.T) {
	files, _ := filepath.Glob("testdata/indigo-firehose/*.json")
	if len(files) != 4 {
		t.Fatalf("%d vector files", len(files))
	}
	ctx := context.Background()
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ev := loadFirehoseJSON(t, f)
			relay := eventClock(t, ev.Time) // the consumer's clock: when the event was emitted
			st, err := VerifyCommitEvent(ctx, ev, CommitCheckOptions{InsecureSkipSignature: true, Now: relay})
			if err != nil {
				t.Fatal(err)
			}
			if st.Commit != ev.Commit || st.Rev != ev.Rev {
				t.Fatalf("state %+v", st)
			}
			// Without a key and without the insecure flag: refused.
			if _, err := VerifyCommitEvent(ctx, ev, CommitCheckOptions{Now: relay}); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("no key: %v", err)
			}
			// A known later rev: out of order.
			if _, err := VerifyCommitEvent(ctx, ev, CommitCheckOptions{InsecureSkipSignature: true, Known: &SyncState{Rev: "3zzzzzzzzzzzz"}, Now: relay}); !errors.Is(err, ErrRevOrder) {
				t.Fatalf("rev order: %v", err)
			}
			// A known earlier state: no prevData to link to it.
			if _, err := VerifyCommitEvent(ctx, ev, CommitCheckOptions{InsecureSkipSignature: true, Known: &SyncState{Rev: "2222222222222"}, Now: relay}); !errors.Is(err, ErrPrevData) {
				t.Fatalf("missing prevData: %v", err)
			}
			// An op naming a record the tree does not hold.
			bad := *ev
			bad.Ops = append([]EventOp(nil), ev.Ops...)
			other := blk("other").CID
			bad.Ops[0].CID = &other
			if _, err := VerifyCommitEvent(ctx, &bad, CommitCheckOptions{InsecureSkipSignature: true, Now: relay}); !errors.Is(err, ErrMissingBlock) && !errors.Is(err, ErrBadEvent) {
				t.Fatalf("bad op: %v", err)
			}
			// A commit CID that is not the CAR root.
			bad = *ev
			bad.Commit = other
			if _, err := VerifyCommitEvent(ctx, &bad, CommitCheckOptions{InsecureSkipSignature: true, Now: relay}); !errors.Is(err, ErrWrongRoot) {
				t.Fatalf("wrong root: %v", err)
			}
		})
	}
}

type proofFixture struct {
	Comment       string   `json:"comment"`
	LeafValue     string   `json:"leafValue"`
	Keys          []string `json:"keys"`
	Adds          []string `json:"adds"`
	Dels          []string `json:"dels"`
	RootBefore    string   `json:"rootBeforeCommit"`
	RootAfter     string   `json:"rootAfterCommit"`
	BlocksInProof []string `json:"blocksInProof"`
}

// The commit-proof fixtures: a #commit event carrying exactly the fixture's
// blocksInProof (plus the signed commit) verifies, inverting to
// rootBeforeCommit; mst.InversionBlocks, which our #commit events carry,
// gives exactly those blocks; a wrong prevData fails.
func TestCommitProofFixtures(t *testing.T) {
	raw, err := fs.ReadFile(testvectors.FS(), "firehose/commit-proof-fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixtures []proofFixture
	if err := json.Unmarshal(raw, &fixtures); err != nil {
		t.Fatal(err)
	}
	if len(fixtures) != 6 {
		t.Fatalf("%d fixtures", len(fixtures))
	}
	ctx := context.Background()
	key := testKeys(t)["K-256"]
	pub, _ := key.PublicKey()
	for _, f := range fixtures {
		t.Run(f.Comment, func(t *testing.T) {
			leaf := cid.MustParse(f.LeafValue)
			tree := mst.Empty(nil)
			for _, k := range f.Keys {
				if tree, _, err = tree.Put(ctx, k, leaf); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := tree.Root(ctx)
			if before.String() != f.RootBefore {
				t.Fatalf("root before %s", before)
			}
			var ops []EventOp
			for _, k := range f.Adds {
				tree, _, _ = tree.Put(ctx, k, leaf)
				l := leaf
				ops = append(ops, EventOp{Action: ActionCreate, Path: k, CID: &l})
			}
			for _, k := range f.Dels {
				tree, _, _ = tree.Delete(ctx, k)
				l := leaf
				ops = append(ops, EventOp{Action: ActionDelete, Path: k, Prev: &l})
			}
			after, _ := tree.Root(ctx)
			if after.String() != f.RootAfter {
				t.Fatalf("root after %s", after)
			}
			all, err := tree.NewBlocks(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			byCID := map[string]Block{}
			for _, b := range all {
				byCID[b.CID.String()] = Block{CID: b.CID, Data: b.Data}
			}
			commit := Commit{DID: testDID, Version: 3, Data: after, Rev: "3lhhvdkcby3e3"}
			if err := commit.Sign(key); err != nil {
				t.Fatal(err)
			}
			cdata, ccid, _ := commit.Encode()
			event := func(skip string) *CommitEvent {
				blocks := []Block{{CID: ccid, Data: cdata}}
				for _, s := range f.BlocksInProof {
					b, ok := byCID[s]
					if !ok {
						t.Fatalf("proof block %s is not a node of the tree", s)
					}
					if s != skip {
						blocks = append(blocks, b)
					}
				}
				car, _ := carBytes(ccid, blocks)
				since := "3lhhvdkcby3e2"
				return &CommitEvent{Repo: testDID, Commit: ccid, Rev: commit.Rev, Since: &since, Blocks: car, Ops: ops, PrevData: &before, Time: "2026-01-02T03:04:05.000Z"}
			}
			known := &SyncState{DID: testDID, Rev: "3lhhvdkcby3e2", Data: before}
			relay := eventClock(t, event("").Time)
			opts := CommitCheckOptions{Key: pub, DID: testDID, Known: known, InsecureAllowMissingRecords: true, Now: relay}
			st, err := VerifyCommitEvent(ctx, event(""), opts)
			if err != nil {
				t.Fatal(err)
			}
			if st.Data != after {
				t.Fatal("state data")
			}
			// Our producer side carries exactly these blocks.
			var mops []mst.Op
			for _, op := range ops {
				m := mst.Op{Key: op.Path}
				if op.CID != nil {
					m.New = *op.CID
				}
				if op.Prev != nil {
					m.Old = *op.Prev
				}
				mops = append(mops, m)
			}
			inv, err := mst.InversionBlocks(ctx, tree, mops)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for _, s := range f.BlocksInProof {
				want[s] = true
			}
			for _, b := range inv {
				if !want[b.CID.String()] {
					t.Errorf("inversion block %s is not in the fixture", b.CID)
				}
				delete(want, b.CID.String())
			}
			if len(want) != 0 {
				t.Errorf("inversion blocks lack %v", want)
			}
			// A prevData that the inversion does not give.
			ev := event("")
			ev.PrevData = &after
			if _, err := VerifyCommitEvent(ctx, ev, CommitCheckOptions{Key: pub, DID: testDID, InsecureAllowMissingRecords: true, Now: relay}); !errors.Is(err, ErrPrevData) {
				t.Errorf("wrong prevData: %v", err)
			}
			// Another known data root: the event does not follow it.
			other := *known
			other.Data = after
			o2 := opts
			o2.Known = &other
			if _, err := VerifyCommitEvent(ctx, event(""), o2); !errors.Is(err, ErrPrevData) {
				t.Fatalf("known data mismatch: %v", err)
			}
		})
	}
}
