package plc

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// StoredOp is one operation as a Storage keeps it.
type StoredOp struct {
	DID       string
	Seq       int64 // sequence number, assigned by Commit, strictly increasing
	CID       string
	Op        Op
	CreatedAt time.Time
	Nullified bool
	// KeyIndex is the index of the signing key in the authorising rotation
	// keys, kept so that the state of a log can be rebuilt without
	// verifying its signatures again.
	KeyIndex int
}

// Storage is where a Directory keeps operations. Implementations must be
// safe for concurrent use and make Commit atomic.
type Storage interface {
	// AuditLog returns every operation of did in sequence order, nullified
	// ones included; an unknown DID gives an empty slice and no error.
	AuditLog(ctx context.Context, did string) ([]StoredOp, error)
	// Commit appends op to its DID's log and marks the operations of that
	// DID whose CIDs are in nullify as nullified, all or nothing, provided
	// that the DID's head (the CID of its latest non-nullified operation,
	// "" for a new DID) is still head; otherwise it returns an error
	// wrapping ErrConflict and changes nothing. It assigns op.Seq.
	Commit(ctx context.Context, op StoredOp, head string, nullify []string) error
	// Export returns up to count operations of all DIDs with Seq > after,
	// in Seq order.
	Export(ctx context.Context, after int64, count int) ([]StoredOp, error)
	// ExportSince returns up to count operations created strictly after
	// after (all when after is zero), ordered by CreatedAt, then CID.
	ExportSince(ctx context.Context, after time.Time, count int) ([]StoredOp, error)
}

// MemoryStorage is a Storage in memory. Its zero value is ready.
type MemoryStorage struct {
	mu    sync.RWMutex
	ops   []StoredOp       // in Seq order; Seq = index + 1
	byDID map[string][]int // indices into ops
}

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage { return &MemoryStorage{} }

// AuditLog implements Storage.
func (m *MemoryStorage) AuditLog(ctx context.Context, did string) ([]StoredOp, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	idx := m.byDID[did]
	out := make([]StoredOp, len(idx))
	for i, j := range idx {
		out[i] = m.ops[j]
	}
	return out, nil
}

func (m *MemoryStorage) headLocked(did string) string {
	idx := m.byDID[did]
	for i := len(idx) - 1; i >= 0; i-- {
		if !m.ops[idx[i]].Nullified {
			return m.ops[idx[i]].CID
		}
	}
	return ""
}

// Commit implements Storage.
func (m *MemoryStorage) Commit(ctx context.Context, op StoredOp, head string, nullify []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if got := m.headLocked(op.DID); got != head {
		return &OpError{Index: -1, CID: op.CID, Err: ErrConflict, Detail: "head is " + got}
	}
	if m.byDID == nil {
		m.byDID = map[string][]int{}
	}
	for _, j := range m.byDID[op.DID] {
		if slices.Contains(nullify, m.ops[j].CID) {
			m.ops[j].Nullified = true
		}
	}
	op.Seq = int64(len(m.ops) + 1)
	m.byDID[op.DID] = append(m.byDID[op.DID], len(m.ops))
	m.ops = append(m.ops, op)
	return nil
}

// Export implements Storage.
func (m *MemoryStorage) Export(ctx context.Context, after int64, count int) ([]StoredOp, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if after < 0 {
		after = 0
	}
	if after >= int64(len(m.ops)) {
		return nil, nil
	}
	end := min(int64(len(m.ops)), after+int64(count))
	return slices.Clone(m.ops[after:end]), nil
}

// ExportSince implements Storage.
func (m *MemoryStorage) ExportSince(ctx context.Context, after time.Time, count int) ([]StoredOp, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	var out []StoredOp
	for _, op := range m.ops {
		if after.IsZero() || op.CreatedAt.After(after) {
			out = append(out, op)
		}
	}
	m.mu.RUnlock()
	slices.SortStableFunc(out, func(a, b StoredOp) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.CID, b.CID)
	})
	if len(out) > count {
		out = out[:count]
	}
	return out, nil
}
