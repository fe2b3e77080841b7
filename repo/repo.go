package repo

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/internal/recordkey"
	"github.com/townhall-dev/townhall/mst"
)

// Options configures Create and Open. The zero value means the defaults.
type Options struct {
	// Now gives the time for revs, TIDs and event times; nil means
	// time.Now. A reading no TID can carry (before 1970, after mid-2255)
	// fails the write with ErrClockRange.
	Now func() time.Time
	// ClockID is the 10-bit clock identifier in the TIDs this repository
	// issues (default 0).
	ClockID uint
	// CacheNodes bounds the decoded MST nodes kept in memory (default
	// mst.DefaultCacheNodes).
	CacheNodes int
	// MaxConflictRetries bounds how often Apply rebuilds a commit when
	// another writer of the same store landed first (default 8). Writes that
	// state a SwapCommit are never retried.
	MaxConflictRetries int
}

// Repo is one hosted repository. Its methods are safe for concurrent use:
// writes are serialised, so concurrent callers never lose updates, and the
// store's compare-and-swap on the head catches writers in other processes.
type Repo struct {
	store Store
	src   *storeSource
	did   string
	key   atcrypto.PrivateKey // nil: read-only
	pub   atcrypto.PublicKey
	clock *tidClock
	now   func() time.Time
	opts  Options

	mu   sync.Mutex // serialises writes; guards the fields below
	head Head       // the last commit stored
	tree *mst.Tree  // head's tree
	// Commits of ApplyAsync not stored yet: last is the latest (nil when
	// none is in flight); tip is the one the next commit builds on (nil:
	// head), with its head and tree.
	last    *Pending
	tip     *Pending
	tipHead Head
	tipTree *mst.Tree
}

// storeSource adapts a Store to mst.BlockSource for one repository. It
// also serves the tree nodes of commits ApplyAsync built and the store has
// not written yet: the trees built on them read those nodes by CID.
type storeSource struct {
	s   Store
	did string

	mu      sync.Mutex
	pending map[string][]byte // CID key -> node block, of unstored commits
}

func (b *storeSource) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	b.mu.Lock()
	data, ok := b.pending[c.KeyString()] // an empty map's lookup is cheap
	b.mu.Unlock()
	if ok {
		return data, nil
	}
	data, err := b.s.GetBlock(ctx, b.did, c)
	if errors.Is(err, ErrBlockNotFound) {
		return nil, fmt.Errorf("%w: %w", mst.ErrNotFound, err)
	}
	return data, err
}

// addPending serves bs until dropPending.
func (b *storeSource) addPending(bs []Block) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending == nil {
		b.pending = make(map[string][]byte, len(bs))
	}
	for _, x := range bs {
		b.pending[x.CID.KeyString()] = x.Data
	}
}

// dropPending stops serving bs (stored now, or never to be).
func (b *storeSource) dropPending(bs []Block) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, x := range bs {
		delete(b.pending, x.CID.KeyString())
	}
}

func newRepo(s Store, did string, key atcrypto.PrivateKey, opts Options) (*Repo, error) {
	if _, err := syntax.ParseDID(did); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidWrite, err)
	}
	if opts.MaxConflictRetries <= 0 {
		opts.MaxConflictRetries = 8
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	r := &Repo{store: s, src: &storeSource{s: s, did: did}, did: did, key: key, clock: newTIDClock(now, opts.ClockID), now: now, opts: opts}
	if key != nil {
		pub, err := key.PublicKey()
		if err != nil {
			return nil, err
		}
		r.pub = pub
	}
	return r, nil
}

func (r *Repo) load(h Head) {
	r.head = h
	if r.tree != nil {
		r.tree = r.tree.LoadRoot(h.Data) // keeps the node cache
	} else {
		r.tree = mst.Options{CacheNodes: r.opts.CacheNodes}.Load(r.src, h.Data)
	}
	if t, err := syntax.ParseTID(h.Rev); err == nil {
		r.clock.observe(t)
	}
}

