package ucan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
)

// Defaults of ValidatorOptions.
const (
	DefaultMaxClockSkew   = 60 * time.Second
	DefaultMaxChainLength = 16
	DefaultCacheSize      = 4096
	defaultKeyCacheSize   = 1024
)

// ValidatorOptions configures a Validator. The zero value means the
// defaults: did:key principals only, attached proofs only, no revocation
// store, a private in-memory replay guard, time.Now, 60 s skew, chains of
// at most 16 delegations, tokens of at most 64 KiB, 4096 cached
// delegations.
type ValidatorOptions struct {
	// Resolver resolves principals that are not did:key (e.g. did:plc).
	// Without one, only did:key principals verify.
	Resolver Resolver
	// Proofs resolves prf CIDs that are neither cached nor attached.
	Proofs ProofStore
	// Revocations, when set, is consulted for every proof.
	Revocations RevocationStore
	// Replay records invocation CIDs; nil means a MemoryReplayGuard owned
	// by the validator.
	Replay ReplayGuard
	// Now is the validation clock (default time.Now).
	Now func() time.Time
	// MaxClockSkew is how far the validation clock may be past a token's
	// exp or before its nbf: zero means DefaultMaxClockSkew, a negative
	// value means no tolerance (exp and nbf are checked exactly).
	MaxClockSkew time.Duration
	// MaxChainLength bounds len(prf) (default 16).
	MaxChainLength int
	// MaxTokenBytes bounds each token (default 64 KiB).
	MaxTokenBytes int
	// CacheSize bounds the cache of signature-verified delegations, keyed
	// by CID (default 4096; negative disables the cache).
	CacheSize int
	// MaxPolicySteps bounds the evaluation of each policy (default
	// DefaultMaxPolicySteps).
	MaxPolicySteps int
	// StrictAttenuation additionally requires each delegation's command to
	// be covered by the previous delegation's (pairwise restating or
	// attenuating, as iso-ucan checks). It rejects the spec's powerline
	// pattern of "/" after a narrower delegation. Off by default.
	StrictAttenuation bool
	// Executor, when set, is this validator's DID: an invocation whose
	// aud (or, without aud, sub) differs is rejected with InvalidAudience.
	Executor string
	// OrderedArgs decodes the maps inside a validated invocation's Args
	// (and Meta) as drisl.Map, in wire order, instead of map[string]any:
	// Args itself is a map[string]any either way. The ordered model
	// allocates less and hashes no keys, which pays for large arguments
	// such as a batch of writes, each a small map. Policies judge both
	// models alike. Off by default (ParseInvocation never does it).
	OrderedArgs bool
	// Subject, when set, is the only subject this validator accepts (an
	// executor serving one resource, such as a community, sets its DID):
	// an invocation or revocation on another subject is rejected with
	// InvalidClaim (RuleSubject) before its chain is resolved. Without
	// it, anyone's invocation on a did:key subject of their own validates
	// and counts towards that key's hot-key table (hotkeys.go).
	Subject string
}

// Validator validates invocations against their delegation chains. It is
// safe for concurrent use.
type Validator struct {
	opts     ValidatorOptions
	verified *lru[cid.Cid, *Delegation]
	keys     *lru[string, PublicKey]
	hot      *hotTables // tables of hot did:keys, bounded (hotkeys.go)
}

