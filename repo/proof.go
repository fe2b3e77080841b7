package repo

import (
	"bufio"
	"context"
	"errors"
	"io"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/mst"
)

// ProveRecord writes the CAR that com.atproto.sync.getRecord returns: rooted
// at the head commit, holding the commit block, the MST nodes on the path to
// the record's key, and the record block if the record exists (otherwise the
// nodes prove its absence).
func (r *Repo) ProveRecord(ctx context.Context, w io.Writer, collection, rkey string) error {
	h, tree, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	key := collection + "/" + rkey
	path, err := tree.Prove(ctx, key)
	if err != nil {
		return err
	}
	val, found, err := tree.Get(ctx, key)
	if err != nil {
		return err
	}
	cdata, err := r.store.GetBlock(ctx, r.did, h.Commit)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	cw, err := NewCARWriter(bw, h.Commit)
	if err != nil {
		return err
	}
	if err := cw.WriteBlock(h.Commit, cdata); err != nil {
		return err
	}
	for _, b := range path {
		if err := cw.WriteBlock(b.CID, b.Data); err != nil {
			return err
		}
	}
	if found {
		data, err := r.store.GetBlock(ctx, r.did, val)
		if err != nil {
			return err
		}
		if err := cw.WriteBlock(val, data); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// VerifyRecordProof checks a getRecord CAR: the root is a commit of did
// signed by key, the MST nodes prove the record's key under the commit's
// data root, and the record block matches. It returns the record's CID and
// bytes, or an error wrapping ErrRecordNotFound when the CAR proves the
// record absent. Failures wrap ErrBadProof, ErrWrongRoot, ErrBadCommit,
// ErrBadSignature, ErrBadMST, ErrMissingBlock or a CAR error.
func VerifyRecordProof(ctx context.Context, rd io.Reader, did string, key atcrypto.PublicKey, collection, rkey string) (cid.Cid, []byte, error) {
	if key == nil {
		return cid.Undef, nil, verr(ErrBadSignature, cid.Undef, "no public key", nil)
	}
	root, blocks, err := readCAR(rd, CAROptions{MaxCARBytes: 8 << 20, MaxBlocks: 4096})
	if err != nil {
		return cid.Undef, nil, err
	}
	cdata, ok := blocks[root]
	if !ok {
		return cid.Undef, nil, verr(ErrWrongRoot, root, "root block is not in the CAR", nil)
	}
	commit, err := DecodeCommit(cdata)
	if err != nil {
		return cid.Undef, nil, err
	}
	if commit.DID != did {
		return cid.Undef, nil, verr(ErrBadCommit, root, "commit is for "+commit.DID, nil)
	}
	if err := commit.VerifySignature(key); err != nil {
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
