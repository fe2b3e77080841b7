package plc

import (
	"crypto/sha256"

	secp256k1 "gitlab.com/yawning/secp256k1-voi"
	"gitlab.com/yawning/secp256k1-voi/secec"
)

// K-256 verification with a per-key precomputed table.
//
// ECDSA verification computes u1·G + u2·Q. Libraries precompute multiples
// of the generator G but must treat the public key Q as new each time, so
// u2·Q costs a full variable-base scalar multiplication. A long audit log
// is mostly signed by one or two rotation keys, so for a K-256 key that has
// verified tableThreshold signatures this package builds a fixed-base table
// of Q (32 windows of 8 bits, 8192 points, 768 KiB, about 40
// verifications' work) and computes u2·Q with at most 32 point additions
// and no doublings; u1·G uses the same kind of table for G, built once per
// KeyCache. A K-256 verification then costs about 40% of atcrypto's.
//
// The group arithmetic is secp256k1-voi's, the library indigo's atcrypto
// uses; this file only arranges it. The verification equation and checks
// are SEC 1 v2 §4.1.4, as in secp256k1-voi's secec, plus atproto's low-S
// rule: r and s in [1, n-1], s ≤ n/2, R ≠ O, x(R) mod n = r.
// k256table_test.go checks it against atcrypto on valid, tampered, high-S
// and out-of-range signatures. P-256 keys get the same treatment in
// p256table.go.

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

// verify reports whether sig (raw r||s, low-S) is a valid signature by the
// key of table q over SHA-256(msg); g is the generator's table.
func verifyK256Tables(g, q *k256Table, msg, sig []byte) bool {
	r, s, err := secec.ParseCompactSignature(sig) // r, s in [1, n-1]
	if err != nil || s.IsGreaterThanHalfN() != 0 {
		return false
	}
	h := sha256.Sum256(msg)
	e, _ := secp256k1.NewScalarFromBytes(&h) // reduced mod n
	w := secp256k1.NewScalar().Invert(s)
	u1 := secp256k1.NewScalar().Multiply(e, w)
	u2 := secp256k1.NewScalar().Multiply(r, w)
	R := g.mulVartime(u1)
	R.Add(R, q.mulVartime(u2))
	if R.IsIdentity() != 0 {
		return false
	}
	x, err := R.XBytes()
	if err != nil {
		return false
	}
	v, _ := secp256k1.NewScalarFromBytes((*[32]byte)(x))
	return v.Equal(r) == 1
}
