package ucan

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
)

// Revocation is a validated revocation: an invocation of /ucan/revoke.
type Revocation struct {
	// Invocation is the revocation token.
	Invocation *Invocation
	// Delegation is the CID of the revoked delegation (args.revoke).
	Delegation cid.Cid
	// Revoker is the issuer of the revocation, an issuer in the chain.
	Revoker string
}

// RevocationFields are the optional fields of a revocation to build.
type RevocationFields struct {
	// Audience is the executor the revocation is sent to; omitted when
	// empty.
	Audience string
	// Nonce defaults to 12 random bytes.
	Nonce []byte
	// Expiration is required unless NoExpiration is set.
	Expiration   time.Time
	NoExpiration bool
}

// NewRevocation builds and signs a revocation of the last delegation of
// chain (root first, as in an invocation's prf, ending with the delegation
// to revoke). s must be the issuer of one of the delegations in chain.
func NewRevocation(s Signer, chain []*Delegation, f RevocationFields) (*Invocation, error) {
	if len(chain) == 0 {
		return nil, errors.New("ucan: NewRevocation needs the chain of the delegation to revoke")
	}
	prf := make([]cid.Cid, len(chain))
	for i, d := range chain {
		prf[i] = d.CID()
	}
	return newInvocation(s, InvocationFields{
		Subject:      chain[0].Subject,
		Audience:     f.Audience,
		Command:      CommandRevoke,
		Args:         map[string]any{"revoke": prf[len(prf)-1]},
		Proofs:       prf,
		Nonce:        f.Nonce,
		Expiration:   f.Expiration,
		NoExpiration: f.NoExpiration,
	})
}

// ValidateRevocation validates a revocation token without recording it.
// The rules (see the package doc for the shape): the token is an
// invocation of /ucan/revoke whose signature verifies and which has not
// expired; args is exactly {revoke: <CID>}; prf is a chain, root first,
// whose last element is that CID; the chain's signatures, root, subject
// and principal alignment are valid (time bounds, commands and policies
// of the chain are not checked: an expired delegation may be revoked);
// sub is the chain's subject; and iss is the issuer of one of the chain's
// delegations.
func (v *Validator) ValidateRevocation(ctx context.Context, token []byte, attached ...[]byte) (*Revocation, error) {
	inv, err := parseInvocation(token, v.opts.MaxTokenBytes, false)
	if err != nil {
		return nil, err
	}
	if inv.Command != CommandRevoke {
		return nil, newErr(NameInvalidClaim, RuleRevocation, -1, "cmd is "+inv.Command)
	}
	if err := v.verifySignature(ctx, inv.env, inv.Issuer, -1); err != nil {
		return nil, err
	}
	if err := v.checkTime(nil, inv.Expiration, v.opts.Now(), -1); err != nil {
		return nil, err
	}
	if err := v.checkSubject(inv.Subject); err != nil {
		return nil, err
	}
	target, ok := inv.Args["revoke"].(cid.Cid)
	if !ok || len(inv.Args) != 1 {
		return nil, newErr(NameInvalidClaim, RuleRevocation, -1, "args must be exactly {revoke: <delegation CID>}")
	}
	if len(inv.Proofs) == 0 || !inv.Proofs[len(inv.Proofs)-1].Equals(target) {
		return nil, newErr(NameInvalidClaim, RuleRevocation, -1, "prf must end with the revoked delegation")
	}
	// The chain is checked without time bounds; the revoked delegation's
	// audience is not the revoker, so principal alignment stops before
	// the invoker.
	chainInv := *inv
	chainInv.Issuer = ""
	chain, err := v.revocationChain(ctx, &chainInv, attached)
	if err != nil {
		return nil, err
	}
	revoker := stripFragment(inv.Issuer)
	for _, d := range chain {
		if stripFragment(d.Issuer) == revoker {
			return &Revocation{Invocation: inv, Delegation: target, Revoker: inv.Issuer}, nil
		}
	}
	return nil, newErr(NameInvalidClaim, RuleRevoker, -1, inv.Issuer)
}

// revocationChain resolves and checks the chain of a revocation: like
// chain, without time bounds, without the revocation store and without
// aligning the last audience with the invoker.
func (v *Validator) revocationChain(ctx context.Context, inv *Invocation, attached [][]byte) ([]*Delegation, error) {
	if len(inv.Proofs) > v.opts.MaxChainLength {
		return nil, newErr(NameInvalidClaim, RuleChainLength, -1, fmt.Sprintf("%d > %d", len(inv.Proofs), v.opts.MaxChainLength))
	}
	att := attachedByCID(attached, v.opts.MaxTokenBytes)
	chain := make([]*Delegation, len(inv.Proofs))
	for i, c := range inv.Proofs {
		d, err := v.loadProof(ctx, c, i, att)
		if err != nil {
			return nil, err
		}
		chain[i] = d
	}
	if err := alignChain(chain, inv.Subject, ""); err != nil {
		return nil, err
	}
	return chain, nil
}

// Revoke validates a revocation (see ValidateRevocation) and records it in
// the validator's RevocationStore. From then on every invocation whose
// chain contains the revoked delegation fails with Revoked.
func (v *Validator) Revoke(ctx context.Context, token []byte, attached ...[]byte) (*Revocation, error) {
	if v.opts.Revocations == nil {
		return nil, errors.New("ucan: Revoke needs ValidatorOptions.Revocations")
	}
	r, err := v.ValidateRevocation(ctx, token, attached...)
	if err != nil {
		return nil, err
	}
	if err := v.opts.Revocations.AddRevocation(ctx, r.Delegation, r.Invocation.CID()); err != nil {
		return nil, fmt.Errorf("ucan: recording the revocation of %s: %w", r.Delegation, err)
	}
	return r, nil
}
