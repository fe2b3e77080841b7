package plc

import (
	"testing"

	"filippo.io/nistec"
	secp256k1 "gitlab.com/yawning/secp256k1-voi"

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

// FuzzVerifyMatchesAtcrypto is a differential target for the signature
// checks this package arranges itself (k256.go: one-shot and table-based
// K-256 on secp256k1-voi; p256table.go: table-based P-256 on
// filippo.io/nistec): on any message and signature bytes, each must give
// indigo atcrypto's verdict for the same key. The seeds are valid
// signatures of both keys (from which the fuzzer mutates near misses) and
// the committed corpus in testdata/fuzz/FuzzVerifyMatchesAtcrypto.
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
	kpt, err := secp256k1.NewIdentityPoint().SetCompressedBytes(kpub.Bytes())
	if err != nil {
		f.Fatal(err)
	}
	ppt, err := nistec.NewP256Point().SetBytes(ppub.(*atcrypto.PublicKeyP256).UncompressedBytes())
	if err != nil {
		f.Fatal(err)
	}
	gt, kt, pt := newK256Table(secp256k1.NewGeneratorPoint()), newK256Table(kpt), newP256Table(ppt)
	f.Fuzz(func(t *testing.T, p256 bool, msg, sig []byte) {
		if p256 {
			want := ppub.HashAndVerify(msg, sig) == nil
			if got := pt.verify(msg, sig); got != want {
				t.Fatalf("P-256 table says %v, atcrypto %v", got, want)
			}
			return
		}
		want := kpub.HashAndVerify(msg, sig) == nil
		sc := newSigCheck(msg, sig)
		if got := sc.k256.verify(kpt); got != want {
			t.Fatalf("K-256 one-shot says %v, atcrypto %v", got, want)
		}
		sc = newSigCheck(msg, sig)
		if got := sc.k256.verifyTables(gt, kt); got != want {
			t.Fatalf("K-256 table says %v, atcrypto %v", got, want)
		}
	})
}
