package plc

import (
	"crypto/rand"
	"math/big"
	"testing"

	"filippo.io/nistec"

	"github.com/townhall-dev/townhall/internal/ecverify"
)

// TestP256TableMatchesAtcrypto checks the table-based P-256 verification
// against indigo atcrypto's on valid signatures and on every way we know
// to break one.
func TestP256TableMatchesAtcrypto(t *testing.T) {
	for range 2 {
		k := newKey(t, false)
		rk := parseRotationKey(k.did)
		if rk.p256 == nil {
			t.Fatal("not a P-256 key")
		}
		pt, err := nistec.NewP256Point().SetBytes(rk.p256.UncompressedBytes())
		if err != nil {
			t.Fatal(err)
		}
		tbl := ecverify.NewP256Table(pt)
		other := newKey(t, false)
		pub := mustPub(t, k)
		for i := 0; i < 12; i++ {
			msg := make([]byte, 10+i*13)
			rand.Read(msg)
			sig, err := k.priv.HashAndSign(msg)
			if err != nil {
				t.Fatal(err)
			}
			otherSig, _ := other.priv.HashAndSign(msg)
			flip := func(b []byte, i int) []byte {
				c := append([]byte{}, b...)
				c[i%len(c)] ^= 1 << (i % 8)
				return c
			}
			set := func(lo int, v *big.Int) []byte {
				c := append([]byte{}, sig...)
				v.FillBytes(c[lo : lo+32])
				return c
			}
			s := new(big.Int).SetBytes(sig[32:])
			cases := []struct {
				name string
				msg  []byte
				sig  []byte
			}{
				{"valid", msg, sig},
				{"other key", msg, otherSig},
				{"message bit", flip(msg, i), sig},
				{"r bit", msg, flip(sig, i)},
				{"s bit", msg, flip(sig, 32+i)},
				{"high-S twin", msg, set(32, new(big.Int).Sub(orderP256, s))},
				{"r zero", msg, set(0, new(big.Int))},
				{"s zero", msg, set(32, new(big.Int))},
				{"r = n", msg, set(0, orderP256)},
				{"s = n", msg, set(32, orderP256)},
				{"s = n/2", msg, set(32, halfP256)},
				{"s = n/2+1", msg, set(32, new(big.Int).Add(halfP256, big.NewInt(1)))},
				{"short", msg, sig[:63]},
			}
			for _, c := range cases {
				want := pub.HashAndVerify(c.msg, c.sig) == nil
				if got := tbl.Verify(c.msg, c.sig, ecverify.LowS); got != want {
					t.Fatalf("%s: table says %v, atcrypto %v", c.name, got, want)
				}
				if c.name == "valid" && !want {
					t.Fatal("valid signature rejected")
				}
			}
		}
	}
}
