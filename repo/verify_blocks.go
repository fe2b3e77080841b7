package repo

import (
	"io"
	"slices"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/internal/sha256x8"
)

// eventBlock is one block of an event's CAR slice and the offset of its
// section (for errors).
type eventBlock struct {
	c    cid.Cid
	data []byte
	off  int64
}

// readEventCAR reads the CAR slice of a sync event, held in memory (the
// blocks alias data), and returns its single root and its blocks, every one
// checked against its CID. The hashes are computed in one batch of
// multi-buffer SHA-256 (internal/sha256x8), eight blocks side by side,
// rather than one block at a time as each is used: an event holds a few
// dozen small blocks, and hashing them is most of the cost of checking it.
// So every block is checked, used or not (the CAR is bounded by
// MaxEventBlocksBytes and opts), and a block that does not hash to its CID
// is refused with ErrBlockHash: the first such block in CAR order, with
// the offset of its section. Trees loaded from the returned map may skip
// hashing (mst.Options.InsecureSkipHashCheck).
func readEventCAR(data []byte, opts CAROptions) (cid.Cid, blockMap, error) {
	cr, err := NewCARReaderBytes(data, opts)
	if err != nil {
		return cid.Undef, nil, err
	}
	cr.noHash = true // hashed below, in one batch
	if err := cr.oneRoot(); err != nil {
		return cid.Undef, nil, err
	}
	var buf [32]eventBlock
	blocks := buf[:0]
	for {
		off := cr.off
		c, b, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return cid.Undef, nil, err
		}
		blocks = append(blocks, eventBlock{c: c, data: b, off: off})
	}
	// Longest first: a lane that frees up takes the next message, so the
	// short ones fill the lanes at the end instead of leaving one long
	// message to run alone.
	var orderBuf [32]int32
	order := orderBuf[:0]
	if len(blocks) > len(orderBuf) {
		order = make([]int32, 0, len(blocks))
	}
	for i := range blocks {
		order = append(order, int32(i))
	}
	slices.SortStableFunc(order, func(a, b int32) int { return len(blocks[b].data) - len(blocks[a].data) })
	bad := len(blocks)
	sha256x8.SumMany(len(order), func(i, _ int) []byte {
		return blocks[order[i]].data
	}, func(i int, sum [32]byte) {
		// Next checked the CID's prefix: CIDv1, dag-cbor or raw,
		// sha2-256, 32-byte digest.
		if j := int(order[i]); j < bad && string(sum[:]) != blocks[j].c.KeyString()[4:] {
			bad = j
		}
	})
	if bad < len(blocks) {
		return cid.Undef, nil, &VerifyError{Rule: ErrBlockHash, CID: blocks[bad].c, Offset: blocks[bad].off}
	}
	m := make(blockMap, len(blocks))
	for _, b := range blocks {
		m[b.c] = b.data
	}
	return cr.Roots[0], m, nil
}
