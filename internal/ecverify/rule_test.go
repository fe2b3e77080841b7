package ecverify

import (
	"math/big"
	"testing"
)

// TestHighS: HighS agrees with a big.Int comparison against n/2 at the
// boundary and around it, for both curves, and treats a short S as its
// value.
func TestHighS(t *testing.T) {
	for _, k256 := range []bool{false, true} {
		n := orderP256
		if k256 {
			n = orderK256
		}
		half := new(big.Int).Rsh(n, 1)
		for _, d := range []int64{-2, -1, 0, 1, 2} {
			v := new(big.Int).Add(half, big.NewInt(d))
			s := v.FillBytes(make([]byte, 32))
			if got, want := HighS(s, k256), v.Cmp(half) > 0; got != want {
				t.Errorf("k256 %v, n/2%+d: HighS %v, want %v", k256, d, got, want)
			}
		}
		if HighS([]byte{1}, k256) || !HighS(n.Bytes(), k256) {
			t.Errorf("k256 %v: short or full-order S misjudged", k256)
		}
	}
	// Between the two halves: high for P-256 only.
	mid := new(big.Int).Rsh(orderP256, 1)
	mid.Add(mid, big.NewInt(1))
	s := mid.FillBytes(make([]byte, 32))
	if !HighS(s, false) || HighS(s, true) {
		t.Error("P-256's n/2+1 should be high for P-256 and low for K-256")
	}
}
