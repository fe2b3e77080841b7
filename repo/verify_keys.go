package repo

import (
	"sync"

	"filippo.io/nistec"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/ipfs/go-cid"
	secp256k1 "gitlab.com/yawning/secp256k1-voi"

	"github.com/townhall-dev/townhall/internal/ecverify"
)

// Thresholds of KeyTables: the commits a key must have signed in events
// that verified completely before it gets a table. Building a P-256 table
// costs about 7.4 one-shot verifications (internal/ecverify) and saves
// 58 % of each verification after (BenchmarkRepoVerifyCommit: 847 k
// instructions with atcrypto, 356 k with the table), so it pays for itself
// after about 13; a K-256 table costs about 40 and saves about 60 % (ucan's
// figures for its hot keys), paid back after about 65.
const (
	tableUsesP256 = 16
	tableUsesK256 = 64
	// maxKeyCounts bounds the keys a KeyTables counts uses of without a
	// table; past it the counts start again.
	maxKeyCounts = 4096
)

// DefaultMaxKeyTables is the number of tables a KeyTables from
// NewKeyTables(0) holds.
const DefaultMaxKeyTables = 4

// KeyTables holds precomputed verification tables (internal/ecverify) for
// the signing keys of repositories a consumer follows: a repository's key
// signs one commit after another, and with its table a commit's signature
// costs about 40 % of a one-shot check (P-256 and K-256), under the same
// rule (atproto's low-S ECDSA, as atcrypto's HashAndVerify).
// A key gets its table once it has signed 16 (P-256) or 64 (K-256) commits
// of events that VerifyCommitEvent accepted against the consumer's known
// state (CommitCheckOptions.Known, with prevData and every record), so that
// neither junk events nor one genuine event replayed earn one;
// at most max keys have tables (768 KiB for P-256, 832 KiB for K-256, and
// 832 KiB more for the K-256 generator's once a K-256 key has one), and a
// key that becomes hot when they are taken replaces the least recently
// used. Pass one KeyTables
// in CommitCheckOptions.KeyTables for every event; it is safe for
// concurrent use. The zero value is ready to use, with at most
// DefaultMaxKeyTables tables.
type KeyTables struct {
	mu     sync.Mutex
	max    int // <= 0: DefaultMaxKeyTables
	tick   uint64
	tables map[string]*keyTable // keyed by the key's multibase form
	counts map[string]int       // uses of keys without a table
	g      *ecverify.K256Table  // the K-256 generator's table, once needed
}

// keyTable is one key's table (exactly one of p256, k256) and when it was
// last used.
type keyTable struct {
	p256 *ecverify.P256Table
	k256 *ecverify.K256Table
	used uint64
}

// NewKeyTables returns an empty KeyTables that holds at most max tables
// (DefaultMaxKeyTables if max <= 0).
func NewKeyTables(max int) *KeyTables {
	return &KeyTables{max: max} // noteUse reads max <= 0 as the default
}

// Len returns the number of keys that have a table.
func (kt *KeyTables) Len() int {
	kt.mu.Lock()
	defer kt.mu.Unlock()
	return len(kt.tables)
}

// verifyCommit checks c's signature by pub as Commit.VerifySignature does
// (same verdict, same errors), with pub's table if kt holds one.
func (kt *KeyTables) verifyCommit(c *Commit, pub atcrypto.PublicKey) error {
	if kt == nil || len(c.Sig) == 0 {
		return c.VerifySignature(pub)
	}
	kt.mu.Lock()
	t := kt.tables[pub.Multibase()]
	g := kt.g
	if t != nil {
		kt.tick++
		t.used = kt.tick
	}
	kt.mu.Unlock()
	if t == nil {
		return c.VerifySignature(pub)
	}
	b, err := c.UnsignedBytes()
	if err != nil {
		return verr(ErrBadCommit, cid.Undef, "cannot re-encode commit", err)
	}
	var ok bool
	if t.p256 != nil {
		ok = t.p256.Verify(b, c.Sig, ecverify.LowS)
	} else {
		s := ecverify.NewK256Sig(b, c.Sig, ecverify.LowS)
		ok = s.VerifyTables(g, t.k256)
	}
	if !ok {
		return verr(ErrBadSignature, cid.Undef, "", atcrypto.ErrInvalidSignature)
	}
	return nil
}

// noteUse counts one commit by pub in an event that verified completely,
// and builds pub's table when it reaches its threshold.
func (kt *KeyTables) noteUse(pub atcrypto.PublicKey) {
	if kt == nil {
		return
	}
	var need int
	switch pub.(type) {
	case *atcrypto.PublicKeyP256:
		need = tableUsesP256
	case *atcrypto.PublicKeyK256:
		need = tableUsesK256
	default:
		return
	}
	k := pub.Multibase()
	kt.mu.Lock()
	if _, ok := kt.tables[k]; ok {
		kt.mu.Unlock()
		return
	}
	if kt.counts == nil {
		kt.counts = map[string]int{}
	}
	if len(kt.counts) >= maxKeyCounts {
		clear(kt.counts)
	}
	kt.counts[k]++
	hot := kt.counts[k] >= need
	if hot {
		delete(kt.counts, k)
	}
	kt.mu.Unlock()
	if !hot {
		return
	}
	// Build outside the lock: a table takes milliseconds.
	t := &keyTable{}
	var g *ecverify.K256Table
	switch q := pub.(type) {
	case *atcrypto.PublicKeyP256:
		pt, err := nistec.NewP256Point().SetBytes(q.UncompressedBytes())
		if err != nil {
			return // unreachable for a key atcrypto parsed: it stays one-shot
		}
		t.p256 = ecverify.NewP256Table(pt)
	case *atcrypto.PublicKeyK256:
		pt, err := secp256k1.NewIdentityPoint().SetCompressedBytes(q.Bytes())
		if err != nil {
			return
		}
		t.k256 = ecverify.NewK256Table(pt)
		kt.mu.Lock()
		g = kt.g
		kt.mu.Unlock()
		if g == nil {
			g = ecverify.NewK256GeneratorTable()
		}
	}
	kt.mu.Lock()
	defer kt.mu.Unlock()
	if g != nil && kt.g == nil {
		kt.g = g
	}
	if _, ok := kt.tables[k]; ok {
		return // built concurrently
	}
	if kt.tables == nil {
		kt.tables = map[string]*keyTable{}
	}
	limit := kt.max
	if limit <= 0 {
		limit = DefaultMaxKeyTables
	}
	if len(kt.tables) >= limit {
		var oldest string
		for key, e := range kt.tables {
			if oldest == "" || e.used < kt.tables[oldest].used {
				oldest = key
			}
		}
		delete(kt.tables, oldest)
	}
	kt.tick++
	t.used = kt.tick
	kt.tables[k] = t
}
