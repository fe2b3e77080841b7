package repo

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/ipfs/go-cid"
)

// MemStore is an in-memory Store, for tests and short-lived repositories.
// The zero value is not usable; call NewMemStore.
type MemStore struct {
	mu     sync.RWMutex
	repos  map[string]*memRepo
	events []StoredEvent
	closed bool
}

type memBlock struct {
	data []byte
	rev  string
}

type memRepo struct {
	head    Head
	blocks  map[cid.Cid]memBlock
	records map[string]map[string]cid.Cid // collection -> rkey -> cid
}

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore {
	return &MemStore{repos: map[string]*memRepo{}}
}

func (s *MemStore) repo(did string) (*memRepo, error) {
	if s.closed {
		return nil, ErrClosed
	}
	r := s.repos[did]
	if r == nil {
		return nil, fmt.Errorf("%w: %s", ErrRepoNotFound, did)
	}
	return r, nil
}

// Head implements Store.
func (s *MemStore) Head(ctx context.Context, did string) (Head, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.repo(did)
	if err != nil {
		return Head{}, err
	}
	return r.head, nil
}

// GetBlock implements Store.
func (s *MemStore) GetBlock(ctx context.Context, did string, c cid.Cid) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.repo(did)
	if err != nil {
		return nil, err
	}
	b, ok := r.blocks[c]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrBlockNotFound, c)
	}
	return b.data, nil
}

// Apply implements Store.
func (s *MemStore) Apply(ctx context.Context, did string, w *StoreWrite) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	r := s.repos[did]
	switch {
	case r == nil && w.Expect.Defined():
		return 0, fmt.Errorf("%w: %s", ErrRepoNotFound, did)
	case r != nil && !w.Expect.Defined():
		return 0, fmt.Errorf("%w: %s", ErrRepoExists, did)
	case r != nil && r.head.Commit != w.Expect:
		return 0, ErrConflict
	}
	if r == nil {
		r = &memRepo{blocks: map[cid.Cid]memBlock{}, records: map[string]map[string]cid.Cid{}}
		s.repos[did] = r
	}
	for _, b := range w.Blocks {
		r.blocks[b.CID] = memBlock{data: b.Data, rev: w.Head.Rev}
	}
	for _, e := range w.Records {
		coll := r.records[e.Collection]
		if !e.CID.Defined() {
			delete(coll, e.RKey)
			if len(coll) == 0 {
				delete(r.records, e.Collection)
			}
			continue
		}
		if coll == nil {
			coll = map[string]cid.Cid{}
			r.records[e.Collection] = coll
		}
		coll[e.RKey] = e.CID
	}
	r.head = w.Head
	var seq int64
	for _, e := range w.Events {
		seq = int64(len(s.events)) + 1
		e.Seq = seq
		e.DID = did
		s.events = append(s.events, e)
	}
	return seq, nil
}

// Record implements Store.
func (s *MemStore) Record(ctx context.Context, did, collection, rkey string) (cid.Cid, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.repo(did)
	if err != nil {
		return cid.Undef, err
	}
	c, ok := r.records[collection][rkey]
	if !ok {
		return cid.Undef, fmt.Errorf("%w: %s/%s", ErrRecordNotFound, collection, rkey)
	}
	return c, nil
}

// ListRecords implements Store.
func (s *MemStore) ListRecords(ctx context.Context, did, collection string, q ListOptions) ([]RecordEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.repo(did)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	coll := r.records[collection]
	keys := make([]string, 0, len(coll))
	for k := range coll {
		if q.Cursor != "" && ((!q.Reverse && k <= q.Cursor) || (q.Reverse && k >= q.Cursor)) {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if q.Reverse {
		for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
			keys[i], keys[j] = keys[j], keys[i]
		}
	}
	if len(keys) > limit {
		keys = keys[:limit]
	}
	out := make([]RecordEntry, len(keys))
	for i, k := range keys {
		out[i] = RecordEntry{Collection: collection, RKey: k, CID: coll[k]}
	}
	return out, nil
}

// Collections implements Store.
func (s *MemStore) Collections(ctx context.Context, did string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.repo(did)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(r.records))
	for c := range r.records {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

// BlocksSince implements Store.
func (s *MemStore) BlocksSince(ctx context.Context, did, since string, fn func(Block) error) error {
	s.mu.RLock()
	r, err := s.repo(did)
	var sel []Block
	if err == nil {
		for c, b := range r.blocks {
			if b.rev > since {
				sel = append(sel, Block{CID: c, Data: b.data})
			}
		}
	}
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	sort.Slice(sel, func(i, j int) bool { return sel[i].CID.KeyString() < sel[j].CID.KeyString() })
	for _, b := range sel {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// Events implements Store.
func (s *MemStore) Events(ctx context.Context, did string, after int64, limit int) ([]StoredEvent, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	if limit <= 0 {
		limit = DefaultEventsLimit
	}
	var out []StoredEvent
	if after < 0 {
		after = 0
	}
	for i := after; i < int64(len(s.events)) && len(out) < limit; i++ {
		if did == "" || s.events[i].DID == did {
			out = append(out, s.events[i])
		}
	}
	return out, nil
}

// Close implements Store.
func (s *MemStore) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}
