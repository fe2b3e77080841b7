package community

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/mst"
	"github.com/townhall-dev/townhall/repo"
)

// AudienceView is what a reader of an audience receives: the signed head
// commit, the public MST nodes proving the audience's anchor record, the
// anchor, and every block of the private tree (nodes, records, receipts,
// invocations), so that the chain commit -> public MST -> anchor -> private
// MST -> record verifies (VerifyAudienceCAR after WriteCAR).
type AudienceView struct {
	DID      string
	Audience string
	Commit   cid.Cid
	Root     cid.Cid // the private tree's root, from the anchor
	// Records are the audience's records (receipts and invocations excluded),
	// in key order.
	Records []repo.Record
	// Blocks are the commit, the public proof nodes, the anchor and the
	// private tree's blocks.
	Blocks []repo.Block
}

// ReadAudience executes an /audience/read invocation (args {audience}): the
// invoker's chain must cover /audience/read with a policy admitting the
// audience (moderators hold "/").
func (c *Community) ReadAudience(ctx context.Context, req *Request) (*AudienceView, error) {
	if req == nil {
		return nil, errf(ErrBadRequest, -1, nil, "no request")
	}
	inv, _, err := c.authorize(ctx, req.Invocation, req.Proofs)
	if err != nil {
		return nil, err
	}
	if inv.Command != CmdRead {
		return nil, errf(ErrBadRequest, -1, nil, "command %q is not %s", inv.Command, CmdRead)
	}
	if err := onlyKeys(inv, "audience"); err != nil {
		return nil, err
	}
	name, err := argString(inv, "audience", true)
	if err != nil {
		return nil, err
	}
	return c.audienceView(ctx, name)
}

