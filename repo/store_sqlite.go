package repo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ipfs/go-cid"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/townhall-dev/townhall/internal/sqlitefile"
	"github.com/townhall-dev/townhall/mst"
)

// SQLiteOptions configures OpenSQLite. The zero value means the defaults:
// WAL journal, synchronous=FULL (every commit is on disk when Apply
// returns), a 10 s busy timeout.
type SQLiteOptions struct {
	// NoSync sets synchronous=NORMAL: in WAL mode a power loss may lose the
	// last commits (never corrupt or half-apply them); a process crash
	// loses nothing.
	NoSync bool
	// BusyTimeoutMillis is how long a connection waits for another
	// process's lock (default 10000).
	BusyTimeoutMillis int
	// CacheKiB is SQLite's page cache per connection (default 8192 KiB).
	CacheKiB int
	// PageSize is the page size, in bytes, of a database file that
	// OpenSQLite creates: a power of two from 512 to 65536 (default
	// DefaultSQLitePageSize). A file that exists keeps its own.
	//
	// Larger pages suit bulk imports: with 8192, BenchmarkSQLiteApplyImport
	// (56 commits, about 86,000 blocks) took 21 % less time, with 2 % less
	// disk, because the WAL gets half the frames, each one or two write
	// system calls. But the page cache (CacheKiB) fills sooner: the
	// bench module's RepoImportChat peaked at 63 MiB instead of 53.
	PageSize int
}

// DefaultSQLitePageSize is the page size of a new database file, SQLite's
// own default.
const DefaultSQLitePageSize = 4096

// SQLiteStore is a Store in one SQLite database file, through the pure-Go
// modernc.org/sqlite driver. See the package documentation for the schema.
type SQLiteStore struct {
	db *sql.DB
	// wlock is held from before a write transaction begins until it
	// commits or rolls back: at most one pooled connection waits on or
	// holds SQLite's write lock, so a writer that reads through the pool
	// while it holds the lock (a pipelined Apply) always finds a
	// connection; writers of this process queue here, not in BEGIN
	// IMMEDIATE's busy handler with a connection each.
	wlock chan struct{}
	// writersWaiting counts the writers queued for wlock (tests).
	writersWaiting atomic.Int32

	mu    sync.Mutex
	ids   map[string]int64 // did -> repos.id, filled lazily; ids never change
	stmts map[string]*sql.Stmt
	trees map[string]*mst.Tree // did -> the tree last read, for its node cache
	hints keyHints

	scratch sqliteScratch // the buffers of the holder of wlock
}

// sqliteVersion is the schema version kept in PRAGMA user_version.
// Version 1 (user_version 0) indexed blocks by (repo, h) and kept a
// records table; version 2 indexes them by (h, repo) and derives the
// record index from the tree; version 3 keeps the keys in two tables, a
// small one for the blocks written since the last merge and a large one
// for the rest; version 4 packs a commit's small blocks several to a row
// (block_packs: store_sqlite_packs.go) and keeps the key index in blobs of
// sorted entries, a page each (key_pages and recent_key_pages:
// store_sqlite_keys.go), where version 3 had a row per block in blocks and
// an index row per block in block_keys or recent_keys.
const sqliteVersion = 4

// sqliteSchemaV3 is the schema of version 3, to which migrateSQLite first
// brings a file of an earlier version (or a new one), before
// sqliteMigrate3 converts it to version 4.
const sqliteSchemaV3 = `
CREATE TABLE IF NOT EXISTS repos (
	id         INTEGER PRIMARY KEY,
	did        TEXT NOT NULL UNIQUE,
	commit_cid BLOB NOT NULL,
	rev        TEXT NOT NULL,
	data_cid   BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks (
	id   INTEGER PRIMARY KEY,
	repo INTEGER NOT NULL,
	h    INTEGER NOT NULL,
	cid  BLOB NOT NULL,
	data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS block_keys (
	h  INTEGER NOT NULL,
	id INTEGER NOT NULL,
	PRIMARY KEY (h, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recent_keys (
	h  INTEGER NOT NULL,
	id INTEGER NOT NULL,
	PRIMARY KEY (h, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commits (
	repo        INTEGER NOT NULL,
	rev         TEXT NOT NULL,
	first_block INTEGER NOT NULL,
	PRIMARY KEY (repo, rev)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
	seq  INTEGER PRIMARY KEY AUTOINCREMENT,
	repo INTEGER NOT NULL,
	kind TEXT NOT NULL,
	data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_repo ON events (repo, seq);
`

// sqliteMigrate1 converts a version 1 database (a no-op on an empty one),
// after sqliteSchemaV3 has run (so blocks exists on an empty one too).
// The key is blockKey in SQL: the low 32 bits of the old 8-byte key, XOR
// (as (a | b) & ~(a & b)) the repository's hash, as a signed 32-bit value.
const sqliteMigrate1 = `
DROP INDEX IF EXISTS blocks_by_hash;
DROP TABLE IF EXISTS records;
UPDATE blocks SET h = ((((h & 4294967295) | ((repo * 2654435761) & 4294967295)) & ~((h & 4294967295) & ((repo * 2654435761) & 4294967295))) + 2147483648) % 4294967296 - 2147483648;
`

