//go:build !amd64 || purego

package sha256x8

// multiLanes is false: SumMany hashes one message at a time with
// crypto/sha256.
const multiLanes = false

func block8(h *[8][8]uint32, w *[64][8]uint32, p *[8]*byte) { block8Generic(h, w, p) }
