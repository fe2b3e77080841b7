package community

import (
	"context"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/internal/sha256x8"
	"github.com/townhall-dev/townhall/lexicon"
)

// copyAndHash copies a request's records into one allocation, back to back
// in their order, and returns it with the SHA-256 digest of each copy and
// where each copy ends. The digests are computed in one batch
// (sha256x8.SumMany, eight records at a time): a /repo/batch of chat
// messages is hundreds of records of a few blocks each, where the eight
// lanes are about three times cheaper than hashing one record after
// another on CPUs without the SHA extensions. The copies are cut where the
// arena says they end (ends), so a caller that changes its slices
// meanwhile can only make the arena grow, never give a bad slice, and the
// copies hash to their digests.
func copyAndHash(records [][]byte) (arena []byte, sums [][32]byte, ends []int) {
	total := 0
	for _, r := range records {
		total += len(r)
	}
	arena = make([]byte, 0, total)
	ends = make([]int, len(records))
	for i, r := range records {
		arena = append(arena, r...)
		ends[i] = len(arena)
	}
	sums = make([][32]byte, len(records))
	// SumMany asks for the messages in order.
	sha256x8.SumMany(len(records), func(i, _ int) []byte {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		return arena[start:ends[i]]
	}, func(i int, sum [32]byte) { sums[i] = sum })
	return arena, sums, ends
}

// cidPrefix is the binary form of a DRISL record's CID before its digest:
// CIDv1, dag-cbor, sha2-256, 32 bytes.
const cidPrefix = "\x01\x71\x12\x20"

// namesDigest reports whether c is the dag-cbor sha2-256 CID of sum.
func namesDigest(c cid.Cid, sum *[32]byte) bool {
	k := c.KeyString()
	return len(k) == len(cidPrefix)+32 && k[:len(cidPrefix)] == cidPrefix && k[len(cidPrefix):] == string(sum[:])
}

// checkRecord checks one record's bytes, whose SHA-256 is sum: the CID the
// invocation names, strict DRISL, the atproto data model, the lexicon, and
// a nonce for private records.
func (c *Community) checkRecord(ctx context.Context, dec *drisl.RecordDecoder, i int, w writeSpec, data []byte, sum *[32]byte) error {
	if !namesDigest(w.cid, sum) {
		return errf(ErrBadRequest, i, nil, "record bytes hash to %s, the invocation names %s", drisl.CIDFromSHA256(drisl.CodecDagCBOR, *sum), w.cid)
	}
	// The ordered model (maps as drisl.Map, in wire order): fewer
	// allocations than map[string]any and no key hashing; lexicon accepts
	// it and judges it as it judges map[string]any. dec decodes as
	// UnmarshalRecord does (Unmarshal then drisl.CheckRecord in one pass),
	// with the allocations of a request's records shared.
	m, err := dec.Decode(data)
	if err != nil {
		return errf(ErrInvalidRecord, i, err, "")
	}
	if err := c.host.catalog.ValidateRecord(ctx, w.collection, w.rkey, m, lexicon.ValidateOptions{}); err != nil {
		return errf(ErrInvalidRecord, i, err, "")
	}
	if w.audience != "" {
		nv, _ := m.Get("nonce")
		n, ok := nv.([]byte)
		if !ok || len(n) < MinNonceBytes {
			return errf(ErrInvalidRecord, i, nil, "a private record needs a nonce of at least %d random bytes", MinNonceBytes)
		}
	}
	return nil
}
