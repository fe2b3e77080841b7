package ucan

import (
	"crypto/rand"
	"errors"
	"time"

	"github.com/ipfs/go-cid"
)

// Delegation is a parsed UCAN delegation (ucan/dlg@1.0.0). Parsing checks
// structure only; the validator checks signatures and everything else.
type Delegation struct {
	Issuer   string
	Audience string
	// Subject is the subject DID, or "" for a powerline (sub: null).
	Subject    string
	Command    string
	Policy     Policy
	Nonce      []byte
	Meta       map[string]any
	NotBefore  *int64 // Unix seconds; nil when absent
	Expiration *int64 // Unix seconds; nil when null (never expires)

	// Tag is the type tag as received: TagDelegation or TagDelegationRC1.
	Tag       string
	Algorithm Algorithm
	Signature []byte

	env *envelope
	cid cid.Cid
	// twin is the CID of the ES256 twin (S replaced by n-S), set once the
	// signature is verified; cid.Undef for other algorithms.
	twin cid.Cid
}

// IsPowerline reports whether the delegation has a null subject.
func (d *Delegation) IsPowerline() bool { return d.Subject == "" }

// CID returns the token's CID (dag-cbor, sha2-256 of Bytes).
func (d *Delegation) CID() cid.Cid { return d.cid }

// Bytes returns the token exactly as received or signed.
func (d *Delegation) Bytes() []byte { return d.env.raw }

// SignedBytes returns the signature payload (the envelope's second element)
// exactly as received: the bytes the signature covers.
func (d *Delegation) SignedBytes() []byte { return d.env.sigPayload }

// ParseDelegation parses a delegation token without verifying its
// signature. Tokens larger than DefaultMaxTokenBytes are rejected.
func ParseDelegation(data []byte) (*Delegation, error) {
	return parseDelegation(data, DefaultMaxTokenBytes)
}

func parseDelegation(data []byte, maxBytes int) (*Delegation, error) {
	env, err := decodeEnvelope(data, maxBytes)
	if err != nil {
		return nil, err
	}
	if env.kind != kindDelegation {
		return nil, newErr(NameMalformedToken, RuleTypeTag, -1, "not a delegation: "+env.tag)
	}
	return delegationFromEnvelope(env)
}

func delegationFromEnvelope(env *envelope) (*Delegation, error) {
	r := &payloadReader{m: env.payload}
	d := &Delegation{
		Issuer:    r.did("iss", true),
		Audience:  r.did("aud", true),
		Command:   r.command(),
		Nonce:     r.nonce(),
		Meta:      r.meta(),
		NotBefore: r.timestamp("nbf", false, false),
		Tag:       env.tag,
		Algorithm: env.alg,
		Signature: env.signature,
		env:       env,
	}
	d.Expiration = r.timestamp("exp", true, true)
	if v, ok := env.payload["sub"]; !ok {
		r.fail(RuleField, "missing sub")
	} else if v != nil {
		d.Subject = r.did("sub", true)
	}
	pol, ok := env.payload["pol"]
	if !ok {
		r.fail(RuleField, "missing pol")
	} else if l, isList := pol.([]any); !isList {
		r.fail(RuleField, "pol is not a list")
	} else if r.err == nil {
		p, err := parsePolicyList(l)
		if err != nil {
			return nil, err
		}
		d.Policy = p
	}
	if r.err != nil {
		return nil, r.err
	}
	d.cid = tokenCID(env.raw)
	return d, nil
}

// DelegationFields are the fields of a delegation to build.
type DelegationFields struct {
	Audience string
	// Subject is the subject DID; leave it empty and set Powerline for a
	// powerline delegation (sub: null).
	Subject   string
	Powerline bool
	Command   string
	Policy    Policy
	// Nonce defaults to 12 random bytes.
	Nonce []byte
	Meta  map[string]any
	// NotBefore is omitted when zero.
	NotBefore time.Time
	// Expiration is required unless NoExpiration is set (exp: null).
	Expiration   time.Time
	NoExpiration bool
}

// NewDelegation builds and signs a delegation issued by s. It always
// writes the ucan/dlg@1.0.0 tag.
func NewDelegation(s Signer, f DelegationFields) (*Delegation, error) {
	p := map[string]any{
		"iss": s.DID(),
		"aud": f.Audience,
		"cmd": f.Command,
		"pol": f.Policy.Value(),
	}
	switch {
	case f.Powerline && f.Subject != "":
		return nil, errors.New("ucan: a powerline delegation has no subject")
	case f.Powerline:
		p["sub"] = nil
	default:
		p["sub"] = f.Subject
	}
	if !ValidCommand(f.Command) || IsReservedCommand(f.Command) {
		return nil, newErr(NameMalformedToken, RuleCommandSyntax, -1, truncate(f.Command))
	}
	if err := setCommon(p, f.Nonce, f.Meta, f.Expiration, f.NoExpiration); err != nil {
		return nil, err
	}
	if !f.NotBefore.IsZero() {
		p["nbf"] = f.NotBefore.Unix()
	}
	env, err := signEnvelope(s, TagDelegation, p)
	if err != nil {
		return nil, err
	}
	return ParseDelegation(env.raw)
}

func setCommon(p map[string]any, nonce []byte, meta map[string]any, exp time.Time, noExp bool) error {
	if nonce == nil {
		nonce = make([]byte, 12)
		if _, err := rand.Read(nonce); err != nil {
			return err
		}
	}
	p["nonce"] = nonce
	if meta != nil {
		p["meta"] = meta
	}
	switch {
	case noExp && !exp.IsZero():
		return errors.New("ucan: both Expiration and NoExpiration set")
	case noExp:
		p["exp"] = nil
	case exp.IsZero():
		return errors.New("ucan: Expiration is required (set NoExpiration for exp: null)")
	default:
		p["exp"] = exp.Unix()
	}
	return nil
}
