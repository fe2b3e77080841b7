//go:build interop

package interop

import (
	"math/rand/v2"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// testKey is a key pair drawn from a family's seeded generator, so a replay
// with the same seed has the same keys. (P-256 signatures still use fresh
// randomness; K-256 ones are deterministic, RFC 6979.)
type testKey struct {
	priv atcrypto.PrivateKeyExportable
	did  string // did:key of the public key
	k256 bool
}

func newTestKey(t *testing.T, r *rand.Rand, k256 bool) testKey {
	t.Helper()
	for {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		var priv atcrypto.PrivateKeyExportable
		var err error
		if k256 {
			priv, err = atcrypto.ParsePrivateBytesK256(b)
		} else {
			priv, err = atcrypto.ParsePrivateBytesP256(b)
		}
		if err != nil {
			continue // a scalar out of range: draw again
		}
		pub, err := priv.PublicKey()
		if err != nil {
			t.Fatalf("public key: %v", err)
		}
		return testKey{priv: priv, did: pub.DIDKey(), k256: k256}
	}
}
