package ecverify

import (
	"bytes"
	"math/big"
)

// SRule says which S values of an ECDSA signature (r, s) a verification
// accepts. Both rules require r and s in [1, n-1].
type SRule uint8

const (
	// LowS accepts s ≤ n/2 only: atproto's rule (the zero value).
	LowS SRule = iota
	// AnyS accepts any s in [1, n-1], as crypto/ecdsa does.
	AnyS
)

var (
	orderP256 = mustHex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
	orderK256 = mustHex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
	halfP256  = new(big.Int).Rsh(orderP256, 1)
	// The half orders as 32 big-endian bytes, for HighS.
	halfP256Bytes = new(big.Int).Rsh(orderP256, 1).FillBytes(make([]byte, 32))
	halfK256Bytes = new(big.Int).Rsh(orderK256, 1).FillBytes(make([]byte, 32))
)

// HighS reports whether s, the 32 big-endian bytes of an ECDSA signature's
// S, is above half the group order of K-256 (k256) or P-256: such a
// signature fails atproto's low-S rule. K-256's order is the larger, so
// HighS(s, true) means high for both curves.
func HighS(s []byte, k256 bool) bool {
	half := halfP256Bytes
	if k256 {
		half = halfK256Bytes
	}
	if len(s) != len(half) {
		return new(big.Int).SetBytes(s).Cmp(new(big.Int).SetBytes(half)) > 0
	}
	return bytes.Compare(s, half) > 0
}

func mustHex(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("ecverify: bad constant") // constant input, unreachable
	}
	return n
}
