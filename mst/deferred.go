package mst

import (
	"context"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/internal/sha256x8"
)

// Deferred checks for a strict walk.
//
// A strict load hashes every block it reads and every key in it (its
// layer): two SHA-256 passes that are most of the cost of a cold Diff. A
// diff walk reads nodes one at a time, each one decided by the last, so
// the eight lanes of sha256x8.SumMany would sit idle. Instead, the walk
// decodes each block as a trusted load would (layer from its place in the tree, the
// other checks made at once) and keeps it in a deferred list, out of the
// shared node cache; every deferBatch nodes, and at the end of the walk,
// the list's block hashes and key layers are checked in batches, and only
// then do its nodes enter the cache (as checked blocks, see view). If any
// check fails, the walk's result is discarded and the error is the one an
// eager load would have returned first: the first failing node in read
// order is checked again eagerly, and any other error the walk meets is
// reported only after the nodes read before it passed. Memory stays bounded
// by deferBatch blocks.

// deferBatch is the number of nodes a walk reads before checking them:
// enough to keep the eight lanes of sha256x8.SumMany busy (hundreds of
// keys), few enough that the walk's buffers stay small.
const deferBatch = 64

type deferredNode struct {
	s     *store
	c     cid.Cid
	data  []byte
	h     int   // the layer it was read for
	ents  int32 // its entries: deferred.ents[ents:ents+count]
	count int32
}

// deferred is the list of nodes read but not yet checked by one walk (both
// sides of a diff share it, so that read order is kept).
type deferred struct {
	items []deferredNode
	ents  []vent // the items' entries
	keys  []byte // keys being hashed, one after the other
	spans []keySpan
}

// keySpan is one key in deferred.keys and the item it belongs to.
type keySpan struct{ start, end, owner int32 }

// loadWalk is load for walker w. A node read from the source is decoded
// as a view (see view), its entries and keys appended to w's buffers, and
// cached as its checked block; if the source is strict, its checks are
// deferred (flush) and it is cached only once they pass. A node in memory
// or in the cache is returned decoded (a cached block is decoded for good:
// views save memory on one walk, decoded nodes time on many). With
// s.record set (InversionBlocks), every node is loaded with load.
func (s *store) loadWalk(ctx context.Context, r ref, h int, lo, hi string, d *deferred, w *walker) (*node, view, error) {
	if r.n != nil || s.record != nil {
		n, err := s.load(ctx, r, h, lo, hi)
		return n, view{}, err
	}
	k := r.cid.KeyString()
	if n, err := s.cached(k, r.cid); err != nil || n != nil {
		if err == nil {
			n, err = s.place(n, r.cid, h, lo, hi)
		}
		return n, view{}, err
	}
	data, err := s.fetch(ctx, r.cid)
	if err != nil {
		if s.trusted {
			return nil, view{}, err
		}
		return nil, view{}, d.before(err)
	}
	if w.keys == nil {
		w.keys = make([]byte, 0, 2048) // the keys of a path of views
		w.ents = make([]vent, 0, 128)
	}
	kbase, ebase := len(w.keys), len(w.ents)
	v, keys, ents, err := decodeView(data, r.cid, h, w.keys, w.ents)
	w.keys, w.ents = keys, ents
	if err == nil {
		err = v.place(r.cid, h, lo, hi, keys[kbase:])
	}
	if err != nil {
		w.keys, w.ents = keys[:kbase], ents[:ebase]
		if s.trusted {
			return nil, view{}, err
		}
		return nil, view{}, d.before(s.eagerErr(r.cid, data, h, lo, hi, err))
	}
	if s.trusted {
		s.cache.addChecked(k, data)
		return nil, v, nil
	}
	if d.items == nil {
		d.items = make([]deferredNode, 0, deferBatch)
		d.ents = make([]vent, 0, 8*deferBatch) // nodes hold 2-8 entries on average
	}
	d.items = append(d.items, deferredNode{s: s, c: r.cid, data: data, h: h, ents: int32(len(d.ents)), count: int32(len(v.ents))})
	d.ents = append(d.ents, v.ents...)
	if len(d.items) >= deferBatch {
		if err := d.flush(); err != nil {
			w.keys, w.ents = keys[:kbase], ents[:ebase]
			return nil, view{}, err
		}
	}
	return nil, v, nil
}

// place makes the checks of view v (CID c) that depend on its place (see
// store.place); keys are its keys (view.keys).
func (v *view) place(c cid.Cid, h int, lo, hi string, keys []byte) error {
	first, last := "", ""
	if k := len(v.ents); k > 0 {
		first = bstr(keys[:v.ents[0].keyLen()])
		last = bstr(keys[len(keys)-v.ents[k-1].keyLen():])
	}
	return checkPlace(c, len(v.ents), v.left >= 0, int(v.height), h, first, last, lo, hi)
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
	sha256x8.SumMany(len(items), func(i, _ int) []byte {
		return items[i].data
	}, func(i int, sum [32]byte) {
		if i < first && !digestMatches(items[i].c, &sum) {
			first = i
		}
	})
	// Keys are rebuilt and hashed for a few nodes at a time, which keeps
	// the buffers small and the eight lanes full.
	for lo := 0; lo < first; {
		d.keys, d.spans = d.keys[:0], d.spans[:0]
		hi := lo
		for ; hi < first && len(d.spans) < 128; hi++ {
			it := &items[hi]
			ents := d.ents[it.ents : it.ents+it.count]
			at := len(d.keys)
			d.keys = appendKeys(d.keys, it.data, ents)
			for j := range ents {
				end := at + ents[j].keyLen()
				d.spans = append(d.spans, keySpan{start: int32(at), end: int32(end), owner: int32(hi)})
				at = end
			}
		}
		sha256x8.SumMany(len(d.spans), func(j, _ int) []byte {
			return d.keys[d.spans[j].start:d.spans[j].end]
		}, func(j int, sum [32]byte) {
			if i := int(d.spans[j].owner); i < first && sumLayer(sum) != items[i].h {
				first = i
			}
		})
		lo = hi
	}
	var err error
	if first < len(items) {
		// The node passed its other checks, those of its place too, when it
		// was read; the bounds no longer matter.
		it := &items[first]
		err = it.s.eagerErr(it.c, it.data, it.h, "", keyMax, nil)
		if err == nil { // unreachable: a check failed above
			err = nodeErr(it.c, RuleHash, -1, "block failed a deferred check")
		}
	} else {
		for i := range items {
			items[i].s.cache.addChecked(items[i].c.KeyString(), items[i].data)
		}
	}
	clear(items)
	d.items, d.ents = items[:0], d.ents[:0]
	return err
}