func (c *Community) audienceView(ctx context.Context, name string) (*AudienceView, error) {
	head := c.repo.Head()
	store := c.repo.Store()
	v := &AudienceView{DID: c.did, Audience: name, Commit: head.Commit}
	seen := map[cid.Cid]bool{}
	add := func(x cid.Cid, data []byte) {
		if !seen[x] {
			seen[x] = true
			v.Blocks = append(v.Blocks, repo.Block{CID: x, Data: data})
		}
	}
	cb, err := store.GetBlock(ctx, c.did, head.Commit)
	if err != nil {
		return nil, err
	}
	add(head.Commit, cb)
	pub := c.repo.Tree().LoadRoot(head.Data)
	key := NSIDAudience + "/" + name
	nodes, err := pub.Prove(ctx, key)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		add(n.CID, n.Data)
	}
	ac, ok, err := pub.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errf(ErrNoAudience, -1, nil, "%q", name)
	}
	ab, err := store.GetBlock(ctx, c.did, ac)
	if err != nil {
		return nil, err
	}
	add(ac, ab)
	var a audienceRecord
	if err := drisl.Unmarshal(ab, &a); err != nil {
		return nil, err
	}
	v.Root = a.Root
	src := privateSource{c.host.private, c.did}
	priv := mst.Options{}.Load(src, a.Root)
	all, err := priv.NewBlocks(ctx, nil)
	if err != nil {
		return nil, err
	}
	for _, n := range all {
		add(n.CID, n.Data)
	}
	err = priv.Walk(ctx, func(k string, val cid.Cid) error {
		data, err := src.GetBlock(ctx, val)
		if err != nil {
			return err
		}
		add(val, data)
		if strings.HasPrefix(k, NSIDReceipt+"/") || strings.HasPrefix(k, NSIDInvocation+"/") {
			return nil
		}
		coll, rkey, _ := strings.Cut(k, "/")
		v.Records = append(v.Records, repo.Record{Collection: coll, RKey: rkey, CID: val, Value: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// WriteCAR writes the view as a CAR rooted at the commit: a member's backup
// of an audience, accepted by VerifyAudienceCAR and Host.Migrate.
func (v *AudienceView) WriteCAR(w io.Writer) error {
	cw, err := repo.NewCARWriter(w, v.Commit)
	if err != nil {
		return err
	}
	for _, b := range v.Blocks {
		if err := cw.WriteBlock(b.CID, b.Data); err != nil {
			return err
		}
	}
	return nil
}

// PrivateBundle builds the authorship bundle of a private record for a
// reader of its audience (req is an /audience/read invocation).
func (c *Community) PrivateBundle(ctx context.Context, req *Request, collection, rkey string) (*Bundle, error) {
	if req == nil {
		return nil, errf(ErrBadRequest, -1, nil, "no request")
	}
	inv, _, err := c.authorize(ctx, req.Invocation, req.Proofs)
	if err != nil {
		return nil, err
	}
	name, err := argString(inv, "audience", true)
	if err != nil || inv.Command != CmdRead {
		return nil, errf(ErrBadRequest, -1, err, "an /audience/read invocation is required")
	}
	return c.bundle(ctx, name, collection+"/"+rkey)
}

// VerifyAudienceCAR checks an audience CAR (AudienceView.WriteCAR) of the
// community did: the commit is did's and is signed by opts.Key (then
// opts.DID, if set, must be did) or by the signing key of opts.Document
// (which must be did's document; giving both Key and Document is an
// error, as in VerifyBundle), the public proof of the
// anchor, and the whole private tree under the anchor's root (every node and
// record present and hashing to its CID). It returns the verified view. The
// CAR is held in memory: one larger than opts.MaxBytes (default
// DefaultMaxMigrationBytes, the bound Migrate applies) is refused with
// ErrRecordTooLarge before it is parsed; every other failure wraps
// ErrBadBundle. opts.AuditLog is not used.
func VerifyAudienceCAR(ctx context.Context, rd io.Reader, did, audience string, opts VerifyOptions) (*AudienceView, error) {
	if opts.DID == "" {
		opts.DID = did // did is the DID the caller vouches for
	}
	key, err := opts.verifyKey(did)
	if err != nil {
		return nil, err
	}
	car, err := readAudienceCAR(ctx, rd, did, key, opts.MaxBytes)
	if err != nil {
		return nil, err
	}
	return car.view(ctx, audience)
}

// audienceCAR is an audience CAR read into memory whose commit verified.
type audienceCAR struct {
	did    string
	root   cid.Cid
	commit *repo.Commit
	mem    mst.MemBlocks
	blocks []repo.Block
}

// readAudienceCAR reads at most max bytes (DefaultMaxMigrationBytes if max
// <= 0) of an audience CAR, parses it once and checks its commit: did's,
// signed by key. A nil rd is refused.
func readAudienceCAR(ctx context.Context, rd io.Reader, did string, key atcrypto.PublicKey, max int64) (*audienceCAR, error) {
	bad := func(cause error, detail string) error {
		return &Error{Kind: ErrBadBundle, Index: -1, Detail: detail, Err: cause}
	}
	if rd == nil {
		return nil, bad(nil, "no CAR")
	}
	if max <= 0 {
		max = DefaultMaxMigrationBytes
	}
	data, err := io.ReadAll(io.LimitReader(rd, max+1))
	if err != nil {
		return nil, bad(err, "reading the CAR")
	}
	if int64(len(data)) > max {
		return nil, errf(ErrRecordTooLarge, -1, nil, "audience CAR larger than %d bytes", max)
	}
	cr, err := repo.NewCARReaderBytes(data, repo.CAROptions{MaxCARBytes: max})
	if err != nil {
		return nil, bad(err, "CAR")
	}
	if len(cr.Roots) != 1 {
		return nil, bad(nil, "CAR must have one root")
	}
	a := &audienceCAR{did: did, root: cr.Roots[0]}
	for {
		x, data, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bad(err, "CAR")
		}
		_ = a.mem.PutBlock(ctx, x, data)
		a.blocks = append(a.blocks, repo.Block{CID: x, Data: data})
	}
	cb, err := a.mem.GetBlock(ctx, a.root)
	if err != nil {
		return nil, bad(err, "commit block")
	}
	if a.commit, err = repo.DecodeCommit(cb); err != nil {
		return nil, bad(err, "commit")
	}
	if a.commit.DID != did {
		return nil, bad(nil, "commit of another repository")
	}
	if err := a.commit.VerifySignature(key); err != nil {
		return nil, bad(err, "commit signature")
	}
	return a, nil
}

// view checks the anchor of audience under the commit and the whole private
// tree under the anchor's root, and returns the verified view.
func (a *audienceCAR) view(ctx context.Context, audience string) (*AudienceView, error) {
	bad := func(cause error, detail string) error {
		return &Error{Kind: ErrBadBundle, Index: -1, Detail: detail, Err: cause}
	}
	pub := mst.Options{}.Load(&a.mem, a.commit.Data)
	ac, ok, err := pub.Get(ctx, NSIDAudience+"/"+audience)
	if err != nil || !ok {
		return nil, bad(err, "anchor not proved")
	}
	ab, err := a.mem.GetBlock(ctx, ac)
	if err != nil {
		return nil, bad(err, "anchor record")
	}
	var anchor audienceRecord
	if err := drisl.Unmarshal(ab, &anchor); err != nil || anchor.Name != audience {
		return nil, bad(err, "anchor record")
	}
	v := &AudienceView{DID: a.did, Audience: audience, Commit: a.root, Root: anchor.Root, Blocks: a.blocks}
	priv := mst.Options{}.Load(&a.mem, anchor.Root)
	err = priv.Walk(ctx, func(k string, val cid.Cid) error {
		data, err := a.mem.GetBlock(ctx, val)
		if err != nil {
			return err
		}
		if strings.HasPrefix(k, NSIDReceipt+"/") || strings.HasPrefix(k, NSIDInvocation+"/") {
			return nil
		}
		coll, rkey, _ := strings.Cut(k, "/")
		v.Records = append(v.Records, repo.Record{Collection: coll, RKey: rkey, CID: val, Value: data})
		return nil
	})
	if err != nil {
		return nil, bad(err, "private tree")
	}
	return v, nil
}
