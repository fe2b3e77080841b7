package mst

import (
	"context"
	"unsafe"

	"github.com/ipfs/go-cid"
)

// Deferred checks for a strict walk.
//
// A strict load hashes every block it reads and every key in it (its
// layer): two SHA-256 passes that are most of the cost of a cold Diff. A
// diff walk reads nodes one at a time, each one decided by the last, so
// sumMany's eight lanes would sit idle. Instead, the walk decodes each
// block as a trusted load would (layer from its place in the tree, the
// other checks made at once) and keeps it in a deferred list, out of the
// shared node cache; every deferBatch nodes, and at the end of the walk,
// the list's block hashes and key layers are checked in batches, and only
// then do its nodes enter the cache. If any check fails, the walk's result
// is discarded and the error is the one an eager load would have returned
// first: the first failing node in read order is checked again eagerly,
// and any other error the walk meets is reported only after the nodes read
// before it passed. Memory stays bounded by deferBatch blocks.

// deferBatch is the number of nodes a walk reads before checking them.
const deferBatch = 256

type deferredNode struct {
	s      *store
	c      cid.Cid
	data   []byte
	n      *node
	h      int
	lo, hi string
}

// deferred is the list of nodes read but not yet checked by one walk (both
// sides of a diff share it, so that read order is kept).
type deferred struct {
	items []deferredNode
	keys  []string
	owner []int32
}

// loadDeferred is load for a walk with deferred checks: nodes read from a
// strict source are checked later, by flush.
func (s *store) loadDeferred(ctx context.Context, r ref, h int, lo, hi string, d *deferred) (*node, error) {
	if r.n != nil || s.trusted || s.record != nil {
		return s.load(ctx, r, h, lo, hi)
	}
	if n := s.cache.get(r.cid.KeyString()); n != nil {
		return s.place(n, r.cid, h, lo, hi)
	}
	data, err := s.fetch(ctx, r.cid)
	if err != nil {
		return nil, d.before(err)
	}
	n, err := decodeNode(data, r.cid, true, h)
	if err == nil {
		n, err = s.place(n, r.cid, h, lo, hi)
	}
	if err != nil {
		return nil, d.before(s.eagerErr(r.cid, data, h, lo, hi, err))
	}
	d.items = append(d.items, deferredNode{s: s, c: r.cid, data: data, n: n, h: h, lo: lo, hi: hi})
	if len(d.items) >= deferBatch {
		if err := d.flush(); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// eagerErr returns the error an eager load of block c gives, or err if it
// gives none.
func (s *store) eagerErr(c cid.Cid, data []byte, h int, lo, hi string, err error) error {
	n, e := s.check(c, data, h)
	if e == nil {
		_, e = s.place(n, c, h, lo, hi)
	}
	if e != nil {
		return e
	}
	return err
}

// before returns the first failure among the nodes read so far, if any,
// else err.
func (d *deferred) before(err error) error {
	if ferr := d.flush(); ferr != nil {
		return ferr
	}
	return err
}

// flush checks the deferred nodes' block hashes and key layers, eight at a
// time, and moves them into their stores' caches; or returns the eager
// error of the first one that fails.
func (d *deferred) flush() error {
	items := d.items
	if len(items) == 0 {
		return nil
	}
	first := len(items)
	sumMany(len(items), func(i, _ int) []byte {
		return items[i].data
	}, func(i int, sum *[32]byte) {
		if i < first && !digestMatches(items[i].c, sum) {
			first = i
		}
	})
	d.keys, d.owner = d.keys[:0], d.owner[:0]
	for i := range items[:first] {
		for _, e := range items[i].n.entries {
			d.keys = append(d.keys, e.key)
			d.owner = append(d.owner, int32(i))
		}
	}
	sumMany(len(d.keys), func(j, _ int) []byte {
		k := d.keys[j]
		return unsafe.Slice(unsafe.StringData(k), len(k))
	}, func(j int, sum *[32]byte) {
		if i := int(d.owner[j]); i < first && sumLayer(*sum) != items[i].h {
			first = i
		}
	})
	var err error
	if first < len(items) {
		it := &items[first]
		err = it.s.eagerErr(it.c, it.data, it.h, it.lo, it.hi, nil)
		if err == nil { // unreachable: a check failed above
			err = nodeErr(it.c, RuleHash, -1, "block failed a deferred check")
		}
	} else {
		for i := range items {
			items[i].s.cache.add(items[i].c.KeyString(), items[i].n)
		}
	}
	clear(items)
	d.items = items[:0]
	clear(d.keys)
	return err
}

// digestMatches reports whether c is a dag-cbor sha2-256 CIDv1 with digest
// sum.
func digestMatches(c cid.Cid, sum *[32]byte) bool {
	k := c.KeyString()
	return len(k) == 36 && k[0] == 0x01 && k[1] == codecDag && k[2] == sha256Mh && k[3] == digestLen &&
		k[4:] == string(sum[:])
}
