package ecverify

import (
	"crypto/rand"
	"math/big"
	"testing"

	"filippo.io/nistec"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	secp256k1 "gitlab.com/yawning/secp256k1-voi"
)

// oracle is atcrypto's verdict for sig over msg by pub under rule:
// HashAndVerify for LowS, HashAndVerifyLenient for AnyS.
func oracle(pub atcrypto.PublicKey, msg, sig []byte, rule SRule) bool {
	if rule == AnyS {
		return pub.HashAndVerifyLenient(msg, sig) == nil
	}
	return pub.HashAndVerify(msg, sig) == nil
}

func k256Point(t testing.TB, pub atcrypto.PublicKey) *secp256k1.Point {
	q, err := secp256k1.NewIdentityPoint().SetCompressedBytes(pub.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func p256Point(t testing.TB, pub atcrypto.PublicKey) *nistec.P256Point {
	q, err := nistec.NewP256Point().SetBytes(pub.(*atcrypto.PublicKeyP256).UncompressedBytes())
	if err != nil {
		t.Fatal(err)
	}
	return q
}

type sigCase struct {
	name     string
	msg, sig []byte
}

// brokenSigs returns a valid signature sig over msg and every way we know
// to break it (i varies which bit is flipped).
func brokenSigs(msg, sig, otherSig []byte, order *big.Int, i int) []sigCase {
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
	half := new(big.Int).Rsh(order, 1)
	return []sigCase{
		{"valid", msg, sig},
		{"other key", msg, otherSig},
		{"message bit", flip(msg, i), sig},
		{"r bit", msg, flip(sig, i)},
		{"s bit", msg, flip(sig, 32+i)},
		{"high-S twin", msg, set(32, new(big.Int).Sub(order, s))},
		{"r zero", msg, set(0, new(big.Int))},
		{"s zero", msg, set(32, new(big.Int))},
		{"r = n", msg, set(0, order)},
		{"s = n", msg, set(32, order)},
		{"s = n-1", msg, set(32, new(big.Int).Sub(order, big.NewInt(1)))},
		{"s = n/2", msg, set(32, half)},
		{"s = n/2+1", msg, set(32, new(big.Int).Add(half, big.NewInt(1)))},
		{"short", msg, sig[:63]},
		{"long", msg, append(append([]byte{}, sig...), 0)},
	}
}

// TestK256MatchesAtcrypto checks the one-shot and table-based K-256
// verifications, under both rules, against indigo atcrypto's on valid
// signatures and on every way we know to break one.
func TestK256MatchesAtcrypto(t *testing.T) {
	g := NewK256GeneratorTable()
	for range 2 {
		priv, _ := atcrypto.GeneratePrivateKeyK256()
		other, _ := atcrypto.GeneratePrivateKeyK256()
		pub, _ := priv.PublicKey()
		opub, _ := other.PublicKey()
		q, oq := k256Point(t, pub), k256Point(t, opub)
		tbl := NewK256Table(q)
		for i := 0; i < 12; i++ {
			msg := make([]byte, 10+i*13)
			rand.Read(msg)
			sig, err := priv.HashAndSign(msg)
			if err != nil {
				t.Fatal(err)
			}
			otherSig, _ := other.HashAndSign(msg)
			for _, c := range brokenSigs(msg, sig, otherSig, orderK256, i) {
				for _, rule := range []SRule{LowS, AnyS} {
					want := oracle(pub, c.msg, c.sig, rule)
					s := NewK256Sig(c.msg, c.sig, rule)
					if got := s.VerifyTables(g, tbl); got != want {
						t.Fatalf("%s, rule %d: table says %v, atcrypto %v", c.name, rule, got, want)
					}
					s = NewK256Sig(c.msg, c.sig, rule)
					if got := s.Verify(q); got != want {
						t.Fatalf("%s, rule %d: one-shot says %v, atcrypto %v", c.name, rule, got, want)
					}
					// One prepared signature tried against two keys.
					s = NewK256Sig(c.msg, c.sig, rule)
					if s.Verify(oq) != oracle(opub, c.msg, c.sig, rule) || s.Verify(q) != want {
						t.Fatalf("%s, rule %d: reused scalars give a different answer", c.name, rule)
					}
					if (c.name == "valid" || c.name == "high-S twin" && rule == AnyS) && !want {
						t.Fatalf("%s, rule %d: rejected", c.name, rule)
					}
				}
			}
		}
	}
	var zero K256Sig
	if zero.Verify(secp256k1.NewGeneratorPoint()) {
		t.Fatal("zero K256Sig verified")
	}
}

// TestP256TableMatchesAtcrypto checks the table-based P-256 verification,
// under both rules, against indigo atcrypto's.
func TestP256TableMatchesAtcrypto(t *testing.T) {
	for range 2 {
		priv, _ := atcrypto.GeneratePrivateKeyP256()
		other, _ := atcrypto.GeneratePrivateKeyP256()
		pub, _ := priv.PublicKey()
		tbl := NewP256Table(p256Point(t, pub))
		for i := 0; i < 12; i++ {
			msg := make([]byte, 10+i*13)
			rand.Read(msg)
			sig, err := priv.HashAndSign(msg)
			if err != nil {
				t.Fatal(err)
			}
			otherSig, _ := other.HashAndSign(msg)
			for _, c := range brokenSigs(msg, sig, otherSig, orderP256, i) {
				for _, rule := range []SRule{LowS, AnyS} {
					want := oracle(pub, c.msg, c.sig, rule)
					if got := tbl.Verify(c.msg, c.sig, rule); got != want {
						t.Fatalf("%s, rule %d: table says %v, atcrypto %v", c.name, rule, got, want)
					}
					if (c.name == "valid" || c.name == "high-S twin" && rule == AnyS) && !want {
						t.Fatalf("%s, rule %d: rejected", c.name, rule)
					}
				}
			}
		}
	}
}

// TestTableBytes pins the memory figures the package doc gives.
func TestTableBytes(t *testing.T) {
	if K256TableBytes != 832<<10 || P256TableBytes != 768<<10 {
		t.Fatalf("tables of %d and %d bytes; update doc.go", K256TableBytes, P256TableBytes)
	}
}
