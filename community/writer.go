package community

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/mst"
	"github.com/townhall-dev/townhall/repo"
)

// op is one record change a request makes, checked and encoded by the
// caller's goroutine before it reaches the writer.
type op struct {
	action     repo.Action
	collection string
	rkey       string
	audience   string // "" for the public tree
	data       []byte // record bytes (create, update)
	cid        cid.Cid
	value      any           // a record struct written by the community itself (data == nil)
	receipt    *receiptBlock // nil for records the community issues itself
	// receiptExists is set by the writer's admit (public ops): whether the
	// path already has a receipt (the receipt write is then an update).
	receiptExists bool
	// p and pReceipt are path() and, for receipted ops, ReceiptPath(p)
	// (whose tail is the receipt's key), computed by prepare in the
	// caller's goroutine so that the writer does not build them.
	p        string
	pReceipt string
	// pre is what the caller found in a recent tree (see prechecks).
	pre precheck
}

func (o *op) path() string {
	if o.p != "" {
		return o.p
	}
	return o.collection + "/" + o.rkey
}

// receiptPath returns the MST key of the op's receipt.
func (o *op) receiptPath() string {
	if o.pReceipt != "" {
		return o.pReceipt
	}
	return receiptPathOf(o.path(), nil)
}

// receiptKey returns the record key of the op's receipt.
func (o *op) receiptKey() string { return o.receiptPath()[len(NSIDReceipt)+1:] }

// prepare computes the op's path and receipt path (memo: see receiptPathOf).
func (o *op) prepare(memo *atomic.Pointer[receiptPrefix]) {
	if o.p == "" {
		o.p = o.collection + "/" + o.rkey
	}
	if o.receipt != nil {
		o.pReceipt = receiptPathOf(o.p, memo)
	}
}

// pathKey names a path in one tree ("" for the public repo).
type pathKey struct{ audience, path string }

// request is one authorised act queued for the writer.
type request struct {
	ops      []op
	member   string    // author; "" for the community itself
	proofs   []cid.Cid // delegation chain, re-checked for revocation at commit
	moderate bool      // may update or delete other members' records
	// check runs in the writer before the request is admitted (state that
	// only the writer may read consistently, such as bans).
	check func() error
	// after runs in the writer once the commit is durable.
	after func()
	res   chan writeOutcome
}

type writeOutcome struct {
	commit *repo.CommitResult
	err    error
}

// Result describes the commit that carried a request.
type Result struct {
	Commit cid.Cid
	Rev    string
	// Paths are the records written (collection/rkey; private records are
	// prefixed with "audience:" + name + "/").
	Paths []string
	// CIDs are the records' new CIDs (undefined for deletes), in the order
	// of Paths.
	CIDs []cid.Cid
}

// errDefer asks the writer to retry a request in the next round (it touches
// a path another request of the batch already touches).
var errDefer = errors.New("defer")

