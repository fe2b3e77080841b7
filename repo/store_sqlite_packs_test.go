package repo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
)

// sizedBlk is a block of about n bytes.
func sizedBlk(t testing.TB, s string, n int) Block {
	t.Helper()
	b, c, err := drisl.MarshalCID(map[string]any{"k": s, "v": strings.Repeat("x", n)})
	if err != nil {
		t.Fatal(err)
	}
	return Block{CID: c, Data: b}
}

// TestSQLiteMigratesVersion3 converts a version 3 file, written as version
// 3 did (a row of blocks per block, its key in block_keys or recent_keys),
// with enough blocks for several key_pages rows: every block is read back
// by one and in batches, with and without the hints, the record index
// works, the views count what version 3 held, and the repository takes new
// commits.
func TestSQLiteMigratesVersion3(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v3.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, sqliteSchemaV3+`PRAGMA user_version = 3;`); err != nil {
		t.Fatal(err)
	}
	// One transaction for the rows (one fsync).
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	repos := oldRepos(t)
	var extra []Block
	for i := range 3 * sqliteKeyPageEnts {
		extra = append(extra, blk(fmt.Sprint("v3/", i)))
	}
	nBlocks := 0
	for _, r := range repos {
		if _, err := tx.ExecContext(ctx, `INSERT INTO repos (id, did, commit_cid, rev, data_cid) VALUES (?, ?, ?, ?, ?)`,
			r.id, r.did, r.commit.CID.Bytes(), "2222222222222", r.root.Bytes()); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO commits VALUES (?, '2222222222222', (SELECT COALESCE(MAX(id), 0) + 1 FROM blocks))`, r.id); err != nil {
			t.Fatal(err)
		}
		bs := append([]Block{r.commit, r.rec}, r.nodes...)
		if r.id == 7 {
			bs = append(bs, extra...)
		}
		for i, b := range bs {
			res, err := tx.ExecContext(ctx, `INSERT INTO blocks (repo, h, cid, data) VALUES (?, ?, ?, ?)`, r.id, blockKey(r.id, b.CID), b.CID.Bytes(), b.Data)
			if err != nil {
				t.Fatal(err)
			}
			id, _ := res.LastInsertId()
			table := "block_keys"
			if i%5 == 0 {
				table = "recent_keys"
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (h, id) VALUES (?, ?)`, blockKey(r.id, b.CID), id); err != nil {
				t.Fatal(err)
			}
			nBlocks++
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openMigrated(ctx, t, path, repos)
	var pages int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM key_pages`).Scan(&pages); err != nil || pages < 3 {
		t.Fatalf("%d key_pages rows (%v), want at least 3", pages, err)
	}
	var tables int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('blocks', 'block_keys', 'recent_keys')`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("%d version 3 tables left (%v)", tables, err)
	}
	b, keys, recent := keyCounts(ctx, t, s)
	if b != nBlocks || keys != nBlocks || recent != 0 {
		t.Fatalf("after migration: %d blocks, %d keys, %d recent keys; want %d, %d, 0", b, keys, recent, nBlocks, nBlocks)
	}
	did := repos[1].did
	var cids []cid.Cid
	for _, b := range extra {
		cids = append(cids, b.CID)
	}
	check := func(s *SQLiteStore) {
		t.Helper()
		got, err := s.GetBlocks(ctx, did, cids)
		if err != nil {
			t.Fatal(err)
		}
		for i, data := range got {
			if string(data) != string(extra[i].Data) {
				t.Fatalf("block %d is another block", i)
			}
		}
		for _, i := range []int{0, 1, len(extra) / 2, len(extra) - 1} {
			if data, err := s.GetBlock(ctx, did, cids[i]); err != nil || string(data) != string(extra[i].Data) {
				t.Fatalf("GetBlock %d: %v", i, err)
			}
		}
		// A block of the other repository is not this one's.
		if _, err := s.GetBlock(ctx, did, repos[0].rec.CID); !errors.Is(err, ErrBlockNotFound) {
			t.Fatalf("another repository's block: %v", err)
		}
	}
	check(s) // through the key index
	check(s) // through the hints
	n := 0
	if err := s.BlocksSince(ctx, did, "", func(Block) error { n++; return nil }); err != nil || n != 2+len(repos[1].nodes)+len(extra) {
		t.Fatalf("BlocksSince: %d blocks, %v", n, err)
	}
	s2 := commitAndReopen(ctx, t, s, path, did, repos[1].rec.CID)
	defer s2.Close()
	check(s2)
}

