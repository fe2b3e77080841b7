package community

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/ipfs/go-cid"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver

	"github.com/townhall-dev/townhall/internal/sqlitefile"
	"github.com/townhall-dev/townhall/mst"
	"github.com/townhall-dev/townhall/repo"
)

// PrivateStore keeps the blocks of audience trees (MST nodes, private
// records and their receipts), apart from the public repository so that no
// public read path (getRecord, listRecords, getRepo, the event log) can reach
// them. Blocks are content-addressed and write-once; Put must be durable when
// it returns (the public commit that anchors them follows it).
type PrivateStore interface {
	GetPrivateBlock(ctx context.Context, did string, c cid.Cid) ([]byte, error)
	PutPrivateBlocks(ctx context.Context, did string, blocks []repo.Block) error
}

// MemPrivateStore is a PrivateStore in memory.
type MemPrivateStore struct {
	mu     sync.RWMutex
	blocks map[string]map[cid.Cid][]byte
}

// NewMemPrivateStore returns an empty in-memory PrivateStore.
func NewMemPrivateStore() *MemPrivateStore {
	return &MemPrivateStore{blocks: map[string]map[cid.Cid][]byte{}}
}

// GetPrivateBlock implements PrivateStore.
func (m *MemPrivateStore) GetPrivateBlock(_ context.Context, did string, c cid.Cid) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, ok := m.blocks[did][c]
	if !ok {
		return nil, fmt.Errorf("%w: %s", mst.ErrNotFound, c)
	}
	return b, nil
}

// PutPrivateBlocks implements PrivateStore.
func (m *MemPrivateStore) PutPrivateBlocks(_ context.Context, did string, blocks []repo.Block) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	bs := m.blocks[did]
	if bs == nil {
		bs = map[cid.Cid][]byte{}
		m.blocks[did] = bs
	}
	for _, b := range blocks {
		bs[b.CID] = append([]byte(nil), b.Data...)
	}
	return nil
}

// SQLitePrivateStore is a PrivateStore in its own SQLite database file
// (WAL, synchronous=FULL), through modernc.org/sqlite.
type SQLitePrivateStore struct {
	db *sql.DB
}

// OpenSQLitePrivateStore opens (creating if needed) the database at path.
func OpenSQLitePrivateStore(ctx context.Context, path string) (*SQLitePrivateStore, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(10000)")
	dsn, err := sqlitefile.URI(path, q.Encode())
	if err != nil {
		return nil, fmt.Errorf("community: %w", err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS private_blocks (
		did TEXT NOT NULL, cid BLOB NOT NULL, data BLOB NOT NULL, PRIMARY KEY (did, cid)) WITHOUT ROWID`); err != nil {
		db.Close()
		return nil, err
	}
	return &SQLitePrivateStore{db: db}, nil
}

// GetPrivateBlock implements PrivateStore.
func (s *SQLitePrivateStore) GetPrivateBlock(ctx context.Context, did string, c cid.Cid) ([]byte, error) {
	var data []byte
	err := s.db.QueryRowContext(ctx, `SELECT data FROM private_blocks WHERE did = ? AND cid = ?`, did, c.Bytes()).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", mst.ErrNotFound, c)
	}
	return data, err
}

// PutPrivateBlocks implements PrivateStore, in one transaction.
func (s *SQLitePrivateStore) PutPrivateBlocks(ctx context.Context, did string, blocks []repo.Block) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO private_blocks (did, cid, data) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, b := range blocks {
		if _, err := st.ExecContext(ctx, did, b.CID.Bytes(), b.Data); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Close closes the database.
func (s *SQLitePrivateStore) Close() error { return s.db.Close() }

// privateSource adapts a PrivateStore to mst.BlockSource for one community.
type privateSource struct {
	s   PrivateStore
	did string
}

func (p privateSource) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	return p.s.GetPrivateBlock(ctx, p.did, c)
}
