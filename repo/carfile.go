package repo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/mst"
)

// blockMap is an in-memory mst.BlockSource of blocks read from a CAR.
type blockMap map[cid.Cid][]byte

func (m blockMap) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	b, ok := m[c]
	if !ok {
		return nil, fmt.Errorf("%w: %s", mst.ErrNotFound, c)
	}
	return b, nil
}

// readCAR reads a whole CAR into memory, checking every block's hash, and
// returns its single root.
func readCAR(rd io.Reader, opts CAROptions) (cid.Cid, blockMap, error) {
	cr, err := NewCARReader(rd, opts)
	if err != nil {
		return cid.Undef, nil, err
	}
	return readBlocks(cr)
}

// checkBlock returns the block c from m after checking its hash.
func (m blockMap) checkBlock(c cid.Cid) ([]byte, error) {
	data, ok := m[c]
	if !ok {
		return nil, verr(ErrMissingBlock, c, "", nil)
	}
	if drisl.SumCID(c.Prefix().Codec, data) != c {
		return nil, verr(ErrBlockHash, c, "", nil)
	}
	return data, nil
}

// oneRoot refuses (ErrWrongRoot) a CAR without exactly one root.
func (cr *CARReader) oneRoot() error {
	if len(cr.Roots) != 1 {
		return &VerifyError{Rule: ErrWrongRoot, Offset: -1, Detail: fmt.Sprintf("%d roots, want 1", len(cr.Roots))}
	}
	return nil
}

func readBlocks(cr *CARReader) (cid.Cid, blockMap, error) {
	if err := cr.oneRoot(); err != nil {
		return cid.Undef, nil, err
	}
	m := blockMap{}
	for {
		c, data, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return cid.Undef, nil, err
		}
		m[c] = data
	}
	return cr.Roots[0], m, nil
}

// mstErr classifies an error from package mst.
func mstErr(err error, what string) error {
	var ne *mst.NodeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ne) && ne.Rule == mst.RuleHash:
		return verr(ErrBlockHash, ne.CID, what, err)
	case errors.As(err, &ne):
		return verr(ErrBadMST, ne.CID, what, err)
	case errors.Is(err, mst.ErrNotFound):
		return verr(ErrMissingBlock, cid.Undef, what, err)
	case errors.Is(err, mst.ErrInvalidKey):
		return verr(ErrBadMST, cid.Undef, what, err)
	case errors.Is(err, mst.ErrProof):
		return verr(ErrPrevData, cid.Undef, what, err)
	}
	return err
}

// VerifyOptions configures VerifyCAR, Import and VerifyRecordProof.
type VerifyOptions struct {
	// Key is the repository's signing key (from its DID document). Required.
	Key atcrypto.PublicKey
	// DID is the repository the CAR must hold: the DID whose document gave
	// Key. Required: one key may sign many repositories (a community host
	// signs every community it hosts with one key), so a signature by Key
	// alone does not say which repository the CAR is.
	DID string
	// Commit, if defined, is the commit the CAR's root must be.
	Commit cid.Cid
	// Now gives the verifier's time for VerifyCAR and Import; nil means
	// time.Now for VerifyCAR and the repository's Options.Now for Import.
	// A commit whose rev is dated more than MaxClockSkew after it is
	// refused with ErrFutureRev: imported, it would make the repository's
	// clock date every later commit in the future, which every consumer
	// refuses.
	Now func() time.Time
	// MaxClockSkew is how far in the future a commit's rev may be dated:
	// zero means DefaultMaxClockSkew, a negative value disables the check
	// (archives verified long after, against another time source).
	MaxClockSkew time.Duration
	// CAR bounds the input.
	CAR CAROptions
}

// checkRequired refuses options without Key (ErrBadSignature) or without
// DID (ErrBadCommit), the two fields VerifyCAR, Import and
// VerifyRecordProof cannot do without.
func (opts *VerifyOptions) checkRequired() error {
	if opts.Key == nil {
		return verr(ErrBadSignature, cid.Undef, "VerifyOptions.Key is required", nil)
	}
	if opts.DID == "" {
		return verr(ErrBadCommit, cid.Undef, "VerifyOptions.DID is required: a key alone does not name the repository", nil)
	}
	return nil
}