// submit queues r and waits for its outcome.
func (c *Community) submit(ctx context.Context, r *request) (*Result, error) {
	r.res = make(chan writeOutcome, 1)
	for i := range r.ops {
		r.ops[i].prepare(&c.receiptPrefix)
	}
	c.prechecks(ctx, r.ops)
	select {
	case c.reqs <- r:
		landed(ctx)
	case <-c.quit:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Once queued, the request will be answered: wait for it even if ctx
	// ends, so that the caller learns whether it was committed.
	var out writeOutcome
	select {
	case out = <-r.res:
	case <-c.done:
		// The writer stopped; it may have answered just before.
		select {
		case out = <-r.res:
		default:
			return nil, ErrClosed
		}
	}
	if out.err != nil {
		return nil, out.err
	}
	res := &Result{Commit: out.commit.Commit, Rev: out.commit.Rev,
		Paths: make([]string, len(r.ops)), CIDs: make([]cid.Cid, len(r.ops))}
	for i := range r.ops {
		o := &r.ops[i]
		p := o.path()
		if o.audience != "" {
			p = "audience:" + o.audience + "/" + p
		}
		res.Paths[i], res.CIDs[i] = p, o.cid
	}
	return res, nil
}

// run is the community's writer: it drains the queue in batches and turns
// each batch into one commit (group commit).
func (c *Community) run() {
	defer close(c.done)
	max := c.host.limits.MaxGroupCommit
	wait := c.host.limits.MaxGroupWait
	batch := make([]*request, 0, max)
	for {
		var landed <-chan struct{}
		if c.staged != nil {
			landed = c.staged.p.Done()
		}
		select {
		case <-landed:
			c.settle(context.Background())
		case <-c.quit:
			c.settle(context.Background())
			for {
				select {
				case r := <-c.reqs:
					r.res <- writeOutcome{err: ErrClosed}
				default:
					return
				}
			}
		case r := <-c.reqs:
			batch = append(batch[:0], r)
			var timer *time.Timer
		drain:
			for len(batch) < max {
				select {
				case r2 := <-c.reqs:
					batch = append(batch, r2)
					continue
				default:
				}
				// The queue is empty. If callers are still validating their
				// requests, wait for them a little (at most MaxGroupWait in
				// all): one commit for all of them costs one fsync.
				if c.inflight.Load() == 0 || wait <= 0 {
					break
				}
				if timer == nil {
					timer = time.NewTimer(wait)
				}
				select {
				case r2 := <-c.reqs:
					batch = append(batch, r2)
				case <-timer.C:
					break drain
				case <-c.quit:
					break drain
				}
			}
			if timer != nil {
				timer.Stop()
			}
			c.commitBatch(context.Background(), batch)
		}
	}
}

// maxReusedPaths bounds the round's paths map the writer keeps for the
// next round (examples/import: about 2,000 paths a round).
const maxReusedPaths = 1 << 14

func (c *Community) commitBatch(ctx context.Context, batch []*request) {
	pending := batch
	for len(pending) > 0 {
		if !stageable(pending) {
			// Their checks read what the staged round's commit may
			// change: a round of this batch may have been staged.
			c.settle(ctx)
		}
		// One map for every round (the writer's alone): endRound keeps
		// only the paths' hashes, so the map is free again once the
		// round is committed, and a cleared map keeps its room for the
		// next round's few thousand paths instead of growing anew (one
		// that held more than maxReusedPaths is dropped).
		paths := c.roundPaths
		if paths == nil || len(paths) > maxReusedPaths {
			paths = map[pathKey]bool{}
			c.roundPaths = paths
		} else {
			clear(paths)
		}
		var accepted, deferred []*request
		for _, r := range pending {
			switch err := c.admit(ctx, r, paths); {
			case err == nil:
				accepted = append(accepted, r)
			case errors.Is(err, errDefer):
				deferred = append(deferred, r)
			default:
				r.res <- writeOutcome{err: err}
			}
		}
		if len(accepted) > 0 {
			c.applyGroup(ctx, accepted, paths)
		}
		pending = deferred
	}
}

// admit checks a request against the state only the writer sees
// consistently: revocations and bans since validation, record existence and
// ownership. paths holds the paths earlier requests of the batch touch.
func (c *Community) admit(ctx context.Context, r *request, paths map[pathKey]bool) error {
	for i := range r.ops {
		if paths[pathKey{r.ops[i].audience, r.ops[i].path()}] {
			return errDefer
		}
	}
	if r.check != nil {
		if err := r.check(); err != nil {
			return err
		}
	}
	if r.member != "" && c.isBanned(r.member) {
		return errf(ErrBanned, -1, nil, "%s", r.member)
	}
	for _, p := range r.proofs {
		if rv, err := c.revoked.IsRevoked(ctx, p); err != nil || rv {
			return errf(ErrUnauthorized, -1, err, "delegation %s revoked", p)
		}
	}
	look := c.lookupPublic(ctx, r.ops)
	for i := range r.ops {
		o := &r.ops[i]
		t, err := c.treeFor(o.audience)
		if err != nil {
			return err
		}
		var exists bool
		if l := &look[i]; l.done {
			exists, o.receiptExists, err = l.exists, l.receiptExists, l.err
		} else {
			exists, o.receiptExists, err = c.lookup(ctx, t, o)
		}
		if err != nil {
			return errf(ErrMigration, i, err, "reading the tree")
		}
		switch o.action {
		case repo.ActionCreate:
			if exists {
				return errf(ErrRecordExists, i, nil, "%s", o.path())
			}
		case repo.ActionUpdate, repo.ActionDelete:
			if !exists {
				return errf(ErrRecordNotFound, i, nil, "%s", o.path())
			}
			if !r.moderate && r.member != "" {
				owner, err := c.ownerOf(ctx, t, o.audience, o.path())
				if err != nil {
					return err
				}
				if owner != r.member {
					return errf(ErrNotOwner, i, nil, "%s belongs to %s", o.path(), owner)
				}
			}
		}
	}
	for i := range r.ops {
		paths[pathKey{r.ops[i].audience, r.ops[i].path()}] = true
	}
	return nil
}

// lookup reports whether o's record and (public ops) its receipt exist in
// t, the tree of o's audience.
func (c *Community) lookup(ctx context.Context, t *mst.Tree, o *op) (exists, receiptExists bool, err error) {
	if o.audience != "" {
		exists, err = c.has(ctx, t, o.path())
		return exists, false, err
	}
	if o.receipt != nil {
		if receiptExists, err = c.has(ctx, t, o.receiptPath()); err != nil {
			return false, false, err
		}
	}
	if o.receipt == nil || o.recordMayExist(receiptExists) {
		exists, err = c.has(ctx, t, o.path())
	}
	return exists, receiptExists, err
}

// recordMayExist reports whether a public op's record can exist given
// whether its receipt does. Every record outside the reserved collections
// is written with its receipt, so a missing receipt proves a missing
// record: one lookup for most creates.
func (o *op) recordMayExist(receiptExists bool) bool {
	return receiptExists || strings.HasPrefix(o.collection, reservedPrefix)
}

// lookedUp is what admit knows of an op's paths before its checks: done
// if the callers' precheck or lookupPublic answered (err: the lookup
// failed).
type lookedUp struct {
	done, exists, receiptExists bool
	err                         error
}

// lookupPublic answers the existence questions of ops' public records (see
// lookup) from the callers' prechecks where they still hold, and otherwise
// with lookupMany (one mst.Tree.HasMany for all of them). An op left not
// done (private, or after the first failed lookup) is looked up by admit
// itself.
func (c *Community) lookupPublic(ctx context.Context, ops []op) []lookedUp {
	look := make([]lookedUp, len(ops))
	var idx []int
	for i := range ops {
		o := &ops[i]
		if o.audience != "" {
			continue
		}
		if pre, ok := c.prechecked(o); ok {
			look[i] = lookedUp{done: true, exists: pre.exists, receiptExists: pre.receiptExists}
			continue
		}
		idx = append(idx, i)
	}
	c.lookupMany(ctx, c.repo.LatestTree(), ops, idx, func(i int, exists, receiptExists bool, err error) bool {
		look[i] = lookedUp{done: true, exists: exists, receiptExists: receiptExists, err: err}
		return err == nil
	})
	return look
}

// treeFor returns the tree a path lives in: the public MST or an audience's.
func (c *Community) treeFor(aud string) (*mst.Tree, error) {
	if aud == "" {
		return c.repo.LatestTree(), nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	a := c.audiences[aud]
	if a == nil {
		return nil, errf(ErrNoAudience, -1, nil, "%q", aud)
	}
	return a.tree, nil
}

// ownerOf returns the author of the record at path, from its receipt, or the
// community's DID for records without a receipt (written by the community).
func (c *Community) ownerOf(ctx context.Context, t *mst.Tree, aud, path string) (string, error) {
	rc, ok, err := t.Get(ctx, ReceiptPath(path))
	if err != nil {
		return "", errf(ErrMigration, -1, err, "reading receipt")
	}
	if !ok {
		return c.did, nil
	}
	var data []byte
	if aud == "" {
		data, err = c.repo.Store().GetBlock(ctx, c.did, rc)
	} else {
		data, err = c.host.private.GetPrivateBlock(ctx, c.did, rc)
	}
	if err != nil {
		return "", errf(ErrMigration, -1, err, "reading receipt")
	}
	var rec Receipt
	if err := drisl.Unmarshal(data, &rec); err != nil {
		return "", errf(ErrMigration, -1, err, "decoding receipt")
	}
	return rec.Author, nil
}

// applyGroup commits the accepted requests as one commit; if that fails, it
// commits them one by one so that one bad request cannot sink the others.
// paths are the paths of the round's requests.
//
// A round of plain record writes (stageable) is staged instead: its commit
// is built on the staged round's, if any, and stored in the background
// (repo.ApplyAsync) while the writer answers the staged round and admits
// and builds the next. Its requests are answered once it is stored.
func (c *Community) applyGroup(ctx context.Context, rs []*request, paths map[pathKey]bool) {
	if !c.noStaging && stageable(rs) {
		if s, err := c.stage(ctx, rs, paths); err == nil {
			c.settle(ctx) // the round before, stored first
			c.staged = s
			return
		}
		// Build errors (a record that exists after all) are reported by
		// the synchronous path, request by request.
	}
	c.settle(ctx)
	res, err := c.apply(ctx, rs, paths)
	if err == nil {
		for _, r := range rs {
			if r.after != nil {
				r.after()
			}
			r.res <- writeOutcome{commit: res}
		}
		c.notify()
		return
	}
	if len(rs) == 1 {
		rs[0].res <- writeOutcome{err: err}
		return
	}
	for _, r := range rs {
		c.applyGroup(ctx, []*request{r}, paths)
	}
}

// stagedRound is a round whose commit is being stored (repo.ApplyAsync).
type stagedRound struct {
	p   *repo.Pending
	rs  []*request
	gen uint64 // its generation (recordRound)
}

// stageable reports whether requests can be staged: they only write public
// records and change nothing else once committed (no after), and the
// writer's checks of later requests read nothing of theirs but the tree
// (no update or delete by a member that is not a moderator: admit reads
// the owner from the stored receipt).
func stageable(rs []*request) bool {
	for _, r := range rs {
		if r.after != nil {
			return false
		}
		for i := range r.ops {
			o := &r.ops[i]
			if o.audience != "" || (o.action != repo.ActionCreate && !r.moderate && r.member != "") {
				return false
			}
		}
	}
	return true
}

// stage builds the commit of a stageable round and starts storing it.
func (c *Community) stage(ctx context.Context, rs []*request, paths map[pathKey]bool) (*stagedRound, error) {
	writes, _, err := c.roundWrites(ctx, rs, paths) // no audience: no new roots
	if err != nil {
		return nil, err
	}
	p, err := c.repo.ApplyAsync(ctx, writes)
	if err != nil {
		return nil, err
	}
	return &stagedRound{p: p, rs: rs, gen: c.recordRound(paths)}, nil
}

// settle waits for the staged round's commit and answers its requests. If
// the commit failed (the store failed it, or the commit it was built on),
// the requests are admitted and committed again, synchronously, as if they
// had just arrived: none of them was at fault.
func (c *Community) settle(ctx context.Context) {
	s := c.staged
	if s == nil {
		return
	}
	c.staged = nil
	res, err := s.p.Wait()
	if err != nil {
		saved := c.roundPaths // the caller's round may be using it
		c.roundPaths, c.noStaging = nil, true
		c.commitBatch(ctx, s.rs)
		c.roundPaths, c.noStaging = saved, false
		return
	}
	c.publish(s.gen, c.repo.Tree().LoadRoot(res.Data))
	for _, r := range s.rs {
		r.res <- writeOutcome{commit: res}
	}
	c.notify()
}

// apply builds and commits one commit for rs: records, receipts, and the
// anchors of the audiences whose private trees changed. Private blocks are
// stored before the public commit; if the commit fails they are unreferenced
// garbage and the audiences' trees are left as they were.
func (c *Community) apply(ctx context.Context, rs []*request, paths map[pathKey]bool) (*repo.CommitResult, error) {
	writes, roots, err := c.roundWrites(ctx, rs, paths)
	if err != nil {
		return nil, err
	}
	res, err := c.repo.Apply(ctx, writes, repo.ApplyOptions{})
	if err != nil {
		return nil, fmt.Errorf("community: commit: %w", err)
	}
	c.endRound(paths, c.repo.Tree())
	c.mu.Lock()
	for _, nr := range roots {
		nr.a.root = nr.root
		// Reload from the root so that the unwritten nodes are dropped.
		nr.a.tree = nr.a.tree.LoadRoot(nr.root)
	}
	c.mu.Unlock()
	return res, nil
}

// newRoot is an audience's tree after a round, and its root.
type newRoot struct {
	a    *audience
	tree *mst.Tree
	root cid.Cid
}

// roundWrites returns the public writes of rs (records, then their
// receipts, then the anchors of the audiences whose trees change) and the
// audiences' new trees, whose blocks it has stored.
func (c *Community) roundWrites(ctx context.Context, rs []*request, paths map[pathKey]bool) ([]repo.Write, []newRoot, error) {
	// Records first, then their receipts: the repository parses a
	// collection once per run of writes to it, not once per write.
	// writes holds the public records, then their receipts (filled in
	// place from nPub on), then the audiences' anchors.
	nPub, nRc := 0, 0
	for _, r := range rs {
		for i := range r.ops {
			if o := &r.ops[i]; o.audience == "" {
				nPub++
				if o.receipt != nil {
					nRc++
				}
			}
		}
	}
	writes := make([]repo.Write, nPub+nRc, nPub+nRc+1)
	pub, rcpt := 0, nPub
	newTrees := map[string]*mst.Editor{}
	var privBlocks []repo.Block
	now := timestamp(c.host.now())
	for _, r := range rs {
		for i := range r.ops {
			o := &r.ops[i]
			if o.audience == "" {
				w := repo.Write{Action: o.action, Collection: o.collection, RKey: o.rkey}
				if o.action != repo.ActionDelete {
					if o.data != nil {
						// Checked in this process: a member's record by
						// checkRecord (its CID and strict DRISL, on
						// Invoke's own copy of the request's bytes), the
						// invocation record encoded by evidence.
						w.Record, w.RecordCID, w.InsecureSkipRecordCheck = drisl.Raw(o.data), o.cid, true
					} else {
						w.Record = o.value
					}
				}
				writes[pub] = w
				pub++
				if o.receipt != nil {
					act := repo.ActionCreate
					if o.receiptExists {
						act = repo.ActionUpdate
					}
					writes[rcpt] = repo.Write{Action: act, Collection: NSIDReceipt,
						RKey: o.receiptKey(), Record: o.receipt.raw, RecordCID: o.receipt.cid, InsecureSkipRecordCheck: true}
					rcpt++
				}
				continue
			}
			ed := newTrees[o.audience]
			if ed == nil {
				t, err := c.treeFor(o.audience)
				if err != nil {
					return nil, nil, err
				}
				ed = t.Edit()
				newTrees[o.audience] = ed
			}
			if o.action == repo.ActionDelete {
				if _, err := ed.Delete(ctx, o.path()); err != nil {
					return nil, nil, err
				}
			} else {
				privBlocks = append(privBlocks, repo.Block{CID: o.cid, Data: o.data})
				if _, err := ed.Put(ctx, o.path(), o.cid); err != nil {
					return nil, nil, err
				}
			}
			if o.receipt != nil {
				privBlocks = append(privBlocks, repo.Block{CID: o.receipt.cid, Data: o.receipt.data})
				if _, err := ed.Put(ctx, o.receiptPath(), o.receipt.cid); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	var roots []newRoot
	for name, ed := range newTrees {
		c.mu.RLock()
		a := c.audiences[name]
		base := a.tree
		c.mu.RUnlock()
		t := ed.Tree()
		root, err := t.Root(ctx)
		if err != nil {
			return nil, nil, err
		}
		nodes, err := t.NewBlocks(ctx, base)
		if err != nil {
			return nil, nil, err
		}
		for _, b := range nodes {
			privBlocks = append(privBlocks, repo.Block{CID: b.CID, Data: b.Data})
		}
		roots = append(roots, newRoot{a, t, root})
		// The anchor is written too: callers' prechecks of it are stale.
		paths[pathKey{"", NSIDAudience + "/" + name}] = true
		writes = append(writes, repo.Write{Action: repo.ActionUpdate, Collection: NSIDAudience, RKey: name,
			Record: &audienceRecord{Type: NSIDAudience, Name: name, Root: root, Readers: a.readers, UpdatedAt: now}})
	}
	if len(privBlocks) > 0 {
		if err := c.host.private.PutPrivateBlocks(ctx, c.did, privBlocks); err != nil {
			return nil, nil, err
		}
	}
	return writes, roots, nil
}

// flight counts a caller between the start of Invoke and the moment its
// request is queued (or refused), so that the writer knows whether more
// requests are about to arrive.
type flight struct {
	c    *Community
	done atomic.Bool
}

type flightKey struct{}

func (c *Community) takeOff(ctx context.Context) (context.Context, *flight) {
	c.inflight.Add(1)
	f := &flight{c: c}
	return context.WithValue(ctx, flightKey{}, f), f
}

func (f *flight) land() {
	if f.done.CompareAndSwap(false, true) {
		f.c.inflight.Add(-1)
	}
}

func landed(ctx context.Context) {
	if f, ok := ctx.Value(flightKey{}).(*flight); ok {
		f.land()
	}
}

// has reports whether a record exists in t (the public MST or an
// audience's): one descent through nodes that are mostly cached, since the
// commit that follows edits the same paths, without the SHA-256 of path
// that Get computes (mst.Tree.Has).
func (c *Community) has(ctx context.Context, t *mst.Tree, path string) (bool, error) {
	return t.Has(ctx, path)
}