// sqliteMigrate2 converts a version 2 database (a no-op on an empty one):
// the keys of its index go to block_keys, in key order.
const sqliteMigrate2 = `
INSERT OR FAIL INTO block_keys (h, id) SELECT h, id FROM blocks ORDER BY h, id;
DROP INDEX IF EXISTS blocks_by_key;
`

// sqliteMigrate3 converts a version 3 database to version 4 (an empty one
// too), around migrateKeys3, which moves the keys: the blocks table becomes
// block_packs (each of its rows a pack of one block; n, the number of
// blocks in a pack, is 1 for them) and the new key tables replace the old.
// The views blocks (a row per block: its pack, repo, place in the pack,
// CID and data), block_keys and recent_keys (a row per key entry) show
// what the tables hold, for people and tests.
const (
	sqliteMigrate3 = `
ALTER TABLE blocks RENAME TO block_packs;
ALTER TABLE block_packs ADD COLUMN n INTEGER NOT NULL DEFAULT 1;
CREATE TABLE key_pages (lo INTEGER PRIMARY KEY, keys BLOB NOT NULL);
CREATE TABLE recent_key_pages (bucket INTEGER PRIMARY KEY, keys BLOB NOT NULL);
`
	sqliteMigrate3Views = `
DROP TABLE block_keys;
DROP TABLE recent_keys;
CREATE VIEW blocks (pack, repo, i, cid, data) AS
	WITH RECURSIVE b (pack, repo, i, n, hdr, body, hoff, doff) AS (
		SELECT id, repo, 0, n, cid, data, 0, 0 FROM block_packs
		UNION ALL SELECT pack, repo, i + 1, n, hdr, body,
			hoff + 7 + CAST(substr(hdr, hoff + 1, 3) AS INTEGER),
			doff + CAST(substr(hdr, hoff + 4, 4) AS INTEGER)
		FROM b WHERE i + 1 < n)
	SELECT pack, repo, i,
		CASE WHEN n = 1 THEN hdr ELSE substr(hdr, hoff + 8, CAST(substr(hdr, hoff + 1, 3) AS INTEGER)) END,
		CASE WHEN n = 1 THEN body ELSE substr(body, doff + 1, CAST(substr(hdr, hoff + 4, 4) AS INTEGER)) END
	FROM b;
CREATE VIEW block_keys (lo, i) AS
	WITH RECURSIVE k (lo, i, n) AS (
		SELECT lo, 0, length(keys) / 12 FROM key_pages
		UNION ALL SELECT lo, i + 1, n FROM k WHERE i + 1 < n)
	SELECT lo, i FROM k WHERE i < n;
CREATE VIEW recent_keys (bucket, i) AS
	WITH RECURSIVE k (bucket, i, n) AS (
		SELECT bucket, 0, length(keys) / 12 FROM recent_key_pages
		UNION ALL SELECT bucket, i + 1, n FROM k WHERE i + 1 < n)
	SELECT bucket, i FROM k WHERE i < n;
`
)

// sqliteRecentKeys is how many key entries recent_key_pages holds before a
// commit merges them into key_pages. A commit's keys land at random in the
// key order, so a commit rewrites nearly every row of the key table it adds
// to: the small recent_key_pages (up to about 30 pages) at each commit, the
// large key_pages only at a merge, once per about sqliteRecentKeys blocks.
const sqliteRecentKeys = 8192

// sqliteCheckpointBytes is how much the WAL holds, in pages of the
// file's size, before a commit copies them into the database file
// (SQLite's default is 1,000 pages). A checkpoint syncs the WAL and the
// database file, inside the Apply that triggers it, and writes each page
// changed since the last one once: with 4 KiB pages, checkpoints every
// 4,000 pages instead of 1,000 made the 54,930-record import do 126 fsyncs
// instead of 144 and write 25 MB to the database file instead of 28 MB.
// The WAL file grows to about 16 MiB.
const sqliteCheckpointBytes = 16 << 20

// sqliteBatch is how many rows one multi-row INSERT carries, and how many
// keys one lookup.
const sqliteBatch = 64

// Record-index trees: the node cache of each repository's tree, and how
// many repositories keep one.
const (
	sqliteTreeNodes = 1024
	sqliteTrees     = 64
)

