package drisl

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"
)

// TestCIDFromSHA256 checks that CIDFromSHA256 builds the CID cid.Cast
// parses from the same bytes, for both DRISL codecs over many random
// digests, and the one cid.NewCidV1 builds for a codec of two varint
// bytes; and that SumCID is CIDFromSHA256 of the data's SHA-256.
func TestCIDFromSHA256(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var d [32]byte
		for j := range d {
			d[j] = byte(rng.Uint32())
		}
		if i == 0 {
			d = [32]byte{}
		}
		for _, codec := range []uint64{CodecDagCBOR, CodecRaw} {
			want, err := cid.Cast(append([]byte{0x01, byte(codec), HashSHA256, 32}, d[:]...))
			if err != nil {
				t.Fatal(err)
			}
			got := CIDFromSHA256(codec, d)
			if !got.Equals(want) || got.KeyString() != want.KeyString() || got.String() != want.String() {
				t.Fatalf("codec %#x digest %x: got %v, want %v", codec, d, got, want)
			}
			if got.Prefix() != want.Prefix() || got.Hash().HexString() != want.Hash().HexString() {
				t.Fatalf("codec %#x digest %x: prefix %+v, want %+v", codec, d, got.Prefix(), want.Prefix())
			}
		}
		if i < 10 {
			data := d[:i]
			if got, want := SumCID(CodecRaw, data), CIDFromSHA256(CodecRaw, sha256.Sum256(data)); got != want {
				t.Fatalf("SumCID = %v, want %v", got, want)
			}
		}
	}
	// A codec above 0x7f takes two varint bytes: cid.NewCidV1's path.
	var d [32]byte
	d[5] = 7
	got := CIDFromSHA256(0x0129, d) // dag-json
	if got.Type() != 0x0129 || got.Hash()[0] != HashSHA256 || string(got.Hash()[2:]) != string(d[:]) {
		t.Fatalf("dag-json CID %v: type %#x, hash %x", got, got.Type(), []byte(got.Hash()))
	}
	if _, err := cid.Cast(got.Bytes()); err != nil {
		t.Fatalf("dag-json CID does not parse: %v", err)
	}
}

func BenchmarkCIDFromSHA256(b *testing.B) {
	var d [32]byte
	var c cid.Cid
	b.ReportAllocs()
	for b.Loop() {
		d[0]++
		c = CIDFromSHA256(CodecDagCBOR, d)
	}
	if !c.Defined() {
		b.Fatal("undefined CID")
	}
}
