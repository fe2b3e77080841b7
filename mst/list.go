package mst

import (
	"context"
	"errors"

	"github.com/ipfs/go-cid"
)

// Entry is one key and its value.
type Entry struct {
	Key   string
	Value cid.Cid
}

// ListOptions selects a page of keys, as com.atproto.repo.listRecords does
// for one collection. The zero value lists every key in order.
type ListOptions struct {
	// Prefix keeps only keys that start with it, e.g. "app.bsky.feed.post/".
	Prefix string
	// Cursor, if set, keeps only keys after it (before it when Reverse):
	// pass the last key of the previous page.
	Cursor string
	// Limit bounds the number of entries returned; 0 means no limit.
	Limit int
	// Reverse lists in descending key order.
	Reverse bool
}

// errStop ends a walk early without error.
var errStop = errors.New("stop")

// List returns the entries selected by opts, in key order (descending if
// opts.Reverse). It reads only the nodes on the paths to the selected range
// and those inside it.
func (t *Tree) List(ctx context.Context, opts ListOptions) ([]Entry, error) {
	lo, hi := opts.Prefix, keyMax
	if opts.Prefix != "" {
		hi = opts.Prefix + keyMax
	}
	if opts.Cursor != "" {
		if opts.Reverse {
			hi = min(hi, opts.Cursor)
		} else {
			lo = max(lo, opts.Cursor+"\x00")
		}
	}
	var out []Entry
	err := t.walkRange(ctx, lo, hi, opts.Reverse, func(k string, v cid.Cid) error {
		out = append(out, Entry{Key: k, Value: v})
		if opts.Limit > 0 && len(out) >= opts.Limit {
			return errStop
		}
		return nil
	})
	return out, err
}

// Walk calls fn for every key in ascending order. It stops at the first
// error fn returns and returns it.
func (t *Tree) Walk(ctx context.Context, fn func(key string, val cid.Cid) error) error {
	return t.walkRange(ctx, "", keyMax, false, fn)
}

// walkRange visits keys k with lo <= k < hi.
func (t *Tree) walkRange(ctx context.Context, lo, hi string, reverse bool, fn func(string, cid.Cid) error) error {
	if lo >= hi {
		return nil
	}
	n, H, err := t.s.rootNode(ctx, t.root, t.height)
	if err != nil || n == nil {
		return err
	}
	w := rangeWalker{ctx: ctx, s: t.s, lo: lo, hi: hi, reverse: reverse, fn: fn}
	err = w.visit(n, H, "", keyMax)
	if err == errStop {
		return nil
	}
	return err
}

type rangeWalker struct {
	ctx     context.Context
	s       *store
	lo, hi  string
	reverse bool
	fn      func(string, cid.Cid) error
}

// visit walks node n (layer H, keys in (blo, bhi)).
func (w *rangeWalker) visit(n *node, H int, blo, bhi string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	last := len(n.entries)
	for j := 0; j <= 2*last; j++ {
		jj := j
		if w.reverse {
			jj = 2*last - j
		}
		if jj&1 == 1 {
			e := &n.entries[jj/2]
			if e.key >= w.lo && e.key < w.hi {
				if err := w.fn(e.key, e.val); err != nil {
					return err
				}
			}
			continue
		}
		i := jj / 2
		g := n.gap(i)
		if g.empty() {
			continue
		}
		glo, ghi := n.gapBounds(i, blo, bhi)
		if ghi <= w.lo || glo >= w.hi {
			continue
		}
		c, err := w.s.load(w.ctx, g, H-1, glo, ghi)
		if err != nil {
			return err
		}
		if err := w.visit(c, H-1, glo, ghi); err != nil {
			return err
		}
	}
	return nil
}

// WalkBlocks calls fn with the CID and encoding of every node of the tree,
// parents before children, reading nodes lazily: with a CAR writer as fn it
// exports the tree in memory bounded by the depth, not the size. data is
// valid only during the call. The empty tree is its one empty node.
func (t *Tree) WalkBlocks(ctx context.Context, fn func(c cid.Cid, data []byte) error) error {
	root, err := t.Root(ctx)
	if err != nil {
		return err
	}
	n, H, err := t.s.rootNode(ctx, t.root, t.height)
	if err != nil {
		return err
	}
	if n == nil {
		return fn(root, append([]byte(nil), emptyNodeBytes...))
	}
	var buf []byte
	var visit func(n *node, h int, lo, hi string) error
	visit = func(n *node, h int, lo, hi string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = appendNode(buf[:0], n)
		if err := fn(n.cid, buf); err != nil {
			return err
		}
		for i := 0; i <= len(n.entries); i++ {
			g := n.gap(i)
			if g.empty() {
				continue
			}
			glo, ghi := n.gapBounds(i, lo, hi)
			c, err := t.s.load(ctx, g, h-1, glo, ghi)
			if err != nil {
				return err
			}
			if err := visit(c, h-1, glo, ghi); err != nil {
				return err
			}
		}
		return nil
	}
	return visit(n, H, "", keyMax)
}
