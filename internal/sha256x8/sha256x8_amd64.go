//go:build !purego

package sha256x8

// block8 is written in sha256x8_amd64.s.
//
//go:noescape
func block8(h *[8][8]uint32, w *[64][8]uint32, p *[8]*byte)

func haveAVX2() bool

// multiLanes reports whether SumMany hashes eight messages at a time.
var multiLanes = haveAVX2()
