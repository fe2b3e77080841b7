package ucan

import (
	"time"

	"github.com/ipfs/go-cid"
)

// Invocation is a parsed UCAN invocation (ucan/inv@1.0.0). Parsing checks
// structure only; Validator.Validate checks everything else.
type Invocation struct {
	Issuer  string
	Subject string
	// Audience is the executor, or "" when absent (then the subject).
	Audience string
	Command  string
	Args     map[string]any
	// Proofs are the delegation CIDs, root first.
	Proofs     []cid.Cid
	Meta       map[string]any
	Nonce      []byte
	Expiration *int64 // Unix seconds; nil when null
	IssuedAt   *int64 // Unix seconds; nil when absent
	Cause      *cid.Cid

	Tag       string
	Algorithm Algorithm
	Signature []byte

	env *envelope
	cid cid.Cid
}

// CID returns the token's CID.
func (inv *Invocation) CID() cid.Cid { return inv.cid }

// Bytes returns the token exactly as received or signed.
func (inv *Invocation) Bytes() []byte { return inv.env.raw }

// SignedBytes returns the signature payload exactly as received.
func (inv *Invocation) SignedBytes() []byte { return inv.env.sigPayload }

// ParseInvocation parses an invocation token without verifying anything
// but its structure. Tokens larger than DefaultMaxTokenBytes are rejected.
func ParseInvocation(data []byte) (*Invocation, error) {
	return parseInvocation(data, DefaultMaxTokenBytes)
}

func parseInvocation(data []byte, maxBytes int) (*Invocation, error) {
	// One allocation for the invocation and its envelope.
	both := new(struct {
		inv Invocation
		env envelope
	})
	env := &both.env
	if err := env.decode(data, maxBytes); err != nil {
		return nil, err
	}
	if env.kind != kindInvocation {
		return nil, newErr(NameMalformedToken, RuleTypeTag, -1, "not an invocation: "+env.tag)
	}
	r := &payloadReader{m: env.payload}
	inv := &both.inv
	*inv = Invocation{
		Issuer:    r.did("iss", true),
		Subject:   r.did("sub", true),
		Audience:  r.did("aud", false),
		Command:   r.command(),
		Nonce:     r.nonce(),
		Meta:      r.meta(),
		IssuedAt:  r.timestamp("iat", false, false),
		Cause:     r.link("cause"),
		Tag:       env.tag,
		Algorithm: env.alg,
		Signature: env.signature,
		env:       env,
	}
	inv.Expiration = r.timestamp("exp", true, true)
	if a, ok := env.payload["args"]; !ok {
		r.fail(RuleField, "missing args")
	} else if m, ok := a.(map[string]any); !ok {
		r.fail(RuleField, "args is not a map")
	} else {
		inv.Args = m
	}
	if p, ok := env.payload["prf"]; !ok {
		r.fail(RuleField, "missing prf")
	} else if l, ok := p.([]any); !ok {
		r.fail(RuleField, "prf is not a list")
	} else {
		inv.Proofs = make([]cid.Cid, 0, len(l))
		for _, x := range l {
			c, ok := x.(cid.Cid)
			if !ok {
				r.fail(RuleField, "prf holds a non-link")
				break
			}
			inv.Proofs = append(inv.Proofs, c)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	inv.cid = tokenCID(data)
	return inv, nil
}

// InvocationFields are the fields of an invocation to build.
type InvocationFields struct {
	Subject string
	// Audience is the executor; omitted when empty.
	Audience string
	Command  string
	Args     map[string]any
	// Proofs are the delegation CIDs, root first.
	Proofs []cid.Cid
	// Nonce defaults to 12 random bytes.
	Nonce []byte
	Meta  map[string]any
	// Expiration is required unless NoExpiration is set (exp: null).
	Expiration   time.Time
	NoExpiration bool
	// IssuedAt is omitted when zero.
	IssuedAt time.Time
	Cause    *cid.Cid
}

// NewInvocation builds and signs an invocation issued by s. Commands in
// the reserved /ucan namespace are refused: use NewRevocation.
func NewInvocation(s Signer, f InvocationFields) (*Invocation, error) {
	if IsReservedCommand(f.Command) {
		return nil, newErr(NameMalformedToken, RuleReservedCommand, -1, f.Command)
	}
	return newInvocation(s, f)
}

func newInvocation(s Signer, f InvocationFields) (*Invocation, error) {
	if !ValidCommand(f.Command) {
		return nil, newErr(NameMalformedToken, RuleCommandSyntax, -1, truncate(f.Command))
	}
	args := f.Args
	if args == nil {
		args = map[string]any{}
	}
	prf := make([]any, len(f.Proofs))
	for i, c := range f.Proofs {
		prf[i] = c
	}
	p := map[string]any{
		"iss":  s.DID(),
		"sub":  f.Subject,
		"cmd":  f.Command,
		"args": args,
		"prf":  prf,
	}
	if f.Audience != "" {
		p["aud"] = f.Audience
	}
	if err := setCommon(p, f.Nonce, f.Meta, f.Expiration, f.NoExpiration); err != nil {
		return nil, err
	}
	if !f.IssuedAt.IsZero() {
		p["iat"] = f.IssuedAt.Unix()
	}
	if f.Cause != nil {
		p["cause"] = *f.Cause
	}
	data, err := encodeEnvelope(s, TagInvocation, p)
	if err != nil {
		return nil, err
	}
	return ParseInvocation(data)
}
