package community

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/internal/sha256x8"
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

	// chains caches the parsed chains of Membership's grants and their
	// CIDs, so that signing a request does not parse them again; it is
	// rebuilt when Membership or a chain's bytes change. NewSession sets
	// it; a Session built otherwise parses the chains on every request.
	// Copies of a Session share it (it checks what it caches).
	chains *chainCache
}

// chainCache is Session.chains.
type chainCache struct{ p atomic.Pointer[parsedGrants] }

// parsedGrants is Session.chains: the grants of one Membership, parsed.
type parsedGrants struct {
	m      *Membership
	grants []parsedGrant
}

type parsedGrant struct {
	tokens [][]byte           // copies of the chain's bytes, to notice a change
	dels   []*ucan.Delegation // nil where a token does not parse
	prf    []cid.Cid
}

// parsed returns the parsed grants of s.Membership, from the cache if the
// grants are unchanged.
func (s *Session) parsed() *parsedGrants {
	m := s.Membership
	if s.chains != nil {
		if p := s.chains.p.Load(); p != nil && p.m == m && p.matches(m) {
			return p
		}
	}
	p := &parsedGrants{m: m, grants: make([]parsedGrant, len(m.Grants))}
	for i, g := range m.Grants {
		pg := parsedGrant{tokens: make([][]byte, len(g.Chain)), dels: make([]*ucan.Delegation, len(g.Chain)),
			prf: make([]cid.Cid, len(g.Chain))}
		for j, t := range g.Chain {
			pg.tokens[j] = bytes.Clone(t)
			if d, err := ucan.ParseDelegation(t); err == nil {
				pg.dels[j], pg.prf[j] = d, d.CID() // the parse hashed t already
			} else {
				pg.prf[j] = drisl.SumCID(drisl.CodecDagCBOR, t)
			}
		}
		p.grants[i] = pg
	}
	if s.chains != nil {
		s.chains.p.Store(p)
	}
	return p
}

func (p *parsedGrants) matches(m *Membership) bool {
	if len(p.grants) != len(m.Grants) {
		return false
	}
	for i, g := range m.Grants {
		pg := &p.grants[i]
		if len(pg.tokens) != len(g.Chain) {
			return false
		}
		for j, t := range g.Chain {
			if !bytes.Equal(pg.tokens[j], t) {
				return false
			}
		}
	}
	return true
}

// NewSession returns a session for m whose invocations signer signs. The
// signer's DID must be m.SessionKey.
func NewSession(m *Membership, signer ucan.Signer) (*Session, error) {
	if m == nil || signer.DID() != m.SessionKey {
		return nil, fmt.Errorf("community: the signer is not the membership's session key")
	}
	return &Session{Membership: m, Signer: signer, chains: &chainCache{}}, nil
}

func (s *Session) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// JoinProofFields are the fields of a join proof to build.
type JoinProofFields struct {
	// Community is the community's DID, or "" for a founder's proof to
	// Host.Create (the proof is then self-issued).
	Community string
	// Member is the member's atproto DID, the JWT's issuer.
	Member string
	// ServiceAuth is the member's service-auth JWT the proof accompanies.
	ServiceAuth string
	// Expiration is required; the host refuses a proof that has expired
	// or that expires more than Limits.MaxInvocationTTL after its clock.
	Expiration time.Time
}

// NewJoinProof signs the /community/join proof a JoinRequest carries;
// signer is the new session key.
func NewJoinProof(signer ucan.Signer, f JoinProofFields) ([]byte, error) {
	sub := f.Community
	if sub == "" {
		sub = signer.DID()
	}
	inv, err := ucan.NewInvocation(signer, ucan.InvocationFields{Subject: sub, Command: CmdJoin,
		Args: map[string]any{"member": f.Member, "serviceAuth": f.ServiceAuth}, Expiration: f.Expiration})
	if err != nil {
		return nil, err
	}
	return inv.Bytes(), nil
}

// Invoke signs an invocation of cmd with args, choosing the first grant
// whose chain covers cmd and whose policies hold on args, and attaches that
// chain.
func (s *Session) Invoke(cmd string, args map[string]any, records [][]byte) (*Request, error) {
	if s.Membership == nil {
		return nil, fmt.Errorf("%w: the session has no membership", ErrUnauthorized)
	}
	pgs := s.parsed()
	for gi, g := range s.Membership.Grants {
		pg := &pgs.grants[gi]
		if !chainAllows(pg.dels, cmd, args) {
			continue
		}
		prf := slices.Clone(pg.prf)
		ttl := s.TTL
		if ttl <= 0 {
			ttl = DefaultInvocationTTL
		}
		now := s.now()
		// Only the token is sent: NewInvocationToken skips building the
		// parsed Invocation (a copy of args as the decoder gives them).
		tok, err := ucan.NewInvocationToken(s.Signer, ucan.InvocationFields{Subject: s.Membership.Community, Command: cmd,
			Args: args, Proofs: prf, Expiration: now.Add(ttl), IssuedAt: now})
		if err != nil {
			return nil, err
		}
		return &Request{Invocation: tok, Proofs: g.Chain, Records: records}, nil
	}
	return nil, fmt.Errorf("%w: no grant of this session covers %s with these arguments", ErrUnauthorized, cmd)
}