// TestSQLitePacks writes blocks of many sizes in one commit (tiny ones,
// ones near and over a pack's size, a block twice) and reads each back by
// one, in a batch and with BlocksSince, in order and once each; small
// blocks share rows, and no row of several blocks is over sqlitePackBytes.
func TestSQLitePacks(t *testing.T) {
	ctx := context.Background()
	s := newTestSQLite(t)
	did := "did:example:alice"
	var bs []Block
	for i, n := range []int{1, 10, 200, 200, 3000, 3900, 5000, 100, 20000, 300, 300, 300} {
		bs = append(bs, sizedBlk(t, fmt.Sprint(i), n))
	}
	bs = append(bs, bs[2]) // a block twice in one write
	for i := range 100 {
		bs = append(bs, blk(fmt.Sprint("small", i)))
	}
	head := blk("head")
	bs = append(bs, head)
	w := &StoreWrite{Head: Head{DID: did, Commit: head.CID, Rev: "2222222222222", Data: head.CID}, Blocks: bs}
	if _, err := s.Apply(ctx, did, w); err != nil {
		t.Fatal(err)
	}
	var cids []cid.Cid
	for _, b := range bs {
		cids = append(cids, b.CID)
		if data, err := s.GetBlock(ctx, did, b.CID); err != nil || string(data) != string(b.Data) {
			t.Fatalf("GetBlock %s: %v", b.CID, err)
		}
	}
	got, err := s.GetBlocks(ctx, did, cids)
	if err != nil {
		t.Fatal(err)
	}
	for i, data := range got {
		if string(data) != string(bs[i].Data) {
			t.Fatalf("GetBlocks: block %d is another block", i)
		}
	}
	var since []cid.Cid
	if err := s.BlocksSince(ctx, did, "", func(b Block) error {
		if drisl.SumCID(drisl.CodecDagCBOR, b.Data) != b.CID {
			t.Fatalf("BlocksSince: %s with another block's data", b.CID)
		}
		since = append(since, b.CID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := append(append([]cid.Cid{}, cids[:len(cids)-102]...), cids[len(cids)-101:]...) // without the repeat
	if len(since) != len(want) {
		t.Fatalf("BlocksSince: %d blocks, want %d", len(since), len(want))
	}
	for i := range want {
		if since[i] != want[i] {
			t.Fatalf("BlocksSince: block %d is %s, want %s", i, since[i], want[i])
		}
	}
	// The view blocks cuts the packs into the same blocks, in SQL.
	vrows, err := s.db.QueryContext(ctx, `SELECT cid, data FROM blocks ORDER BY pack, i`)
	if err != nil {
		t.Fatal(err)
	}
	defer vrows.Close()
	i := 0
	for ; vrows.Next(); i++ {
		var c, data []byte
		if err := vrows.Scan(&c, &data); err != nil {
			t.Fatal(err)
		}
		if i >= len(bs) || string(c) != bs[i].CID.KeyString() || string(data) != string(bs[i].Data) {
			t.Fatalf("view blocks: row %d is not block %d", i, i)
		}
	}
	if err := vrows.Err(); err != nil || i != len(bs) {
		t.Fatalf("view blocks: %d rows (%v), want %d", i, err, len(bs))
	}
	var rows, over, views int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE n > 1 AND length(cid) + length(data) > ?), (SELECT count(*) FROM blocks) FROM block_packs`, sqlitePackBytes).Scan(&rows, &over, &views); err != nil {
		t.Fatal(err)
	}
	if rows >= len(bs)/4 || over != 0 || views != len(bs) {
		t.Fatalf("%d pack rows for %d blocks (%d of several blocks over %d bytes), %d rows in the blocks view", rows, len(bs), over, sqlitePackBytes, views)
	}
	// The reads above kept the key index rows they read as hints: with
	// the index gone, every block is still found, through them alone.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM key_pages; DELETE FROM recent_key_pages`); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetBlocks(ctx, did, cids); err != nil || len(got) != len(cids) {
		t.Fatalf("GetBlocks through the hints alone: %d blocks, %v", len(got), err)
	}
}

// TestSQLiteStaleHints: a store whose hints are stale (another handle on
// the file, as another process, has written and merged keys since, so that
// key_pages rows split) still finds every block, and a hint that names a
// pack without the block (a key collision) costs a lookup, not a wrong or
// missing block.
func TestSQLiteStaleHints(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "h.db")
	a, err := OpenSQLite(ctx, path, SQLiteOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenSQLite(ctx, path, SQLiteOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	did := "did:example:alice"
	var all []cid.Cid
	prev := cid.Undef
	commit := func(c, n int) {
		var written []cid.Cid
		prev, written = applyNumbered(t, b, did, prev, c, n)
		all = append(all, written...)
	}
	commit(0, sqliteRecentKeys) // straight to key_pages
	commit(1, 3000)             // to the recent rows
	if _, err := a.GetBlocks(ctx, did, all); err != nil {
		t.Fatal(err)
	}
	var pages0 int
	if err := a.db.QueryRowContext(ctx, `SELECT count(*) FROM key_pages`).Scan(&pages0); err != nil {
		t.Fatal(err)
	}
	for c := 2; c < 6; c++ {
		commit(c, 3000) // merges: key_pages rows grow and split
	}
	var pages int
	if err := a.db.QueryRowContext(ctx, `SELECT count(*) FROM key_pages`).Scan(&pages); err != nil || pages <= pages0 {
		t.Fatalf("%d key_pages rows after merges, %d before (%v)", pages, pages0, err)
	}
	checkReadable(t, a, did, all, "after the merges, through stale hints")
	// A hint for the last block's key that names the first pack.
	id, err := a.repoID(ctx, did)
	if err != nil {
		t.Fatal(err)
	}
	h := int32(blockKey(id, all[len(all)-1]))
	var first int64
	if err := a.db.QueryRowContext(ctx, `SELECT min(id) FROM block_packs`).Scan(&first); err != nil {
		t.Fatal(err)
	}
	a.hints = keyHints{}
	a.hints.put(false, math.MinInt32, appendKeyEnt(nil, keyEnt{h: h, id: first}))
	a.hints.put(true, recentBucket(h), appendKeyEnt(nil, keyEnt{h: h, id: first}))
	if ids := a.hints.get(h, nil); len(ids) != 2 || ids[0] != first {
		t.Fatalf("hints for the key: %v", ids)
	}
	if data, err := a.GetBlock(ctx, did, all[len(all)-1]); err != nil || drisl.SumCID(drisl.CodecDagCBOR, data) != all[len(all)-1] {
		t.Fatalf("GetBlock with a hint naming another pack: %v", err)
	}
}

// TestSQLiteMalformedPack: a block_packs row whose CIDs and lengths do not
// describe its data fails a read with errBadPack, and never panics.
func TestSQLiteMalformedPack(t *testing.T) {
	ctx := context.Background()
	s := newTestSQLite(t)
	did := "did:example:alice"
	a, b, head := blk("a"), blk("b"), blk("head")
	w := &StoreWrite{Head: Head{DID: did, Commit: head.CID, Rev: "2222222222222", Data: head.CID}, Blocks: []Block{a, b, head}}
	if _, err := s.Apply(ctx, did, w); err != nil {
		t.Fatal(err)
	}
	// The data cut short of the first block's length.
	if _, err := s.db.ExecContext(ctx, `UPDATE block_packs SET data = substr(data, 1, 3)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetBlock(ctx, did, head.CID); !errors.Is(err, errBadPack) {
		t.Fatalf("GetBlock of a truncated pack: %v", err)
	}
	if err := s.BlocksSince(ctx, did, "", func(Block) error { return nil }); !errors.Is(err, errBadPack) {
		t.Fatalf("BlocksSince of a truncated pack: %v", err)
	}
}

// FuzzPackReader: any row gives blocks that tile its data, or errBadPack;
// never a panic.
func FuzzPackReader(f *testing.F) {
	a, b := blk("a"), blk("b")
	hdr, data := packParts(a, b)
	f.Add(int64(2), hdr, data)
	f.Add(int64(1), a.CID.Bytes(), a.Data)
	f.Add(int64(3), hdr, data)
	f.Add(int64(2), hdr[:len(hdr)-1], data)
	f.Add(int64(2), hdr, data[1:])
	f.Add(int64(0), []byte{}, []byte{})
	f.Add(int64(2), []byte("999999912"), data)
	f.Fuzz(func(t *testing.T, n int64, hdr, data []byte) {
		p := packReader{n: n, hdr: hdr, data: data}
		total := 0
		for {
			_, d, ok, err := p.next()
			if err != nil {
				if !errors.Is(err, errBadPack) {
					t.Fatalf("error %v is not errBadPack", err)
				}
				return
			}
			if !ok {
				break
			}
			total += len(d)
		}
		if total != len(data) {
			t.Fatalf("blocks of %d bytes in %d bytes of data", total, len(data))
		}
	})
}

// packParts is a pack's cid column and data, as blocks writes them.
func packParts(bs ...Block) (hdr, data []byte) {
	_, hdr, data = appendPack(nil, bs)
	return hdr, data
}

// TestSQLiteMergeKeyPages merges runs of keys into key_pages (a first
// large one, a few keys far apart, a dense run, a key with more entries
// than a row holds) and checks the rows: they begin at the least key,
// each holds sorted entries from its lo up to the next row's, rows are
// split at sqliteKeyPageEnts except within one key's entries, and every
// entry merged is there once.
func TestSQLiteMergeKeyPages(t *testing.T) {
	ctx := context.Background()
	s := newTestSQLite(t)
	rng := uint64(1)
	next := func() uint64 {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return rng
	}
	var id int64
	random := func(n int) []keyEnt {
		ks := make([]keyEnt, n)
		for i := range ks {
			id++
			ks[i] = keyEnt{h: int32(next()), id: id}
		}
		return ks
	}
	same := make([]keyEnt, sqliteKeyPageEnts+50)
	for i := range same {
		id++
		same[i] = keyEnt{h: 12345, id: id}
	}
	var all []keyEnt
	for _, ks := range [][]keyEnt{random(20000), random(10), random(5000), same, random(3)} {
		slices.SortFunc(ks, cmpKeyEnt)
		all = append(all, ks...)
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.mergeKeyPages(ctx, tx, ks, &sqliteScratch{}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(all, cmpKeyEnt)
	rows, err := s.db.QueryContext(ctx, `SELECT lo, keys FROM key_pages ORDER BY lo`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type row struct {
		lo   int64
		ents []keyEnt
	}
	var rs []row
	for rows.Next() {
		var r row
		var page []byte
		if err := rows.Scan(&r.lo, &page); err != nil {
			t.Fatal(err)
		}
		if len(page)%keyEntBytes != 0 {
			t.Fatalf("row %d: %d bytes", r.lo, len(page))
		}
		for i := range len(page) / keyEntBytes {
			r.ents = append(r.ents, keyAt(page, i))
		}
		rs = append(rs, r)
	}
	if len(rs) < 3 || rs[0].lo != math.MinInt32 {
		t.Fatalf("%d rows, the first at %d", len(rs), rs[0].lo)
	}
	var got []keyEnt
	for i, r := range rs {
		end := int64(math.MaxInt32) + 1
		if i+1 < len(rs) {
			end = rs[i+1].lo
		}
		if len(r.ents) > sqliteKeyPageEnts && r.ents[0].h != r.ents[len(r.ents)-1].h && r.ents[0].h != 12345 && r.ents[len(r.ents)-1].h != 12345 {
			t.Fatalf("row %d: %d entries", r.lo, len(r.ents))
		}
		for j, e := range r.ents {
			if int64(e.h) < r.lo || int64(e.h) >= end || (j > 0 && cmpKeyEnt(r.ents[j-1], e) >= 0) {
				t.Fatalf("row %d: entry %d (%d) out of place", r.lo, j, e.h)
			}
		}
		got = append(got, r.ents...)
	}
	if !slices.Equal(got, all) {
		t.Fatalf("%d entries in key_pages, %d merged", len(got), len(all))
	}
}

// TestSortKeys: sortKeys orders a write's keys (ids never decreasing, many
// keys of one pack, equal keys) as sorting by key then id does.
func TestSortKeys(t *testing.T) {
	var keys []keyEnt
	x := uint32(7)
	for i := range 5000 {
		x = x*1664525 + 1013904223
		h := int32(x)
		if i%7 == 0 {
			h = int32(i % 3) // equal keys, in several packs
		}
		keys = append(keys, keyEnt{h: h, id: int64(i / 4)})
	}
	want := slices.Clone(keys)
	slices.SortFunc(want, cmpKeyEnt)
	var sorted []keyEnt
	sortKeys(keys, nil, &sorted)
	if !slices.Equal(keys, want) {
		t.Fatal("sortKeys differs from sorting by key and id")
	}
}

// TestAppendDigits: lengths are written as fixed-width decimal, as the
// view blocks reads them back with CAST.
func TestAppendDigits(t *testing.T) {
	for _, c := range []struct {
		v, w int
		s    string
	}{{0, 3, "000"}, {36, 3, "036"}, {999, 3, "999"}, {7, 4, "0007"}, {2000, 4, "2000"}, {9999, 4, "9999"}} {
		if got := string(appendDigits([]byte("x"), c.v, c.w)); got != "x"+c.s {
			t.Errorf("appendDigits(%d, %d) = %q, want %q", c.v, c.w, got, "x"+c.s)
		}
		if v, ok := digits([]byte(c.s)); !ok || v != c.v {
			t.Errorf("digits(%q) = %d, %v", c.s, v, ok)
		}
	}
}
