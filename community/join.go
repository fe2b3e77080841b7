package community

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// The lexicon methods (lxm) service-auth JWTs must name.
const (
	LXMCreate = "dev.townhall.community.create"
	LXMJoin   = "dev.townhall.community.join"
)

// Role is a named set of capabilities. Members of a role receive, at join,
// a "/repo" delegation whose policy allows the role's collections (exact
// NSIDs or patterns with '*') in public and in the role's audiences, and an
// "/audience/read" delegation for those audiences. A moderator role receives
// "/" instead: every command.
type Role struct {
	Name        string
	Collections []string
	Audiences   []string
	Moderator   bool
}

// JoinRequest is what a member presents to join (or a founder to Create).
type JoinRequest struct {
	// ServiceAuth is a service-auth JWT from the member's PDS: iss the
	// member's DID, aud the community's DID (the host's ServiceDID for
	// Create), lxm LXMJoin (LXMCreate).
	ServiceAuth string
	// Proof is a /community/join invocation signed by the session key
	// (NewJoinProof): it names the member and the JWT, proving that the
	// holder of the session key asks for the binding.
	Proof []byte
	// Invite is a /community/invite invocation of a moderator carrying the
	// delegations to the session key (Session.Invite). Without it, the
	// community must have an open-join role.
	Invite *Request
}

// CreateOptions describes a new community.
type CreateOptions struct {
	Name        string
	Description string
	Handle      string
	// RecoveryKeys are the founders' did:plc recovery keys (did:key),
	// highest priority first; they outrank the host's rotation key.
	RecoveryKeys []string
	// Founders receive root delegations ("/") from the community.
	Founders []JoinRequest
	// Roles are written as role records.
	Roles []Role
	// JoinRole, if set, names the role anyone may join with, without an
	// invitation.
	JoinRole string
}

