package repo

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
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
}

// SQLiteStore is a Store in one SQLite database file, through the pure-Go
// modernc.org/sqlite driver. See the package documentation for the schema.
type SQLiteStore struct {
	db *sql.DB

	mu    sync.Mutex
	ids   map[string]int64 // did -> repos.id, filled lazily; ids never change
	stmts map[string]*sql.Stmt
}

const sqliteSchema = `
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
CREATE INDEX IF NOT EXISTS blocks_by_hash ON blocks (repo, h);
CREATE TABLE IF NOT EXISTS commits (
	repo        INTEGER NOT NULL,
	rev         TEXT NOT NULL,
	first_block INTEGER NOT NULL,
	PRIMARY KEY (repo, rev)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
	repo       INTEGER NOT NULL,
	collection TEXT NOT NULL,
	rkey       TEXT NOT NULL,
	cid        BLOB NOT NULL,
	PRIMARY KEY (repo, collection, rkey)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
	seq  INTEGER PRIMARY KEY AUTOINCREMENT,
	repo INTEGER NOT NULL,
	kind TEXT NOT NULL,
	data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_repo ON events (repo, seq);
`

// sqliteBatch is how many rows one multi-row INSERT carries.
const sqliteBatch = 64

// OpenSQLite opens (creating if needed) the database at path.
func OpenSQLite(ctx context.Context, path string, opts SQLiteOptions) (*SQLiteStore, error) {
	if opts.BusyTimeoutMillis <= 0 {
		opts.BusyTimeoutMillis = 10000
	}
	if opts.CacheKiB <= 0 {
		opts.CacheKiB = 8192
	}
	syncMode := "FULL"
	if opts.NoSync {
		syncMode = "NORMAL"
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+syncMode+")")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeoutMillis))
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", opts.CacheKiB))
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	if _, err := db.ExecContext(ctx, sqliteSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("repo: sqlite schema: %w", err)
	}
	return &SQLiteStore{db: db, ids: map[string]int64{}, stmts: map[string]*sql.Stmt{}}, nil
}

// stmt returns a prepared statement for query, preparing it once.
func (s *SQLiteStore) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
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