// NewValidator returns a validator with opts.
func NewValidator(opts ValidatorOptions) *Validator {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	switch {
	case opts.MaxClockSkew == 0:
		opts.MaxClockSkew = DefaultMaxClockSkew
	case opts.MaxClockSkew < 0:
		opts.MaxClockSkew = 0
	}
	if opts.MaxChainLength <= 0 {
		opts.MaxChainLength = DefaultMaxChainLength
	}
	if opts.MaxTokenBytes <= 0 {
		opts.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.MaxPolicySteps <= 0 {
		opts.MaxPolicySteps = DefaultMaxPolicySteps
	}
	if opts.Replay == nil {
		opts.Replay = NewMemoryReplayGuard(MemoryReplayGuardOptions{Now: opts.Now})
	}
	return &Validator{
		opts:     opts,
		verified: newLRU[cid.Cid, *Delegation](opts.CacheSize),
		keys:     newLRU[string, PublicKey](defaultKeyCacheSize),
		hot:      &hotTables{},
	}
}

// CachedDelegations returns the number of delegations in the verified
// cache.
func (v *Validator) CachedDelegations() int { return v.verified.len() }

// ClearCache forgets every verified delegation and parsed did:key. Call it
// when a Resolver learns that a DID's key changed and delegations verified
// with the old key must be verified again.
func (v *Validator) ClearCache() {
	v.verified.clear()
	v.keys.clear()
	v.hot.clear()
}

// resolveKey returns the key of a principal: did:key directly (cached),
// other methods through the Resolver.
func (v *Validator) resolveKey(ctx context.Context, did string) (PublicKey, error) {
	did = stripFragment(did)
	if strings.HasPrefix(did, "did:key:") {
		if k, ok := v.keys.get(did); ok {
			return k, nil
		}
		k, err := ParseDIDKey(did)
		if err != nil {
			return nil, err
		}
		// The key is parsed from the did string alone, so what the cache
		// holds for a string is always that string's key; keys get a
		// table once hot (hotkeys.go).
		switch k.(type) {
		case *atKey, *ed25519Key:
			k = newHotKey(k, v.hot)
		}
		v.keys.add(did, k)
		return k, nil
	}
	if v.opts.Resolver == nil {
		return nil, fmt.Errorf("no resolver for %q", truncate(did))
	}
	return v.opts.Resolver.ResolveKey(ctx, did)
}

// verifySignature checks env's signature against the issuer's key.
func (v *Validator) verifySignature(ctx context.Context, env *envelope, issuer string, index int) error {
	_, err := v.verifiedKey(ctx, env, issuer, index)
	return err
}

// verifiedKey checks env's signature against the issuer's key and returns
// the key.
func (v *Validator) verifiedKey(ctx context.Context, env *envelope, issuer string, index int) (PublicKey, error) {
	key, err := v.resolveKey(ctx, issuer)
	if err != nil {
		return nil, wrapErr(NameUnresolvableDID, RuleDID, index, err)
	}
	if key.Algorithm() != env.alg {
		return nil, newErr(NameInvalidSignature, RuleKeyMismatch, index,
			fmt.Sprintf("header says %s, issuer key is %s", env.alg, key.Algorithm()))
	}
	if err := key.Verify(env.sigPayload, env.signature); err != nil {
		return nil, wrapErr(NameInvalidSignature, RuleSignature, index, err)
	}
	return key, nil
}

// loadProof returns prf[index], signature-verified, from the cache, the
// attached tokens or the proof store.
func (v *Validator) loadProof(ctx context.Context, c cid.Cid, index int, attached map[cid.Cid][]byte) (*Delegation, error) {
	if d, ok := v.verified.get(c); ok {
		return d, nil
	}
	data, ok := attached[c]
	if !ok {
		if v.opts.Proofs == nil {
			return nil, newErr(NameUnavailableProof, RuleProofMissing, index, c.String())
		}
		var err error
		data, err = v.opts.Proofs.GetDelegation(ctx, c)
		if errors.Is(err, ErrNotFound) {
			return nil, newErr(NameUnavailableProof, RuleProofMissing, index, c.String())
		}
		if err != nil {
			return nil, wrapErr(NameUnavailableProof, RuleProofMissing, index, err)
		}
		if len(data) > v.opts.MaxTokenBytes {
			return nil, newErr(NameMalformedToken, RuleTokenSize, index, "")
		}
		if got := tokenCID(data); !got.Equals(c) {
			return nil, newErr(NameUnavailableProof, RuleProofCID, index, c.String())
		}
	}
	env, err := decodeEnvelope(data, v.opts.MaxTokenBytes)
	if err != nil {
		return nil, at(err, index)
	}
	if env.kind != kindDelegation {
		return nil, newErr(NameInvalidClaim, RuleProofKind, index, env.tag)
	}
	d, err := delegationFromEnvelope(env)
	if err != nil {
		return nil, at(err, index)
	}
	if err := v.verifySignature(ctx, env, d.Issuer, index); err != nil {
		return nil, err
	}
	if twin, ok := env.es256Twin(); ok {
		d.twin = twin
	}
	v.verified.add(c, d)
	return d, nil
}

// checkSubject refuses a subject other than ValidatorOptions.Subject, if
// set.
func (v *Validator) checkSubject(sub string) error {
	if v.opts.Subject != "" && stripFragment(sub) != stripFragment(v.opts.Subject) {
		return newErr(NameInvalidClaim, RuleSubject, -1, truncate(sub))
	}
	return nil
}

// at sets the chain index of a *Error.
func at(err error, index int) error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.Index = index
		return &c
	}
	return err
}

func (v *Validator) checkTime(nbf, exp *int64, now time.Time, index int) error {
	skew := v.opts.MaxClockSkew
	if exp != nil && now.After(time.Unix(*exp, 0).Add(skew)) {
		return newErr(NameExpired, RuleExpired, index, fmt.Sprintf("exp %d", *exp))
	}
	if nbf != nil && now.Before(time.Unix(*nbf, 0).Add(-skew)) {
		return newErr(NameTooEarly, RuleNotBefore, index, fmt.Sprintf("nbf %d", *nbf))
	}
	return nil
}

