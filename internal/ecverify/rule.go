package ecverify

import "math/big"

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
)

func mustHex(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("ecverify: bad constant") // constant input, unreachable
	}
	return n
}
