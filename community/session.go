package community

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// DefaultInvocationTTL is the lifetime of the invocations a Session signs.
const DefaultInvocationTTL = 2 * time.Minute

// Session is the client side of a membership: it holds the session key and
// the grants, and builds the signed requests a community executes. Nothing
// in it talks to the host; send the requests to Community.Invoke (in
// process, or through an XRPC endpoint of your own).
type Session struct {
	Membership *Membership
	Signer     ucan.Signer
	// Now is the client's clock (nil: time.Now); TTL the invocations'
	// lifetime (0: DefaultInvocationTTL).
	Now func() time.Time
	TTL time.Duration
}

// NewSession returns a session for m whose invocations signer signs. The
// signer's DID must be m.SessionKey.
func NewSession(m *Membership, signer ucan.Signer) (*Session, error) {
	if m == nil || signer.DID() != m.SessionKey {
		return nil, fmt.Errorf("community: the signer is not the membership's session key")
	}
	return &Session{Membership: m, Signer: signer}, nil
}

func (s *Session) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// NewJoinProof signs the /community/join proof a JoinRequest carries:
// signer is the new session key, communityDID the community (or "" for a
// founder's proof to Create), member the member's atproto DID and
// serviceAuth the JWT.
func NewJoinProof(signer ucan.Signer, communityDID, member, serviceAuth string, exp time.Time) ([]byte, error) {
	sub := communityDID
	if sub == "" {
		sub = signer.DID()
	}
	inv, err := ucan.NewInvocation(signer, ucan.InvocationFields{Subject: sub, Command: CmdJoin,
		Args: map[string]any{"member": member, "serviceAuth": serviceAuth}, Expiration: exp})
	if err != nil {
		return nil, err
	}
	return inv.Bytes(), nil
}

// Invoke signs an invocation of cmd with args, choosing the first grant
// whose chain covers cmd and whose policies hold on args, and attaches that
// chain.
func (s *Session) Invoke(cmd string, args map[string]any, records [][]byte) (*Request, error) {
	for _, g := range s.Membership.Grants {
		if !chainAllows(g.Chain, cmd, args) {
			continue
		}
		prf := make([]cid.Cid, len(g.Chain))
		for i, t := range g.Chain {
			prf[i] = drisl.SumCID(drisl.CodecDagCBOR, t)
		}
		ttl := s.TTL
		if ttl <= 0 {
			ttl = DefaultInvocationTTL
		}
		now := s.now()
		inv, err := ucan.NewInvocation(s.Signer, ucan.InvocationFields{Subject: s.Membership.Community, Command: cmd,
			Args: args, Proofs: prf, Expiration: now.Add(ttl), IssuedAt: now})
		if err != nil {
			return nil, err
		}
		return &Request{Invocation: inv.Bytes(), Proofs: g.Chain, Records: records}, nil
	}
	return nil, fmt.Errorf("%w: no grant of this session covers %s with these arguments", ErrUnauthorized, cmd)
}

func chainAllows(chain [][]byte, cmd string, args map[string]any) bool {
	if len(chain) == 0 {
		return false
	}
	for _, t := range chain {
		d, err := ucan.ParseDelegation(t)
		if err != nil || !ucan.CommandCovers(d.Command, cmd) || !d.Policy.Match(args) {
			return false
		}
	}
	return true
}

// Write is one record operation of Session.Batch.
type Write struct {
	Action     repo.Action
	Collection string
	RKey       string
	// Audience, if set, writes into that audience's private tree.
	Audience string
	// Record is the record value (create, update): anything drisl encodes
	// to a map. Private records must carry a "nonce" (see NewNonce).
	Record any
}

func encodeWrite(w Write) (map[string]any, []byte, error) {
	args := map[string]any{"collection": w.Collection, "rkey": w.RKey}
	if w.Audience != "" {
		args["audience"] = w.Audience
	}
	if w.Action == repo.ActionDelete {
		return args, nil, nil
	}
	data, c, err := drisl.MarshalCID(w.Record)
	if err != nil {
		return nil, nil, err
	}
	args["cid"] = c
	return args, data, nil
}

// Create signs a /repo/create of one record.
func (s *Session) Create(collection, rkey string, record any) (*Request, error) {
	return s.single(Write{Action: repo.ActionCreate, Collection: collection, RKey: rkey, Record: record})
}

// Update signs a /repo/update of one record.
func (s *Session) Update(collection, rkey string, record any) (*Request, error) {
	return s.single(Write{Action: repo.ActionUpdate, Collection: collection, RKey: rkey, Record: record})
}

