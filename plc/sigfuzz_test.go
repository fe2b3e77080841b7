package plc

import (
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// fuzzSigKeys are fixed keys (so that committed seeds stay valid).
func fuzzSigKeys(t testing.TB) (*atcrypto.PrivateKeyK256, *atcrypto.PrivateKeyP256) {
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

// FuzzVerifyMatchesAtcrypto is a differential target for this package's
// signature checks as KeyCache composes them: a key's first verifications
// (K-256: ecverify's one-shot; P-256: atcrypto's) and those after its
// table is built (ecverify's tables), under atproto's low-S rule. On any
// message and signature bytes each must give indigo atcrypto's verdict for
// the same key. The verifications themselves have their own differential
// target, under both S rules, in internal/ecverify (same keys, same
// seeds); this one checks plc's wiring of them. The seeds are valid
// signatures of both keys and the committed corpus in
// testdata/fuzz/FuzzVerifyMatchesAtcrypto.
func FuzzVerifyMatchesAtcrypto(f *testing.F) {
	kpriv, ppriv := fuzzSigKeys(f)
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
	// hot holds both keys past tableThreshold, so with their tables.
	hot := &KeyCache{}
	for _, k := range []struct {
		priv atcrypto.PrivateKey
		pub  atcrypto.PublicKey
	}{{kpriv, kpub}, {ppriv, ppub}} {
		msg := []byte("warm-up")
		sig, err := k.priv.HashAndSign(msg)
		if err != nil {
			f.Fatal(err)
		}
		rk := hot.get(k.pub.DIDKey())
		for range tableThreshold {
			sc := newSigCheck(msg, sig)
			if !hot.verify(rk, &sc) {
				f.Fatal("warm-up signature rejected")
			}
		}
		if rk.table.Load() == nil && rk.ptable.Load() == nil {
			f.Fatal("no table after warm-up")
		}
	}
	f.Fuzz(func(t *testing.T, p256 bool, msg, sig []byte) {
		pub := atcrypto.PublicKey(kpub)
		if p256 {
			pub = ppub
		}
		want := pub.HashAndVerify(msg, sig) == nil
		// A fresh cache: the key's first use, one-shot.
		cold := &KeyCache{}
		sc := newSigCheck(msg, sig)
		if got := cold.verify(cold.get(pub.DIDKey()), &sc); got != want {
			t.Fatalf("one-shot (P-256 %v) says %v, atcrypto %v", p256, got, want)
		}
		sc = newSigCheck(msg, sig)
		if got := hot.verify(hot.get(pub.DIDKey()), &sc); got != want {
			t.Fatalf("table (P-256 %v) says %v, atcrypto %v", p256, got, want)
		}
	})
}
