package plc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"

	"github.com/townhall-dev/townhall/internal/sqlitefile"
)

// SQLiteStorage is a Storage in a SQLite database (modernc.org/sqlite, pure
// Go). Commit runs in one IMMEDIATE transaction, so it is atomic and two
// processes sharing the file cannot both extend the same head.
type SQLiteStorage struct {
	db *sql.DB
}

// OpenSQLite opens (creating if needed) a SQLite operation store at path;
// ":memory:" gives a private in-memory database. Any path is taken
// literally: characters that mean something in a SQLite URI ('?', '#',
// '%') are escaped, so they can neither shorten the path nor add
// parameters.
func OpenSQLite(ctx context.Context, path string) (*SQLiteStorage, error) {
	dsn := "file::memory:?_txlock=immediate"
	if path != ":memory:" {
		var err error
		if dsn, err = sqlitefile.URI(path, "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate"); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSQLitePath, err)
		}
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	if path == ":memory:" {
		db.SetMaxOpenConns(1) // one connection, one database
	}
	const schema = `
CREATE TABLE IF NOT EXISTS plc_ops (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	did        TEXT    NOT NULL,
	cid        TEXT    NOT NULL,
	op         TEXT    NOT NULL,
	created_at INTEGER NOT NULL, -- Unix milliseconds
	nullified  INTEGER NOT NULL DEFAULT 0,
	key_index  INTEGER NOT NULL,
	UNIQUE (did, cid)
);
CREATE INDEX IF NOT EXISTS plc_ops_did ON plc_ops (did, seq);
CREATE INDEX IF NOT EXISTS plc_ops_created ON plc_ops (created_at, cid);`
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("plc: creating SQLite schema: %w", err)
	}
	return &SQLiteStorage{db: db}, nil
}

// Close closes the database.
func (s *SQLiteStorage) Close() error { return s.db.Close() }

type rowScanner interface{ Scan(dest ...any) error }

func scanOp(r rowScanner) (StoredOp, error) {
	var op StoredOp
	var raw string
	var ms int64
	var nullified int
	if err := r.Scan(&op.Seq, &op.DID, &op.CID, &raw, &ms, &nullified, &op.KeyIndex); err != nil {
		return op, err
	}
	if err := json.Unmarshal([]byte(raw), &op.Op); err != nil {
		return op, fmt.Errorf("plc: stored operation %s: %w", op.CID, err)
	}
	op.CreatedAt = time.UnixMilli(ms).UTC()
	op.Nullified = nullified != 0
	return op, nil
}

const opColumns = "seq, did, cid, op, created_at, nullified, key_index"

func (s *SQLiteStorage) query(ctx context.Context, q string, args ...any) ([]StoredOp, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredOp
	for rows.Next() {
		op, err := scanOp(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, op)
	}
	return out, rows.Err()
}

// AuditLog implements Storage.
func (s *SQLiteStorage) AuditLog(ctx context.Context, did string) ([]StoredOp, error) {
	return s.query(ctx, "SELECT "+opColumns+" FROM plc_ops WHERE did = ? ORDER BY seq", did)
}

// Commit implements Storage.
func (s *SQLiteStorage) Commit(ctx context.Context, op StoredOp, head string, nullify []string) (err error) {
	raw, err := json.Marshal(op.Op)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var got string
	err = tx.QueryRowContext(ctx, "SELECT cid FROM plc_ops WHERE did = ? AND nullified = 0 ORDER BY seq DESC LIMIT 1", op.DID).Scan(&got)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if got != head {
		return &OpError{Index: -1, CID: op.CID, Err: ErrConflict, Detail: "head is " + got}
	}
	for _, c := range nullify {
		if _, err = tx.ExecContext(ctx, "UPDATE plc_ops SET nullified = 1 WHERE did = ? AND cid = ?", op.DID, c); err != nil {
			return err
		}
	}
	if _, err = tx.ExecContext(ctx, "INSERT INTO plc_ops (did, cid, op, created_at, nullified, key_index) VALUES (?, ?, ?, ?, 0, ?)",
		op.DID, op.CID, string(raw), op.CreatedAt.UnixMilli(), op.KeyIndex); err != nil {
		return err
	}
	return tx.Commit()
}

// Export implements Storage.
func (s *SQLiteStorage) Export(ctx context.Context, after int64, count int) ([]StoredOp, error) {
	return s.query(ctx, "SELECT "+opColumns+" FROM plc_ops WHERE seq > ? ORDER BY seq LIMIT ?", after, count)
}

// ExportSince implements Storage.
func (s *SQLiteStorage) ExportSince(ctx context.Context, after time.Time, count int) ([]StoredOp, error) {
	ms := int64(-1 << 62)
	if !after.IsZero() {
		ms = after.UnixMilli()
	}
	return s.query(ctx, "SELECT "+opColumns+" FROM plc_ops WHERE created_at > ? ORDER BY created_at, cid LIMIT ?", ms, count)
}