// Create makes a community: the did:plc genesis (rotation keys: the
// recovery keys, then the host's; the host's signing key; the host's
// endpoint) submitted to the directory, the repository, and a first commit
// holding the profile, the roles, the founders' bindings and their root
// delegations (as grant records). A founder's service-auth JWT is spent:
// the host refuses it (ErrServiceAuth) in a later Create, as long as the
// host runs (see the package doc's Limits).
func (h *Host) Create(ctx context.Context, opts CreateOptions) (_ *Community, err error) {
	if h.opts.RotationKey == nil {
		return nil, errf(ErrBadRequest, -1, nil, "host has no rotation key")
	}
	if len(opts.RecoveryKeys) == 0 || len(opts.Founders) == 0 {
		return nil, errf(ErrBadRequest, -1, nil, "a community needs a recovery key and a founder")
	}
	type founder struct {
		member, key, jwt string
		proof            []byte
	}
	var founders []founder
	var spent [][32]byte
	defer func() {
		if err != nil {
			for _, k := range spent {
				h.createJWTs.release(k)
			}
		}
	}()
	for i, f := range opts.Founders {
		m, k, err := h.verifyJoin(ctx, f, h.opts.ServiceDID, LXMCreate, "")
		if err != nil {
			return nil, fmt.Errorf("founder %d: %w", i, err)
		}
		jk := jwtKey(f.ServiceAuth)
		if !h.createJWTs.claim(jk) {
			return nil, fmt.Errorf("founder %d: %w", i, errJWTUsed())
		}
		spent = append(spent, jk)
		founders = append(founders, founder{m, k, f.ServiceAuth, f.Proof})
	}
	roles := map[string]Role{}
	for _, r := range opts.Roles {
		if !audienceName.MatchString(r.Name) {
			return nil, errf(ErrBadRequest, -1, nil, "role name %q", r.Name)
		}
		if len(roleDelegations(r, "")) == 0 {
			return nil, errf(ErrBadRequest, -1, nil, "role %q grants nothing", r.Name)
		}
		roles[r.Name] = r
	}
	if opts.JoinRole != "" {
		if _, ok := roles[opts.JoinRole]; !ok {
			return nil, errf(ErrBadRequest, -1, nil, "join role %q is not defined", opts.JoinRole)
		}
	}
	rot, err := h.opts.RotationKey.PublicKey()
	if err != nil {
		return nil, err
	}
	gop, did, err := plc.NewGenesis(plc.GenesisOptions{RecoveryKeys: opts.RecoveryKeys, HostRotationKey: rot.DIDKey(),
		SigningKey: h.pubKey.DIDKey(), Endpoint: h.opts.Endpoint, Handle: opts.Handle}, h.opts.RotationKey)
	if err != nil {
		return nil, err
	}
	if err := h.opts.PLC.Submit(ctx, did, gop); err != nil {
		return nil, fmt.Errorf("community: submitting the genesis operation: %w", err)
	}
	r, err := repo.Create(ctx, h.opts.Store, did, h.opts.SigningKey, h.repoOptions())
	if err != nil {
		return nil, err
	}
	c, err := h.start(ctx, r)
	if err != nil {
		return nil, err
	}
	now := timestamp(h.now())
	prof := &profileRecord{Type: NSIDProfile, Name: opts.Name, Description: opts.Description, JoinRole: opts.JoinRole, CreatedAt: now}
	ops := []op{}
	for _, role := range opts.Roles {
		rr := &roleRecord{Type: NSIDRole, Name: role.Name, Collections: role.Collections, Audiences: role.Audiences,
			Moderator: role.Moderator, CreatedAt: now}
		for _, s := range roleDelegations(role, did) {
			rr.Commands = append(rr.Commands, s.cmd)
		}
		ops = append(ops, op{action: repo.ActionCreate, collection: NSIDRole, rkey: role.Name, value: rr})
	}
	var grants []*grantRecord
	for _, f := range founders {
		prof.Founders = append(prof.Founders, f.member)
		ops = append(ops, op{action: repo.ActionCreate, collection: NSIDBinding, rkey: f.key,
			value: &bindingRecord{Type: NSIDBinding, Member: f.member, SessionKey: f.key, ServiceAuth: f.jwt, Proof: f.proof, CreatedAt: now}})
		d, err := ucan.NewDelegation(h.signer.WithDID(did), ucan.DelegationFields{Audience: f.key, Subject: did,
			Command: "/", NoExpiration: true, Meta: map[string]any{"role": "founder"}})
		if err != nil {
			return nil, err
		}
		g := grantOf(d, f.member, "founder", now)
		grants = append(grants, g)
		ops = append(ops, op{action: repo.ActionCreate, collection: NSIDGrant, rkey: d.CID().String(), value: g})
	}
	ops = append([]op{{action: repo.ActionCreate, collection: NSIDProfile, rkey: "self", value: prof}}, ops...)
	_, err = c.submit(ctx, &request{ops: ops, after: func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, f := range founders {
			c.bindings[f.key] = f.member
		}
		for _, g := range grants {
			c.addGrant(g)
		}
		c.roles = roles
		c.joinRole = opts.JoinRole
	}})
	if err != nil {
		c.stop()
		return nil, err
	}
	h.mu.Lock()
	h.open[did] = c
	h.mu.Unlock()
	return c, nil
}

func grantOf(d *ucan.Delegation, member, role, now string) *grantRecord {
	g := &grantRecord{Type: NSIDGrant, Token: d.Bytes(), TokenCID: d.CID(), Issuer: d.Issuer, Audience: d.Audience,
		Subject: d.Subject, Member: member, Command: d.Command, Role: role, CreatedAt: now}
	if d.Expiration != nil {
		g.ExpiresAt = timestamp(time.Unix(*d.Expiration, 0))
	}
	return g
}

type delegationSpec struct {
	cmd    string
	policy ucan.Policy
}