// Create makes a new, empty repository for did in s, signed with key (P-256
// or K-256), with a first commit over the empty tree. It fails with
// ErrRepoExists if s already holds did.
func Create(ctx context.Context, s Store, did string, key atcrypto.PrivateKey, opts Options) (*Repo, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: Create needs a signing key", ErrInvalidWrite)
	}
	r, err := newRepo(s, did, key, opts)
	if err != nil {
		return nil, err
	}
	r.tree = mst.Options{CacheNodes: opts.CacheNodes}.Empty(r.src)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.commitLocked(ctx, nil, cid.Undef, true); err != nil {
		return nil, err
	}
	return r, nil
}

// Open opens the repository for did in s. key may be nil for a read-only
// handle; writes then fail.
func Open(ctx context.Context, s Store, did string, key atcrypto.PrivateKey, opts Options) (*Repo, error) {
	r, err := newRepo(s, did, key, opts)
	if err != nil {
		return nil, err
	}
	h, err := s.Head(ctx, did)
	if err != nil {
		return nil, err
	}
	r.load(h)
	return r, nil
}

// DID returns the repository's DID.
func (r *Repo) DID() string { return r.did }

// Store returns the store the repository lives in.
func (r *Repo) Store() Store { return r.store }

// Head returns the head as of the last commit this handle made or saw.
func (r *Repo) Head() Head {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.head
}

// Tree returns the MST of the head as of the last commit this handle made or
// saw. It is immutable.
func (r *Repo) Tree() *mst.Tree {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tree
}

// Action is what a Write does.
type Action string

// The write actions of com.atproto.repo.applyWrites.
const (
	ActionCreate Action = "create"
	ActionUpdate Action = "update"
	ActionDelete Action = "delete"
)

// Write is one record operation of a batch.
type Write struct {
	Action     Action
	Collection string // an NSID
	// RKey is the record key. Empty on create means a new TID.
	RKey string
	// Record is the record value for create and update: any value package
	// drisl encodes to a map (a struct, map[string]any, or drisl.Raw).
	Record any
	// RecordCID, if defined, is the CID of a record the caller has already
	// encoded: Record must then be a drisl.Raw of its bytes. Apply still
	// checks that the bytes are one strict DRISL map and that RecordCID is
	// their dag-cbor sha2-256 CID (it re-hashes them: a wrong CID would store
	// a block no verifier accepts), but does not copy them: the repository
	// keeps the slice (MemStore stores it as it is), so the caller must not
	// modify it afterwards.
	RecordCID cid.Cid
	// InsecureSkipRecordCheck, with RecordCID, weakens Apply's checks: it
	// says the caller has itself checked, in this process, the pre-encoded
	// bytes it passes (and that nothing can modify them until Apply
	// returns): they are one strict DRISL item (drisl.Unmarshal or
	// drisl.Validate accepted them, or drisl.Marshal produced them) and
	// RecordCID is their dag-cbor sha2-256 CID (drisl.SumCID or
	// drisl.MarshalCID computed it from them). Apply then neither
	// re-validates nor re-hashes them; it still checks that Record is a
	// drisl.Raw, that RecordCID is a CIDv1 dag-cbor sha2-256 CID and that
	// the bytes begin a map. Package community sets it for the records
	// Community.Invoke has hashed and decoded (its own copy) before its writer commits
	// them, and for the receipts it encodes. Never set it for bytes that
	// were not checked so (from the network, a file, another process): a
	// wrong CID would store a block no verifier accepts.
	InsecureSkipRecordCheck bool
	// SwapRecord, if set on update or delete, is the CID the record must
	// have now; otherwise the batch fails with ErrSwapRecord.
	SwapRecord *cid.Cid
}

// ApplyOptions configures one Apply call. The zero value means none.
type ApplyOptions struct {
	// SwapCommit, if defined, is the commit the batch must build on; if the
	// head is another commit, Apply fails with ErrSwapCommit and changes
	// nothing.
	SwapCommit cid.Cid
}

// WriteResult is the outcome of one Write.
type WriteResult struct {
	Collection string
	RKey       string
	CID        cid.Cid // new record CID; undefined for a delete
}