// GetBlock implements Store.
func (s *SQLiteStore) GetBlock(ctx context.Context, did string, c cid.Cid) ([]byte, error) {
	id, err := s.repoID(ctx, did)
	if err != nil {
		return nil, err
	}
	st, err := s.stmt(ctx, `SELECT cid, data FROM blocks WHERE repo = ? AND h = ?`)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, id, blockHash(c))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	want := c.Bytes()
	for rows.Next() {
		var cb, data []byte
		if err := rows.Scan(&cb, &data); err != nil {
			return nil, err
		}
		if bytes.Equal(cb, want) {
			return data, nil
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: %s", ErrBlockNotFound, c)
}

// blockHash is the index key of a block: the last 8 bytes of its CID (the
// tail of the digest) as an int64.
func blockHash(c cid.Cid) int64 {
	k := c.KeyString()
	if len(k) < 8 {
		var b [8]byte
		copy(b[8-len(k):], k)
		return int64(binary.BigEndian.Uint64(b[:]))
	}
	return int64(binary.BigEndian.Uint64([]byte(k[len(k)-8:])))
}

// chunkLen is how many of n remaining rows the next INSERT carries: 64, or
// the largest power of two <= n, so that a handful of statement shapes
// (64, 32, ..., 1 rows) serve every batch and stay prepared.
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

func valuesList(rows, cols int) string {
	one := "(" + strings.Repeat("?,", cols-1) + "?)"
	return strings.Repeat(one+",", rows-1) + one
}

// Apply implements Store. Everything happens in one BEGIN IMMEDIATE
// transaction, which first checks the head (compare-and-swap).
func (s *SQLiteStore) Apply(ctx context.Context, did string, w *StoreWrite) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	var id int64
	var cur []byte
	err = s.txQueryRow(ctx, tx, `SELECT id, commit_cid FROM repos WHERE did = ?`, did).Scan(&id, &cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if w.Expect.Defined() {
			return 0, fmt.Errorf("%w: %s", ErrRepoNotFound, did)
		}
		res, err := s.txExec(ctx, tx, `INSERT INTO repos (did, commit_cid, rev, data_cid) VALUES (?, ?, ?, ?)`,
			did, w.Head.Commit.Bytes(), w.Head.Rev, w.Head.Data.Bytes())
		if err != nil {
			return 0, err
		}
		if id, err = res.LastInsertId(); err != nil {
			return 0, err
		}
	case err != nil:
		return 0, err
	default:
		if !w.Expect.Defined() {
			return 0, fmt.Errorf("%w: %s", ErrRepoExists, did)
		}
		if string(cur) != w.Expect.KeyString() {
			return 0, ErrConflict
		}
		if _, err := s.txExec(ctx, tx, `UPDATE repos SET commit_cid = ?, rev = ?, data_cid = ? WHERE id = ?`,
			w.Head.Commit.Bytes(), w.Head.Rev, w.Head.Data.Bytes(), id); err != nil {
			return 0, err
		}
	}

	// Blocks are appended, in multi-row INSERTs of up to sqliteBatch rows;
	// the commits table remembers where this commit's blocks start. A write
	// without blocks (a #sync event for the same head) adds no commit row.
	if len(w.Blocks) > 0 {
		var first int64
		if err := s.txQueryRow(ctx, tx, `SELECT COALESCE(MAX(id), 0) + 1 FROM blocks`).Scan(&first); err != nil {
			return 0, err
		}
		if _, err := s.txExec(ctx, tx, `INSERT INTO commits (repo, rev, first_block) VALUES (?, ?, ?)`, id, w.Head.Rev, first); err != nil {
			return 0, err
		}
	}
	const blockSQL = `INSERT INTO blocks (repo, h, cid, data) VALUES %s`
	args := make([]any, 0, 4*sqliteBatch)
	seen := make(map[cid.Cid]struct{}, len(w.Blocks))
	blocks := make([]Block, 0, len(w.Blocks))
	for _, b := range w.Blocks {
		if _, dup := seen[b.CID]; !dup {
			seen[b.CID] = struct{}{}
			blocks = append(blocks, b)
		}
	}
	for rest := blocks; len(rest) > 0; {
		chunk := rest[:chunkLen(len(rest))]
		rest = rest[len(chunk):]
		args = args[:0]
		for _, b := range chunk {
			args = append(args, id, blockHash(b.CID), b.CID.Bytes(), b.Data)
		}
		st, err := s.stmt(ctx, fmt.Sprintf(blockSQL, valuesList(len(chunk), 4)))
		if err != nil {
			return 0, err
		}
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
			return 0, err
		}
	}

	// Record index: upserts batched, deletes one by one.
	const recSQL = `INSERT INTO records (repo, collection, rkey, cid) VALUES %s ON CONFLICT (repo, collection, rkey) DO UPDATE SET cid = excluded.cid`
	var ups []RecordEntry
	flush := func() error {
		for rest := ups; len(rest) > 0; {
			chunk := rest[:chunkLen(len(rest))]
			rest = rest[len(chunk):]
			args = args[:0]
			for _, e := range chunk {
				args = append(args, id, e.Collection, e.RKey, e.CID.Bytes())
			}
			st, err := s.stmt(ctx, fmt.Sprintf(recSQL, valuesList(len(chunk), 4)))
			if err != nil {
				return err
			}
			if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
				return err
			}
		}
		ups = ups[:0]
		return nil
	}
	for _, e := range w.Records {
		if e.CID.Defined() {
			ups = append(ups, e)
			if len(ups) == sqliteBatch {
				if err := flush(); err != nil {
					return 0, err
				}
			}
			continue
		}
		if err := flush(); err != nil {
			return 0, err
		}
		if _, err := s.txExec(ctx, tx, `DELETE FROM records WHERE repo = ? AND collection = ? AND rkey = ?`, id, e.Collection, e.RKey); err != nil {
			return 0, err
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}

	var seq int64
	for _, e := range w.Events {
		if err := s.txQueryRow(ctx, tx, `INSERT INTO events (repo, kind, data) VALUES (?, ?, ?) RETURNING seq`, id, e.Kind, e.Data).Scan(&seq); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.ids[did] = id
	s.mu.Unlock()
	return seq, nil
}

// Record implements Store.
func (s *SQLiteStore) Record(ctx context.Context, did, collection, rkey string) (cid.Cid, error) {
	id, err := s.repoID(ctx, did)
	if err != nil {
		return cid.Undef, err
	}
	st, err := s.stmt(ctx, `SELECT cid FROM records WHERE repo = ? AND collection = ? AND rkey = ?`)
	if err != nil {
		return cid.Undef, err
	}
	var cb []byte
	if err := st.QueryRowContext(ctx, id, collection, rkey).Scan(&cb); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return cid.Undef, fmt.Errorf("%w: %s/%s", ErrRecordNotFound, collection, rkey)
		}
		return cid.Undef, err
	}
	return castCID(cb)
}