// attachedByCID indexes attached tokens by CID, skipping any larger than
// maxBytes (they could not be valid proofs).
func attachedByCID(attached [][]byte, maxBytes int) map[cid.Cid][]byte {
	m := make(map[cid.Cid][]byte, len(attached))
	for _, b := range attached {
		if len(b) <= maxBytes {
			m[tokenCID(b)] = b
		}
	}
	return m
}

// Validate parses token as an invocation and validates it and its proof
// chain at the validator's clock. attached are delegation tokens that may
// be named in prf (looked up by their CID before the proof store). On
// success the invocation's CID (of its low-S form, for an ES256 token with
// a high S) is recorded in the replay guard.
//
// The checks, in order: token size and structure; the invocation's
// signature; its exp; the reserved /ucan namespace; the executor; a
// missing chain (only self-invocation, iss == sub, needs none); the chain
// length; every proof resolved (UnavailableProof) and signature-verified
// (cached by CID); every proof's time bounds and revocation; the root
// (not a powerline, issued by its subject); subject alignment (powerlines
// take the prior subject; the invocation's sub must match); principal
// alignment (each aud is the next iss, the last aud the invoker); command
// attenuation (every proof's cmd covers the invoked cmd, and with
// StrictAttenuation each cmd covers the next); every proof's policy
// against args; the replay guard.
func (v *Validator) Validate(ctx context.Context, token []byte, attached ...[]byte) (*Invocation, error) {
	inv, _, err := v.ValidateChain(ctx, token, attached...)
	return inv, err
}

// ValidateChain is Validate that also returns the validated proof chain,
// root first (empty for a self-invocation): for instance to record which
// delegation authorised a write.
func (v *Validator) ValidateChain(ctx context.Context, token []byte, attached ...[]byte) (*Invocation, []*Delegation, error) {
	inv, chain, err := v.validate(ctx, token, attached)
	if err != nil {
		return nil, nil, err
	}
	return inv, chain, nil
}

// VerifyDelegation parses a delegation token and verifies its signature
// (through the cache), without any chain or time check: for instance
// before adding a token to a proof store.
func (v *Validator) VerifyDelegation(ctx context.Context, token []byte) (*Delegation, error) {
	if len(token) > v.opts.MaxTokenBytes {
		return nil, newErr(NameMalformedToken, RuleTokenSize, -1, "")
	}
	c := tokenCID(token)
	return v.loadProof(ctx, c, -1, map[cid.Cid][]byte{c: token})
}

func (v *Validator) validate(ctx context.Context, token []byte, attached [][]byte) (*Invocation, []*Delegation, error) {
	inv, err := parseInvocation(token, v.opts.MaxTokenBytes, v.opts.OrderedArgs)
	if err != nil {
		return nil, nil, err
	}
	invoker, err := v.verifiedKey(ctx, inv.env, inv.Issuer, -1)
	if err != nil {
		return nil, nil, err
	}
	now := v.opts.Now()
	if err := v.checkTime(nil, inv.Expiration, now, -1); err != nil {
		return nil, nil, err
	}
	if IsReservedCommand(inv.Command) {
		return nil, nil, newErr(NameInvalidClaim, RuleReservedCommand, -1, inv.Command+" (revocations go to Validator.Revoke)")
	}
	if v.opts.Executor != "" {
		aud := inv.Audience
		if aud == "" {
			aud = inv.Subject
		}
		if stripFragment(aud) != stripFragment(v.opts.Executor) {
			return nil, nil, newErr(NameInvalidAudience, RuleExecutor, -1, aud)
		}
	}
	if err := v.checkSubject(inv.Subject); err != nil {
		return nil, nil, err
	}
	chain, err := v.chain(ctx, inv, attached, now, true)
	if err != nil {
		return nil, nil, err
	}
	// Command attenuation: every delegation's command must cover the
	// invoked command, so the authority exercised is within the
	// intersection of the chain (this admits the spec's powerline example,
	// where a powerline of "/" follows a delegation of /msg/send).
	if v.opts.StrictAttenuation {
		for i := 1; i < len(chain); i++ {
			if !CommandCovers(chain[i-1].Command, chain[i].Command) {
				return nil, nil, newErr(NameInvalidClaim, RuleCommandCoverage, i, fmt.Sprintf("%s widens %s", chain[i].Command, chain[i-1].Command))
			}
		}
	}
	for i, d := range chain {
		if !CommandCovers(d.Command, inv.Command) {
			return nil, nil, newErr(NameInvalidClaim, RuleCommandCoverage, i, fmt.Sprintf("%s does not cover %s", d.Command, inv.Command))
		}
	}
	st := new(evalState)
	for i, d := range chain {
		*st = evalState{max: v.opts.MaxPolicySteps} // NewValidator made it > 0
		ok, exceeded := d.Policy.match(st, inv.Args)
		if !ok {
			detail := ""
			if exceeded {
				detail = "evaluation step limit exceeded"
			}
			return nil, nil, newErr(NameMatchError, RulePolicy, i, detail)
		}
	}
	var until time.Time
	if inv.Expiration != nil {
		until = time.Unix(*inv.Expiration, 0).Add(v.opts.MaxClockSkew)
	}
	if err := v.opts.Replay.Record(ctx, inv.env.replayCID(inv.CID()), until); err != nil {
		if errors.Is(err, ErrReplayed) {
			return nil, nil, newErr(NameReplayed, RuleReplay, -1, inv.CID().String())
		}
		return nil, nil, wrapErr(NameReplayed, RuleReplay, -1, err)
	}
	// Only now, with the whole validation passed, does the invoker's key
	// count a use towards its table (hotkeys.go).
	if hk, ok := invoker.(*hotKey); ok {
		hk.noteUse()
	}
	return inv, chain, nil
}

