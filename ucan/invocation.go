package ucan

import (
	"sync"
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
	id  *lazyCID
}

// lazyCID is the CID of an invocation's token, hashed on first use: a
// client that builds an invocation to send it never needs it, a validator
// always does (replay guard).
type lazyCID struct {
	once sync.Once
	raw  []byte
	c    cid.Cid
}

// CID returns the token's CID (cid.Undef for an Invocation not made by
// this package).
func (inv *Invocation) CID() cid.Cid {
	id := inv.id
	if id == nil {
		return cid.Undef
	}
	id.once.Do(func() { id.c = tokenCID(id.raw) })
	return id.c
}

// Bytes returns the token exactly as received or signed.
func (inv *Invocation) Bytes() []byte { return inv.env.raw }

// SignedBytes returns the signature payload exactly as received.
func (inv *Invocation) SignedBytes() []byte { return inv.env.sigPayload }

// ParseInvocation parses an invocation token without verifying anything
// but its structure. Tokens larger than DefaultMaxTokenBytes are rejected.
func ParseInvocation(data []byte) (*Invocation, error) {
	return parseInvocation(data, DefaultMaxTokenBytes, false)
}

// invocationAlloc is an invocation with its envelope and CID, allocated
// together.
type invocationAlloc struct {
	inv Invocation
	env envelope
	id  lazyCID
}

// parseInvocation is ParseInvocation with a size limit; ordered decodes
// the maps inside args and meta as drisl.Map (ValidatorOptions.OrderedArgs).
func parseInvocation(data []byte, maxBytes int, ordered bool) (*Invocation, error) {
	a := new(invocationAlloc)
	if err := a.env.decode(data, maxBytes, ordered); err != nil {
		return nil, err
	}
	return a.invocation()
}

// invocation reads a.inv from a.env, whose payload is a decoded map (or,
// in newInvocation, one equal to what decoding would give).
func (a *invocationAlloc) invocation() (*Invocation, error) {
	env := &a.env
	if env.kind != kindInvocation {
		return nil, newErr(NameMalformedToken, RuleTypeTag, -1, "not an invocation: "+env.tag)
	}
	r := &payloadReader{m: env.payload}
	inv := &a.inv
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
		id:        &a.id,
	}
	inv.Expiration = r.timestamp("exp", true, true)
	if args, ok := env.payload["args"]; !ok {
		r.fail(RuleField, "missing args")
	} else if m, ok := topMap(args); !ok {
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
	a.id.raw = env.raw
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
// the reserved /ucan namespace are refused: use NewRevocation. The result
// is what ParseInvocation returns for the token (built without decoding
// it, when the values of f allow), including its errors: a token that
// ParseInvocation would refuse, such as one over DefaultMaxTokenBytes or
// with a subject that is not a DID, is refused. Its Args, Meta and Nonce
// are copies: f's may be reused.
func NewInvocation(s Signer, f InvocationFields) (*Invocation, error) {
	if IsReservedCommand(f.Command) {
		return nil, newErr(NameMalformedToken, RuleReservedCommand, -1, f.Command)
	}
	return newInvocation(s, f)
}

// NewInvocationToken returns the token NewInvocation(s, f) signs, or its
// error, without building the parsed Invocation: no copy of f's Args and
// Meta as the decoder would give them. It is for a client that only sends
// the token (community.Session does). The bytes are NewInvocation's for the
// same fields and nonce, and it refuses exactly what NewInvocation refuses.
func NewInvocationToken(s Signer, f InvocationFields) ([]byte, error) {
	if IsReservedCommand(f.Command) {
		return nil, newErr(NameMalformedToken, RuleReservedCommand, -1, f.Command)
	}
	p, env, err := signInvocation(s, f)
	if err != nil {
		return nil, err
	}
	// A payload that decodedMap copies reads as its copy does (the fields
	// invocation checks are of the types the decoder gives: strings,
	// int64 timestamps, []byte, links, maps and lists), so invocation's
	// verdict on p itself is its verdict on the copy. Anything else goes
	// the whole way, which decides and reports the error.
	if len(env.raw) <= DefaultMaxTokenBytes && copiesAsDecoded(p, 0) {
		a := invocationAlloc{env: env}
		a.env.kind, a.env.payload = kindInvocation, p
		if _, err := a.invocation(); err == nil {
			return env.raw, nil
		}
	}
	inv, err := finishInvocation(p, env)
	if err != nil {
		return nil, err
	}
	return inv.Bytes(), nil
}

// signInvocation returns the payload of the invocation of f issued by s
// and its signed envelope.
func signInvocation(s Signer, f InvocationFields) (map[string]any, envelope, error) {
	p, err := invocationPayload(s, f)
	if err != nil {
		return nil, envelope{}, err
	}
	env, err := signEnvelope(s, TagInvocation, p)
	if err != nil {
		return nil, envelope{}, err
	}
	return p, env, nil
}

func newInvocation(s Signer, f InvocationFields) (*Invocation, error) {
	p, env, err := signInvocation(s, f)
	if err != nil {
		return nil, err
	}
	return finishInvocation(p, env)
}

// finishInvocation returns the invocation of the signed envelope env of
// payload p.
func finishInvocation(p map[string]any, env envelope) (*Invocation, error) {
	data := env.raw
	// The invocation is what ParseInvocation(data) returns, built from p
	// instead of decoding data again: p copied into the values the decoder
	// would give (decodedMap). Tokens too large to parse, and payloads
	// holding values that copy does not take, go through ParseInvocation.
	if len(data) > DefaultMaxTokenBytes {
		return ParseInvocation(data)
	}
	payload, ok := decodedMap(p, 0)
	if !ok {
		return ParseInvocation(data)
	}
	a := new(invocationAlloc)
	a.env = env
	a.env.kind, a.env.payload = kindInvocation, payload
	return a.invocation()
}

// invocationPayload returns the payload of the invocation of f issued by
// s.
func invocationPayload(s Signer, f InvocationFields) (map[string]any, error) {
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
	return p, nil
}