// ListRecords implements Store.
func (s *SQLiteStore) ListRecords(ctx context.Context, did string, q ListQuery) ([]RecordEntry, error) {
	id, err := s.repoID(ctx, did)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	var query string
	switch {
	case q.Reverse && q.Cursor != "":
		query = `SELECT rkey, cid FROM records WHERE repo = ? AND collection = ? AND rkey < ? ORDER BY rkey DESC LIMIT ?`
	case q.Reverse:
		query = `SELECT rkey, cid FROM records WHERE repo = ? AND collection = ? AND ? = '' ORDER BY rkey DESC LIMIT ?`
	case q.Cursor != "":
		query = `SELECT rkey, cid FROM records WHERE repo = ? AND collection = ? AND rkey > ? ORDER BY rkey LIMIT ?`
	default:
		query = `SELECT rkey, cid FROM records WHERE repo = ? AND collection = ? AND ? = '' ORDER BY rkey LIMIT ?`
	}
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, id, q.Collection, q.Cursor, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RecordEntry
	for rows.Next() {
		e := RecordEntry{Collection: q.Collection}
		var cb []byte
		if err := rows.Scan(&e.RKey, &cb); err != nil {
			return nil, err
		}
		if e.CID, err = castCID(cb); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Collections implements Store.
func (s *SQLiteStore) Collections(ctx context.Context, did string) ([]string, error) {
	id, err := s.repoID(ctx, did)
	if err != nil {
		return nil, err
	}
	// A skip-scan over the primary key: one probe per collection.
	rows, err := s.db.QueryContext(ctx, `
		WITH RECURSIVE c(name) AS (
			SELECT MIN(collection) FROM records WHERE repo = ?1
			UNION ALL
			SELECT (SELECT MIN(collection) FROM records WHERE repo = ?1 AND collection > c.name) FROM c WHERE c.name IS NOT NULL
		) SELECT name FROM c WHERE name IS NOT NULL`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
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
	// "+repo" keeps SQLite on the rowid range: the (repo, h) index would
	// mean visiting every block of the repository and sorting them.
	rows, err := s.db.QueryContext(ctx, `SELECT cid, data FROM blocks WHERE id >= ? AND +repo = ? ORDER BY id`, first.Int64, id)
	if err != nil {
		return err
	}
	defer rows.Close()
	seen := map[string]struct{}{}
	for rows.Next() {
		var cb, data []byte
		if err := rows.Scan(&cb, &data); err != nil {
			return err
		}
		if _, dup := seen[string(cb)]; dup {
			continue
		}
		seen[string(cb)] = struct{}{}
		c, err := castCID(cb)
		if err != nil {
			return err
		}
		if err := fn(Block{CID: c, Data: data}); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Events implements Store.
func (s *SQLiteStore) Events(ctx context.Context, did string, after int64, limit int) ([]StoredEvent, error) {
	if limit <= 0 {
		limit = 100
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
	s.mu.Unlock()
	return s.db.Close()
}
