package community

import (
	"context"
	"regexp"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/mst"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// moderateDelete deletes any member's record (public or private).
func (c *Community) moderateDelete(ctx context.Context, inv *ucan.Invocation, member string) (*Result, error) {
	if err := onlyKeys(inv, "collection", "rkey", "audience", "reason"); err != nil {
		return nil, err
	}
	args := map[string]any{}
	for k, v := range inv.Args {
		if k != "reason" {
			args[k] = v
		}
	}
	w, err := parseWrite(args, repo.ActionDelete, -1, nil, "")
	if err != nil {
		return nil, err
	}
	if _, err := argString(inv, "reason", false); err != nil {
		return nil, err
	}
	if w.collection == NSIDReceipt || w.collection == NSIDAudience || w.collection == NSIDInvocation {
		return nil, errf(ErrReservedCollection, -1, nil, "%s records are deleted with the records they serve", w.collection)
	}
	if w.audience != "" {
		if _, err := c.treeFor(w.audience); err != nil {
			return nil, err
		}
	}
	rb, iop, err := c.evidence(inv, member, w.audience)
	if err != nil {
		return nil, err
	}
	o := op{action: repo.ActionDelete, collection: w.collection, rkey: w.rkey, audience: w.audience, receipt: rb}
	return c.submit(ctx, &request{ops: []op{o, iop}, member: member, proofs: inv.Proofs, moderate: true})
}

// revoke records the revocation of a delegation recorded in the community.
func (c *Community) revoke(ctx context.Context, inv *ucan.Invocation, member string) (*Result, error) {
	if err := onlyKeys(inv, "delegation", "reason"); err != nil {
		return nil, err
	}
	d, ok := inv.Args["delegation"].(cid.Cid)
	if !ok {
		return nil, errf(ErrBadRequest, -1, nil, "argument \"delegation\" is not a link")
	}
	reason, err := argString(inv, "reason", false)
	if err != nil {
		return nil, err
	}
	c.mu.RLock()
	_, known := c.grants[d]
	c.mu.RUnlock()
	if !known {
		return nil, errf(ErrBadRequest, -1, nil, "delegation %s is not a grant of this community", d)
	}
	rb, iop, err := c.evidence(inv, member, "")
	if err != nil {
		return nil, err
	}
	now := timestamp(c.host.now())
	o := c.revocationOp(inv, d, reason, now, rb)
	return c.submit(ctx, &request{ops: []op{o, iop}, member: member, proofs: inv.Proofs,
		after: func() { _ = c.revoked.AddRevocation(context.Background(), d, inv.CID()) }})
}

func (c *Community) revocationOp(inv *ucan.Invocation, d cid.Cid, reason, now string, rb *receiptBlock) op {
	rec := &revocationRecord{Type: NSIDRevocation, Delegation: d, Invocation: inv.Bytes(), Reason: reason, CreatedAt: now}
	return op{action: repo.ActionCreate, collection: NSIDRevocation, rkey: d.String(), value: rec, receipt: rb}
}

// ban records a ban and revokes every grant held by the member's session
// keys; later joins of the member are refused.
func (c *Community) ban(ctx context.Context, inv *ucan.Invocation, member string) (*Result, error) {
	if err := onlyKeys(inv, "member", "reason"); err != nil {
		return nil, err
	}
	target, err := argString(inv, "member", true)
	if err != nil {
		return nil, err
	}
	if _, err := syntax.ParseDID(target); err != nil {
		return nil, errf(ErrBadRequest, -1, err, "member")
	}
	reason, err := argString(inv, "reason", false)
	if err != nil {
		return nil, err
	}
	rb, iop, err := c.evidence(inv, member, "")
	if err != nil {
		return nil, err
	}
	now := timestamp(c.host.now())
	ops := []op{iop, {action: repo.ActionCreate, collection: NSIDBan, rkey: target,
		value: &banRecord{Type: NSIDBan, Member: target, Reason: reason, CreatedAt: now}, receipt: rb}}
	var revoke []cid.Cid
	c.mu.RLock()
	for _, g := range c.sortedGrants() {
		held := g.Member == target || c.bindings[g.Audience] == target
		if !held {
			continue
		}
		if r, _ := c.revoked.IsRevoked(ctx, g.TokenCID); r {
			continue
		}
		revoke = append(revoke, g.TokenCID)
	}
	c.mu.RUnlock()
	for _, d := range revoke {
		ops = append(ops, c.revocationOp(inv, d, "ban", now, rb))
	}
	return c.submit(ctx, &request{ops: ops, member: member, proofs: inv.Proofs,
		after: func() {
			c.mu.Lock()
			c.bans[target] = true
			c.mu.Unlock()
			for _, d := range revoke {
				_ = c.revoked.AddRevocation(context.Background(), d, inv.CID())
			}
		}})
}

var audienceName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// createAudience creates an audience: an empty private tree anchored in a
// public audience record.
func (c *Community) createAudience(ctx context.Context, inv *ucan.Invocation, member string) (*Result, error) {
	if err := onlyKeys(inv, "name", "readers"); err != nil {
		return nil, err
	}
	name, err := argString(inv, "name", true)
	if err != nil {
		return nil, err
	}
	if !audienceName.MatchString(name) {
		return nil, errf(ErrBadRequest, -1, nil, "audience name %q: lower-case letters, digits and '-', at most 64", name)
	}
	var readers []string
	if v, ok := inv.Args["readers"]; ok {
		list, ok := v.([]any)
		if !ok || len(list) > 64 {
			return nil, errf(ErrBadRequest, -1, nil, "readers is not a list of at most 64 role names")
		}
		for _, e := range list {
			s, ok := e.(string)
			if !ok || len(s) > 64 {
				return nil, errf(ErrBadRequest, -1, nil, "readers holds a non-string or a long name")
			}
			readers = append(readers, s)
		}
	}
	empty := mst.Empty(nil)
	root, err := empty.Root(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := empty.NewBlocks(ctx, nil)
	if err != nil {
		return nil, err
	}
	blocks := make([]repo.Block, len(nodes))
	for i, n := range nodes {
		blocks[i] = repo.Block{CID: n.CID, Data: n.Data}
	}
	if err := c.host.private.PutPrivateBlocks(ctx, c.did, blocks); err != nil {
		return nil, err
	}
	rb, iop, err := c.evidence(inv, member, "")
	if err != nil {
		return nil, err
	}
	rec := &audienceRecord{Type: NSIDAudience, Name: name, Root: root, Readers: readers, UpdatedAt: timestamp(c.host.now())}
	o := op{action: repo.ActionCreate, collection: NSIDAudience, rkey: name, value: rec, receipt: rb}
	src := privateSource{c.host.private, c.did}
	return c.submit(ctx, &request{ops: []op{o, iop}, member: member, proofs: inv.Proofs,
		after: func() {
			c.mu.Lock()
			c.audiences[name] = &audience{name: name, root: root, readers: readers, tree: mst.Options{}.Load(src, root)}
			c.mu.Unlock()
		}})
}

// RevokeUCAN executes a standard UCAN revocation (/ucan/revoke, see package
// ucan): any issuer in a delegation's chain may revoke it, whether or not
// they hold a moderation capability (a moderator who invited a member can
// withdraw the invitation). The revocation is recorded like the others.
func (c *Community) RevokeUCAN(ctx context.Context, token []byte, attached ...[]byte) (*Result, error) {
	rv, err := c.validator.ValidateRevocation(ctx, token, attached...)
	if err != nil {
		return nil, &Error{Kind: ErrUnauthorized, Index: -1, Err: err}
	}
	if rv.Invocation.Subject != c.did {
		return nil, errf(ErrUnauthorized, -1, nil, "revocation for another subject")
	}
	c.mu.RLock()
	_, known := c.grants[rv.Delegation]
	c.mu.RUnlock()
	if !known {
		return nil, errf(ErrBadRequest, -1, nil, "delegation %s is not a grant of this community", rv.Delegation)
	}
	author := c.did
	if m, ok := c.memberOf(rv.Revoker); ok {
		author = m
	}
	rb, iop, err := c.evidence(rv.Invocation, author, "")
	if err != nil {
		return nil, err
	}
	o := c.revocationOp(rv.Invocation, rv.Delegation, "", timestamp(c.host.now()), rb)
	return c.submit(ctx, &request{ops: []op{o, iop}, proofs: nil,
		after: func() { _ = c.revoked.AddRevocation(context.Background(), rv.Delegation, rv.Invocation.CID()) }})
}