// rootCommit returns the commit at root, a CAR's root block in blocks,
// after checking it against opts: root is opts.Commit if that is defined
// (ErrWrongRoot), the block is present (ErrWrongRoot) and, if checkHash,
// hashes to root (ErrBlockHash), the commit decodes, is for opts.DID
// (ErrBadCommit) and is signed by opts.Key.
func (opts *VerifyOptions) rootCommit(root cid.Cid, blocks blockMap, checkHash bool) (*Commit, error) {
	if opts.Commit.Defined() && root != opts.Commit {
		return nil, verr(ErrWrongRoot, root, "want "+opts.Commit.String(), nil)
	}
	cdata, ok := blocks[root]
	if !ok {
		return nil, verr(ErrWrongRoot, root, "root block is not in the CAR", nil)
	}
	if checkHash {
		if _, err := blocks.checkBlock(root); err != nil {
			return nil, err
		}
	}
	commit, err := DecodeCommit(cdata)
	if err != nil {
		return nil, err
	}
	if commit.DID != opts.DID {
		return nil, verr(ErrBadCommit, root, "commit is for "+commit.DID+", want "+opts.DID, nil)
	}
	if err := commit.VerifySignature(opts.Key); err != nil {
		return nil, err
	}
	return commit, nil
}

// VerifiedRepo is a fully verified repository held in memory.
type VerifiedRepo struct {
	Commit    *Commit
	CommitCID cid.Cid
	Tree      *mst.Tree
	// Records lists every record in key order.
	Records []RecordEntry
	blocks  blockMap
}

// Block returns a block of the verified repository.
func (v *VerifiedRepo) Block(c cid.Cid) ([]byte, bool) {
	b, ok := v.blocks[c]
	return b, ok
}

// VerifyCAR reads a repository CAR and verifies all of it: the hash of
// every block it uses (blocks no path reaches are ignored, and Import does
// not store them), the single root is the commit, the commit's structure, DID and
// signature, the MST is canonical and complete, and every record is present
// and valid DRISL, and the commit's rev is not dated more than
// opts.MaxClockSkew after opts.Now. Each failure is a *VerifyError
// wrapping a distinct sentinel: ErrTruncated, ErrMalformedCAR,
// ErrWrongRoot, ErrBlockHash, ErrBadCommit, ErrBadSignature, ErrFutureRev,
// ErrBadMST, ErrMissingBlock, ErrBadRecord.
// Options without Key are refused with ErrBadSignature, without DID with
// ErrBadCommit, before the CAR is read.
func VerifyCAR(ctx context.Context, rd io.Reader, opts VerifyOptions) (*VerifiedRepo, error) {
	if err := opts.checkRequired(); err != nil {
		return nil, err
	}
	cr, err := NewCARReader(rd, opts.CAR)
	if err != nil {
		return nil, err
	}
	cr.noHash = true // every block used is checked below or by package mst
	root, blocks, err := readBlocks(cr)
	if err != nil {
		return nil, err
	}
	commit, err := opts.rootCommit(root, blocks, true)
	if err != nil {
		return nil, err
	}
	if err := checkRevTime(syntax.TID(commit.Rev), opts.Now, opts.MaxClockSkew); err != nil {
		return nil, err
	}
	tree := mst.Load(blocks, commit.Data)
	v := &VerifiedRepo{Commit: commit, CommitCID: root, Tree: tree, blocks: blocks}
	err = tree.Walk(ctx, func(key string, val cid.Cid) error {
		data, err := blocks.checkBlock(val)
		if err != nil {
			return err
		}
		if err := drisl.Validate(data); err != nil {
			return verr(ErrBadRecord, val, "record "+key, err)
		}
		coll, rkey, _ := cutPath(key)
		v.Records = append(v.Records, RecordEntry{Collection: coll, RKey: rkey, CID: val})
		return nil
	})
	if err != nil {
		var ve *VerifyError
		if errors.As(err, &ve) {
			return nil, err
		}
		return nil, mstErr(err, "walking the tree")
	}
	return v, nil
}

func cutPath(key string) (string, string, bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return key, "", false
}

// Import verifies a repository CAR (as VerifyCAR) and stores it as a new
// repository in s, in one transaction, with a #sync event. It returns a
// handle that writes with key (nil for read-only). A commit dated more
// than vopts.MaxClockSkew after vopts.Now (nil: opts.Now, the clock the
// repository will date its commits with) is refused with ErrFutureRev.
func Import(ctx context.Context, s Store, rd io.Reader, key atcrypto.PrivateKey, vopts VerifyOptions, opts Options) (*Repo, error) {
	if vopts.Now == nil {
		vopts.Now = opts.Now
	}
	v, err := VerifyCAR(ctx, rd, vopts)
	if err != nil {
		return nil, err
	}
	return ImportVerified(ctx, s, v, key, opts)
}