// chain resolves and checks the proof chain of inv: resolution,
// signatures, (if timed) time bounds, revocation, root, subject and
// principal alignment. It returns the delegations root first.
func (v *Validator) chain(ctx context.Context, inv *Invocation, attached [][]byte, now time.Time, timed bool) ([]*Delegation, error) {
	if len(inv.Proofs) == 0 {
		if stripFragment(inv.Issuer) != stripFragment(inv.Subject) {
			return nil, newErr(NameInvalidClaim, RuleNoProof, -1, "")
		}
		return nil, nil
	}
	if len(inv.Proofs) > v.opts.MaxChainLength {
		return nil, newErr(NameInvalidClaim, RuleChainLength, -1, fmt.Sprintf("%d > %d", len(inv.Proofs), v.opts.MaxChainLength))
	}
	chain := make([]*Delegation, len(inv.Proofs))
	var att map[cid.Cid][]byte // hashed only on the first cache miss
	for i, c := range inv.Proofs {
		if att == nil && len(attached) > 0 {
			if d, ok := v.verified.get(c); ok {
				chain[i] = d
				continue
			}
			att = attachedByCID(attached, v.opts.MaxTokenBytes)
		}
		d, err := v.loadProof(ctx, c, i, att)
		if err != nil {
			return nil, err
		}
		chain[i] = d
	}
	for i, d := range chain {
		if timed {
			if err := v.checkTime(d.NotBefore, d.Expiration, now, i); err != nil {
				return nil, err
			}
		}
		if v.opts.Revocations != nil {
			revoked, err := v.opts.Revocations.IsRevoked(ctx, inv.Proofs[i])
			if err == nil && !revoked && d.twin.Defined() {
				// The ES256 twin is the same delegation: a revocation
				// naming either form revokes both.
				revoked, err = v.opts.Revocations.IsRevoked(ctx, d.twin)
			}
			if err != nil {
				return nil, wrapErr(NameRevoked, RuleRevoked, i, err)
			}
			if revoked {
				return nil, newErr(NameRevoked, RuleRevoked, i, inv.Proofs[i].String())
			}
		}
	}
	if err := alignChain(chain, inv.Subject, inv.Issuer); err != nil {
		return nil, err
	}
	return chain, nil
}

// alignChain checks the root (not a powerline, issued by its subject),
// subject alignment (powerlines take the prior subject; subject must match
// the chain's) and principal alignment (each aud is the next iss; the last
// aud is invoker, unless invoker is "").
func alignChain(chain []*Delegation, subject, invoker string) error {
	root := chain[0]
	if root.IsPowerline() {
		return newErr(NameInvalidClaim, RulePowerlineRoot, 0, "")
	}
	sub := stripFragment(root.Subject)
	if stripFragment(root.Issuer) != sub {
		return newErr(NameInvalidSubject, RuleRootIssuer, 0, root.Issuer)
	}
	for i, d := range chain[1:] {
		if !d.IsPowerline() && stripFragment(d.Subject) != sub {
			return newErr(NameInvalidSubject, RuleSubjectAlignment, i+1, d.Subject)
		}
	}
	if stripFragment(subject) != sub {
		return newErr(NameInvalidSubject, RuleSubjectAlignment, -1, subject)
	}
	for i, d := range chain {
		next := invoker
		if i+1 < len(chain) {
			next = chain[i+1].Issuer
		} else if invoker == "" {
			break
		}
		if stripFragment(d.Audience) != stripFragment(next) {
			return newErr(NameInvalidAudience, RuleAudience, i, fmt.Sprintf("aud %s, next issuer %s", d.Audience, next))
		}
	}
	return nil
}
