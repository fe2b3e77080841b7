package repo

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
)

func testStores(t *testing.T, fn func(t *testing.T, s Store)) {
	t.Run("mem", func(t *testing.T) {
		s := NewMemStore()
		defer s.Close()
		fn(t, s)
	})
	t.Run("sqlite", func(t *testing.T) {
		s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "r.db"), SQLiteOptions{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		fn(t, s)
	})
}

func blk(s string) Block {
	b, c, err := drisl.MarshalCID(map[string]any{"v": s})
	if err != nil {
		panic(err)
	}
	return Block{CID: c, Data: b}
}

func TestStoreContract(t *testing.T) {
	testStores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		did := "did:example:alice"
		if _, err := s.Head(ctx, did); !errors.Is(err, ErrRepoNotFound) {
			t.Fatalf("Head on empty store: %v", err)
		}
		c1, d1, r1 := blk("commit1"), blk("data1"), blk("rec1")
		w := &StoreWrite{
			Head:    Head{DID: did, Commit: c1.CID, Rev: "2222222222222", Data: d1.CID},
			Blocks:  []Block{c1, d1, r1},
			Records: []RecordEntry{{Collection: "a.b.c", RKey: "k1", CID: r1.CID}},
			Events:  []StoredEvent{{Kind: KindCommit, Data: []byte{0xa0}}},
		}
		seq, err := s.Apply(ctx, did, w)
		if err != nil || seq != 1 {
			t.Fatalf("Apply: %d %v", seq, err)
		}
		if _, err := s.Apply(ctx, did, w); !errors.Is(err, ErrRepoExists) {
			t.Fatalf("second create: %v", err)
		}
		h, err := s.Head(ctx, did)
		if err != nil || h.Commit != c1.CID || h.Rev != "2222222222222" || h.Data != d1.CID {
			t.Fatalf("Head: %+v %v", h, err)
		}
		got, err := s.GetBlock(ctx, did, r1.CID)
		if err != nil || string(got) != string(r1.Data) {
			t.Fatalf("GetBlock: %v", err)
		}
		if _, err := s.GetBlock(ctx, did, blk("nope").CID); !errors.Is(err, ErrBlockNotFound) {
			t.Fatalf("missing block: %v", err)
		}

		// Second commit: many records (more than one INSERT batch), a delete.
		c2, d2 := blk("commit2"), blk("data2")
		w2 := &StoreWrite{Expect: c1.CID, Head: Head{DID: did, Commit: c2.CID, Rev: "2222222222223", Data: d2.CID},
			Blocks: []Block{c2, d2}}
		for i := 0; i < 150; i++ {
			r := blk(fmt.Sprint("r", i))
			w2.Blocks = append(w2.Blocks, r)
			w2.Records = append(w2.Records, RecordEntry{Collection: "x.y.z", RKey: fmt.Sprintf("k%03d", i), CID: r.CID})
		}
		w2.Records = append(w2.Records, RecordEntry{Collection: "a.b.c", RKey: "k1"})
		w2.Events = []StoredEvent{{Kind: KindCommit, Data: []byte{0xa1}}, {Kind: KindSync, Data: []byte{0xa2}}}
		// Wrong expectation: conflict, and nothing changes.
		bad := *w2
		bad.Expect = d1.CID
		if _, err := s.Apply(ctx, did, &bad); !errors.Is(err, ErrConflict) {
			t.Fatalf("conflict: %v", err)
		}
		if seq, err := s.Apply(ctx, did, w2); err != nil || seq != 3 {
			t.Fatalf("Apply 2: %d %v", seq, err)
		}
		if _, err := s.Record(ctx, did, "a.b.c", "k1"); !errors.Is(err, ErrRecordNotFound) {
			t.Fatalf("deleted record: %v", err)
		}
		if c, err := s.Record(ctx, did, "x.y.z", "k007"); err != nil || c != w2.Blocks[9].CID {
			t.Fatalf("Record: %v %v", c, err)
		}
		colls, err := s.Collections(ctx, did)
		if err != nil || fmt.Sprint(colls) != "[x.y.z]" {
			t.Fatalf("Collections: %v %v", colls, err)
		}
		page, err := s.ListRecords(ctx, did, ListQuery{Collection: "x.y.z", Limit: 3, Cursor: "k010"})
		if err != nil || len(page) != 3 || page[0].RKey != "k011" || page[2].RKey != "k013" {
			t.Fatalf("List: %v %v", page, err)
		}
		page, err = s.ListRecords(ctx, did, ListQuery{Collection: "x.y.z", Limit: 2, Reverse: true})
		if err != nil || len(page) != 2 || page[0].RKey != "k149" {
			t.Fatalf("List reverse: %v %v", page, err)
		}
		page, err = s.ListRecords(ctx, did, ListQuery{Collection: "x.y.z", Limit: 2, Reverse: true, Cursor: "k001"})
		if err != nil || len(page) != 1 || page[0].RKey != "k000" {
			t.Fatalf("List reverse cursor: %v %v", page, err)
		}
		n := 0
		if err := s.BlocksSince(ctx, did, "2222222222222", func(b Block) error {
			if drisl.SumCID(drisl.CodecDagCBOR, b.Data) != b.CID {
				t.Errorf("block %s does not match", b.CID)
			}
			n++
			return nil
		}); err != nil || n != 152 {
			t.Fatalf("BlocksSince: %d %v", n, err)
		}
		evs, err := s.Events(ctx, did, 1, 10)
		if err != nil || len(evs) != 2 || evs[0].Seq != 2 || evs[1].Kind != KindSync || evs[1].DID != did {
			t.Fatalf("Events: %+v %v", evs, err)
		}
		evs, err = s.Events(ctx, "", 0, 2)
		if err != nil || len(evs) != 2 || evs[0].Seq != 1 {
			t.Fatalf("Events all: %+v %v", evs, err)
		}
		if _, err := s.Apply(ctx, "did:example:bob", &StoreWrite{Expect: c1.CID}); !errors.Is(err, ErrRepoNotFound) {
			t.Fatalf("update of missing repo: %v", err)
		}
		_ = cid.Undef
	})
}