// roleDelegations returns the delegations a role's members receive.
func roleDelegations(r Role, did string) []delegationSpec {
	if r.Moderator {
		return []delegationSpec{{cmd: "/"}}
	}
	var out []delegationSpec
	if len(r.Collections) > 0 {
		var colls []any
		for _, c := range r.Collections {
			if strings.Contains(c, "*") {
				colls = append(colls, []any{"like", ".collection", c})
			} else {
				colls = append(colls, []any{"==", ".collection", c})
			}
		}
		auds := []any{[]any{"==", ".audience", nil}}
		for _, a := range r.Audiences {
			auds = append(auds, []any{"==", ".audience", a})
		}
		elem := []any{"and", []any{[]any{"or", colls}, []any{"or", auds}}}
		pol, err := ucan.ParsePolicy([]any{[]any{"or", []any{elem, []any{"all", ".writes", elem}}}})
		if err == nil {
			out = append(out, delegationSpec{cmd: "/repo", policy: pol})
		}
	}
	if len(r.Audiences) > 0 {
		var auds []any
		for _, a := range r.Audiences {
			auds = append(auds, []any{"==", ".audience", a})
		}
		pol, err := ucan.ParsePolicy([]any{[]any{"or", auds}})
		if err == nil {
			out = append(out, delegationSpec{cmd: CmdRead, policy: pol})
		}
	}
	return out
}

// verifyJoin checks a service-auth JWT (with indigo's atproto/auth, and
// its lifetime) and the session key's join proof, and returns the member's
// DID and the session key. subject is the community's DID ("" for Create:
// the proof is then self-issued). Whether the JWT was already spent is the
// caller's check.
func (h *Host) verifyJoin(ctx context.Context, jr JoinRequest, aud, lxm, subject string) (string, string, error) {
	if h.opts.Identity == nil {
		return "", "", errf(ErrServiceAuth, -1, nil, "host has no identity directory")
	}
	if aud == "" {
		return "", "", errf(ErrServiceAuth, -1, nil, "no audience to check the JWT against (HostOptions.ServiceDID)")
	}
	nsid := syntax.NSID(lxm)
	v := auth.ServiceAuthValidator{Audience: aud, Dir: h.opts.Identity}
	member, err := v.Validate(ctx, jr.ServiceAuth, &nsid)
	if err != nil {
		return "", "", &Error{Kind: ErrServiceAuth, Index: -1, Detail: "JWT", Err: err}
	}
	if err := checkJWTLifetime(jr.ServiceAuth, h.limits.MaxInvocationTTL); err != nil {
		return "", "", err
	}
	inv, err := ucan.ParseInvocation(jr.Proof)
	if err != nil {
		return "", "", &Error{Kind: ErrServiceAuth, Index: -1, Detail: "join proof", Err: err}
	}
	key, err := ucan.ParseDIDKey(inv.Issuer)
	if err != nil {
		return "", "", &Error{Kind: ErrServiceAuth, Index: -1, Detail: "session key must be a did:key", Err: err}
	}
	if err := key.Verify(inv.SignedBytes(), inv.Signature); err != nil {
		return "", "", &Error{Kind: ErrServiceAuth, Index: -1, Detail: "join proof signature", Err: err}
	}
	wantSub := subject
	if wantSub == "" {
		wantSub = inv.Issuer
	}
	if inv.Command != CmdJoin || inv.Subject != wantSub {
		return "", "", errf(ErrServiceAuth, -1, nil, "join proof is not %s for %s", CmdJoin, wantSub)
	}
	if m, _ := inv.Args["member"].(string); m != member.String() {
		return "", "", errf(ErrServiceAuth, -1, nil, "join proof names %q, the JWT %s", m, member)
	}
	if j, _ := inv.Args["serviceAuth"].(string); j != jr.ServiceAuth {
		return "", "", errf(ErrServiceAuth, -1, nil, "join proof names another JWT")
	}
	now := h.now()
	if inv.Expiration == nil || time.Unix(*inv.Expiration, 0).Before(now) {
		return "", "", errf(ErrServiceAuth, -1, nil, "join proof expired or without exp")
	}
	if ttl := h.limits.MaxInvocationTTL; time.Unix(*inv.Expiration, 0).After(now.Add(ttl)) {
		return "", "", errf(ErrServiceAuth, -1, nil, "join proof lifetime exceeds %s", ttl)
	}
	return member.String(), inv.Issuer, nil
}