// OpenSQLite opens (creating if needed) the database at path. A database
// of an earlier schema version is converted in place, in one transaction.
func OpenSQLite(ctx context.Context, path string, opts SQLiteOptions) (*SQLiteStore, error) {
	if opts.BusyTimeoutMillis <= 0 {
		opts.BusyTimeoutMillis = 10000
	}
	if opts.CacheKiB <= 0 {
		opts.CacheKiB = 8192
	}
	if opts.PageSize == 0 {
		opts.PageSize = DefaultSQLitePageSize
	}
	if opts.PageSize < 512 || opts.PageSize > 65536 || opts.PageSize&(opts.PageSize-1) != 0 {
		return nil, fmt.Errorf("repo: sqlite page size %d is not a power of two from 512 to 65536", opts.PageSize)
	}
	db, err := openSQLiteDB(path, opts)
	if err != nil {
		return nil, err
	}
	// A file that exists keeps its page size, which sets the checkpoint's
	// threshold in pages.
	var pageSize int
	if err := db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		db.Close()
		return nil, fmt.Errorf("repo: sqlite: %w", err)
	}
	if pageSize != opts.PageSize {
		db.Close()
		opts.PageSize = pageSize
		if db, err = openSQLiteDB(path, opts); err != nil {
			return nil, err
		}
	}
	if err := migrateSQLite(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("repo: sqlite schema: %w", err)
	}
	return &SQLiteStore{db: db, wlock: make(chan struct{}, 1), ids: map[string]int64{}, stmts: map[string]*sql.Stmt{}, trees: map[string]*mst.Tree{}}, nil
}

// openSQLiteDB opens the pool of connections to path, each set up by
// opts, which has its defaults filled in.
func openSQLiteDB(path string, opts SQLiteOptions) (*sql.DB, error) {
	syncMode := "FULL"
	if opts.NoSync {
		syncMode = "NORMAL"
	}
	q := url.Values{}
	// The driver runs the _pragma list in lexicographic order, and then
	// _journal_mode: page_size comes before the journal mode, which fixes
	// the page size of a new file.
	q.Add("_pragma", fmt.Sprintf("page_size(%d)", opts.PageSize))
	q.Add("_journal_mode", "WAL")
	q.Add("_pragma", "synchronous("+syncMode+")")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeoutMillis))
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", opts.CacheKiB))
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", sqliteCheckpointBytes/opts.PageSize))
	q.Add("_txlock", "immediate")
	dsn, err := sqlitefile.URI(path, q.Encode())
	if err != nil {
		return nil, fmt.Errorf("repo: %w", err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("repo: %w", err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	return db, nil
}

// migrateSQLite creates the schema, or brings an older one to
// sqliteVersion, in one transaction.
func migrateSQLite(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	if v == sqliteVersion {
		return nil
	}
	if v > sqliteVersion {
		return fmt.Errorf("%w: version %d, want at most %d", ErrSchemaVersion, v, sqliteVersion)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	if v < 3 {
		// The tables versions 1 and 2 share with version 3 have the same
		// shape, so CREATE ... IF NOT EXISTS leaves them and adds the rest.
		if _, err := tx.ExecContext(ctx, sqliteSchemaV3); err != nil {
			return err
		}
	}
	if v == 0 {
		// Version 1 (or an empty file): blocks keyed by (repo, h) with h
		// the 8-byte digest tail, and a records table. Rekey the blocks,
		// drop the old index and the records table (the record index is
		// now the tree).
		if _, err := tx.ExecContext(ctx, sqliteMigrate1); err != nil {
			return err
		}
	}
	if v < 3 {
		// Version 2, or version 1 converted to it above.
		if _, err := tx.ExecContext(ctx, sqliteMigrate2); err != nil {
			return err
		}
	}
	if v < 4 {
		if _, err := tx.ExecContext(ctx, sqliteMigrate3); err != nil {
			return err
		}
		if err := migrateKeys3(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqliteMigrate3Views); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, sqliteVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// migrateKeys3 writes the keys of a version 3 database's block_keys and
// recent_keys (each row's id is a row of blocks, now a pack of one block)
// to key_pages, in key order, full rows.
func migrateKeys3(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT h, id FROM block_keys UNION ALL SELECT h, id FROM recent_keys ORDER BY 1, 2`)
	if err != nil {
		return err
	}
	defer rows.Close()
	lo := int64(math.MinInt32)
	page := make([]byte, 0, (sqliteKeyPageEnts+1)*keyEntBytes)
	for rows.Next() {
		var e keyEnt
		var h int64
		if err := rows.Scan(&h, &e.id); err != nil {
			return err
		}
		e.h = int32(h)
		if n := len(page) / keyEntBytes; n >= sqliteKeyPageEnts && keyH(page, n-1) != e.h {
			if _, err := tx.ExecContext(ctx, `INSERT INTO key_pages (lo, keys) VALUES (?, ?)`, lo, page); err != nil {
				return err
			}
			lo, page = int64(e.h), page[:0]
		}
		page = appendKeyEnt(page, e)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(page) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO key_pages (lo, keys) VALUES (?, ?)`, lo, page); err != nil {
			return err
		}
	}
	return nil
}

// stmt returns a prepared statement for query, preparing it once.
// Preparing may wait for a pooled connection, so it happens outside s.mu
// (whose holders must never wait on the pool); two callers that race keep
// the first statement stored.
func (s *SQLiteStore) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	st, ok := s.stmts[query]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if first, ok := s.stmts[query]; ok {
		st.Close()
		return first, nil
	}
	s.stmts[query] = st
	return st, nil
}

// txExec runs a prepared statement in tx (unprepared if preparing fails,
// so that the error surfaces from the call itself).
func (s *SQLiteStore) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return tx.ExecContext(ctx, query, args...)
	}
	return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

// txQuery is txExec for a query.
func (s *SQLiteStore) txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return tx.QueryContext(ctx, query, args...)
	}
	return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

