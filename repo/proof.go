package repo

import (
	"bufio"
	"context"
	"errors"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/mst"
)

// Proved is what ProveRecord wrote a proof of: the head commit the CAR is
// rooted at, and the record's CID there (cid.Undef: the CAR proves the
// record absent from that commit).
type Proved struct {
	Head   Head
	Record cid.Cid
}

// ProveRecord writes the CAR that com.atproto.sync.getRecord returns: rooted
// at the head commit, holding the commit block, the MST nodes on the path to
// the record's key, and the record block if the record exists (otherwise the
// nodes prove its absence). It reports which commit that is and whether the
// record exists there: a commit made meanwhile does not change the answer,
// as a second lookup could.
func (r *Repo) ProveRecord(ctx context.Context, w io.Writer, collection, rkey string) (Proved, error) {
	h, tree, err := r.snapshot(ctx)
	if err != nil {
		return Proved{}, err
	}
	key := collection + "/" + rkey
	path, err := tree.Prove(ctx, key)
	if err != nil {
		return Proved{}, err
	}
	val, found, err := tree.Get(ctx, key)
	if err != nil {
		return Proved{}, err
	}
	cdata, err := r.store.GetBlock(ctx, r.did, h.Commit)
	if err != nil {
		return Proved{}, err
	}
	bw := bufio.NewWriter(w)
	cw, err := NewCARWriter(bw, h.Commit)
	if err != nil {
		return Proved{}, err
	}
	if err := cw.WriteBlock(h.Commit, cdata); err != nil {
		return Proved{}, err
	}
	for _, b := range path {
		if err := cw.WriteBlock(b.CID, b.Data); err != nil {
			return Proved{}, err
		}
	}
	p := Proved{Head: h}
	if found {
		data, err := r.store.GetBlock(ctx, r.did, val)
		if err != nil {
			return Proved{}, err
		}
		if err := cw.WriteBlock(val, data); err != nil {
			return Proved{}, err
		}
		p.Record = val
	}
	return p, bw.Flush()
}

// Bounds of a record proof CAR where VerifyOptions.CAR leaves them zero: a
// getRecord CAR holds one commit, one MST path and one record.
const (
	proofMaxCARBytes = 8 << 20
	proofMaxBlocks   = 4096
)

// VerifyRecordProof checks a getRecord CAR for the record collection/rkey:
// the root is a commit of opts.DID signed by opts.Key (both required, as for
// VerifyCAR; the root must be opts.Commit if that is defined), the MST nodes
// prove the record's key under the commit's data root, and the record block
// matches. opts.CAR bounds the input; its zero MaxCARBytes and MaxBlocks
// mean 8 MiB and 4,096 blocks here (a proof is small), its other zero fields
// the CAROptions defaults. It returns the record's CID and bytes, or an
// error wrapping ErrRecordNotFound when the CAR proves the record absent.
// Failures wrap ErrBadProof, ErrWrongRoot, ErrBadCommit, ErrBadSignature,
// ErrBadMST, ErrMissingBlock or a CAR error.
func VerifyRecordProof(ctx context.Context, rd io.Reader, collection, rkey string, opts VerifyOptions) (cid.Cid, []byte, error) {
	if err := opts.checkRequired(); err != nil {
		return cid.Undef, nil, err
	}
	bounds := opts.CAR
	if bounds.MaxCARBytes <= 0 {
		bounds.MaxCARBytes = proofMaxCARBytes
	}
	if bounds.MaxBlocks <= 0 {
		bounds.MaxBlocks = proofMaxBlocks
	}
	root, blocks, err := readCAR(rd, bounds)
	if err != nil {
		return cid.Undef, nil, err
	}
	commit, err := opts.rootCommit(root, blocks, false) // readCAR checked every hash
	if err != nil {
		return cid.Undef, nil, err
	}
	val, found, err := mst.Load(blocks, commit.Data).Get(ctx, collection+"/"+rkey)
	if err != nil {
		if errors.Is(err, mst.ErrInvalidKey) {
			return cid.Undef, nil, verr(ErrBadProof, cid.Undef, "bad key", err)
		}
		return cid.Undef, nil, mstErr(err, "proof path")
	}
	if !found {
		return cid.Undef, nil, verr(ErrRecordNotFound, cid.Undef, "proven absent", nil)
	}
	data, ok := blocks[val]
	if !ok {
		return cid.Undef, nil, verr(ErrBadProof, val, "record block missing", nil)
	}
	return val, data, nil
}
