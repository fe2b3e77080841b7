package community

import (
	"context"
	"slices"
	"strings"

	"github.com/townhall-dev/townhall/mst"
)

// The writer is the only goroutine that commits, so whatever it does per
// write is paid serially. Its existence checks (admit) are tree lookups
// that the caller's goroutine can do instead, against the public tree of
// a recent commit, if the writer can tell that no later commit touched the
// paths: it remembers, for its last recentRounds commits, the paths of the
// round each belonged to. A precheck whose snapshot is older than that, or
// whose path a later commit may have written, is ignored and admit looks
// the path up itself, so the outcome is the same as without prechecks.

// recentRounds is how many commits' written paths the writer remembers.
const recentRounds = 16

// treeSnap is the public tree after the writer's commit gen.
type treeSnap struct {
	tree *mst.Tree
	gen  uint64
}

// round is the paths one commit of the writer wrote (a superset: every
// path of the requests its round admitted, and the audience anchors), as
// pathHash values. A set of integers is all the writer needs to keep of
// recentRounds commits (about 2,000 paths each in examples/import): it
// holds no pointers for the garbage collector to scan and does not keep
// the paths' strings alive, where the rounds' own maps held about 3 MiB
// of the import's live heap. Two paths with one hash only make admit look
// a path up itself.
type round struct {
	gen   uint64
	paths map[uint64]struct{}
}

// pathHash is the 64-bit FNV-1a hash of a pathKey (its audience, a zero
// byte, its path).
func pathHash(k pathKey) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := 0; i < len(k.audience); i++ {
		h = (h ^ uint64(k.audience[i])) * prime
	}
	h *= prime // the zero byte: audience names and paths hold none
	for i := 0; i < len(k.path); i++ {
		h = (h ^ uint64(k.path[i])) * prime
	}
	return h
}

// precheck is what the caller's goroutine found for one public op: whether
// its receipt and its record existed in the tree of commit gen.
type precheck struct {
	gen           uint64
	valid         bool
	exists        bool
	receiptExists bool
}

// prechecks does admit's lookups (receipt, record) for each public
// receipted op in the latest published tree. Errors leave the op to admit.
// Ops without receipts (the invocation record, community records) are left
// to the writer: their keys (CIDs) land anywhere in the MST, so their
// lookups read blocks from the store, and 64 callers doing so at once keep
// several SQLite connections, each with its page cache, busy (examples/import:
// +8 MiB of peak RSS).
func (c *Community) prechecks(ctx context.Context, ops []op) {
	s := c.snap.Load()
	if s == nil {
		return
	}
	// One caller at a time: a lookup that misses the node cache reads the
	// store, and concurrent reads would each hold a SQLite connection (and
	// its page cache) of their own.
	c.precheckMu.Lock()
	defer c.precheckMu.Unlock()
	var idx []int
	for i := range ops {
		if o := &ops[i]; o.audience == "" && o.receipt != nil {
			idx = append(idx, i)
		}
	}
	c.lookupMany(ctx, s.tree, ops, idx, func(i int, exists, receiptExists bool, err error) bool {
		if err == nil {
			ops[i].pre = precheck{gen: s.gen, valid: true, exists: exists, receiptExists: receiptExists}
		}
		return true // an op whose lookup failed is left to admit
	})
}

// lookupMany answers lookup for the public ops ops[i], i in idx, in t:
// their first lookups (the receipt's, or the record's for an op without
// one) in one mst.Tree.HasMany, sorted (a batch's receipts sort like its
// record keys, most often TIDs in order, so it walks their common path
// once instead of descending from the root for each), then each record
// where lookup would look it up too (op.recordMayExist). It calls fn for
// each op, in key order, until fn returns false; after the first lookup
// HasMany failed, with its error, and no more. idx is reordered.
func (c *Community) lookupMany(ctx context.Context, t *mst.Tree, ops []op, idx []int, fn func(i int, exists, receiptExists bool, err error) bool) {
	if len(idx) == 0 {
		return
	}
	first := func(i int) string {
		if o := &ops[i]; o.receipt != nil {
			return o.receiptPath()
		}
		return ops[i].path()
	}
	keys := make([]string, len(idx))
	for j, i := range idx {
		keys[j] = first(i)
	}
	if !slices.IsSorted(keys) {
		slices.SortFunc(idx, func(a, b int) int { return strings.Compare(first(a), first(b)) })
		for j, i := range idx {
			keys[j] = first(i)
		}
	}
	found := make([]bool, len(keys))
	n, err := t.HasMany(ctx, keys, found)
	for j, i := range idx[:n] {
		o := &ops[i]
		if o.receipt == nil {
			if !fn(i, found[j], false, nil) {
				return
			}
			continue
		}
		re, ex := found[j], false
		var herr error
		if o.recordMayExist(re) {
			ex, herr = c.has(ctx, t, o.path())
		}
		if !fn(i, ex, re, herr) {
			return
		}
	}
	if n < len(idx) {
		fn(idx[n], false, false, err)
	}
}

// prechecked returns the precheck of a public op if no commit after its
// snapshot wrote its path; the writer calls it.
func (c *Community) prechecked(o *op) (precheck, bool) {
	if !o.pre.valid || c.gen-o.pre.gen >= recentRounds {
		return precheck{}, false
	}
	h := pathHash(pathKey{o.audience, o.path()})
	for g := o.pre.gen + 1; g <= c.gen; g++ {
		r := &c.rounds[g%recentRounds]
		if r.gen != g {
			return precheck{}, false
		}
		if _, ok := r.paths[h]; ok {
			return precheck{}, false
		}
	}
	return o.pre, true
}

// endRound records that a commit wrote (at most) paths and publishes the
// tree after it, t; the writer calls it after each commit it made with
// repo.Apply, before it answers the commit's requests.
func (c *Community) endRound(paths map[pathKey]bool, t *mst.Tree) {
	c.publish(c.recordRound(paths), t)
}

// recordRound records that the writer's next commit writes (at most)
// paths, and returns its generation. The writer calls it once the commit
// is built, before it admits the next round, so that prechecks of a tree
// older than that commit are not trusted for its paths even while it is
// being stored.
func (c *Community) recordRound(paths map[pathKey]bool) uint64 {
	c.gen++
	r := &c.rounds[c.gen%recentRounds]
	if r.paths == nil {
		r.paths = make(map[uint64]struct{}, len(paths))
	} else {
		clear(r.paths)
	}
	for k := range paths {
		r.paths[pathHash(k)] = struct{}{}
	}
	r.gen = c.gen
	return c.gen
}

// publish makes t, the stored tree after the commit of generation gen,
// the tree callers precheck against.
func (c *Community) publish(gen uint64, t *mst.Tree) {
	c.snap.Store(&treeSnap{tree: t, gen: gen})
}
