package ucan

import (
	"sync"
	"sync/atomic"

	"filippo.io/nistec"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	secp256k1 "gitlab.com/yawning/secp256k1-voi"

	"github.com/townhall-dev/townhall/internal/ecverify"
)

// Hot keys. An invoker's session key signs many invocations in a row, and
// with the delegations of its chain cached, its signature is most of a
// validation. A did:key held in a Validator's key cache that has signed
// enough invocations that validated completely (chain, policies and
// replay guard included: attempts with bad signatures or without
// authority do not count) gets a precomputed table (internal/ecverify) that
// makes its verifications about 4 (P-256), 2.5 (K-256) and 4 (Ed25519)
// times cheaper. The thresholds are where a table has paid for itself in
// instructions (ecverify's doc.go): building one costs about 7.4 one-shot
// P-256 verifications and saves 2.1 M instructions on each verification
// after, paid back after about 10; for K-256, about 40 one-shot
// verifications, saving 0.7 M each, paid back after about 65; for
// Ed25519, about 29 one-shot verifications (crypto/ed25519), saving
// 0.5 M each, paid back after about 38.
const (
	hotUsesES256   = 16 // validated invocations before an ES256 key gets a table
	hotUsesES256K  = 64 // validated invocations before an ES256K key gets a table
	hotUsesEd25519 = 32 // validated invocations before an Ed25519 key gets a table
	// maxHotTables bounds the tables of one Validator: 4 key tables of
	// at most 832 KiB, plus the generators' tables once a key of their
	// curve is hot (K-256 832 KiB, Ed25519 480 KiB): at most 4.5 MiB.
	maxHotTables = 4
)

// hotUses is the number of validated invocations after which a key of
// alg gets a table.
func hotUses(alg Algorithm) int32 {
	switch alg {
	case ES256K:
		return hotUsesES256K
	case Ed25519:
		return hotUsesEd25519
	}
	return hotUsesES256
}

// hotTables is the set of keys of one Validator that have tables, most
// recently used first. A key that becomes hot when the set is full takes
// the place of the least recently used, which loses its table and must
// again sign the threshold's worth of validated invocations to get one back (so
// that more hot keys than slots cost at most about twice their one-shot
// verifications, not a table build each).
type hotTables struct {
	mu     sync.Mutex
	keys   []*hotKey
	gOnce  sync.Once
	g      *ecverify.K256Table // the K-256 generator's table, built once
	edOnce sync.Once
	edG    *ecverify.Ed25519Table // the Ed25519 base point's table, built once
}

func (h *hotTables) generator() *ecverify.K256Table {
	h.gOnce.Do(func() { h.g = ecverify.NewK256GeneratorTable() })
	return h.g
}

func (h *hotTables) edGenerator() *ecverify.Ed25519Table {
	h.edOnce.Do(func() { h.edG = ecverify.NewEd25519GeneratorTable() })
	return h.edG
}

// touch moves k to the front, if it is still in the set.
func (h *hotTables) touch(k *hotKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.keys {
		if x == k {
			copy(h.keys[1:i+1], h.keys[:i])
			h.keys[0] = k
			return
		}
	}
}

// install puts k, whose table is built, at the front, evicting the least
// recently used key when the set is full.
func (h *hotTables) install(k *hotKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.keys) >= maxHotTables {
		last := h.keys[len(h.keys)-1]
		h.keys = h.keys[:len(h.keys)-1]
		last.drop()
	}
	h.keys = append([]*hotKey{k}, h.keys...)
}

// clear drops every table (ClearCache).
func (h *hotTables) clear() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range h.keys {
		k.drop()
	}
	h.keys = nil
}

