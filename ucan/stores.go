package ucan

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
)

// ErrNotFound is returned by a ProofStore that does not hold a delegation.
var ErrNotFound = errors.New("ucan: not found")

// ProofStore resolves delegation CIDs named in an invocation's prf to the
// delegation token bytes. A store returns an error wrapping ErrNotFound for
// an unknown CID; the validator then fails with UnavailableProof. The
// validator checks that the bytes hash to the CID, so a store need not be
// trusted.
type ProofStore interface {
	GetDelegation(ctx context.Context, c cid.Cid) ([]byte, error)
}

// RevocationStore records revoked delegations. The validator consults it
// for every proof on every validation (for an ES256 delegation, under the
// CIDs of both forms of its signature); Validator.Revoke adds to it.
// Revocations are permanent: a store must never forget one.
type RevocationStore interface {
	IsRevoked(ctx context.Context, delegation cid.Cid) (bool, error)
	AddRevocation(ctx context.Context, delegation, revocation cid.Cid) error
}

// ReplayGuard remembers invocation CIDs (an ES256 token's as of its low-S
// form, so that both forms of its signature count as one use). Record
// must atomically check and
// record c: it returns an error wrapping ErrReplayed if c was already
// recorded. until is when the invocation expires (zero: never); a guard may
// forget a CID after that time, since the validator rejects the invocation
// as expired anyway.
type ReplayGuard interface {
	Record(ctx context.Context, c cid.Cid, until time.Time) error
}

// MemoryProofStore is a ProofStore in memory, safe for concurrent use.
type MemoryProofStore struct {
	mu sync.RWMutex
	m  map[cid.Cid][]byte
}

// NewMemoryProofStore returns an empty store.
func NewMemoryProofStore() *MemoryProofStore {
	return &MemoryProofStore{m: make(map[cid.Cid][]byte)}
}

// Put parses token as a delegation (without verifying it) and stores it
// under its CID.
func (s *MemoryProofStore) Put(token []byte) (cid.Cid, error) {
	d, err := ParseDelegation(token)
	if err != nil {
		return cid.Undef, err
	}
	s.mu.Lock()
	s.m[d.CID()] = append([]byte(nil), token...)
	s.mu.Unlock()
	return d.CID(), nil
}

// GetDelegation returns the stored token or ErrNotFound.
func (s *MemoryProofStore) GetDelegation(_ context.Context, c cid.Cid) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.m[c]
	if !ok {
		return nil, ErrNotFound
	}
	return b, nil
}

// MemoryRevocationStore is a RevocationStore in memory, safe for
// concurrent use.
type MemoryRevocationStore struct {
	mu sync.RWMutex
	m  map[cid.Cid]cid.Cid
}

// NewMemoryRevocationStore returns an empty store.
func NewMemoryRevocationStore() *MemoryRevocationStore {
	return &MemoryRevocationStore{m: make(map[cid.Cid]cid.Cid)}
}

// IsRevoked reports whether delegation has been revoked.
func (s *MemoryRevocationStore) IsRevoked(_ context.Context, delegation cid.Cid) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.m[delegation]
	return ok, nil
}

// AddRevocation records that revocation revoked delegation.
func (s *MemoryRevocationStore) AddRevocation(_ context.Context, delegation, revocation cid.Cid) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[delegation]; !ok {
		s.m[delegation] = revocation
	}
	return nil
}

// DefaultMaxReplayEntries bounds a MemoryReplayGuard.
const DefaultMaxReplayEntries = 1 << 20

// MemoryReplayGuardOptions configures a MemoryReplayGuard. The zero value
// means the defaults.
type MemoryReplayGuardOptions struct {
	// MaxEntries bounds the number of remembered CIDs (default 1<<20).
	// When full after dropping expired entries, Record fails closed.
	MaxEntries int
	// Now is the clock used to drop expired entries (default time.Now).
	Now func() time.Time
}

// MemoryReplayGuard is a ReplayGuard in memory, safe for concurrent use.
// It forgets a CID once its invocation has expired; invocations that
// never expire are remembered until the guard is dropped.
type MemoryReplayGuard struct {
	mu       sync.Mutex
	opts     MemoryReplayGuardOptions
	m        map[cid.Cid]time.Time
	earliest time.Time // earliest expiry among entries; zero if none expire
	// sweepAt is the size at which expired entries are next dropped: twice
	// the size after the last sweep (at least minReplaySweep), so memory
	// follows the live entries at an amortised O(1) cost per Record.
	sweepAt int
}

// minReplaySweep is the smallest size at which a MemoryReplayGuard sweeps.
const minReplaySweep = 1024

// ErrReplayGuardFull is returned when a MemoryReplayGuard is full of
// unexpired entries.
var ErrReplayGuardFull = errors.New("ucan: replay guard full")

// NewMemoryReplayGuard returns an empty guard.
func NewMemoryReplayGuard(opts MemoryReplayGuardOptions) *MemoryReplayGuard {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxReplayEntries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &MemoryReplayGuard{opts: opts, m: make(map[cid.Cid]time.Time)}
}

// Record implements ReplayGuard.
func (g *MemoryReplayGuard) Record(_ context.Context, c cid.Cid, until time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.m[c]; ok {
		return ErrReplayed
	}
	if full := len(g.m) >= g.opts.MaxEntries; full || len(g.m) >= max(g.sweepAt, minReplaySweep) {
		// Sweep only when something has expired, so a guard full of live
		// entries fails fast instead of scanning on every call.
		now := g.opts.Now()
		if !g.earliest.IsZero() && g.earliest.Before(now) {
			g.earliest = time.Time{}
			for k, t := range g.m {
				switch {
				case t.IsZero():
				case t.Before(now):
					delete(g.m, k)
				case g.earliest.IsZero() || t.Before(g.earliest):
					g.earliest = t
				}
			}
		}
		g.sweepAt = 2 * len(g.m)
		if len(g.m) >= g.opts.MaxEntries {
			return ErrReplayGuardFull
		}
	}
	g.m[c] = until
	if !until.IsZero() && (g.earliest.IsZero() || until.Before(g.earliest)) {
		g.earliest = until
	}
	return nil
}

// Len returns the number of remembered CIDs.
func (g *MemoryReplayGuard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.m)
}
