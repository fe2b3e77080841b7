package ecverify

import (
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// The benchmarks below give the figures a caller needs to choose when to
// build a table: the cost of building one against the cost of a
// verification with and without it.

func BenchmarkK256(b *testing.B) {
	priv, _ := fuzzKeys(b)
	pub, _ := priv.PublicKey()
	msg := []byte("benchmark message")
	sig, _ := priv.HashAndSign(msg)
	q := k256Point(b, pub)
	g, tbl := NewK256GeneratorTable(), NewK256Table(q)
	b.Run("atcrypto", func(b *testing.B) {
		for b.Loop() {
			if pub.HashAndVerify(msg, sig) != nil {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("oneshot", func(b *testing.B) {
		for b.Loop() {
			s := NewK256Sig(msg, sig, LowS)
			if !s.Verify(q) {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("table", func(b *testing.B) {
		for b.Loop() {
			s := NewK256Sig(msg, sig, LowS)
			if !s.VerifyTables(g, tbl) {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			NewK256Table(q)
		}
	})
}

func BenchmarkP256(b *testing.B) {
	_, priv := fuzzKeys(b)
	pub, _ := priv.PublicKey()
	msg := []byte("benchmark message")
	sig, _ := priv.HashAndSign(msg)
	q := p256Point(b, pub)
	tbl := NewP256Table(q)
	b.Run("atcrypto", func(b *testing.B) {
		for b.Loop() {
			if pub.(*atcrypto.PublicKeyP256).HashAndVerifyLenient(msg, sig) != nil {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("table", func(b *testing.B) {
		for b.Loop() {
			if !tbl.Verify(msg, sig, AnyS) {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			NewP256Table(q)
		}
	})
}
