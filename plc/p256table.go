package plc

import (
	"crypto/sha256"
	"math/big"

	"filippo.io/nistec"
)

// P-256 verification with a per-key precomputed table: the same idea as
// k256.go. u1·G uses nistec's constant-time base multiplication (it
// already has a generator table); u2·Q uses a 32×256 table of the key
// built after tableThreshold verifications (768 KiB, about 40
// verifications' work), with at most 32 point additions. The group
// arithmetic is filippo.io/nistec (the standard library's P-256 code,
// exported); scalars mod n use math/big. The checks are SEC 1 v2 §4.1.4
// plus atproto's low-S rule, as in atcrypto: r, s in [1, n-1], s ≤ n/2,
// R ≠ O, x(R) mod n = r. p256table_test.go checks it against atcrypto.

type p256Table [32][256]nistec.P256Point

func newP256Table(q *nistec.P256Point) *p256Table {
	t := new(p256Table)
	base := nistec.NewP256Point().Set(q)
	for i := range t {
		t[i][0].Set(nistec.NewP256Point())
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

func (t *p256Table) verify(msg, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	if r.Sign() == 0 || s.Sign() == 0 || r.Cmp(orderP256) >= 0 || s.Cmp(halfP256) > 0 {
		return false
	}
	h := sha256.Sum256(msg)
	e := new(big.Int).SetBytes(h[:])
	w := new(big.Int).ModInverse(s, orderP256)
	if w == nil {
		return false
	}
	u1 := e.Mul(e, w)
	u1.Mod(u1, orderP256)
	u2 := new(big.Int).Mul(r, w)
	u2.Mod(u2, orderP256)
	var b1, b2 [32]byte
	u1.FillBytes(b1[:])
	u2.FillBytes(b2[:])
	R, err := nistec.NewP256Point().ScalarBaseMult(b1[:])
	if err != nil {
		return false
	}
	for i := 0; i < 32; i++ {
		if v := b2[31-i]; v != 0 {
			R.Add(R, &t[i][v])
		}
	}
	x, err := R.BytesX() // fails for the point at infinity
	if err != nil {
		return false
	}
	v := new(big.Int).SetBytes(x)
	v.Mod(v, orderP256)
	return v.Cmp(r) == 0
}
