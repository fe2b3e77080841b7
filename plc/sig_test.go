package plc

import (
	"bytes"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/mr-tron/base58"
)

// parseCases are did:key strings on both sides of every rule of
// atcrypto.ParsePublicDIDKey, for the K-256 fast path of parseRotationKey
// and for the strings it hands on to atcrypto.
func parseCases(t testing.TB) []string {
	mb := func(b ...[]byte) string { return "did:key:z" + base58.Encode(bytes.Join(b, nil)) }
	k256, p256 := []byte{0xe7, 0x01}, []byte{0x80, 0x24}
	ff := bytes.Repeat([]byte{0xff}, 32)
	cases := []string{
		"", "did:key:", "did:key:z", "did:key:zz", "did:key:z0OIl", "did:key:z1", "did:key:z11",
		"DID:key:zQ3shhCGUqDKjStzuDxPkTxN6ujddP4RkEKJJouJGRRkaLGbg",
		"did:key:zQ3shhCGUqDKjStzuDxPkTxN6ujddP4RkEKJJouJGRRkaLGbg",
		"did:key:zQ3shhCGUqDKjStzuDxPkTxN6ujddP4RkEKJJouJGRRkaLGb",
		"did:key:zQ3shhCGUqDKjStzuDxPkTxN6ujddP4RkEKJJouJGRRkaLGbg ",
		"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",  // Ed25519
		"did:key:zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo", // P-256 (W3C)
		mb(k256), mb(k256[:1]), mb(k256, []byte{2}), mb(p256, []byte{2}),
		mb(k256, []byte{2}, ff), mb(k256, []byte{3}, ff), mb(k256, []byte{4}, ff, ff),
		mb([]byte{0}, k256, []byte{2}, ff), mb(p256, []byte{3}, ff),
	}
	for x := byte(0); x < 8; x++ { // some on the curve, some not
		for _, pre := range []byte{0, 2, 3, 4} {
			xb := append(make([]byte, 31), x)
			cases = append(cases, mb(k256, []byte{pre}, xb), mb(p256, []byte{pre}, xb))
		}
	}
	for _, k256 := range []bool{true, false} {
		k := newKey(t, k256)
		pub, _ := k.priv.PublicKey()
		raw := pub.Bytes()
		prefix := p256
		if k256 {
			prefix = []byte{0xe7, 0x01}
		}
		unc := pub.UncompressedBytes()
		cases = append(cases, k.did, mb(prefix, raw), mb(prefix, raw, []byte{0}), mb(prefix, raw[:32]),
			mb(prefix, unc), mb(prefix, []byte{raw[0] ^ 1}, raw[1:]), mb([]byte{0}, prefix, raw))
	}
	return cases
}

// checkParseMatchesAtcrypto fails unless parseRotationKey accepts s exactly
// when atcrypto does, with the same curve and point.
func checkParseMatchesAtcrypto(t *testing.T, s string) {
	rk := parseRotationKey(s)
	pub, err := atcrypto.ParsePublicDIDKey(s)
	if (rk.err == nil) != (err == nil) {
		t.Fatalf("%q: ours %v, atcrypto %v", s, rk.err, err)
	}
	if err != nil {
		return
	}
	switch kp := pub.(type) {
	case *atcrypto.PublicKeyK256:
		if !rk.k256 || rk.point == nil || !bytes.Equal(rk.point.CompressedBytes(), kp.Bytes()) {
			t.Fatalf("%q: K-256 point differs", s)
		}
	case *atcrypto.PublicKeyP256:
		if rk.k256 || rk.p256 == nil || !bytes.Equal(rk.p256.Bytes(), kp.Bytes()) {
			t.Fatalf("%q: P-256 key differs", s)
		}
	default:
		t.Fatalf("%q: atcrypto gives %T", s, pub)
	}
}

// TestParseRotationKeyMatchesAtcrypto: the K-256 fast path accepts and
// refuses exactly what atcrypto does.
func TestParseRotationKeyMatchesAtcrypto(t *testing.T) {
	for _, s := range parseCases(t) {
		checkParseMatchesAtcrypto(t, s)
	}
	for _, v := range validVectors {
		for _, e := range loadLog(t, v.file) {
			for _, s := range rotationKeysOf(&e.Operation) {
				checkParseMatchesAtcrypto(t, s)
			}
		}
	}
}

// TestVerifyAnySkipsRepeats: a key string that failed is not verified
// again at a later index, and a hint hit maps back to the first index of
// its string.
func TestVerifyAnySkipsRepeats(t *testing.T) {
	a, b := newKey(t, true), newKey(t, true)
	msg := []byte("operation")
	sig, _ := b.priv.HashAndSign(msg)
	c := &KeyCache{}
	keys := []string{a.did, a.did, b.did, b.did}
	for hint := -1; hint < len(keys); hint++ {
		if i, err := verifyAny(c, keys, msg, sig, hint); err != nil || i != 2 {
			t.Fatalf("hint %d: signer %d, %v", hint, i, err)
		}
	}
	// Hints -1, 0 and 1 verify a once (not twice); hints 2 and 3 never.
	if n := c.get(a.did).tries.Load(); n != 3 {
		t.Fatalf("key a verified %d times, want 3", n)
	}
}
