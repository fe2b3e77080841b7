package ecverify

import (
	"crypto/sha256"
	"math/big"
	"unsafe"

	secp256k1 "gitlab.com/yawning/secp256k1-voi"
	"gitlab.com/yawning/secp256k1-voi/secec"
)

// K256Table holds j·256^i·P for the 32 byte positions i of a scalar and
// every byte value j, so that a scalar multiplication of P costs at most
// 32 point additions and no doublings.
type K256Table [32][256]secp256k1.Point

// K256TableBytes is the memory one K256Table holds (8192 points).
const K256TableBytes = unsafe.Sizeof(K256Table{})

// NewK256Table computes the table of q: 8192 point additions and 256
// doublings, the work of about 40 one-shot verifications.
func NewK256Table(q *secp256k1.Point) *K256Table {
	t := new(K256Table)
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

// NewK256GeneratorTable returns the table of the generator G, which
// VerifyTables needs beside the key's table.
func NewK256GeneratorTable() *K256Table {
	return NewK256Table(secp256k1.NewGeneratorPoint())
}

// mulVartime returns s·P. Variable time is fine: verification handles
// only public data.
func (t *K256Table) mulVartime(s *secp256k1.Scalar) *secp256k1.Point {
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

// K256Sig is an ECDSA signature on secp256k1 over SHA-256 of a message,
// raw r||s, made ready for verification against any number of keys: r,
// u1 = e/s and u2 = r/s mod n are computed on the first verification and
// reused for the next keys tried. Its zero value rejects everything.
type K256Sig struct {
	rule       SRule
	ok         bool // r, s in [1, n-1], and s ≤ n/2 under LowS
	prepared   bool
	r, u1, u2  secp256k1.Scalar
	msg, bytes []byte
}

// NewK256Sig returns sig over msg, to be checked under rule.
func NewK256Sig(msg, sig []byte, rule SRule) K256Sig {
	return K256Sig{rule: rule, msg: msg, bytes: sig}
}

// prepare computes the scalars on first use. The inversion of s uses
// math/big's binary GCD: about a seventh of the instructions of
// secp256k1-voi's constant-time addition chain (13 k against 95 k), and
// constant time is not needed for public data.
func (k *K256Sig) prepare() {
	if k.prepared {
		return
	}
	k.prepared = true
	r, s, err := secec.ParseCompactSignature(k.bytes) // 64 bytes, r, s in [1, n-1]
	if err != nil || (k.rule == LowS && s.IsGreaterThanHalfN() != 0) {
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

// Verify reports whether the signature is valid for the key q, computing
// u1·G + u2·Q with secp256k1-voi's variable-time double multiplication.
func (k *K256Sig) Verify(q *secp256k1.Point) bool {
	k.prepare()
	if !k.ok {
		return false
	}
	return k.check(secp256k1.NewIdentityPoint().DoubleScalarMultBasepointVartime(&k.u1, &k.u2, q))
}

// VerifyTables is Verify with the precomputed tables of the generator (g,
// from NewK256GeneratorTable) and of the key (q).
func (k *K256Sig) VerifyTables(g, q *K256Table) bool {
	k.prepare()
	if !k.ok {
		return false
	}
	R := g.mulVartime(&k.u1)
	return k.check(R.Add(R, q.mulVartime(&k.u2)))
}

// check finishes a verification: R ≠ O and x(R) mod n = r.
func (k *K256Sig) check(R *secp256k1.Point) bool {
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
