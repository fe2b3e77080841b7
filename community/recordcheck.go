package community

import (
	"context"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/internal/sha256x8"
	"github.com/townhall-dev/townhall/lexicon"
)

// copyAndHash copies a request's records into one allocation, back to back
// in their order, and returns it with the SHA-256 digest of each copy. The
// digests are computed in one batch (sha256x8.SumMany, eight records at a
// time): a /repo/batch of chat messages is hundreds of records of a few
// blocks each, where the eight lanes are about three times cheaper than
// hashing one record after another on CPUs without the SHA extensions.
func copyAndHash(records [][]byte) ([]byte, [][32]byte) {
	total := 0
	for _, r := range records {
		total += len(r)
	}
	arena := make([]byte, 0, total)
	for _, r := range records {
		arena = append(arena, r...)
	}
	sums := make([][32]byte, len(records))
	off := 0
	// SumMany asks for the messages in order, so each copy starts where
	// the one before ended.
	sha256x8.SumMany(len(records), func(i, _ int) []byte {
		b := arena[off : off+len(records[i])]
		off += len(b)
		return b
	}, func(i int, sum [32]byte) { sums[i] = sum })
	return arena, sums
}

// cidPrefix is the binary form of a DRISL record's CID before its digest:
// CIDv1, dag-cbor, sha2-256, 32 bytes.
const cidPrefix = "\x01\x71\x12\x20"

// namesDigest reports whether c is the dag-cbor sha2-256 CID of sum.
func namesDigest(c cid.Cid, sum *[32]byte) bool {
	k := c.KeyString()
	return len(k) == len(cidPrefix)+32 && k[:len(cidPrefix)] == cidPrefix && k[len(cidPrefix):] == string(sum[:])
}

// digestCID returns the dag-cbor CID of a record whose SHA-256 is sum, as
// drisl.SumCID returns it.
func digestCID(sum *[32]byte) cid.Cid {
	c, err := cid.Cast(append([]byte(cidPrefix), sum[:]...))
	if err != nil { // unreachable: the prefix is a valid CIDv1 head
		return cid.Undef
	}
	return c
}

// checkRecord checks one record's bytes, whose SHA-256 is sum: the CID the
// invocation names, strict DRISL, the atproto data model, the lexicon, and
// a nonce for private records.
func (c *Community) checkRecord(ctx context.Context, i int, w writeSpec, data []byte, sum *[32]byte) error {
	if !namesDigest(w.cid, sum) {
		return errf(ErrBadRequest, i, nil, "record bytes hash to %s, the invocation names %s", digestCID(sum), w.cid)
	}
	// The ordered model (maps as drisl.Map, in wire order): fewer
	// allocations than map[string]any and no key hashing; drisl.CheckRecord
	// and lexicon accept it and judge it as they judge map[string]any.
	var v any
	if err := (drisl.DecOptions{OrderedMaps: true}).Unmarshal(data, &v); err != nil {
		return errf(ErrInvalidRecord, i, err, "")
	}
	if err := drisl.CheckRecord(v); err != nil {
		return errf(ErrInvalidRecord, i, err, "")
	}
	if err := c.host.catalog.ValidateRecord(ctx, w.collection, w.rkey, v, lexicon.ValidateOptions{}); err != nil {
		return errf(ErrInvalidRecord, i, err, "")
	}
	if w.audience != "" {
		m, _ := v.(drisl.Map) // CheckRecord has seen a map
		nv, _ := m.Get("nonce")
		n, ok := nv.([]byte)
		if !ok || len(n) < MinNonceBytes {
			return errf(ErrInvalidRecord, i, nil, "a private record needs a nonce of at least %d random bytes", MinNonceBytes)
		}
	}
	return nil
}