// Join binds a member's atproto DID to a session key and records the
// delegations to that key: those of a moderator's invitation, or, without
// one, the community's join role delegated by the community itself. It
// returns the membership the member's client invokes with.
//
// A service-auth JWT binds one session key, once: the binding record that
// publishes it spends it, and Join refuses a spent JWT (ErrServiceAuth),
// also after a restart (the spent set is rebuilt from the binding records)
// and when two joins present it at once (the writer admits one).
func (c *Community) Join(ctx context.Context, jr JoinRequest) (*Membership, error) {
	member, key, err := c.host.verifyJoin(ctx, jr, c.did, LXMJoin, c.did)
	if err != nil {
		return nil, err
	}
	jk := jwtKey(jr.ServiceAuth)
	if c.jwts.has(jk) {
		return nil, errJWTUsed()
	}
	if c.isBanned(member) {
		return nil, errf(ErrBanned, -1, nil, "%s", member)
	}
	if _, bound := c.memberOf(key); bound {
		return nil, errf(ErrBadRequest, -1, nil, "session key %s is already bound", key)
	}
	now := timestamp(c.host.now())
	var grants []*grantRecord
	var inviter string
	var invProofs []cid.Cid
	var invInv *ucan.Invocation
	if jr.Invite != nil {
		inv, by, err := c.authorize(ctx, jr.Invite.Invocation, jr.Invite.Proofs)
		if err != nil {
			return nil, err
		}
		if inv.Command != CmdInvite {
			return nil, errf(ErrBadRequest, -1, nil, "invitation command is %q", inv.Command)
		}
		ds, err := c.checkInvite(inv, jr.Invite.Proofs, member, key)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			grants = append(grants, grantOf(d, member, "", now))
		}
		inviter, invProofs, invInv = by, inv.Proofs, inv
	} else {
		c.mu.RLock()
		role, ok := c.roles[c.joinRole]
		c.mu.RUnlock()
		if c.joinRole == "" || !ok {
			return nil, errf(ErrUnauthorized, -1, nil, "this community joins by invitation only")
		}
		for _, s := range roleDelegations(role, c.did) {
			d, err := ucan.NewDelegation(c.host.signer.WithDID(c.did), ucan.DelegationFields{Audience: key, Subject: c.did,
				Command: s.cmd, Policy: s.policy, NoExpiration: true, Meta: map[string]any{"role": role.Name}})
			if err != nil {
				return nil, err
			}
			grants = append(grants, grantOf(d, member, role.Name, now))
		}
	}
	ops := []op{{action: repo.ActionCreate, collection: NSIDBinding, rkey: key,
		value: &bindingRecord{Type: NSIDBinding, Member: member, SessionKey: key, ServiceAuth: jr.ServiceAuth, Proof: jr.Proof, CreatedAt: now}}}
	var rb *receiptBlock
	if invInv != nil {
		var iop op
		if rb, iop, err = c.evidence(invInv, inviter, ""); err != nil {
			return nil, err
		}
		ops = append(ops, iop)
	}
	for _, g := range grants {
		ops = append(ops, op{action: repo.ActionCreate, collection: NSIDGrant, rkey: g.TokenCID.String(), value: g, receipt: rb})
	}
	// The writer claims the JWT when it admits the request; a request
	// refused after that (or a failed commit) gives it back.
	claimed := false
	_, err = c.submit(ctx, &request{ops: ops, member: inviter, proofs: invProofs, check: func() error {
		if c.isBanned(member) {
			return errf(ErrBanned, -1, nil, "%s", member)
		}
		if !c.jwts.claim(jk) {
			return errJWTUsed()
		}
		claimed = true
		return nil
	}, after: func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.bindings[key] = member
		for _, g := range grants {
			c.addGrant(g)
		}
	}})
	if err != nil {
		if claimed {
			c.jwts.release(jk)
		}
		return nil, err
	}
	return c.Membership(ctx, key)
}

// usedJWTs is a set of spent service-auth JWTs, by jwtKey. Its zero value
// is empty; it is safe for concurrent use.
type usedJWTs struct {
	mu sync.Mutex
	m  map[[32]byte]struct{}
}

func (u *usedJWTs) has(k [32]byte) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.m[k]
	return ok
}

