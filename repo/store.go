package repo

import (
	"context"

	"github.com/ipfs/go-cid"
)

// Head is a repository's current state as a store keeps it.
type Head struct {
	DID    string
	Commit cid.Cid // CID of the signed commit block
	Rev    string  // the commit's rev
	Data   cid.Cid // the commit's MST root
}

// Block is one content-addressed block.
type Block struct {
	CID  cid.Cid
	Data []byte
}

// RecordEntry is one row of the record index: a record's path and CID.
type RecordEntry struct {
	Collection string
	RKey       string
	CID        cid.Cid
}

// StoredEvent is one entry of the event log. Data is the DRISL body of the
// event without its seq, which the store assigns.
type StoredEvent struct {
	Seq  int64
	DID  string
	Kind string // "#commit" or "#sync"
	Data []byte
}

// StoreWrite is everything one commit changes, applied by Store.Apply in one
// transaction: all of it or nothing.
type StoreWrite struct {
	// Expect is the commit the write builds on: the repository's current
	// head commit, or cid.Undef when the write creates the repository.
	// Apply fails with ErrConflict (ErrRepoExists on creation) otherwise.
	Expect cid.Cid
	// Head is the new head.
	Head Head
	// Blocks are the new blocks: records, MST nodes and the commit.
	Blocks []Block
	// Records are the record index changes the commit makes (the
	// difference between the old and the new tree); an undefined CID
	// deletes the entry. A store either applies them (MemStore) or derives
	// its record index from the tree at Head.Data (SQLiteStore), so they
	// must agree with that tree; Repo.Apply leaves them out for
	// SQLiteStore.
	Records []RecordEntry
	// Events are appended to the event log in order; Apply returns the
	// sequence number of the last one.
	Events []StoredEvent
}

// Store keeps blocks and per-repository state: the head commit and rev, a
// record index for listing (a table, or the head's tree), and an event log. The interface is shaped for
// SQL databases: every method is one query or one transaction, and the only
// read-modify-write (Apply) is a compare-and-swap on the head, so a Postgres
// implementation needs nothing beyond a transaction and a row lock.
//
// Implementations must be safe for concurrent use.
type Store interface {
	// Head returns the repository's head, or an error wrapping
	// ErrRepoNotFound.
	Head(ctx context.Context, did string) (Head, error)
	// GetBlock returns a block of the repository, or an error wrapping
	// ErrBlockNotFound.
	GetBlock(ctx context.Context, did string, c cid.Cid) ([]byte, error)
	// Apply writes w atomically if the head is still w.Expect and returns
	// the last event's sequence number (0 if w has no events).
	Apply(ctx context.Context, did string, w *StoreWrite) (int64, error)
	// Record returns the CID of one record from the index, or an error
	// wrapping ErrRecordNotFound.
	Record(ctx context.Context, did, collection, rkey string) (cid.Cid, error)
	// ListRecords lists a page of the index for one collection, as
	// ListOptions documents (Limit <= 0 means 50; a Store applies no upper
	// bound of its own).
	ListRecords(ctx context.Context, did, collection string, opts ListOptions) ([]RecordEntry, error)
	// Collections lists the collections that hold records, sorted.
	Collections(ctx context.Context, did string) ([]string, error)
	// BlocksSince calls fn for every block written by a commit with a rev
	// greater than since ("" means all blocks of the repository).
	BlocksSince(ctx context.Context, did, since string, fn func(Block) error) error
	// Events returns up to limit events with seq > after, in order, of one
	// repository (did != "") or of all; limit <= 0 means
	// DefaultEventsLimit.
	Events(ctx context.Context, did string, after int64, limit int) ([]StoredEvent, error)
	// Close releases the store.
	Close() error
}

// BlocksGetter is implemented by stores that read many blocks of one
// repository in one query. Repo.ListRecords uses it when its store has it,
// and GetBlock per record otherwise.
type BlocksGetter interface {
	// GetBlocks returns the data of each block in cids, in order, or an
	// error wrapping ErrBlockNotFound that names a missing one.
	GetBlocks(ctx context.Context, did string, cids []cid.Cid) ([][]byte, error)
}