// chainAllows reports whether every delegation of a chain (nil: a token
// that did not parse) covers cmd and holds on args.
func chainAllows(chain []*ucan.Delegation, cmd string, args map[string]any) bool {
	if len(chain) == 0 {
		return false
	}
	for _, d := range chain {
		if d == nil || !ucan.CommandCovers(d.Command, cmd) || !d.Policy.Match(args) {
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
// Writes of one collection and audience are sent in the batch's shared
// form, which names those once (and the action, if all share it).
//
// Each write's arguments are a drisl.Map in DRISL key order (what encoding
// a map[string]any of the same entries writes, without building and
// sorting a Go map per write), and the records, encoded first, are hashed
// together for their CIDs (sha256x8: eight records at a time).
func (s *Session) Batch(ws []Write) (*Request, error) {
	// The records are appended to one buffer (one allocation for the
	// batch, not one each) and cut from it once it stops moving.
	buf := make([]byte, 0, min(batchRecordBytes*len(ws), maxBatchReserve))
	var ends []int // ends[j]: where record j ends in buf
	var at []int   // at[j]: the write of record j
	for i, w := range ws {
		if w.Action == repo.ActionDelete {
			continue
		}
		var err error
		if buf, err = drisl.AppendMarshal(buf, w.Record); err != nil {
			return nil, err
		}
		if ends == nil {
			ends, at = make([]int, 0, len(ws)), make([]int, 0, len(ws))
		}
		ends = append(ends, len(buf))
		at = append(at, i)
	}
	var recs [][]byte
	if len(ends) > 0 {
		recs = make([][]byte, len(ends))
		start := 0
		for j, end := range ends {
			recs[j] = buf[start:end:end]
			start = end
		}
	}
	cids := make([]cid.Cid, len(ws))
	sha256x8.SumMany(len(recs), func(j, _ int) []byte { return recs[j] }, func(j int, sum [32]byte) {
		cids[at[j]] = drisl.CIDFromSHA256(drisl.CodecDagCBOR, sum)
	})
	// Writes of one collection and audience take the shared form
	// (batchShared): those named once, and the action too if all share it.
	args := map[string]any{}
	shared, sharedAction := len(ws) > 0, len(ws) > 0
	for _, w := range ws {
		shared = shared && w.Collection == ws[0].Collection && w.Audience == ws[0].Audience
		sharedAction = sharedAction && w.Action == ws[0].Action
	}
	if shared {
		args["collection"] = ws[0].Collection
		if ws[0].Audience != "" {
			args["audience"] = ws[0].Audience
		}
		if sharedAction {
			args["action"] = string(ws[0].Action)
		}
	}
	// One backing array for every write's entries (cid, rkey, and, unless
	// the batch shares them, action, audience and collection); each Map is
	// capped at its length, so nothing appends into the next. A write's
	// action and collection are most often the previous write's: their
	// boxed values are reused rather than boxed again.
	ownAction := !shared || !sharedAction
	per := 5
	if shared {
		per = 3
		if !ownAction {
			per = 2
		}
	}
	entries := make([]drisl.Entry, 0, per*len(ws))
	list := make([]any, len(ws))
	var action, collection string
	var actionVal, collectionVal any
	for i, w := range ws {
		start := len(entries)
		// DRISL order: shorter keys first, then bytewise.
		if w.Action != repo.ActionDelete {
			entries = append(entries, drisl.Entry{Key: "cid", Value: cids[i]})
		}
		entries = append(entries, drisl.Entry{Key: "rkey", Value: w.RKey})
		if ownAction {
			if actionVal == nil || string(w.Action) != action {
				action, actionVal = string(w.Action), string(w.Action)
			}
			entries = append(entries, drisl.Entry{Key: "action", Value: actionVal})
		}
		if !shared {
			if w.Audience != "" {
				entries = append(entries, drisl.Entry{Key: "audience", Value: w.Audience})
			}
			if collectionVal == nil || w.Collection != collection {
				collection, collectionVal = w.Collection, w.Collection
			}
			entries = append(entries, drisl.Entry{Key: "collection", Value: collectionVal})
		}
		list[i] = drisl.Map(entries[start:len(entries):len(entries)])
	}
	args["writes"] = list
	return s.Invoke(CmdBatch, args, recs)
}

// batchRecordBytes is the room Batch makes for each record before
// encoding: a chat message takes about 255 bytes; larger records grow the
// buffer.
const batchRecordBytes = 320

// maxBatchReserve bounds what Batch reserves for records up front (a
// batch of that many bytes grows its buffer as it encodes).
const maxBatchReserve = 1 << 20

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