// claim adds k and reports whether it was absent.
func (u *usedJWTs) claim(k [32]byte) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.m[k]; ok {
		return false
	}
	if u.m == nil {
		u.m = map[[32]byte]struct{}{}
	}
	u.m[k] = struct{}{}
	return true
}

func (u *usedJWTs) release(k [32]byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.m, k)
}

// jwtKey names a JWT by the SHA-256 of its signing input (header.payload):
// the signature is left out because its encoding (base64url's unused
// trailing bits) and, for ECDSA, its value (s or n-s) can be changed
// without the key, giving another string that still verifies.
func jwtKey(tok string) [32]byte {
	if i := strings.LastIndexByte(tok, '.'); i >= 0 {
		tok = tok[:i]
	}
	return sha256.Sum256([]byte(tok))
}

func errJWTUsed() error {
	return errf(ErrServiceAuth, -1, nil, "JWT already used for a binding (a service-auth JWT binds one session key once)")
}

// checkJWTLifetime refuses a JWT (already validated by indigo) without iat
// or whose exp - iat exceeds max.
func checkJWTLifetime(tok string, max time.Duration) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errf(ErrServiceAuth, -1, nil, "JWT has %d parts, not 3", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return &Error{Kind: ErrServiceAuth, Index: -1, Detail: "JWT payload", Err: err}
	}
	var claims struct {
		Exp *float64 `json:"exp"`
		Iat *float64 `json:"iat"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return &Error{Kind: ErrServiceAuth, Index: -1, Detail: "JWT payload", Err: err}
	}
	if claims.Exp == nil || claims.Iat == nil {
		return errf(ErrServiceAuth, -1, nil, "JWT without exp or iat")
	}
	if life := *claims.Exp - *claims.Iat; life > max.Seconds() {
		return errf(ErrServiceAuth, -1, nil, "JWT lifetime (exp - iat) %gs exceeds %s", life, max)
	}
	return nil
}

// checkInvite checks the delegations an invitation carries: each is named
// in args.grants, attached, signed by the inviter, to the session key, for
// this community, and not expired.
func (c *Community) checkInvite(inv *ucan.Invocation, attached [][]byte, member, key string) ([]*ucan.Delegation, error) {
	if err := onlyKeys(inv, "sessionKey", "member", "grants"); err != nil {
		return nil, err
	}
	if s, _ := inv.Args["sessionKey"].(string); s != key {
		return nil, errf(ErrUnauthorized, -1, nil, "invitation is for session key %q", s)
	}
	if m, _ := inv.Args["member"].(string); m != member {
		return nil, errf(ErrUnauthorized, -1, nil, "invitation is for member %q", m)
	}
	list, ok := inv.Args["grants"].([]any)
	if !ok || len(list) == 0 || len(list) > 8 {
		return nil, errf(ErrBadRequest, -1, nil, "grants is not a list of 1 to 8 links")
	}
	byCID := map[cid.Cid]*ucan.Delegation{}
	for _, t := range attached {
		if d, err := ucan.ParseDelegation(t); err == nil {
			byCID[d.CID()] = d
		}
	}
	var out []*ucan.Delegation
	for _, e := range list {
		l, ok := e.(cid.Cid)
		if !ok {
			return nil, errf(ErrBadRequest, -1, nil, "grants holds a non-link")
		}
		d := byCID[l]
		if d == nil {
			return nil, errf(ErrBadRequest, -1, nil, "granted delegation %s is not attached", l)
		}
		if d.Issuer != inv.Issuer || d.Audience != key || d.Subject != c.did {
			return nil, errf(ErrUnauthorized, -1, nil, "granted delegation %s: issuer, audience or subject", l)
		}
		pk, err := ucan.ParseDIDKey(d.Issuer)
		if err != nil || pk.Verify(d.SignedBytes(), d.Signature) != nil {
			return nil, errf(ErrUnauthorized, -1, err, "granted delegation %s: signature", l)
		}
		if d.Expiration != nil && time.Unix(*d.Expiration, 0).Before(c.host.now()) {
			return nil, errf(ErrUnauthorized, -1, nil, "granted delegation %s expired", l)
		}
		out = append(out, d)
	}
	return out, nil
}