// txQueryRow is txExec for a query returning one row.
func (s *SQLiteStore) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return tx.QueryRowContext(ctx, query, args...)
	}
	return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}

func (s *SQLiteStore) repoID(ctx context.Context, did string) (int64, error) {
	s.mu.Lock()
	id, ok := s.ids[did]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	st, err := s.stmt(ctx, `SELECT id FROM repos WHERE did = ?`)
	if err != nil {
		return 0, err
	}
	if err := st.QueryRowContext(ctx, did).Scan(&id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("%w: %s", ErrRepoNotFound, did)
		}
		return 0, err
	}
	s.mu.Lock()
	s.ids[did] = id
	s.mu.Unlock()
	return id, nil
}

func castCID(b []byte) (cid.Cid, error) {
	c, err := cid.Cast(b)
	if err != nil {
		return cid.Undef, fmt.Errorf("repo: sqlite holds a bad CID: %w", err)
	}
	return c, nil
}

// Head implements Store.
func (s *SQLiteStore) Head(ctx context.Context, did string) (Head, error) {
	st, err := s.stmt(ctx, `SELECT commit_cid, rev, data_cid FROM repos WHERE did = ?`)
	if err != nil {
		return Head{}, err
	}
	var cb, db []byte
	h := Head{DID: did}
	if err := st.QueryRowContext(ctx, did).Scan(&cb, &h.Rev, &db); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Head{}, fmt.Errorf("%w: %s", ErrRepoNotFound, did)
		}
		return Head{}, err
	}
	if h.Commit, err = castCID(cb); err != nil {
		return Head{}, err
	}
	if h.Data, err = castCID(db); err != nil {
		return Head{}, err
	}
	return h, nil
}

// GetBlock implements Store: see GetBlocks.
func (s *SQLiteStore) GetBlock(ctx context.Context, did string, c cid.Cid) ([]byte, error) {
	out, err := s.GetBlocks(ctx, did, []cid.Cid{c})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// GetBlocks implements BlocksGetter. For each up to sqliteBatch blocks, one
// statement reads the packs the key index rows held as hints (keyHints)
// name (one per sqliteBatch packs); for the blocks not found there, one
// statement looks their keys up in the key index and one reads the packs
// it names. Each block returned
// is a copy of its part of its pack.
func (s *SQLiteStore) GetBlocks(ctx context.Context, did string, cids []cid.Cid) ([][]byte, error) {
	id, err := s.repoID(ctx, did)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(cids))
	found := make([]bool, len(cids))
	var want map[string][]int // CID -> its places in cids, for more than one
	if len(cids) > 1 {
		want = make(map[string][]int, len(cids))
		for i, c := range cids {
			want[c.KeyString()] = append(want[c.KeyString()], i)
		}
	}
	file := func(c, d []byte) {
		if want == nil {
			if !found[0] && string(c) == cids[0].KeyString() {
				out[0], found[0] = append(make([]byte, 0, len(d)), d...), true
			}
			return
		}
		var cp []byte
		for _, i := range want[string(c)] {
			if !found[i] {
				if cp == nil {
					cp = append(make([]byte, 0, len(d)), d...)
				}
				out[i], found[i] = cp, true
			}
		}
	}
	var (
		hs     [sqliteBatch]int32
		idsBuf [sqliteBatch][]int64
		packs  []int64
	)
	for off := 0; off < len(cids); {
		chunk := cids[off : off+min(len(cids)-off, sqliteBatch)]
		ids := idsBuf[:len(chunk)]
		packs = packs[:0]
		for i, c := range chunk {
			hs[i] = int32(blockKey(id, c))
			ids[i] = s.hints.get(hs[i], ids[i][:0])
			packs = append(packs, ids[i]...)
		}
		if err := s.readPacks(ctx, id, sortedIDs(packs), file); err != nil {
			return nil, err
		}
		// The rest, through the key index.
		var missing []int
		for i := range chunk {
			if !found[off+i] {
				missing = append(missing, i)
			}
		}
		for len(missing) > 0 {
			part := missing[:min(len(missing), sqliteBatch)]
			missing = missing[len(part):]
			var mh [sqliteBatch]int32
			mids := idsBuf[:len(part)]
			for j, i := range part {
				mh[j], mids[j] = hs[i], mids[j][:0]
			}
			if err := s.lookupPacks(ctx, mh[:len(part)], mids); err != nil {
				return nil, err
			}
			packs = packs[:0]
			for _, l := range mids {
				packs = append(packs, l...)
			}
			if err := s.readPacks(ctx, id, sortedIDs(packs), file); err != nil {
				return nil, err
			}
		}
		off += len(chunk)
	}
	for i, ok := range found {
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrBlockNotFound, cids[i])
		}
	}
	return out, nil
}

// sortedIDs sorts ids and drops repeats.
func sortedIDs(ids []int64) []int64 {
	slices.Sort(ids)
	return slices.Compact(ids)
}