// CommitResult describes the commit a batch became.
type CommitResult struct {
	Commit  cid.Cid
	Rev     string
	Data    cid.Cid // MST root
	Seq     int64   // sequence number of the event
	Results []WriteResult
	// Event is the #commit event, or nil when the commit was too large for
	// one (more than MaxEventOps ops or MaxEventBlocksBytes of blocks) and
	// Sync, a #sync event, announces it instead.
	Event *CommitEvent
	Sync  *SyncEvent
}

// Limits of one #commit event (com.atproto.sync.subscribeRepos#commit).
const (
	MaxEventOps         = 200
	MaxEventBlocksBytes = 2_000_000
)

// Apply turns a batch of writes into one signed commit, atomically: either
// every write lands in one new commit, or the store is unchanged.
func (r *Repo) Apply(ctx context.Context, writes []Write, opts ApplyOptions) (*CommitResult, error) {
	if err := r.writable(writes); err != nil {
		return nil, err
	}
	r.settle()
	defer r.mu.Unlock()
	return r.commitLocked(ctx, writes, opts.SwapCommit, false)
}

// writable checks that r can commit writes: it has a signing key, and
// there is at least one write.
func (r *Repo) writable(writes []Write) error {
	if r.key == nil {
		return fmt.Errorf("%w: repository opened without a signing key", ErrInvalidWrite)
	}
	if len(writes) == 0 {
		return fmt.Errorf("%w: empty batch", ErrInvalidWrite)
	}
	return nil
}

// catchUp reloads r from the store's head if another handle or process
// wrote since r last did, and returns that head. r.mu is held.
func (r *Repo) catchUp(ctx context.Context) (Head, error) {
	h, err := r.store.Head(ctx, r.did)
	if err != nil {
		return Head{}, err
	}
	if h.Commit != r.head.Commit {
		r.load(h)
	}
	return h, nil
}

// prepared is a write after validation and encoding. w points into the
// batch Apply was given (read only: a large group commit is a few
// thousand writes, so no copy of each); rkey is its record key (a new
// TID if w creates a record without one).
type prepared struct {
	w    *Write
	rkey string
	path string
	data []byte
	cid  cid.Cid
}

func (r *Repo) prepare(writes []Write) ([]prepared, error) {
	out := make([]prepared, len(writes))
	// First the checks that need no encoding, in order, up to the first
	// write that fails one; then the records before it are encoded (in
	// parallel for a large batch), so that the error reported is still
	// the first failing write's.
	okColl := ""
	n, verr := len(writes), error(nil)
	for i := range writes {
		p := &out[i]
		p.w = &writes[i]
		if p.rkey, p.path, verr = r.check(i, p.w, &okColl); verr != nil {
			n = i
			break
		}
	}
	// A path that appears twice fails the batch at its second write, if no
	// write before that failed. Generated record keys are TIDs from a
	// strictly increasing clock, so a batch needs the check only if it
	// names keys.
	for _, w := range writes[:n] {
		if w.RKey != "" || w.Action != ActionCreate {
			if i := firstRepeat(out[:n]); i >= 0 {
				n, verr = i, fmt.Errorf("%w: write %d: %s appears twice in the batch", ErrInvalidWrite, i, out[i].path)
			}
			break
		}
	}
	if err := encodeRecords(out[:n]); err != nil {
		return nil, err
	}
	if verr != nil {
		return nil, verr
	}
	return out, nil
}

// firstRepeat returns the index of the first write of ps whose path an
// earlier write has too, or -1 if the paths are distinct. A batch is
// usually a few runs of increasing keys of one collection over disjoint
// ranges (package community's group commits: each request's records and
// its invocation record, then their receipts), which proves the paths
// distinct without a set of them.
func firstRepeat(ps []prepared) int {
	type span struct{ lo, hi string }
	var buf [32]span
	spans := buf[:0]
	start := 0
	for i := 1; i <= len(ps) && len(spans) <= len(ps)/4; i++ {
		if i == len(ps) || ps[i].path <= ps[i-1].path || ps[i].w.Collection != ps[i-1].w.Collection {
			spans = append(spans, span{ps[start].path, ps[i-1].path})
			start = i
		}
	}
	if start == len(ps) {
		slices.SortFunc(spans, func(a, b span) int { return strings.Compare(a.lo, b.lo) })
		disjoint := true
		for i := 1; i < len(spans) && disjoint; i++ {
			disjoint = spans[i-1].hi < spans[i].lo
		}
		if disjoint {
			return -1
		}
	}
	seen := make(map[string]struct{}, len(ps))
	for i := range ps {
		if _, ok := seen[ps[i].path]; ok {
			return i
		}
		seen[ps[i].path] = struct{}{}
	}
	return -1
}