// ImportVerified stores a repository VerifyCAR has verified as a new
// repository in s, in one transaction, with a #sync event, without
// verifying it again: Import is VerifyCAR then ImportVerified. A caller
// that has to inspect the repository before storing it (package community
// checks which key signed it, and when) verifies once and imports the
// result. The checks are the ones VerifyCAR was given (its VerifyOptions.Now
// and MaxClockSkew bound the commit's rev: pass the clock the repository
// will date its commits with, opts.Now).
func ImportVerified(ctx context.Context, s Store, v *VerifiedRepo, key atcrypto.PrivateKey, opts Options) (*Repo, error) {
	nodes, err := v.Tree.NewBlocks(ctx, nil)
	if err != nil {
		return nil, mstErr(err, "collecting nodes")
	}
	w := &StoreWrite{Head: Head{DID: v.Commit.DID, Commit: v.CommitCID, Rev: v.Commit.Rev, Data: v.Commit.Data}}
	w.Blocks = make([]Block, 0, len(nodes)+len(v.Records)+1)
	w.Blocks = append(w.Blocks, Block{CID: v.CommitCID, Data: v.blocks[v.CommitCID]})
	for _, n := range nodes {
		w.Blocks = append(w.Blocks, Block{CID: n.CID, Data: n.Data})
	}
	seenRec := make(map[cid.Cid]bool, len(v.Records))
	for _, e := range v.Records {
		if !seenRec[e.CID] {
			seenRec[e.CID] = true
			w.Blocks = append(w.Blocks, Block{CID: e.CID, Data: v.blocks[e.CID]})
		}
	}
	w.Records = v.Records
	r, err := newRepo(s, v.Commit.DID, key, opts)
	if err != nil {
		return nil, err
	}
	car, err := carBytes(v.CommitCID, []Block{{CID: v.CommitCID, Data: v.blocks[v.CommitCID]}})
	if err != nil {
		return nil, err
	}
	ev, err := drisl.Marshal(&SyncEvent{DID: v.Commit.DID, Blocks: car, Rev: v.Commit.Rev, Time: r.now().UTC().Format("2006-01-02T15:04:05.000Z")})
	if err != nil {
		return nil, err
	}
	w.Events = []StoredEvent{{Kind: KindSync, Data: ev}}
	if _, err := s.Apply(ctx, v.Commit.DID, w); err != nil {
		return nil, err
	}
	r.load(w.Head)
	return r, nil
}

// snapshot returns a consistent head and its tree.
func (r *Repo) snapshot(ctx context.Context) (Head, *mst.Tree, error) {
	h, err := r.store.Head(ctx, r.did)
	if err != nil {
		return Head{}, nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if h.Commit == r.head.Commit {
		return h, r.tree, nil
	}
	return h, mst.Options{CacheNodes: r.opts.CacheNodes}.Load(r.src, h.Data), nil
}

// Export writes the whole repository at its head as a CAR v1 stream
// (com.atproto.sync.getRepo): the commit block first, then every MST node,
// then every record, each once.
func (r *Repo) Export(ctx context.Context, w io.Writer) error {
	h, tree, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	cw, err := NewCARWriter(bw, h.Commit)
	if err != nil {
		return err
	}
	cdata, err := r.store.GetBlock(ctx, r.did, h.Commit)
	if err != nil {
		return err
	}
	if err := cw.WriteBlock(h.Commit, cdata); err != nil {
		return err
	}
	nodes, err := tree.NewBlocks(ctx, nil)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if err := cw.WriteBlock(n.CID, n.Data); err != nil {
			return err
		}
	}
	nodes = nil
	// Records: collect their CIDs from the tree, then stream them out of
	// the store in one scan instead of one lookup each.
	need := map[cid.Cid]bool{}
	if err := tree.Walk(ctx, func(key string, val cid.Cid) error {
		need[val] = true
		return nil
	}); err != nil {
		return err
	}
	err = r.store.BlocksSince(ctx, r.did, "", func(b Block) error {
		if !need[b.CID] {
			return nil
		}
		delete(need, b.CID)
		return cw.WriteBlock(b.CID, b.Data)
	})
	if err != nil {
		return err
	}
	if len(need) > 0 {
		for c := range need {
			return fmt.Errorf("%w: record %s", ErrBlockNotFound, c)
		}
	}
	return bw.Flush()
}

// ExportSince writes, as a CAR v1 stream rooted at the head commit, every
// block written by the commits after rev since (com.atproto.sync.getRepo
// with since): applied to a copy of the repository at since, it gives the
// head. since == "" exports every stored block.
func (r *Repo) ExportSince(ctx context.Context, w io.Writer, since string) error {
	h, err := r.store.Head(ctx, r.did)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	cw, err := NewCARWriter(bw, h.Commit)
	if err != nil {
		return err
	}
	err = r.store.BlocksSince(ctx, r.did, since, func(b Block) error {
		return cw.WriteBlock(b.CID, b.Data)
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}