// packSelects are the reads of up to sqliteBatch packs of a repository, by
// number of packs: parameters 1 to n are the ids, n+1 the repository.
var packSelects = func() map[int]string {
	m := map[int]string{}
	for n := 1; n <= sqliteBatch; n *= 2 {
		var in strings.Builder
		for i := 1; i <= n; i++ {
			if i > 1 {
				in.WriteByte(',')
			}
			fmt.Fprintf(&in, "?%d", i)
		}
		m[n] = fmt.Sprintf(`SELECT id, n, cid, data FROM block_packs WHERE id IN (%s) AND repo = ?%d`, in.String(), n+1)
	}
	return m
}()

// readPacks calls fn with the CID bytes and data of each block of the
// packs ids of repository repo (their bytes are valid during the call).
func (s *SQLiteStore) readPacks(ctx context.Context, repo int64, ids []int64, fn func(c, d []byte)) error {
	var argBuf [sqliteBatch + 1]any
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), sqliteBatch)]
		ids = ids[len(chunk):]
		args := argBuf[:0]
		for _, id := range chunk {
			args = append(args, id)
		}
		shape := inShape(len(chunk))
		for len(args) < shape {
			args = append(args, chunk[len(chunk)-1])
		}
		args = append(args, repo)
		st, err := s.stmt(ctx, packSelects[shape])
		if err != nil {
			return err
		}
		if err := scanPacks(ctx, st, args, fn); err != nil {
			return err
		}
	}
	return nil
}

// scanPacks runs a pack query (id, n, cid, data) and calls fn for each
// block.
func scanPacks(ctx context.Context, st *sql.Stmt, args []any, fn func(c, d []byte)) error {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		p := packReader{}
		var hdr, data sql.RawBytes
		if err := rows.Scan(&p.id, &p.n, &hdr, &data); err != nil {
			return err
		}
		p.hdr, p.data = hdr, data
		if err := p.each(func(c, d []byte) error { fn(c, d); return nil }); err != nil {
			return err
		}
	}
	return rows.Err()
}

// blockKey is the index key of a block of repository repo: the last four
// bytes of its CID (the tail of the digest) XOR a multiplicative hash of
// repo, as a signed 32-bit integer (four bytes in an index entry). Mixing
// in repo spreads a block that many repositories share (the empty tree's
// node) over different keys; rows are still checked for repo and CID, so
// a collision costs one more row read, never a wrong block.
func blockKey(repo int64, c cid.Cid) int64 {
	k := c.KeyString()
	var tail uint32
	for i := max(0, len(k)-4); i < len(k); i++ {
		tail = tail<<8 | uint32(k[i])
	}
	return int64(int32(tail ^ repoMix(repo)))
}

// repoMix is blockKey's hash of a repository id. sqliteMigrate1 computes
// the same in SQL for the migration from schema version 1.
func repoMix(repo int64) uint32 { return uint32(repo * 2654435761) }

// chunkLen is how many of n remaining rows the next INSERT carries: 64, or
// the largest power of two <= n, so that a handful of statement shapes
// (64, 32, ..., 1 rows) serve every batch and stay prepared. Reads take
// the other way to the same shapes (inShape): a list of values to match
// is padded with repeats, which select nothing more.
func chunkLen(n int) int {
	if n >= sqliteBatch {
		return sqliteBatch
	}
	c := 1
	for c*2 <= n {
		c *= 2
	}
	return c
}

// inShape is the shape of a read of n values (1 to sqliteBatch) in one
// statement: the least power of two >= n. The values past n repeat the
// last one.
func inShape(n int) int {
	c := 1
	for c < n {
		c *= 2
	}
	return c
}

func valuesList(rows, cols int) string {
	one := "(" + strings.Repeat("?,", cols-1) + "?)"
	return strings.Repeat(one+",", rows-1) + one
}

// recordIndexIsTree marks SQLiteStore as a treeIndexedStore: its record
// index is the head's tree, so Repo.Apply leaves StoreWrite.Records empty.
func (s *SQLiteStore) recordIndexIsTree() {}

// Apply implements Store. Everything happens in one BEGIN IMMEDIATE
// transaction, which first checks the head (compare-and-swap). The record
// index is the tree at w.Head.Data, so w.Records is not stored.
func (s *SQLiteStore) Apply(ctx context.Context, did string, w *StoreWrite) (int64, error) {
	a, err := s.beginApply(ctx, did, w)
	if err != nil {
		return 0, err
	}
	defer a.rollback()
	return a.finish(ctx, w, 0)
}

// sqliteApply is the transaction of one Apply, in steps: beginApply (the
// compare-and-swap on the head), blocks (any number of times), finish.
type sqliteApply struct {
	s       *SQLiteStore
	tx      *sql.Tx
	did     string
	id      int64 // repos.id
	created bool  // the transaction inserted the repos row
	first   int64 // id of the first pack written, 0 before any
	next    int64 // id of the next pack
	sc      *sqliteScratch
	locked  bool // a holds s.wlock
}

