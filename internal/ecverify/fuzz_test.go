package ecverify

import (
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// fuzzKeys are fixed keys (so that committed seeds stay valid; the same
// keys as plc's FuzzVerifyMatchesAtcrypto, whose seeds these are).
func fuzzKeys(t testing.TB) (*atcrypto.PrivateKeyK256, *atcrypto.PrivateKeyP256) {
	k, err := atcrypto.ParsePrivateBytesK256([]byte("townhall plc signature fuzz k256"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := atcrypto.ParsePrivateBytesP256([]byte("townhall plc signature fuzz p256"))
	if err != nil {
		t.Fatal(err)
	}
	return k, p
}

// FuzzVerifyMatchesAtcrypto is a differential target for the verifications
// of this package (K256Sig one-shot and with tables, P256Table): on any
// message and signature bytes, under each SRule, each must give indigo
// atcrypto's verdict for the same key (HashAndVerify for LowS,
// HashAndVerifyLenient for AnyS). The seeds are valid signatures of both
// keys (from which the fuzzer mutates near misses) and the committed
// corpus in testdata/fuzz/FuzzVerifyMatchesAtcrypto.
func FuzzVerifyMatchesAtcrypto(f *testing.F) {
	kpriv, ppriv := fuzzKeys(f)
	for i, msg := range []string{"", "a", "plc operation", string(make([]byte, 200))} {
		ks, err := kpriv.HashAndSign([]byte(msg))
		if err != nil {
			f.Fatal(err)
		}
		ps, err := ppriv.HashAndSign([]byte(msg))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(false, []byte(msg), ks)
		f.Add(true, []byte(msg), ps)
		f.Add(i%2 == 0, []byte(msg), ks) // the other key's signature
	}
	kpub, err := kpriv.PublicKey()
	if err != nil {
		f.Fatal(err)
	}
	ppub, err := ppriv.PublicKey()
	if err != nil {
		f.Fatal(err)
	}
	kq := k256Point(f, kpub)
	g, kt, pt := NewK256GeneratorTable(), NewK256Table(kq), NewP256Table(p256Point(f, ppub))
	f.Fuzz(func(t *testing.T, p256 bool, msg, sig []byte) {
		for _, rule := range []SRule{LowS, AnyS} {
			if p256 {
				want := oracle(ppub, msg, sig, rule)
				if got := pt.Verify(msg, sig, rule); got != want {
					t.Fatalf("rule %d: P-256 table says %v, atcrypto %v", rule, got, want)
				}
				continue
			}
			want := oracle(kpub, msg, sig, rule)
			s := NewK256Sig(msg, sig, rule)
			if got := s.Verify(kq); got != want {
				t.Fatalf("rule %d: K-256 one-shot says %v, atcrypto %v", rule, got, want)
			}
			s = NewK256Sig(msg, sig, rule)
			if got := s.VerifyTables(g, kt); got != want {
				t.Fatalf("rule %d: K-256 table says %v, atcrypto %v", rule, got, want)
			}
		}
	})
}
