package repo

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/mst"
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

// treeWrite applies puts (an undefined CID deletes) to base and returns
// the new tree, its root and its new nodes as blocks.
func treeWrite(t *testing.T, base *mst.Tree, puts map[string]cid.Cid) (*mst.Tree, cid.Cid, []Block) {
	t.Helper()
	ctx := context.Background()
	ed := base.Edit()
	for k, v := range puts {
		var err error
		if v.Defined() {
			_, err = ed.Put(ctx, k, v)
		} else {
			_, err = ed.Delete(ctx, k)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	tree := ed.Tree()
	root, err := tree.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := tree.NewBlocks(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	var out []Block
	for _, n := range nodes {
		out = append(out, Block{CID: n.CID, Data: n.Data})
	}
	return tree, root, out
}

// newTestSQLite opens a SQLiteStore (NoSync) in a new file of the test's
// temporary directory, closed when the test ends.
func newTestSQLite(t testing.TB) *SQLiteStore {
	t.Helper()
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "test.db"), SQLiteOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStoreContract(t *testing.T) {
	testStores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		did := "did:example:alice"
		if _, err := s.Head(ctx, did); !errors.Is(err, ErrRepoNotFound) {
			t.Fatalf("Head on empty store: %v", err)
		}
		// The store may keep its record index from w.Records or derive it
		// from the tree at w.Head.Data: both agree here.
		c1, r1 := blk("commit1"), blk("rec1")
		tree1, d1, nodes1 := treeWrite(t, mst.Options{}.Empty(&mst.MemBlocks{}), map[string]cid.Cid{"a.b.c/k1": r1.CID})
		w := &StoreWrite{
			Head:    Head{DID: did, Commit: c1.CID, Rev: "2222222222222", Data: d1},
			Blocks:  append([]Block{c1, r1}, nodes1...),
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
		if err != nil || h.Commit != c1.CID || h.Rev != "2222222222222" || h.Data != d1 {
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
		c2 := blk("commit2")
		puts := map[string]cid.Cid{"a.b.c/k1": cid.Undef}
		var recs []Block
		for i := 0; i < 150; i++ {
			r := blk(fmt.Sprint("r", i))
			recs = append(recs, r)
			puts[fmt.Sprintf("x.y.z/k%03d", i)] = r.CID
		}
		_, d2, nodes2 := treeWrite(t, tree1, puts)
		w2 := &StoreWrite{Expect: c1.CID, Head: Head{DID: did, Commit: c2.CID, Rev: "2222222222223", Data: d2},
			Blocks: append(append([]Block{c2}, recs...), nodes2...)}
		for i, r := range recs {
			w2.Records = append(w2.Records, RecordEntry{Collection: "x.y.z", RKey: fmt.Sprintf("k%03d", i), CID: r.CID})
		}
		w2.Records = append(w2.Records, RecordEntry{Collection: "a.b.c", RKey: "k1"})
		w2.Events = []StoredEvent{{Kind: KindCommit, Data: []byte{0xa1}}, {Kind: KindSync, Data: []byte{0xa2}}}
		// Wrong expectation: conflict, and nothing changes.
		bad := *w2
		bad.Expect = r1.CID
		if _, err := s.Apply(ctx, did, &bad); !errors.Is(err, ErrConflict) {
			t.Fatalf("conflict: %v", err)
		}
		if seq, err := s.Apply(ctx, did, w2); err != nil || seq != 3 {
			t.Fatalf("Apply 2: %d %v", seq, err)
		}
		if _, err := s.Record(ctx, did, "a.b.c", "k1"); !errors.Is(err, ErrRecordNotFound) {
			t.Fatalf("deleted record: %v", err)
		}
		for _, bad := range [][2]string{{"a.b.c", "k/1"}, {"", "k1"}, {"a.b.c", ""}, {"a.b.c", "k 1"}} {
			if _, err := s.Record(ctx, did, bad[0], bad[1]); !errors.Is(err, ErrRecordNotFound) {
				t.Fatalf("Record(%q, %q): %v", bad[0], bad[1], err)
			}
		}
		if c, err := s.Record(ctx, did, "x.y.z", "k007"); err != nil || c != recs[7].CID {
			t.Fatalf("Record: %v %v", c, err)
		}
		colls, err := s.Collections(ctx, did)
		if err != nil || fmt.Sprint(colls) != "[x.y.z]" {
			t.Fatalf("Collections: %v %v", colls, err)
		}
		page, err := s.ListRecords(ctx, did, "x.y.z", ListOptions{Limit: 3, Cursor: "k010"})
		if err != nil || len(page) != 3 || page[0].RKey != "k011" || page[2].RKey != "k013" {
			t.Fatalf("List: %v %v", page, err)
		}
		page, err = s.ListRecords(ctx, did, "x.y.z", ListOptions{Limit: 2, Reverse: true})
		if err != nil || len(page) != 2 || page[0].RKey != "k149" {
			t.Fatalf("List reverse: %v %v", page, err)
		}
		page, err = s.ListRecords(ctx, did, "x.y.z", ListOptions{Limit: 2, Reverse: true, Cursor: "k001"})
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
		}); err != nil || n != 1+150+len(nodes2) {
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

// TestSQLiteMigratesVersion1 opens a database in the first schema (blocks
// indexed by (repo, h) with h the 8-byte digest tail, a records table) and
// checks that the blocks are found under the new key and the records
// through the tree.
func TestSQLiteMigratesVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `
CREATE TABLE repos (id INTEGER PRIMARY KEY, did TEXT NOT NULL UNIQUE, commit_cid BLOB NOT NULL, rev TEXT NOT NULL, data_cid BLOB NOT NULL);
CREATE TABLE blocks (id INTEGER PRIMARY KEY, repo INTEGER NOT NULL, h INTEGER NOT NULL, cid BLOB NOT NULL, data BLOB NOT NULL);
CREATE INDEX blocks_by_hash ON blocks (repo, h);
CREATE TABLE commits (repo INTEGER NOT NULL, rev TEXT NOT NULL, first_block INTEGER NOT NULL, PRIMARY KEY (repo, rev)) WITHOUT ROWID;
CREATE TABLE records (repo INTEGER NOT NULL, collection TEXT NOT NULL, rkey TEXT NOT NULL, cid BLOB NOT NULL, PRIMARY KEY (repo, collection, rkey)) WITHOUT ROWID;
CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, repo INTEGER NOT NULL, kind TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX events_by_repo ON events (repo, seq);`); err != nil {
		t.Fatal(err)
	}
	v1Key := func(c cid.Cid) int64 {
		k := c.Bytes()
		return int64(binary.BigEndian.Uint64(k[len(k)-8:]))
	}
	repos := oldRepos(t)
	for _, r := range repos {
		r.insertHead(ctx, t, db)
		r.insertBlocks(ctx, t, db, v1Key)
		if _, err := db.ExecContext(ctx, `INSERT INTO records VALUES (?, 'a.b.c', 'k1', ?)`, r.id, r.rec.CID.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openMigrated(ctx, t, path, repos)
	defer s.Close()
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name IN ('records', 'blocks_by_hash')`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("version 1 objects left: %d %v", n, err)
	}
	// A reopened, migrated database is left as it is.
	s2, err := OpenSQLite(ctx, path, SQLiteOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.GetBlock(ctx, repos[1].did, repos[1].rec.CID); err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

// openMigrated opens the database at path, which holds repos in an older
// schema, as a SQLiteStore (converting it), and checks that every
// repository reads back and that the schema version is the current one.
func openMigrated(ctx context.Context, t *testing.T, path string, repos []oldRepo) *SQLiteStore {
	t.Helper()
	s, err := OpenSQLite(ctx, path, SQLiteOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range repos {
		r.check(ctx, t, s)
	}
	var v int
	if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil || v != sqliteVersion {
		t.Fatalf("user_version %d %v", v, err)
	}
	return s
}

// commitAndReopen commits one record to did in s, a migrated store, closes
// s, reopens the database at path, and checks that the record, the commit
// and did's earlier record rec are readable there; it returns the reopened
// store.
func commitAndReopen(ctx context.Context, t *testing.T, s *SQLiteStore, path, did string, rec cid.Cid) *SQLiteStore {
	t.Helper()
	r, err := Open(ctx, s, did, testKeys(t)["P-256"], Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Apply(ctx, []Write{{Action: ActionCreate, Collection: "a.b.c", RKey: "k2", Record: post(2)}}, ApplyOptions{})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := OpenSQLite(ctx, path, SQLiteOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []cid.Cid{rec, res.Results[0].CID, res.Commit} {
		if _, err := s2.GetBlock(ctx, did, c); err != nil {
			t.Fatal(err)
		}
	}
	return s2
}

// oldRepo is a repository written into a database of an earlier schema
// version by hand: a commit block, a record and the record's tree.
type oldRepo struct {
	did         string
	id          int64
	commit, rec Block
	root        cid.Cid
	nodes       []Block
}

// oldRepos gives two repositories (ids 1 and 7), so that a migrated key
// depends on the repository id.
func oldRepos(t *testing.T) []oldRepo {
	var repos []oldRepo
	for i, id := range []int64{1, 7} {
		r := oldRepo{did: fmt.Sprintf("did:example:r%d", i), id: id, commit: blk(fmt.Sprint("commit", i)), rec: blk(fmt.Sprint("rec", i))}
		_, r.root, r.nodes = treeWrite(t, mst.Options{}.Empty(&mst.MemBlocks{}), map[string]cid.Cid{"a.b.c/k1": r.rec.CID})
		repos = append(repos, r)
	}
	return repos
}

// insertHead writes r's row of the repos table.
func (r oldRepo) insertHead(ctx context.Context, t *testing.T, db *sql.DB) {
	if _, err := db.ExecContext(ctx, `INSERT INTO repos (id, did, commit_cid, rev, data_cid) VALUES (?, ?, ?, ?, ?)`,
		r.id, r.did, r.commit.CID.Bytes(), "2222222222222", r.root.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// insertBlocks writes r's blocks under the keys key gives.
func (r oldRepo) insertBlocks(ctx context.Context, t *testing.T, db *sql.DB, key func(cid.Cid) int64) {
	for _, b := range append([]Block{r.commit, r.rec}, r.nodes...) {
		if _, err := db.ExecContext(ctx, `INSERT INTO blocks (repo, h, cid, data) VALUES (?, ?, ?, ?)`, r.id, key(b.CID), b.CID.Bytes(), b.Data); err != nil {
			t.Fatal(err)
		}
	}
}

// check reads r's blocks and record back from the migrated store.
func (r oldRepo) check(ctx context.Context, t *testing.T, s *SQLiteStore) {
	t.Helper()
	for _, b := range []Block{r.commit, r.rec} {
		got, err := s.GetBlock(ctx, r.did, b.CID)
		if err != nil || string(got) != string(b.Data) {
			t.Fatalf("%s: GetBlock after migration: %v", r.did, err)
		}
	}
	if c, err := s.Record(ctx, r.did, "a.b.c", "k1"); err != nil || c != r.rec.CID {
		t.Fatalf("%s: Record after migration: %v %v", r.did, c, err)
	}
}

// TestSQLiteGetBlocks checks the batched block read against GetBlock: more
// blocks than one query carries, a CID asked twice, and a missing block.
func TestSQLiteGetBlocks(t *testing.T) {
	ctx := context.Background()
	s := newTestSQLite(t)
	did := "did:example:alice"
	c1 := blk("commit")
	w := &StoreWrite{Head: Head{DID: did, Commit: c1.CID, Rev: "2222222222222", Data: c1.CID}, Blocks: []Block{c1}}
	var cids []cid.Cid
	for i := 0; i < 150; i++ {
		b := blk(fmt.Sprint("b", i))
		w.Blocks = append(w.Blocks, b)
		cids = append(cids, b.CID)
	}
	// Another repository holds some of the same blocks: they must not
	// answer for alice (nor alice's for bob).
	if _, err := s.Apply(ctx, did, w); err != nil {
		t.Fatal(err)
	}
	wb := &StoreWrite{Head: Head{DID: "did:example:bob", Commit: c1.CID, Rev: "2222222222222", Data: c1.CID}, Blocks: []Block{c1, blk("b3"), blk("bob")}}
	if _, err := s.Apply(ctx, "did:example:bob", wb); err != nil {
		t.Fatal(err)
	}
	ask := append(append([]cid.Cid{}, cids...), cids[7], c1.CID)
	got, err := s.GetBlocks(ctx, did, ask)
	if err != nil || len(got) != len(ask) {
		t.Fatalf("GetBlocks: %d %v", len(got), err)
	}
	for i, c := range ask {
		one, err := s.GetBlock(ctx, did, c)
		if err != nil || string(one) != string(got[i]) || drisl.SumCID(drisl.CodecDagCBOR, got[i]) != c {
			t.Fatalf("block %d (%s): %v", i, c, err)
		}
	}
	if _, err := s.GetBlocks(ctx, did, []cid.Cid{cids[0], blk("bob").CID}); !errors.Is(err, ErrBlockNotFound) {
		t.Fatalf("bob's block read as alice's: %v", err)
	}
	if got, err := s.GetBlocks(ctx, did, nil); err != nil || len(got) != 0 {
		t.Fatalf("no blocks: %v %v", got, err)
	}
}

// TestSQLiteNewerVersion: a file whose schema version is newer than this
// package's is refused with ErrSchemaVersion and left as it was.
func TestSQLiteNewerVersion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "future.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	future := sqliteVersion + 1
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, future)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(ctx, path, SQLiteOptions{NoSync: true})
	if !errors.Is(err, ErrSchemaVersion) || !strings.HasPrefix(err.Error(), "repo: ") || s != nil {
		t.Fatalf("OpenSQLite on version %d: %v", future, err)
	}
	db, err = sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v, n int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil || v != future {
		t.Fatalf("user_version %d %v", v, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d schema objects created: %v", n, err)
	}
}

// TestSQLiteMigratesVersion2 converts a version 2 file (blocks indexed by
// blocks_by_key) to version 3 (keys in block_keys and recent_keys).
func TestSQLiteMigratesVersion2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `
CREATE TABLE repos (id INTEGER PRIMARY KEY, did TEXT NOT NULL UNIQUE, commit_cid BLOB NOT NULL, rev TEXT NOT NULL, data_cid BLOB NOT NULL);
CREATE TABLE blocks (id INTEGER PRIMARY KEY, repo INTEGER NOT NULL, h INTEGER NOT NULL, cid BLOB NOT NULL, data BLOB NOT NULL);
CREATE INDEX blocks_by_key ON blocks (h);
CREATE TABLE commits (repo INTEGER NOT NULL, rev TEXT NOT NULL, first_block INTEGER NOT NULL, PRIMARY KEY (repo, rev)) WITHOUT ROWID;
CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, repo INTEGER NOT NULL, kind TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX events_by_repo ON events (repo, seq);
PRAGMA user_version = 2;`); err != nil {
		t.Fatal(err)
	}
	repos := oldRepos(t)
	for _, r := range repos {
		r.insertHead(ctx, t, db)
		if _, err := db.ExecContext(ctx, `INSERT INTO commits VALUES (?, '2222222222222', (SELECT COALESCE(MAX(id), 0) + 1 FROM blocks))`, r.id); err != nil {
			t.Fatal(err)
		}
		r.insertBlocks(ctx, t, db, func(c cid.Cid) int64 { return blockKey(r.id, c) })
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openMigrated(ctx, t, path, repos)
	var nIndex int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'blocks_by_key'`).Scan(&nIndex); err != nil {
		t.Fatal(err)
	}
	nBlocks, nKeys, nRecent := keyCounts(ctx, t, s)
	if nIndex != 0 || nKeys != nBlocks || nRecent != 0 {
		t.Fatalf("after migration: blocks_by_key %d, %d blocks, %d keys, %d recent keys", nIndex, nBlocks, nKeys, nRecent)
	}
	// The migrated repositories take new commits, and a reopened, migrated
	// database is left as it is.
	s2 := commitAndReopen(ctx, t, s, path, repos[1].did, repos[1].rec.CID)
	defer s2.Close()
}

// applyNumbered stores on s commit number c of did, after prev: n blocks
// named c/i and its head block, named commit<c>, at rev 22222222222<c>.
// It returns the head and the CIDs written, the head's last.
func applyNumbered(t testing.TB, s *SQLiteStore, did string, prev cid.Cid, c, n int) (cid.Cid, []cid.Cid) {
	t.Helper()
	head := blk(fmt.Sprint("commit", c))
	w := &StoreWrite{Expect: prev, Head: Head{DID: did, Commit: head.CID, Rev: fmt.Sprintf("22222222222%02d", c), Data: head.CID}}
	var written []cid.Cid
	for i := range n {
		b := blk(fmt.Sprint(c, "/", i))
		w.Blocks = append(w.Blocks, b)
		written = append(written, b.CID)
	}
	w.Blocks = append(w.Blocks, head)
	if _, err := s.Apply(context.Background(), did, w); err != nil {
		t.Fatal(err)
	}
	return head.CID, append(written, head.CID)
}

// checkReadable reads every block of all from s in one GetBlocks, checking
// each is the block of its CID, and a few of them one by one; label names
// the moment in the failure.
func checkReadable(t testing.TB, s *SQLiteStore, did string, all []cid.Cid, label string) {
	t.Helper()
	ctx := context.Background()
	got, err := s.GetBlocks(ctx, did, all)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	for i, data := range got {
		if drisl.SumCID(drisl.CodecDagCBOR, data) != all[i] {
			t.Fatalf("%s: block %d is another block", label, i)
		}
	}
	for _, i := range []int{0, len(all) / 2, len(all) - 2, len(all) - 1} {
		if _, err := s.GetBlock(ctx, did, all[i]); err != nil {
			t.Fatalf("%s: block %d: %v", label, i, err)
		}
	}
}

// keyCounts counts the rows of blocks, block_keys and recent_keys.
func keyCounts(ctx context.Context, t *testing.T, s *SQLiteStore) (blocks, keys, recent int) {
	t.Helper()
	if err := s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM blocks), (SELECT count(*) FROM block_keys), (SELECT count(*) FROM recent_keys)`).Scan(&blocks, &keys, &recent); err != nil {
		t.Fatal(err)
	}
	return blocks, keys, recent
}

// TestSQLiteKeyMerge writes more blocks than recent_keys holds before a
// merge: every block stays readable, by one and in batches, before and after
// each merge, and each block has exactly one key.
func TestSQLiteKeyMerge(t *testing.T) {
	ctx := context.Background()
	s := newTestSQLite(t)
	did := "did:example:alice"
	var all []cid.Cid
	prev := cid.Undef
	merged := false
	const perCommit = 1500
	for c := 0; c < sqliteRecentKeys/perCommit+3; c++ {
		var written []cid.Cid
		prev, written = applyNumbered(t, s, did, prev, c, perCommit)
		all = append(all, written...)
		checkReadable(t, s, did, all, fmt.Sprint("commit ", c))
		nBlocks, nKeys, nRecent := keyCounts(ctx, t, s)
		if nBlocks != len(all) || nKeys+nRecent != nBlocks || nRecent >= sqliteRecentKeys {
			t.Fatalf("commit %d: %d blocks, %d keys, %d recent keys", c, nBlocks, nKeys, nRecent)
		}
		merged = merged || nKeys > 0
	}
	if !merged {
		t.Fatal("no merge")
	}
	// A write of as many blocks as a merge moves (a CAR import) files its
	// keys in block_keys directly: recent_keys is left as it was.
	var recentBefore int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM recent_keys`).Scan(&recentBefore); err != nil {
		t.Fatal(err)
	}
	head := blk("big commit")
	w := &StoreWrite{Expect: prev, Head: Head{DID: did, Commit: head.CID, Rev: "2222222222299", Data: head.CID}}
	for i := 0; i < sqliteRecentKeys; i++ {
		b := blk(fmt.Sprint("big/", i))
		w.Blocks = append(w.Blocks, b)
		all = append(all, b.CID)
	}
	w.Blocks = append(w.Blocks, head)
	all = append(all, head.CID)
	if _, err := s.Apply(ctx, did, w); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetBlocks(ctx, did, all); err != nil {
		t.Fatal(err)
	}
	nBlocks, nKeys, nRecent := keyCounts(ctx, t, s)
	if nBlocks != len(all) || nKeys+nRecent != nBlocks || nRecent != recentBefore {
		t.Fatalf("large write: %d blocks, %d keys, %d recent keys (%d before)", nBlocks, nKeys, nRecent, recentBefore)
	}
}

// TestSQLitePipelinedApply: a large batch's transaction begins, and its
// records are written, while the tree is built (startApply); a batch
// refused after that leaves nothing behind and releases the write lock,
// and a second handle's batches build on the first's.
func TestSQLitePipelinedApply(t *testing.T) {
	ctx := context.Background()
	s := newTestSQLite(t)
	key := testKeys(t)["P-256"]
	r1, err := Create(ctx, s, testDID, key, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Open(ctx, s, testDID, key, Options{Now: fakeClock(), ClockID: 1})
	if err != nil {
		t.Fatal(err)
	}
	batch := func(n, from int) []Write {
		ws := make([]Write, n)
		for i := range ws {
			ws[i] = Write{Action: ActionCreate, Collection: "a.b.c", RKey: fmt.Sprintf("k%05d", from+i), Record: post(from + i)}
		}
		return ws
	}
	counts := func() (blocks, commits int) {
		t.Helper()
		if err := s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM blocks), (SELECT count(*) FROM commits)`).Scan(&blocks, &commits); err != nil {
			t.Fatal(err)
		}
		return blocks, commits
	}
	if _, err := r1.Apply(ctx, batch(100, 0), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	// r2 has not seen r1's commit: it builds on it.
	res, err := r2.Apply(ctx, batch(100, 100), ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := s.Head(ctx, testDID); err != nil || h.Commit != res.Commit {
		t.Fatalf("head %v %v, want r2's commit", h, err)
	}
	for i := 0; i < 200; i++ {
		if _, err := s.Record(ctx, testDID, "a.b.c", fmt.Sprintf("k%05d", i)); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	// Refused after the records were handed to the store: a create of an
	// existing record, found while the tree is edited.
	head := r2.Head()
	nb, nc := counts()
	ws := batch(100, 200)
	ws[80].RKey = "k00007"
	if _, err := r2.Apply(ctx, ws, ApplyOptions{}); !errors.Is(err, ErrRecordExists) {
		t.Fatalf("create of an existing record: %v", err)
	}
	wrong := blk("x").CID
	ws = batch(100, 200)
	ws[99] = Write{Action: ActionDelete, Collection: "a.b.c", RKey: "k00001", SwapRecord: &wrong}
	if _, err := r2.Apply(ctx, ws, ApplyOptions{}); !errors.Is(err, ErrSwapRecord) {
		t.Fatalf("wrong swapRecord: %v", err)
	}
	if h, err := s.Head(ctx, testDID); err != nil || h != head {
		t.Fatalf("a refused batch moved the head: %v %v", h, err)
	}
	if b, c := counts(); b != nb || c != nc {
		t.Fatalf("a refused batch left %d blocks and %d commits behind", b-nb, c-nc)
	}
	// The write lock was released: the next batch commits (a held lock
	// would fail it with SQLITE_BUSY after the busy timeout instead).
	if _, err := r1.Apply(ctx, batch(100, 200), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestSQLitePageSize checks that a new file gets the page size asked for
// (DefaultSQLitePageSize by default), that a file that exists keeps its
// own, with the checkpoint threshold in its pages, and that a size SQLite
// cannot use is refused.
func TestSQLitePageSize(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pragmas := func(s *SQLiteStore) (pageSize, checkpoint int, mode string) {
		t.Helper()
		if err := s.db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
			t.Fatal(err)
		}
		if err := s.db.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&checkpoint); err != nil {
			t.Fatal(err)
		}
		if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, c := range []struct {
		name        string
		create      int // PageSize when the file is created
		open        int // PageSize when it is opened again
		want, pages int
	}{
		{"default", 0, 0, DefaultSQLitePageSize, sqliteCheckpointBytes / DefaultSQLitePageSize},
		{"asked8192", 8192, 0, 8192, sqliteCheckpointBytes / 8192},
		{"asked65536", 65536, 8192, 65536, sqliteCheckpointBytes / 65536},
	} {
		path := filepath.Join(dir, c.name+".db")
		s, err := OpenSQLite(ctx, path, SQLiteOptions{NoSync: true, PageSize: c.create})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = OpenSQLite(ctx, path, SQLiteOptions{NoSync: true, PageSize: c.open})
		if err != nil {
			t.Fatal(err)
		}
		if ps, cp, mode := pragmas(s); ps != c.want || cp != c.pages || mode != "wal" {
			t.Errorf("%s: page_size %d, wal_autocheckpoint %d, journal_mode %s; want %d, %d, wal", c.name, ps, cp, mode, c.want, c.pages)
		}
		if _, err := s.Head(ctx, "did:plc:nobody"); !errors.Is(err, ErrRepoNotFound) {
			t.Errorf("%s: Head: %v", c.name, err)
		}
		s.Close()
	}
	for _, bad := range []int{-1, 256, 1000, 131072} {
		if s, err := OpenSQLite(ctx, filepath.Join(dir, "bad.db"), SQLiteOptions{PageSize: bad}); err == nil || s != nil {
			t.Errorf("PageSize %d: %v", bad, err)
		}
	}
}