// check validates write i (the checks that need no encoding) and returns
// its record key (a new TID if it creates a record without one) and its
// path. okColl is the last collection found valid.
func (r *Repo) check(i int, w *Write, okColl *string) (rkey, path string, err error) {
	if w.Collection != *okColl {
		if _, err := syntax.ParseNSID(w.Collection); err != nil {
			return "", "", fmt.Errorf("%w: write %d: collection: %w", ErrInvalidWrite, i, err)
		}
		*okColl = w.Collection
	}
	rkey = w.RKey
	generated := false
	switch w.Action {
	case ActionCreate:
		if rkey == "" {
			tid, err := r.clock.next()
			if err != nil {
				return "", "", fmt.Errorf("write %d: record key: %w", i, err)
			}
			rkey = tid.String()
			generated = true
		}
	case ActionUpdate, ActionDelete:
	default:
		return "", "", fmt.Errorf("%w: write %d: action %q", ErrInvalidWrite, i, w.Action)
	}
	if !generated {
		if err := recordkey.Check(rkey); err != nil {
			return "", "", fmt.Errorf("%w: write %d: %w", ErrInvalidWrite, i, err)
		}
	}
	path = w.Collection + "/" + rkey
	if err := mst.ValidateKey(path); err != nil {
		return "", "", fmt.Errorf("%w: write %d: %w", ErrInvalidWrite, i, err)
	}
	return rkey, path, nil
}

// parallelRecords is the smallest batch whose records encodeRecords
// encodes and hashes on more than one goroutine (below it, starting them
// costs more than it saves).
const parallelRecords = 64

// encodeRecords encodes and hashes the records of ps (all but deletes),
// splitting a large batch into one contiguous part per processor
// (GOMAXPROCS). The error is the first failing write's.
func encodeRecords(ps []prepared) error {
	workers := min(runtime.GOMAXPROCS(0), len(ps)/(parallelRecords/2))
	if len(ps) < parallelRecords || workers < 2 {
		return encodeRange(ps, 0)
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	per := (len(ps) + workers - 1) / workers
	for k := 1; k < workers; k++ {
		lo, hi := min(k*per, len(ps)), min((k+1)*per, len(ps))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = encodeRange(ps[lo:hi], lo)
		}()
	}
	errs[0] = encodeRange(ps[:min(per, len(ps))], 0)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// encodeRange encodes the records of ps, whose first is write base of the
// batch, and stops at the first that fails.
func encodeRange(ps []prepared, base int) error {
	var lastRaw []byte
	var lastCID cid.Cid
	var lastSkipped bool // lastRaw was taken on InsecureSkipRecordCheck's word
	for j := range ps {
		p := &ps[j]
		w := p.w
		if w.Action == ActionDelete {
			continue
		}
		var data []byte
		var c cid.Cid
		var err error
		if w.RecordCID.Defined() {
			// Writes often share one pre-encoded block (community
			// receipts of a request are one slice): checked once.
			// A block taken on InsecureSkipRecordCheck's word covers only
			// writes that say the same.
			if raw, ok := w.Record.(drisl.Raw); ok && w.RecordCID == lastCID && sameSlice(raw, lastRaw) &&
				(!lastSkipped || w.InsecureSkipRecordCheck) {
				data, c = lastRaw, lastCID
			} else if data, c, err = preEncoded(w.Record, w.RecordCID, w.InsecureSkipRecordCheck); err == nil {
				lastRaw, lastCID, lastSkipped = data, c, w.InsecureSkipRecordCheck
			}
		} else {
			data, c, err = drisl.MarshalCID(w.Record)
		}
		if err != nil {
			return fmt.Errorf("%w: write %d: %w", ErrInvalidWrite, base+j, err)
		}
		if len(data) == 0 || data[0]>>5 != 5 {
			return fmt.Errorf("%w: write %d: a record must be a map", ErrInvalidWrite, base+j)
		}
		p.data, p.cid = data, c
	}
	return nil
}

// sameSlice reports whether a and b are the same bytes in memory.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && unsafe.SliceData(a) == unsafe.SliceData(b)
}