// Delete signs a /repo/delete of one record.
func (s *Session) Delete(collection, rkey string) (*Request, error) {
	return s.single(Write{Action: repo.ActionDelete, Collection: collection, RKey: rkey})
}

// Private signs a /repo/create of a record in an audience's private tree.
// record should carry a "nonce" of NewNonce bytes.
func (s *Session) Private(audience, collection, rkey string, record any) (*Request, error) {
	return s.single(Write{Action: repo.ActionCreate, Collection: collection, RKey: rkey, Audience: audience, Record: record})
}

// Write signs a single write of any kind (public or private): a
// /repo/create, /repo/update or /repo/delete.
func (s *Session) Write(w Write) (*Request, error) { return s.single(w) }

func (s *Session) single(w Write) (*Request, error) {
	args, data, err := encodeWrite(w)
	if err != nil {
		return nil, err
	}
	var recs [][]byte
	if data != nil {
		recs = [][]byte{data}
	}
	return s.Invoke("/repo/"+string(w.Action), args, recs)
}

// Batch signs one /repo/batch of several writes: one invocation, one commit.
func (s *Session) Batch(ws []Write) (*Request, error) {
	list := make([]any, len(ws))
	var recs [][]byte
	for i, w := range ws {
		args, data, err := encodeWrite(w)
		if err != nil {
			return nil, err
		}
		args["action"] = string(w.Action)
		list[i] = args
		if data != nil {
			recs = append(recs, data)
		}
	}
	return s.Invoke(CmdBatch, map[string]any{"writes": list}, recs)
}

// Moderate signs a /community/delete of any record.
func (s *Session) Moderate(collection, rkey, audience, reason string) (*Request, error) {
	args := map[string]any{"collection": collection, "rkey": rkey}
	if audience != "" {
		args["audience"] = audience
	}
	if reason != "" {
		args["reason"] = reason
	}
	return s.Invoke(CmdModerate, args, nil)
}

// Revoke signs a /community/revoke of a recorded delegation.
func (s *Session) Revoke(delegation cid.Cid, reason string) (*Request, error) {
	args := map[string]any{"delegation": delegation}
	if reason != "" {
		args["reason"] = reason
	}
	return s.Invoke(CmdRevoke, args, nil)
}

// Ban signs a /community/ban of a member.
func (s *Session) Ban(member, reason string) (*Request, error) {
	args := map[string]any{"member": member}
	if reason != "" {
		args["reason"] = reason
	}
	return s.Invoke(CmdBan, args, nil)
}

// CreateAudience signs a /community/audience creating a private audience
// readable by the given roles.
func (s *Session) CreateAudience(name string, readers ...string) (*Request, error) {
	args := map[string]any{"name": name}
	if len(readers) > 0 {
		l := make([]any, len(readers))
		for i, r := range readers {
			l[i] = r
		}
		args["readers"] = l
	}
	return s.Invoke(CmdAudience, args, nil)
}

// Read signs an /audience/read of an audience.
func (s *Session) Read(audience string) (*Request, error) {
	return s.Invoke(CmdRead, map[string]any{"audience": audience}, nil)
}

// Invite builds a moderator's invitation of a new session key: the
// delegations of role from this session's key to sessionKey, and the
// /community/invite invocation naming them. Put it in JoinRequest.Invite.
func (s *Session) Invite(sessionKey, member string, role Role, exp time.Time) (*Request, error) {
	var ds [][]byte
	var links []any
	for _, spec := range roleDelegations(role, s.Membership.Community) {
		f := ucan.DelegationFields{Audience: sessionKey, Subject: s.Membership.Community, Command: spec.cmd,
			Policy: spec.policy, Meta: map[string]any{"role": role.Name}}
		if exp.IsZero() {
			f.NoExpiration = true
		} else {
			f.Expiration = exp
		}
		d, err := ucan.NewDelegation(s.Signer, f)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d.Bytes())
		links = append(links, d.CID())
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("%w: role %q grants nothing", ErrBadRequest, role.Name)
	}
	req, err := s.Invoke(CmdInvite, map[string]any{"sessionKey": sessionKey, "member": member, "grants": links}, nil)
	if err != nil {
		return nil, err
	}
	req.Proofs = append(req.Proofs, ds...)
	return req, nil
}

// NewNonce returns MinNonceBytes random bytes for a private record's
// "nonce" field, so that its CID cannot be confirmed by guessing its content.
func NewNonce() []byte {
	b := make([]byte, MinNonceBytes)
	_, _ = rand.Read(b)
	return b
}