// hotKey is an ES256, ES256K or Ed25519 did:key held in a Validator's key
// cache: the key parsed from the did string (verification without a
// table, as any key of its type) and, once hot, its table. Every
// signature is verified, with or without a table, under the same rules:
// any S for ES256, low S for ES256K, exactly crypto/ed25519's for Ed25519.
type hotKey struct {
	PublicKey // *atKey or *ed25519Key: verification without a table
	alg       Algorithm
	set       *hotTables
	uses      atomic.Int32
	building  atomic.Bool // a table is being built, or is in the set
	p256      atomic.Pointer[ecverify.P256Table]
	k256      atomic.Pointer[ecverify.K256Table]
	ed        atomic.Pointer[edTable]
}

// edTable is an Ed25519 key's decoded point with its table.
type edTable struct {
	key *ecverify.Ed25519Key
	t   *ecverify.Ed25519Table
}

// newHotKey wraps k, an *atKey or *ed25519Key.
func newHotKey(k PublicKey, set *hotTables) *hotKey {
	return &hotKey{PublicKey: k, alg: k.Algorithm(), set: set}
}

// drop forgets k's table; called with the set's lock held.
func (k *hotKey) drop() {
	k.p256.Store(nil)
	k.k256.Store(nil)
	k.ed.Store(nil)
	k.uses.Store(0)
	k.building.Store(false)
}

func (k *hotKey) Verify(payload, sig []byte) error {
	if len(sig) != 64 {
		return atcrypto.ErrInvalidSignature
	}
	if ok, has := k.verifyTable(payload, sig); has {
		if !ok {
			return atcrypto.ErrInvalidSignature
		}
		k.set.touch(k)
		return nil
	}
	return k.PublicKey.Verify(payload, sig)
}

// noteUse counts one authorised use of k: the Validator calls it after a
// whole validation (signature, chain, policies, replay guard) succeeded
// for an invocation k signed, never for a mere verification attempt, so
// that keys presenting junk signatures or unauthorised invocations earn
// no table and cannot evict those of keys in real use. At the threshold
// k gets its table, evicting the least recently used key's if the set is
// full.
func (k *hotKey) noteUse() {
	if k.uses.Add(1) >= hotUses(k.alg) && k.building.CompareAndSwap(false, true) && k.build() {
		k.set.install(k)
	}
}

// verifyTable reports whether k has a table (has) and whether sig
// verifies with it (ok).
func (k *hotKey) verifyTable(payload, sig []byte) (ok, has bool) {
	if t := k.p256.Load(); t != nil {
		return t.Verify(payload, sig, ecverify.AnyS), true
	}
	if t := k.k256.Load(); t != nil {
		s := ecverify.NewK256Sig(payload, sig, ecverify.LowS)
		return s.VerifyTables(k.set.generator(), t), true
	}
	if t := k.ed.Load(); t != nil {
		return t.key.VerifyTables(k.set.edGenerator(), t.t, payload, sig), true
	}
	return false, false
}

// build computes k's table from its parsed key. It reports false (and k
// stays on one-shot verification) if the key cannot be converted, which
// no key atcrypto parsed should do; an Ed25519 key whose bytes are not a
// point (which crypto/ed25519 rejects every signature of) gets none.
func (k *hotKey) build() bool {
	switch p := k.PublicKey.(type) {
	case *ed25519Key:
		ek, err := ecverify.NewEd25519Key(p.pub)
		if err != nil {
			return false
		}
		k.set.edGenerator()
		k.ed.Store(&edTable{key: ek, t: ek.NewTable()})
		return true
	case *atKey:
		switch q := p.pub.(type) {
		case *atcrypto.PublicKeyP256:
			pt, err := nistec.NewP256Point().SetBytes(q.UncompressedBytes())
			if err != nil {
				return false
			}
			k.p256.Store(ecverify.NewP256Table(pt))
			return true
		case *atcrypto.PublicKeyK256:
			pt, err := secp256k1.NewIdentityPoint().SetCompressedBytes(q.Bytes())
			if err != nil {
				return false
			}
			k.set.generator()
			k.k256.Store(ecverify.NewK256Table(pt))
			return true
		}
	}
	return false
}
