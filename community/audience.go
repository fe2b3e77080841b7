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
// community did whose signing key is key: the commit's signature, the
// public proof of the anchor, and the whole private tree under the anchor's
// root (every node and record present and hashing to its CID). It returns
// the verified view.
func VerifyAudienceCAR(ctx context.Context, rd io.Reader, did string, key atcrypto.PublicKey, audience string) (*AudienceView, error) {
	bad := func(cause error, detail string) error {
		return &Error{Kind: ErrBadBundle, Index: -1, Detail: detail, Err: cause}
	}
	if rd == nil || key == nil {
		return nil, bad(nil, "no CAR or no key")
	}
	cr, err := repo.NewCARReader(rd, repo.CAROptions{})
	if err != nil {
		return nil, bad(err, "CAR")
	}
	if len(cr.Roots) != 1 {
		return nil, bad(nil, "CAR must have one root")
	}
	var mem mst.MemBlocks
	var blocks []repo.Block
	for {
		x, data, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bad(err, "CAR")
		}
		_ = mem.PutBlock(ctx, x, data)
		blocks = append(blocks, repo.Block{CID: x, Data: data})
	}
	cb, err := mem.GetBlock(ctx, cr.Roots[0])
	if err != nil {
		return nil, bad(err, "commit block")
	}
	commit, err := repo.DecodeCommit(cb)
	if err != nil {
		return nil, bad(err, "commit")
	}
	if commit.DID != did {
		return nil, bad(nil, "commit of another repository")
	}
	if err := commit.VerifySignature(key); err != nil {
		return nil, bad(err, "commit signature")
	}
	pub := mst.Options{}.Load(&mem, commit.Data)
	ac, ok, err := pub.Get(ctx, NSIDAudience+"/"+audience)
	if err != nil || !ok {
		return nil, bad(err, "anchor not proved")
	}
	ab, err := mem.GetBlock(ctx, ac)
	if err != nil {
		return nil, bad(err, "anchor record")
	}
	var a audienceRecord
	if err := drisl.Unmarshal(ab, &a); err != nil || a.Name != audience {
		return nil, bad(err, "anchor record")
	}
	v := &AudienceView{DID: did, Audience: audience, Commit: cr.Roots[0], Root: a.Root, Blocks: blocks}
	priv := mst.Options{}.Load(&mem, a.Root)
	err = priv.Walk(ctx, func(k string, val cid.Cid) error {
		data, err := mem.GetBlock(ctx, val)
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