// sqliteScratch is the buffers of a write, which the store keeps for the
// next (only the holder of its wlock uses them).
type sqliteScratch struct {
	keys   []keyEnt // the write's keys
	recent []keyEnt // the recent rows' entries
	all    []keyEnt // the two merged
	args   []any
	buf    []byte   // packs of more than one block, rows of keys
	sizes  []int    // blocks per pack
	order  []uint64 // sortKeys's buffers
	sorted []keyEnt
	los    []int64 // key_pages rows read by a merge
	offs   []int
	pages  []byte
}

// sqliteScratchKeys bounds the entries a kept buffer holds: the buffers of
// a larger write (a CAR import) are dropped after it.
const sqliteScratchKeys = 1 << 16

// trim drops the buffers that grew beyond the bound.
func (sc *sqliteScratch) trim() {
	if cap(sc.order) > sqliteScratchKeys {
		sc.order = nil
	}
	for _, b := range []*[]keyEnt{&sc.keys, &sc.recent, &sc.all, &sc.sorted} {
		if cap(*b) > sqliteScratchKeys {
			*b = nil
		}
	}
	if cap(sc.buf) > sqliteScratchKeys*keyEntBytes {
		sc.buf = nil
	}
	if cap(sc.sizes) > sqliteScratchKeys {
		sc.sizes = nil
	}
	if cap(sc.pages) > 2*sqliteMergeRows*sqliteKeyPageEnts*keyEntBytes {
		sc.los, sc.offs, sc.pages = nil, nil, nil
	}
}

// beginApply begins the transaction of a write that builds on w.Expect and,
// if it creates the repository, has the head w.Head.
func (s *SQLiteStore) beginApply(ctx context.Context, did string, w *StoreWrite) (*sqliteApply, error) {
	s.writersWaiting.Add(1)
	select {
	case s.wlock <- struct{}{}:
		s.writersWaiting.Add(-1)
	case <-ctx.Done():
		s.writersWaiting.Add(-1)
		return nil, ctx.Err()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		<-s.wlock
		return nil, err
	}
	a := &sqliteApply{s: s, tx: tx, did: did, sc: &s.scratch, locked: true}
	a.sc.keys = a.sc.keys[:0]
	var cur []byte
	err = s.txQueryRow(ctx, tx, `SELECT id, commit_cid FROM repos WHERE did = ?`, did).Scan(&a.id, &cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if w.Expect.Defined() {
			err = fmt.Errorf("%w: %s", ErrRepoNotFound, did)
			break
		}
		var res sql.Result
		if res, err = s.txExec(ctx, tx, `INSERT INTO repos (did, commit_cid, rev, data_cid) VALUES (?, ?, ?, ?)`,
			did, w.Head.Commit.Bytes(), w.Head.Rev, w.Head.Data.Bytes()); err == nil {
			a.id, err = res.LastInsertId()
			a.created = true
		}
	case err != nil:
	case !w.Expect.Defined():
		err = fmt.Errorf("%w: %s", ErrRepoExists, did)
	case string(cur) != w.Expect.KeyString():
		err = ErrConflict
	}
	if err != nil {
		a.rollback()
		return nil, err
	}
	return a, nil
}

// rollback ends the transaction if finish has not committed it, and
// releases the store's write lock.
func (a *sqliteApply) rollback() {
	a.tx.Rollback() //nolint:errcheck // a no-op after Commit
	a.unlock()
}

// unlock releases the store's write lock, once.
func (a *sqliteApply) unlock() {
	if a.locked {
		a.locked = false
		a.sc.trim()
		a.sc = nil
		<-a.s.wlock
	}
}

// blocks appends blocks, in packs (several small blocks to a row), in
// multi-row INSERTs of up to sqlitePackRows packs, and keeps their keys for
// finish. A block that appears twice in one write (two equal records) is
// stored twice, as one a later commit writes again is: GetBlock reads one
// copy, BlocksSince reports it once.
func (a *sqliteApply) blocks(ctx context.Context, bs []Block) error {
	if len(bs) == 0 {
		return nil
	}
	if a.first == 0 {
		if err := a.s.txQueryRow(ctx, a.tx, `SELECT COALESCE(MAX(id), 0) + 1 FROM block_packs`).Scan(&a.first); err != nil {
			return err
		}
		a.next = a.first
	}
	sc := a.sc
	sizes := packSizes(bs, sc.sizes[:0])
	sc.sizes = sizes
	repo := any(a.id)
	for len(sizes) > 0 {
		rows := min(chunkLen(len(sizes)), sqlitePackRows)
		// The bytes to copy, so that buf never grows while parts of it
		// are bound.
		var blocks, copied int
		for _, n := range sizes[:rows] {
			if n > 1 {
				for _, b := range bs[blocks : blocks+n] {
					copied += packBlockBytes(b)
				}
			}
			blocks += n
		}
		if cap(sc.buf) < copied {
			sc.buf = make([]byte, 0, copied)
		}
		buf := sc.buf[:0]
		args := sc.args[:0]
		for _, n := range sizes[:rows] {
			pack := bs[:n]
			bs = bs[n:]
			var hdr, data []byte
			if n == 1 {
				hdr, data = cidBytes(pack[0].CID), pack[0].Data
			} else {
				buf, hdr, data = appendPack(buf, pack)
			}
			args = append(args, a.next, repo, n, hdr, data)
			for _, b := range pack {
				sc.keys = append(sc.keys, keyEnt{h: int32(blockKey(a.id, b.CID)), id: a.next})
			}
			a.next++
		}
		sc.args = args[:0]
		if err := a.s.execStmt(ctx, a.tx, packInserts[rows], args); err != nil {
			return err
		}
		sizes = sizes[rows:]
	}
	return nil
}

