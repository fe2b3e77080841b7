// Package sha256x8 computes the SHA-256 digests (FIPS 180-4) of many
// independent messages at once.
//
// crypto/sha256 hashes one message at a time, which on CPUs without the SHA
// extensions is a long chain of dependent scalar operations. SumMany instead
// runs eight independent messages in the eight 32-bit lanes of AVX2
// registers (block8, sha256x8_amd64.s), the "multi-buffer" technique: the
// same instructions as one message, so about an eighth of the work per
// block while all lanes are busy. No library in the module graph does this
// (crypto/sha256 and the SIMD SHA-256 packages hash one message at a
// time), so it is written here, from FIPS 180-4, and tested against
// crypto/sha256 on random messages of every length class.
//
// Package mst hashes the keys and nodes of a tree with it (a build hashes
// every key and every node; a strict load, every key of a node it reads),
// and package repo the blocks of a sync event in one batch.
//
// Limits: it pays only for batches (MinBatch and more messages, ideally a
// multiple of Lanes of similar length): one message still takes its blocks
// one after another. Without AVX2, or with the purego build tag, SumMany
// calls crypto/sha256 for each message.
package sha256x8

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// Lanes is the number of messages SumMany hashes side by side.
const Lanes = 8

// MinBatch is the smallest batch worth the eight-lane kernel: one call
// costs about as much as two or three single-message blocks, so SumMany
// hashes smaller batches one message at a time.
const MinBatch = 3

var sha256IV = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// sumState is the state of eight messages in progress.
type sumState struct {
	h     [8][8]uint32 // h[word][lane]
	w     [64][8]uint32
	p     [8]*byte // each lane's next block
	lanes [8]sumLane
}

// sumLane is one lane's message in progress.
type sumLane struct {
	msg  []byte // the message; its full blocks are read in place
	off  int    // next byte of msg to hash, while off+64 <= len(msg)
	toff int    // next byte of tail to hash
	tend int    // 64 or 128: the padded last one or two blocks
	id   int    // message index, or -1 for an idle lane
	tail [128]byte
}

// SumMany computes the SHA-256 of the messages msg(0, lane) to
// msg(n-1, lane) and passes each digest to done, in no particular order.
// lane (0 to Lanes-1) names the lane a message is hashed in: msg may build
// message i in a buffer of its own for that lane, which it may reuse once
// done(i) has been called. The slice msg returns must not change until then.
// msg is called once per message, in order, and done once per message.
// The digest is passed by value: a pointer would escape through done and
// cost an allocation per call.
func SumMany(n int, msg func(i, lane int) []byte, done func(i int, sum [32]byte)) {
	if !multiLanes || n < MinBatch {
		for i := range n {
			sum := sha256.Sum256(msg(i, 0))
			done(i, sum)
		}
		return
	}
	var s sumState
	next, active := 0, 0
	for j := range s.lanes {
		s.lanes[j].id = -1
		s.p[j] = &s.lanes[j].tail[0] // idle lanes hash their stale tail
		if next < n {
			s.start(j, next, msg(next, j))
			next++
			active++
		}
	}
	var sum [32]byte
	for active > 0 {
		for j := range s.lanes {
			l := &s.lanes[j]
			if l.id < 0 {
				continue
			}
			if l.off+64 <= len(l.msg) {
				s.p[j] = &l.msg[l.off]
				l.off += 64
			} else {
				s.p[j] = &l.tail[l.toff&64]
				l.toff += 64
			}
		}
		block8(&s.h, &s.w, &s.p)
		for j := range s.lanes {
			l := &s.lanes[j]
			if l.id < 0 || l.toff < l.tend {
				continue
			}
			for k := range 8 {
				binary.BigEndian.PutUint32(sum[4*k:], s.h[k][j])
			}
			done(l.id, sum)
			l.id = -1
			s.p[j] = &l.tail[0]
			if next < n {
				s.start(j, next, msg(next, j))
				next++
			} else {
				active--
			}
		}
	}
}

// start puts message id into lane j.
func (s *sumState) start(j, id int, m []byte) {
	for k := range 8 {
		s.h[k][j] = sha256IV[k]
	}
	l := &s.lanes[j]
	l.msg, l.off, l.toff, l.id = m, 0, 0, id
	// The padded tail: the bytes after the last full block, 0x80, zeros
	// and the message length in bits, in one block or, if the length does
	// not fit after the bytes, two.
	full := len(m) &^ 63
	l.tail = [128]byte{}
	r := copy(l.tail[:], m[full:])
	l.tail[r] = 0x80
	l.tend = 64
	if r >= 56 {
		l.tend = 128
	}
	binary.BigEndian.PutUint64(l.tail[l.tend-8:], uint64(len(m))<<3)
}

var sha256K = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// block8Generic is block8 in Go, lane by lane: the reference the assembly
// is tested against, and block8 where there is no assembly.
func block8Generic(h *[8][8]uint32, w *[64][8]uint32, p *[8]*byte) {
	for j := range 8 {
		blk := unsafe.Slice(p[j], 64)
		for t := range 16 {
			w[t][j] = binary.BigEndian.Uint32(blk[4*t:])
		}
		for t := 16; t < 64; t++ {
			x, y := w[t-2][j], w[t-15][j]
			s1 := bits.RotateLeft32(x, -17) ^ bits.RotateLeft32(x, -19) ^ x>>10
			s0 := bits.RotateLeft32(y, -7) ^ bits.RotateLeft32(y, -18) ^ y>>3
			w[t][j] = s1 + w[t-7][j] + s0 + w[t-16][j]
		}
		a, b, c, d, e, f, g, hh := h[0][j], h[1][j], h[2][j], h[3][j], h[4][j], h[5][j], h[6][j], h[7][j]
		for t := range 64 {
			t1 := hh + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) +
				((e & f) ^ (^e & g)) + sha256K[t] + w[t][j]
			t2 := (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) +
				((a & b) | (c & (a | b)))
			hh, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
		}
		h[0][j] += a
		h[1][j] += b
		h[2][j] += c
		h[3][j] += d
		h[4][j] += e
		h[5][j] += f
		h[6][j] += g
		h[7][j] += hh
	}
}
