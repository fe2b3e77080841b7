package ecverify

import (
	"crypto/sha256"
	"math/big"
	"unsafe"

	"filippo.io/nistec"
)

// P256Table holds j·256^i·P for the 32 byte positions i of a scalar and
// every byte value j, as K256Table does for secp256k1.
type P256Table [32][256]nistec.P256Point

// P256TableBytes is the memory one P256Table holds (8192 points).
const P256TableBytes = unsafe.Sizeof(P256Table{})

// NewP256Table computes the table of q: 8192 point additions and 256
// doublings.
func NewP256Table(q *nistec.P256Point) *P256Table {
	t := new(P256Table)
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

// Verify reports whether sig (raw r||s, 64 bytes) is a valid ECDSA
// signature over SHA-256 of msg by the table's key, under rule: u1·G with
// nistec's base multiplication (which has its own generator table), u2·Q
// with at most 32 additions from the table.
func (t *P256Table) Verify(msg, sig []byte, rule SRule) bool {
	if len(sig) != 64 {
		return false
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	if r.Sign() == 0 || s.Sign() == 0 || r.Cmp(orderP256) >= 0 || s.Cmp(orderP256) >= 0 {
		return false
	}
	if rule == LowS && s.Cmp(halfP256) > 0 {
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