// finish writes the rest of w (its blocks after the first done ones, which
// blocks wrote), moves the head, records in commits where the commit's
// blocks start, files their keys, appends the events and commits. A write
// without blocks (a #sync event for the same head) adds no commit row.
func (a *sqliteApply) finish(ctx context.Context, w *StoreWrite, done int) (int64, error) {
	s, tx := a.s, a.tx
	if err := a.blocks(ctx, w.Blocks[done:]); err != nil {
		return 0, err
	}
	if !a.created {
		if _, err := s.txExec(ctx, tx, `UPDATE repos SET commit_cid = ?, rev = ?, data_cid = ? WHERE id = ?`,
			w.Head.Commit.Bytes(), w.Head.Rev, w.Head.Data.Bytes(), a.id); err != nil {
			return 0, err
		}
	}
	if a.first != 0 {
		if _, err := s.txExec(ctx, tx, `INSERT INTO commits (repo, rev, first_block) VALUES (?, ?, ?)`, a.id, w.Head.Rev, a.first); err != nil {
			return 0, err
		}
		if err := a.fileKeys(ctx); err != nil {
			return 0, err
		}
	}
	var seq int64
	for _, e := range w.Events {
		if err := s.txQueryRow(ctx, tx, `INSERT INTO events (repo, kind, data) VALUES (?, ?, ?) RETURNING seq`, a.id, e.Kind, e.Data).Scan(&seq); err != nil {
			return 0, err
		}
	}
	err := tx.Commit()
	a.unlock()
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.ids[a.did] = a.id
	s.mu.Unlock()
	return seq, nil
}

// errApplyAborted is what an applyPipe's transaction ends with when its
// caller gives up on the write.
var errApplyAborted = errors.New("repo: write abandoned")

// applyPipe is an Apply that runs on its own goroutine: it begins the
// transaction (checking the head) and writes the first blocks while the
// caller builds the rest of the write, then waits for finish or abort.
// Everything is still one transaction: all of it or nothing.
type applyPipe struct {
	fin  chan *StoreWrite // nil: abort
	done chan applyResult
}

type applyResult struct {
	seq int64
	err error
}

// startApply starts an Apply of a write that builds on expect and whose
// blocks begin with first (the caller must not modify them).
func (s *SQLiteStore) startApply(ctx context.Context, did string, expect cid.Cid, first []Block) *applyPipe {
	p := &applyPipe{fin: make(chan *StoreWrite, 1), done: make(chan applyResult, 1)}
	go func() {
		a, err := s.beginApply(ctx, did, &StoreWrite{Expect: expect})
		if err == nil {
			err = a.blocks(ctx, first)
		}
		w := <-p.fin
		var seq int64
		switch {
		case err != nil:
		case w == nil:
			err = errApplyAborted
		default:
			seq, err = a.finish(ctx, w, len(first))
		}
		if a != nil {
			a.rollback() // before the caller goes on (and perhaps retries)
		}
		p.done <- applyResult{seq, err}
	}()
	return p
}

// finish completes the write w, whose blocks begin with the ones given to
// startApply, and returns what Apply would.
func (p *applyPipe) finish(w *StoreWrite) (int64, error) {
	p.fin <- w
	r := <-p.done
	return r.seq, r.err
}

// abort rolls the write back and waits until it is.
func (p *applyPipe) abort() {
	p.fin <- nil
	<-p.done
}

// execStmt runs the prepared statement for query in tx.
func (s *SQLiteStore) execStmt(ctx context.Context, tx *sql.Tx, query string, args []any) error {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return err
	}
	_, err = tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	return err
}

// cidBytes returns the bytes of c without copying them, for binding as a
// statement argument only: the driver copies a blob when it binds it
// (modernc.org/sqlite's bindBlob), and nothing may write to the result.
func cidBytes(c cid.Cid) []byte {
	k := c.KeyString()
	return unsafe.Slice(unsafe.StringData(k), len(k))
}

// headTree returns the tree of did's head, continuing from the tree last
// read for did so that its node cache stays warm. Blocks in the store were
// hashed or verified when written, so the tree trusts them.
func (s *SQLiteStore) headTree(ctx context.Context, did string) (*mst.Tree, error) {
	h, err := s.Head(ctx, did)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.trees[did]
	if ok {
		t = t.LoadRoot(h.Data)
	} else {
		if len(s.trees) >= sqliteTrees {
			clear(s.trees)
		}
		t = mst.Options{CacheNodes: sqliteTreeNodes, InsecureTrustSource: true}.Load(&storeSource{s: s, did: did}, h.Data)
	}
	s.trees[did] = t
	return t, nil
}