// preEncoded checks a pre-encoded record (Write.RecordCID): strict DRISL
// bytes whose dag-cbor sha2-256 digest is the one c names. If checked
// (Write.InsecureSkipRecordCheck), the caller has validated and hashed the bytes
// already: only the form of c is checked.
func preEncoded(record any, c cid.Cid, checked bool) ([]byte, cid.Cid, error) {
	raw, ok := record.(drisl.Raw)
	if !ok {
		return nil, cid.Undef, fmt.Errorf("a record with RecordCID must be a drisl.Raw, not %T", record)
	}
	if !checked {
		if err := drisl.Validate(raw); err != nil {
			return nil, cid.Undef, err
		}
	}
	// A CIDv1 dag-cbor sha2-256 CID is 01 71 12 20 and the 32-byte digest.
	k := c.KeyString()
	if len(k) != 36 || k[0] != 0x01 || k[1] != drisl.CodecDagCBOR || k[2] != drisl.HashSHA256 || k[3] != 32 {
		return nil, cid.Undef, fmt.Errorf("%w: %s is not CIDv1 dag-cbor sha2-256", ErrRecordCID, c)
	}
	if checked {
		return raw, c, nil
	}
	sum := sha256.Sum256(raw)
	if string(sum[:]) != k[4:] {
		return nil, cid.Undef, ErrRecordCID
	}
	return raw, c, nil
}

// treeIndexedStore is a Store whose record index is the tree at the head
// (SQLiteStore): it ignores StoreWrite.Records, so Apply leaves them out.
type treeIndexedStore interface {
	recordIndexIsTree()
}

// pipelinedStore is a Store whose Apply can begin, and write the first
// blocks, before the rest of the write is known (SQLiteStore).
type pipelinedStore interface {
	startApply(ctx context.Context, did string, expect cid.Cid, first []Block) *applyPipe
}

// commitLocked builds, signs and stores one commit. With create set it
// makes the first commit of a new repository (writes is empty).
func (r *Repo) commitLocked(ctx context.Context, writes []Write, swap cid.Cid, create bool) (*CommitResult, error) {
	preps, err := r.prepare(writes)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if !create {
			h, err := r.catchUp(ctx)
			if err != nil {
				return nil, err
			}
			if swap.Defined() && swap != h.Commit {
				return nil, fmt.Errorf("%w: head is %s", ErrSwapCommit, h.Commit)
			}
		}
		res, err := r.tryCommit(ctx, preps, create)
		if errors.Is(err, ErrConflict) && !create && !swap.Defined() && attempt < r.opts.MaxConflictRetries {
			continue
		}
		if errors.Is(err, ErrConflict) && swap.Defined() {
			return nil, fmt.Errorf("%w: %w", ErrSwapCommit, err)
		}
		return res, err
	}
}

func (r *Repo) tryCommit(ctx context.Context, preps []prepared, create bool) (*CommitResult, error) {
	b, err := r.build(ctx, preps, create, r.head, r.tree, true)
	if err != nil {
		return nil, err
	}
	var seq int64
	if b.pipe != nil {
		seq, err = b.pipe.finish(b.w)
	} else {
		seq, err = r.store.Apply(ctx, r.did, b.w)
	}
	if err != nil {
		return nil, err
	}
	return r.landed(ctx, b, seq), nil
}

// built is a commit that build made and nothing has stored yet.
type built struct {
	w    *StoreWrite
	tree *mst.Tree // the tree of w.Head, with its new nodes in memory
	res  *CommitResult
	pipe *applyPipe // the store's transaction, begun with the records; or nil
	// nodes are the new tree nodes among w.Blocks.
	nodes []Block
}

