package plc

import (
	"crypto/sha256"
	"math/big"

	secp256k1 "gitlab.com/yawning/secp256k1-voi"
	"gitlab.com/yawning/secp256k1-voi/secec"
)

// K-256 signature verification, here rather than through atcrypto.
//
// One-shot keys (most keys of most logs sign once or twice): the
// verification is secp256k1-voi's, as in atcrypto, with two costs removed.
// The key is decompressed from its did:key without the uncompressed
// re-encoding atcrypto's parser computes (a field inversion: the parse
// drops from 139 k to 97 k instructions), and s is inverted with math/big
// instead of voi's constant-time addition chain (13 k against 95 k of a
// 1.2 M-instruction verification). The scalars of a signature are
// computed once per operation, whichever keys are then tried.
//
// Hot keys: ECDSA verification computes u1·G + u2·Q. Libraries precompute
// multiples of the generator G but must treat the public key Q as new each
// time, so u2·Q costs a full variable-base scalar multiplication. A long
// audit log is mostly signed by one or two rotation keys, so for a K-256
// key that has verified tableThreshold signatures this package builds a
// fixed-base table of Q (32 windows of 8 bits, 8192 points, 768 KiB, about
// 40 verifications' work) and computes u2·Q with at most 32 point
// additions and no doublings; u1·G uses the same kind of table for G,
// built once per KeyCache. A K-256 verification then costs about 40% of
// atcrypto's. A key used fewer times never gets a table.
//
// The group arithmetic is secp256k1-voi's, the library indigo's atcrypto
// uses; this file only arranges it. The verification equation and checks
// are SEC 1 v2 §4.1.4, as in secp256k1-voi's secec, plus atproto's low-S
// rule: r and s in [1, n-1], s ≤ n/2, R ≠ O, x(R) mod n = r. k256_test.go
// checks both paths against atcrypto on valid, tampered, high-S and
// out-of-range signatures. P-256 keys get tables too (p256table.go); their
// one-shot verification is atcrypto's (the standard library's).

const (
	tableThreshold = 32 // verifications by one key before its table is built
	maxTables      = 32 // key tables per KeyCache, to bound memory (≈ 25 MiB)
)

// k256Table holds j·256^i·P for the 32 byte positions i of a scalar and
// every byte value j: a scalar multiplication is then at most 32 point
// additions. 8192 points of 96 bytes: 768 KiB.
type k256Table [32][256]secp256k1.Point

func newK256Table(q *secp256k1.Point) *k256Table {
	t := new(k256Table)
	base := secp256k1.NewPointFrom(q)
	for i := range t {
		t[i][0].Identity()
		t[i][1].Set(base)
		for j := 2; j < 256; j++ {
			t[i][j].Add(&t[i][j-1], base)
		}
		for k := 0; k < 8; k++ {
			base.Double(base)
		}
	}
	return t
}

// mulVartime returns s·P. Variable time is fine: verification handles
// only public data.
func (t *k256Table) mulVartime(s *secp256k1.Scalar) *secp256k1.Point {
	var b [32]byte
	copy(b[:], s.Bytes()) // big-endian
	acc := secp256k1.NewIdentityPoint()
	for i := 0; i < 32; i++ {
		if v := b[31-i]; v != 0 {
			acc.Add(acc, &t[i][v])
		}
	}
	return acc
}

// k256Sig is a signature over a message made ready for K-256 verification
// against any number of keys: r, u1 = e/s and u2 = r/s mod n, computed
// once per operation however many candidate keys are tried.
type k256Sig struct {
	ok         bool // r, s in [1, n-1] and s ≤ n/2
	prepared   bool
	r, u1, u2  secp256k1.Scalar
	msg, bytes []byte
}

// prepare computes the scalars on first use. The inversion of s uses
// math/big's binary GCD: about a seventh of the instructions of
// secp256k1-voi's constant-time addition chain (13 k against 95 k), and
// constant time is not needed for public data.
func (k *k256Sig) prepare() {
	if k.prepared {
		return
	}
	k.prepared = true
	r, s, err := secec.ParseCompactSignature(k.bytes) // r, s in [1, n-1]
	if err != nil || s.IsGreaterThanHalfN() != 0 {
		return
	}
	var wb [32]byte
	if new(big.Int).ModInverse(new(big.Int).SetBytes(k.bytes[32:]), orderK256).FillBytes(wb[:]) == nil {
		return
	}
	w, err := secp256k1.NewScalarFromCanonicalBytes(&wb)
	if err != nil {
		return
	}
	h := sha256.Sum256(k.msg)
	e, _ := secp256k1.NewScalarFromBytes(&h) // reduced mod n
	k.r.Set(r)
	k.u1.Multiply(e, w)
	k.u2.Multiply(r, w)
	k.ok = true
}

// verify reports whether the signature is valid for the key q, computing
// u1·G + u2·Q with secp256k1-voi's variable-time double multiplication.
func (k *k256Sig) verify(q *secp256k1.Point) bool {
	k.prepare()
	if !k.ok {
		return false
	}
	return k.check(secp256k1.NewIdentityPoint().DoubleScalarMultBasepointVartime(&k.u1, &k.u2, q))
}

// verifyTables is verify with the precomputed tables of G (g) and of the
// key (q).
func (k *k256Sig) verifyTables(g, q *k256Table) bool {
	k.prepare()
	if !k.ok {
		return false
	}
	R := g.mulVartime(&k.u1)
	return k.check(R.Add(R, q.mulVartime(&k.u2)))
}

// check finishes a verification: R ≠ O and x(R) mod n = r.
func (k *k256Sig) check(R *secp256k1.Point) bool {
	if R.IsIdentity() != 0 {
		return false
	}
	x, err := R.XBytes()
	if err != nil {
		return false
	}
	v, _ := secp256k1.NewScalarFromBytes((*[32]byte)(x))
	return v.Equal(&k.r) == 1
}
