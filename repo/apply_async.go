package repo

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/mst"
)

// Pending is a commit ApplyAsync built and is storing.
type Pending struct {
	done   chan struct{}
	prev   *Pending // the commit ApplyAsync built before this one, stored first
	base   *Pending // the pending commit this one builds on; nil: a stored one
	expect cid.Cid  // the head this commit builds on
	res    *CommitResult
	err    error
}

// Done is closed once the commit is stored or has failed.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Wait waits until the commit is stored and returns what Apply would have.
// A commit whose base failed to be stored fails with ErrConflict.
func (p *Pending) Wait() (*CommitResult, error) {
	<-p.done
	return p.res, p.err
}

// ApplyAsync builds the commit of writes as Apply does, but returns once it
// is built and signed, storing it in the background: the caller can build
// the next commit while the store writes this one. The commit builds on
// the last commit ApplyAsync built even if it is not stored yet, and the
// store receives the commits in the order they were built. If a commit
// fails to be stored, every commit built on it fails with ErrConflict and
// the repository continues from the last stored commit.
//
// Errors in the writes themselves (an invalid record, a create of a record
// that exists in the tree it builds on) are returned at once, and nothing
// is stored. Head and Tree report stored commits only; LatestTree includes
// the ones being stored. Apply and EmitSync wait for the pending commits
// first. ApplyAsync does not retry a commit that another handle or process
// got in first (ErrConflict); Apply does.
func (r *Repo) ApplyAsync(ctx context.Context, writes []Write) (*Pending, error) {
	if err := r.writable(writes); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	preps, err := r.prepare(writes)
	if err != nil {
		return nil, err
	}
	head, tree, base := r.head, r.tree, r.tip
	if base != nil {
		head, tree = r.tipHead, r.tipTree
	} else if r.last == nil {
		// Nothing in flight: catch up with writes of other handles, as
		// Apply does.
		if _, err := r.catchUp(ctx); err != nil {
			return nil, err
		}
		head, tree = r.head, r.tree
	}
	b, err := r.build(ctx, preps, false, head, tree, false)
	if err != nil {
		return nil, err
	}
	// The next commit builds on this one's tree as if it were stored: its
	// nodes move into the node cache now (so that a chain of pending trees
	// never holds ever more nodes in memory), and the source serves them
	// until the store has them, should the cache drop one.
	r.src.addPending(b.nodes)
	if b.tree, err = b.tree.Stored(ctx); err != nil {
		r.src.dropPending(b.nodes)
		return nil, err
	}
	p := &Pending{done: make(chan struct{}), prev: r.last, base: base, expect: head.Commit}
	r.last, r.tip, r.tipHead, r.tipTree = p, p, b.w.Head, b.tree
	go r.storePending(ctx, p, b)
	return p, nil
}

// storePending stores b, the commit of p, once the commits built before it
// are stored or have failed.
func (r *Repo) storePending(ctx context.Context, p *Pending, b *built) {
	if p.prev != nil {
		<-p.prev.done
		p.prev = nil // so that a chain of Pendings does not keep every earlier one
	}
	r.mu.Lock()
	stored := r.head.Commit == p.expect
	r.mu.Unlock()
	var seq int64
	var err error
	if stored {
		seq, err = r.store.Apply(ctx, r.did, b.w)
	} else {
		err = fmt.Errorf("%w: the commit it builds on was not stored", ErrConflict)
	}
	r.mu.Lock()
	if err == nil {
		p.res = r.landed(ctx, b, seq)
	} else {
		p.err = err
	}
	r.src.dropPending(b.nodes)
	// Every commit before p is done: buildsOn, walking from a later
	// commit, stops at p at the latest.
	p.base = nil
	if r.tip == p || (err != nil && r.tip.buildsOn(p)) {
		// The latest commit is stored (the next one builds on r.tree,
		// whose nodes are in the cache) or will never be.
		r.tip, r.tipHead, r.tipTree = nil, Head{}, nil
	}
	if r.last == p {
		r.last = nil
	}
	r.mu.Unlock()
	close(p.done)
}

// buildsOn reports whether p is q or is built on q, directly or not.
func (p *Pending) buildsOn(q *Pending) bool {
	for ; p != nil; p = p.base {
		if p == q {
			return true
		}
	}
	return false
}

// settle locks r.mu once no commit of ApplyAsync is being stored.
func (r *Repo) settle() {
	r.mu.Lock()
	for r.last != nil {
		p := r.last
		r.mu.Unlock()
		<-p.done
		r.mu.Lock()
	}
}

// LatestTree returns the tree of the last commit built, by Apply or by an
// ApplyAsync whose commit may still be being stored. It is immutable.
func (r *Repo) LatestTree() *mst.Tree {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tip != nil {
		return r.tipTree
	}
	return r.tree
}