// build makes the commit of preps on top of head, whose tree is base:
// the tree, the signed commit, the blocks and the event to store. With
// early set, a store that can begins its transaction and writes the
// records while the rest is built (the caller then owns built.pipe).
func (r *Repo) build(ctx context.Context, preps []prepared, create bool, head Head, base *mst.Tree, early bool) (_ *built, err error) {
	ed := base.Edit()
	// A commit with more ops than a #commit event may carry is announced
	// with a #sync event instead (sync 1.1 replaced tooBig with #sync), so
	// it needs neither the event's ops nor the inversion's.
	asSync := len(preps) > MaxEventOps
	var ops []EventOp
	if !asSync {
		ops = make([]EventOp, 0, len(preps))
	}
	results := make([]WriteResult, 0, len(preps))
	w := &StoreWrite{Expect: head.Commit}
	// Blocks to store: new records, new nodes, the commit. Consecutive
	// writes of one block (community receipts) store it once.
	w.Blocks = make([]Block, 0, len(preps)+len(preps)/2+16)
	for _, p := range preps {
		if n := len(w.Blocks); p.w.Action != ActionDelete && (n == 0 || w.Blocks[n-1].CID != p.cid) {
			w.Blocks = append(w.Blocks, Block{CID: p.cid, Data: p.data})
		}
	}
	// A store that can begins its transaction and writes the records
	// while the tree and the commit are built here.
	var pipe *applyPipe
	if ps, ok := r.store.(pipelinedStore); ok && early && !create && len(w.Blocks) >= parallelRecords {
		pipe = ps.startApply(ctx, r.did, w.Expect, w.Blocks[:len(w.Blocks):len(w.Blocks)])
		defer func() {
			if err != nil {
				pipe.abort()
			}
		}()
	}
	// A store whose record index is the head's tree never reads the
	// index changes: they are not built for it.
	_, treeIndexed := r.store.(treeIndexedStore)
	if !treeIndexed {
		w.Records = make([]RecordEntry, 0, len(preps))
	}
	// Every change in one Editor.Apply (the keys' layers hashed in one
	// batch), then each write's checks in order: the first write that
	// fails one, or whose change failed, fails the batch, and the edited
	// tree is dropped with it. A create is one descent instead of Get then
	// Put: a record that exists fails the batch.
	mops := make([]mst.Op, len(preps)) // the tree's changes, one per write
	for i := range preps {
		p := &preps[i]
		mops[i].Key = p.path
		if p.w.Action != ActionDelete {
			mops[i].New = p.cid
		}
	}
	applied, aerr := ed.Apply(ctx, mops)
	for i := range preps[:applied] {
		p := &preps[i]
		prev := mops[i].Old
		switch {
		case p.w.Action == ActionCreate && prev.Defined():
			return nil, fmt.Errorf("%w: %s (%s)", ErrRecordExists, p.path, prev)
		case p.w.Action != ActionCreate && !prev.Defined():
			return nil, fmt.Errorf("%w: %s", ErrRecordNotFound, p.path)
		}
		if p.w.SwapRecord != nil && *p.w.SwapRecord != prev {
			return nil, fmt.Errorf("%w: %s is %s", ErrSwapRecord, p.path, prev)
		}
		entry := RecordEntry{Collection: p.w.Collection, RKey: p.rkey}
		if p.w.Action != ActionDelete {
			entry.CID = p.cid
		}
		if !asSync {
			op := EventOp{Action: p.w.Action, Path: p.path}
			if entry.CID.Defined() {
				c := entry.CID
				op.CID = &c
			}
			if prev.Defined() {
				pc := prev
				op.Prev = &pc
			}
			ops = append(ops, op)
		}
		if !treeIndexed {
			w.Records = append(w.Records, entry)
		}
		results = append(results, WriteResult{Collection: p.w.Collection, RKey: p.rkey, CID: entry.CID})
	}
	if aerr != nil {
		return nil, aerr
	}
	tree := ed.Tree()
	root, err := tree.Root(ctx)
	if err != nil {
		return nil, err
	}
	var baseForBlocks *mst.Tree
	if !create {
		baseForBlocks = base
	}
	nodes, err := tree.NewBlocks(ctx, baseForBlocks)
	if err != nil {
		return nil, err
	}
	var inv []mst.Block
	if len(mops) > 0 && !asSync {
		if inv, err = mst.InversionBlocks(ctx, tree, mops); err != nil {
			return nil, err
		}
	}

	tid, err := r.clock.next()
	if err != nil {
		return nil, fmt.Errorf("rev: %w", err)
	}
	rev := tid.String()
	commit := Commit{DID: r.did, Version: Version, Data: root, Rev: rev}
	if err := commit.Sign(r.key); err != nil {
		return nil, err
	}
	cdata, ccid, err := commit.Encode()
	if err != nil {
		return nil, err
	}

	nodesFrom := len(w.Blocks)
	for _, n := range nodes {
		w.Blocks = append(w.Blocks, Block{CID: n.CID, Data: n.Data})
	}
	w.Blocks = append(w.Blocks, Block{CID: ccid, Data: cdata})
	w.Head = Head{DID: r.did, Commit: ccid, Rev: rev, Data: root}

	var ev *CommitEvent
	var sev *SyncEvent
	evTime := r.now().UTC().Format("2006-01-02T15:04:05.000Z")
	if !asSync {
		// The #commit event carries the commit, the new records and nodes,
		// and the inversion blocks, each once.
		evBlocks := make([]Block, 0, len(w.Blocks)+len(inv))
		evBlocks = append(evBlocks, Block{CID: ccid, Data: cdata})
		have := make(map[cid.Cid]bool, len(w.Blocks)+len(inv))
		have[ccid] = true
		for _, b := range w.Blocks[:len(w.Blocks)-1] {
			if !have[b.CID] {
				have[b.CID] = true
				evBlocks = append(evBlocks, b)
			}
		}
		for _, b := range inv {
			if !have[b.CID] {
				have[b.CID] = true
				evBlocks = append(evBlocks, Block{CID: b.CID, Data: b.Data})
			}
		}
		car, err := carBytes(ccid, evBlocks)
		if err != nil {
			return nil, err
		}
		if len(car) > MaxEventBlocksBytes {
			asSync = true
		} else {
			ev = &CommitEvent{Repo: r.did, Commit: ccid, Rev: rev, Blocks: car, Ops: ops, Blobs: []cid.Cid{}, Time: evTime}
			if !create {
				since := head.Rev
				ev.Since = &since
				pd := head.Data
				ev.PrevData = &pd
			}
			evData, err := drisl.Marshal(ev)
			if err != nil {
				return nil, err
			}
			w.Events = []StoredEvent{{Kind: KindCommit, Data: evData}}
		}
	}
	if asSync {
		car, err := carBytes(ccid, []Block{{CID: ccid, Data: cdata}})
		if err != nil {
			return nil, err
		}
		sev = &SyncEvent{DID: r.did, Blocks: car, Rev: rev, Time: evTime}
		evData, err := drisl.Marshal(sev)
		if err != nil {
			return nil, err
		}
		w.Events = []StoredEvent{{Kind: KindSync, Data: evData}}
	}
	if create {
		w.Expect = cid.Undef
	}
	return &built{w: w, tree: tree, pipe: pipe, nodes: w.Blocks[nodesFrom : len(w.Blocks)-1],
		res: &CommitResult{Commit: ccid, Rev: rev, Data: root, Results: results, Event: ev, Sync: sev}}, nil
}

// landed makes b, stored with event sequence number seq, the head, and
// returns its result. r.mu is held.
func (r *Repo) landed(ctx context.Context, b *built, seq int64) *CommitResult {
	res := b.res
	res.Seq = seq
	if res.Event != nil {
		res.Event.Seq = seq
	} else {
		res.Sync.Seq = seq
	}
	r.head = b.w.Head
	// Continue from the stored tree rather than from b.tree, whose
	// in-memory nodes would grow with every commit: Stored moves them into
	// the node cache the next commit reads through (no re-reading or
	// re-decoding).
	var err error
	if r.tree, err = b.tree.Stored(ctx); err != nil {
		r.tree = b.tree.LoadRoot(res.Data) // unreachable: the root was hashed in build
	}
	return res
}
