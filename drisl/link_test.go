package drisl

import (
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"
)

// TestLinkIsCast: a decoded sha2-256 link (built with cid.NewCidV1 from
// the checked bytes) is the CID cid.Cast gives for its bytes, for both
// codecs and random digests: same binary form, string and prefix.
func TestLinkIsCast(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	for _, codec := range []byte{CodecDagCBOR, CodecRaw} {
		for range 100 {
			b := []byte{0x00, 0x01, codec, HashSHA256, 32}
			for range 32 {
				b = append(b, byte(r.Uint32()))
			}
			data := append([]byte{0xd8, 42, 0x58, byte(len(b))}, b...)
			var got any
			if err := Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			want, err := cid.Cast(b[1:])
			if err != nil {
				t.Fatal(err)
			}
			c, ok := got.(cid.Cid)
			if !ok || c != want || c.String() != want.String() || c.Prefix() != want.Prefix() {
				t.Fatalf("decoded %v (%T), cid.Cast gives %v", got, got, want)
			}
		}
	}
}