// Record implements Store: a lookup in the head's tree.
func (s *SQLiteStore) Record(ctx context.Context, did, collection, rkey string) (cid.Cid, error) {
	t, err := s.headTree(ctx, did)
	if err != nil {
		return cid.Undef, err
	}
	path := collection + "/" + rkey
	if mst.ValidateKey(path) != nil {
		// No such key can be in a tree.
		return cid.Undef, fmt.Errorf("%w: %s", ErrRecordNotFound, path)
	}
	c, ok, err := t.Get(ctx, path)
	if err != nil {
		return cid.Undef, err
	}
	if !ok {
		return cid.Undef, fmt.Errorf("%w: %s/%s", ErrRecordNotFound, collection, rkey)
	}
	return c, nil
}

// ListRecords implements Store: a range of the head's tree.
func (s *SQLiteStore) ListRecords(ctx context.Context, did, collection string, q ListOptions) ([]RecordEntry, error) {
	t, err := s.headTree(ctx, did)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	prefix := collection + "/"
	opts := mst.ListOptions{Prefix: prefix, Limit: limit, Reverse: q.Reverse}
	if q.Cursor != "" {
		opts.Cursor = prefix + q.Cursor
	}
	ents, err := t.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	out := make([]RecordEntry, len(ents))
	for i, e := range ents {
		out[i] = RecordEntry{Collection: collection, RKey: e.Key[len(prefix):], CID: e.Value}
	}
	return out, nil
}

// Collections implements Store: one descent of the head's tree per
// collection.
func (s *SQLiteStore) Collections(ctx context.Context, did string) ([]string, error) {
	t, err := s.headTree(ctx, did)
	if err != nil {
		return nil, err
	}
	var out []string
	cursor := ""
	for {
		ents, err := t.List(ctx, mst.ListOptions{Cursor: cursor, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(ents) == 0 {
			break
		}
		coll, _, _ := strings.Cut(ents[0].Key, "/")
		out = append(out, coll)
		// Record keys are printable ASCII: every key of coll sorts
		// before coll+"/\x7f", every key of a later collection after.
		cursor = coll + "/\x7f"
	}
	// "a.b/..." sorts after "a.b.c/..." as keys, before it as names.
	sort.Strings(out)
	return out, nil
}

// BlocksSince implements Store.
func (s *SQLiteStore) BlocksSince(ctx context.Context, did, since string, fn func(Block) error) error {
	id, err := s.repoID(ctx, did)
	if err != nil {
		return err
	}
	var first sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MIN(first_block) FROM commits WHERE repo = ? AND rev > ?`, id, since).Scan(&first); err != nil {
		return err
	}
	if !first.Valid {
		return nil
	}
	// "+repo" keeps SQLite on the rowid range.
	rows, err := s.db.QueryContext(ctx, `SELECT id, n, cid, data FROM block_packs WHERE id >= ? AND +repo = ? ORDER BY id`, first.Int64, id)
	if err != nil {
		return err
	}
	defer rows.Close()
	seen := map[string]struct{}{}
	for rows.Next() {
		var p packReader
		// Scanned as copies: the blocks handed to fn are parts of them.
		if err := rows.Scan(&p.id, &p.n, &p.hdr, &p.data); err != nil {
			return err
		}
		err := p.each(func(cb, data []byte) error {
			if _, dup := seen[string(cb)]; dup {
				return nil
			}
			seen[string(cb)] = struct{}{}
			c, err := castCID(cb)
			if err != nil {
				return err
			}
			return fn(Block{CID: c, Data: data})
		})
		if err != nil {
			return err
		}
	}
	return rows.Err()
}

// Events implements Store.
func (s *SQLiteStore) Events(ctx context.Context, did string, after int64, limit int) ([]StoredEvent, error) {
	if limit <= 0 {
		limit = DefaultEventsLimit
	}
	var rows *sql.Rows
	var err error
	if did == "" {
		rows, err = s.db.QueryContext(ctx, `SELECT e.seq, r.did, e.kind, e.data FROM events e JOIN repos r ON r.id = e.repo WHERE e.seq > ? ORDER BY e.seq LIMIT ?`, after, limit)
	} else {
		var id int64
		if id, err = s.repoID(ctx, did); err != nil {
			return nil, err
		}
		rows, err = s.db.QueryContext(ctx, `SELECT e.seq, ?, e.kind, e.data FROM events e WHERE e.repo = ? AND e.seq > ? ORDER BY e.seq LIMIT ?`, did, id, after, limit)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredEvent
	for rows.Next() {
		var e StoredEvent
		if err := rows.Scan(&e.Seq, &e.DID, &e.Kind, &e.Data); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Close implements Store.
func (s *SQLiteStore) Close() error {
	s.mu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = map[string]*sql.Stmt{}
	clear(s.trees)
	s.mu.Unlock()
	return s.db.Close()
}
