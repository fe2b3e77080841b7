package sha256x8

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// TestBlock8 checks the assembly kernel against block8Generic, and so
// against FIPS 180-4, on random states and blocks.
func TestBlock8(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var h1, h2 [8][8]uint32
		var w1, w2 [64][8]uint32
		for i := range h1 {
			for j := range h1[i] {
				h1[i][j] = r.Uint32()
			}
		}
		var blocks [8][64]byte
		var p [8]*byte
		for j := range blocks {
			for k := range blocks[j] {
				blocks[j][k] = byte(r.Uint32())
			}
			p[j] = &blocks[j][0]
		}
		h2 = h1
		block8(&h1, &w1, &p)
		block8Generic(&h2, &w2, &p)
		if h1 != h2 || w1 != w2 {
			t.Fatalf("block8 = %x, generic = %x", h1, h2)
		}
	}
}

// TestSumMany compares SumMany with crypto/sha256 on batches of messages
// of every length around the block and padding boundaries, in batches of
// every size from 0 to beyond the lane count.
func TestSumMany(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var lengths []int
	for n := range 200 {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 1000, 4095, 4096, 10000)
	for batch := range 20 {
		for round := range 10 {
			msgs := make([][]byte, batch)
			for i := range msgs {
				l := lengths[r.IntN(len(lengths))]
				if round == 0 {
					l = lengths[(batch*7+i)%len(lengths)]
				}
				msgs[i] = make([]byte, l)
				for k := range msgs[i] {
					msgs[i][k] = byte(r.Uint32())
				}
			}
			seen := make([]bool, batch)
			var lanes [8]int
			SumMany(batch, func(i, lane int) []byte {
				lanes[lane]++
				return msgs[i]
			}, func(i int, sum [32]byte) {
				if seen[i] {
					t.Fatalf("message %d reported twice", i)
				}
				seen[i] = true
				if want := sha256.Sum256(msgs[i]); sum != want {
					t.Fatalf("batch %d, message %d (%d bytes): %x, want %x", batch, i, len(msgs[i]), sum, want)
				}
			})
			for i, ok := range seen {
				if !ok {
					t.Fatalf("batch %d: message %d not reported", batch, i)
				}
			}
		}
	}
}
