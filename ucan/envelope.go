package ucan

import (
	"crypto/elliptic"
	"math/big"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/internal/ecverify"
)

// Type tags of the envelope's payload. Tokens are always written with the
// 1.0.0 tags; the 1.0.0-rc.1 tags are read too.
const (
	TagDelegation        = "ucan/dlg@1.0.0"
	TagInvocation        = "ucan/inv@1.0.0"
	TagDelegationRC1     = "ucan/dlg@1.0.0-rc.1"
	TagInvocationRC1     = "ucan/inv@1.0.0-rc.1"
	DefaultMaxTokenBytes = 64 << 10
	maxDecodeDepth       = 64
)

type tokenKind uint8

const (
	kindDelegation tokenKind = iota + 1
	kindInvocation
)

// envelope is a decoded, not yet verified, UCAN envelope.
type envelope struct {
	raw        []byte // the whole token, as received
	signature  []byte
	sigPayload []byte // .1 exactly as received: what the signature covers
	alg        Algorithm
	kind       tokenKind
	tag        string
	payload    map[string]any
}

// decodeEnvelope parses [sig, {"h": header, "ucan/<tag>": payload}] with the
// strict DRISL decoder and the given byte limit. The token is copied once;
// the envelope's slices point into the copy, never into the caller's
// buffer (verified delegations are cached).
func decodeEnvelope(data []byte, maxBytes int) (*envelope, error) {
	env := new(envelope)
	if err := env.decode(data, maxBytes, false); err != nil {
		return nil, err
	}
	return env, nil
}

// decode is decodeEnvelope into env, which the caller allocates (an
// invocation allocates itself and its envelope together). With ordered,
// the maps inside the payload's top-level values decode as drisl.Map (see
// ValidatorOptions.OrderedArgs); the payload itself, and its args and meta
// maps, are map[string]any either way.
func (env *envelope) decode(data []byte, maxBytes int, ordered bool) error {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxTokenBytes
	}
	if len(data) > maxBytes {
		return newErr(NameMalformedToken, RuleTokenSize, -1, "")
	}
	// The outer array and the signature's byte-string head are read here
	// (checking DRISL's shortest-form rule); the signature payload, which
	// is the rest of the token, goes through the strict decoder (after its
	// usual prefix, read by decodeUsualPayload), which also
	// rejects trailing bytes. Together that is exactly a strict decode of
	// the whole token, in one pass.
	if len(data) < 2 || data[0] != 0x82 {
		return newErr(NameMalformedToken, RuleEnvelope, -1, "not a 2-element array")
	}
	sigStart, sigLen, ok := byteStringHead(data[1:])
	if !ok {
		return newErr(NameMalformedToken, RuleEnvelope, -1, "signature is not a canonical byte string")
	}
	sigStart++
	if sigLen > uint64(len(data)-sigStart) {
		return newErr(NameMalformedToken, RuleEnvelope, -1, "signature runs past the end")
	}
	owned := append([]byte(nil), data...)
	sigEnd := sigStart + int(sigLen)
	*env = envelope{raw: owned, signature: owned[sigStart:sigEnd:sigEnd], sigPayload: owned[sigEnd:]}
	opts := drisl.DecOptions{MaxDepth: maxDecodeDepth, MaxInputBytes: maxBytes, MaxContainerLen: maxBytes, OrderedMaps: ordered}
	if env.decodeUsualPayload(opts) {
		return nil
	}
	return env.decodePayload(opts)
}

// decodePayload decodes env.sigPayload, {"h": header, "ucan/<tag>":
// payload}, with the strict DRISL decoder and sets env's algorithm, kind,
// tag and payload.
func (env *envelope) decodePayload(opts drisl.DecOptions) error {
	var sp map[string]any
	if err := opts.Unmarshal(env.sigPayload, &sp); err != nil {
		return wrapErr(NameMalformedToken, RuleEncoding, -1, err)
	}
	if len(sp) != 2 {
		return newErr(NameMalformedToken, RuleEnvelope, -1, "signature payload must have exactly the keys h and one type tag")
	}
	h, ok := sp["h"].([]byte)
	if !ok {
		return newErr(NameMalformedToken, RuleEnvelope, -1, "h is not bytes")
	}
	alg, err := ParseVarsigHeader(h)
	if err != nil {
		return err
	}
	env.alg = alg
	for k, v := range sp {
		if k == "h" {
			continue
		}
		kind, ok := tagKind(k)
		if !ok {
			return newErr(NameMalformedToken, RuleTypeTag, -1, truncate(k))
		}
		env.kind, env.tag = kind, k
		m, ok := topMap(v)
		if !ok {
			return newErr(NameMalformedToken, RuleEnvelope, -1, "payload is not a map")
		}
		env.payload = m
	}
	return nil
}

// topMap returns a map of the decoded payload (a map[string]any, or a
// drisl.Map when maps decode ordered) as a map[string]any, its values
// unchanged, and false for any other value.
func topMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case drisl.Map:
		out := make(map[string]any, len(m))
		for _, e := range m {
			out[e.Key] = e.Value
		}
		return out, true
	}
	return nil, false
}

// envelopeTags are the type tags with their kinds, the 1.0.0 ones first.
var envelopeTags = [...]struct {
	tag  string
	kind tokenKind
}{
	{TagInvocation, kindInvocation},
	{TagDelegation, kindDelegation},
	{TagInvocationRC1, kindInvocation},
	{TagDelegationRC1, kindDelegation},
}

// tagKind returns the kind of the type tag k, if it is one of envelopeTags.
func tagKind(k string) (tokenKind, bool) {
	for _, t := range envelopeTags {
		if t.tag == k {
			return t.kind, true
		}
	}
	return 0, false
}

// decodeUsualPayload decodes env.sigPayload when it starts as every token
// this package accepts starts: a map of two entries, "h" (sorted first:
// DRISL orders keys by length) with an 8-byte header of a supported
// algorithm, then a known type tag, in shortest-form heads. Only the
// payload after the tag goes through the strict decoder, one level less
// deep, so no map is built for the envelope and neither h nor the tag is
// copied. It accepts exactly the tokens that the general path in
// decodeEnvelope accepts with the same prefix; on anything else it
// returns false and leaves env alone, and the general path decides (and
// reports the error).
func (env *envelope) decodeUsualPayload(opts drisl.DecOptions) bool {
	sp := env.sigPayload
	const hLen = 8 // every supported varsig header
	if len(sp) < 4+hLen || sp[0] != 0xa2 || sp[1] != 0x61 || sp[2] != 'h' || sp[3] != 0x40|hLen {
		return false
	}
	alg, err := ParseVarsigHeader(sp[4 : 4+hLen])
	if err != nil {
		return false
	}
	rest := sp[4+hLen:]
	for _, t := range envelopeTags {
		n := len(t.tag) // below 24: a one-byte text head
		if len(rest) <= 1+n || rest[0] != 0x60|byte(n) || string(rest[1:1+n]) != t.tag {
			continue
		}
		payload := rest[1+n:]
		if payload[0]>>5 != 5 { // not a map: the general path reports it
			return false
		}
		opts.MaxDepth--
		// Into env's own field: a local map would escape to the heap.
		if err := opts.Unmarshal(payload, &env.payload); err != nil {
			env.payload = nil
			return false
		}
		env.alg, env.kind, env.tag = alg, t.kind, t.tag
		return true
	}
	return false
}

// signEnvelope signs payload under tag and returns the token's envelope
// (raw, signature, sigPayload, alg and tag; no kind or payload). The
// token, [sig, sp], is written around the signature payload sp without
// checking sp again: drisl.Marshal only writes strict DRISL.
//
// The token is encoded once, with sigBytes zero bytes where the signature
// goes (every supported algorithm signs in sigBytes), and the signature is
// written over them: sp is signed where it lies, not encoded on its own
// and copied behind the signature. A Signer that returns another length
// gets the token rebuilt around sp.
func signEnvelope(s Signer, tag string, payload map[string]any) (envelope, error) {
	alg := s.Algorithm()
	h := alg.Header()
	if h == nil {
		return envelope{}, ErrUnsupportedKey
	}
	var blank [sigBytes]byte
	t, err := drisl.Marshal([]any{blank[:], drisl.Map{{Key: "h", Value: h}, {Key: tag, Value: payload}}})
	if err != nil {
		// The error as encoding sp on its own reports it (its path
		// starts at sp, not at the token's second element).
		if _, serr := drisl.Marshal(map[string]any{"h": h, tag: payload}); serr != nil {
			return envelope{}, serr
		}
		return envelope{}, err
	}
	// 0x82 (an array of 2), 0x58 0x40 (a byte string of 64), the blank.
	const sigStart, sigEnd = 3, 3 + sigBytes
	sp := t[sigEnd:]
	sig, err := s.Sign(sp)
	if err != nil {
		return envelope{}, err
	}
	if len(sig) == sigBytes {
		copy(t[sigStart:sigEnd], sig)
		return envelope{raw: t, signature: t[sigStart:sigEnd:sigEnd], sigPayload: sp, alg: alg, tag: tag}, nil
	}
	return wrapSignature(sig, sp, alg, tag), nil
}

// sigBytes is the length of the signatures of every supported algorithm
// (Ed25519; ECDSA as raw r||s).
const sigBytes = 64

// wrapSignature returns the envelope of the token [sig, sp] (sp a
// signature payload under tag, signed with alg).
func wrapSignature(sig, sp []byte, alg Algorithm, tag string) envelope {
	// 0x82 (an array of 2), the signature as a byte string (which drisl
	// encodes without fail), then sp.
	t := make([]byte, 0, 1+9+len(sig)+len(sp))
	t, _ = drisl.AppendMarshal(append(t, 0x82), sig)
	sigEnd := len(t)
	sigStart := sigEnd - len(sig)
	t = append(t, sp...)
	return envelope{raw: t, signature: t[sigStart:sigEnd:sigEnd], sigPayload: t[sigEnd:], alg: alg, tag: tag}
}

// p256N is the order of P-256's base point.
var p256N = elliptic.P256().Params().N

// es256HighS reports whether env is an ES256 token whose signature has a
// high S.
func (env *envelope) es256HighS() bool {
	return env.alg == ES256 && len(env.signature) == 64 && ecverify.HighS(env.signature[32:], false)
}

// es256Twin returns, for an ES256 token, the CID of its twin: the same
// token with the signature's S replaced by n-S, which verifies just as well
// (this package accepts high-S ES256 signatures, see the package doc). ok
// is false for other algorithms and for signatures that are not 64 bytes
// or whose S is not in [1, n-1].
func (env *envelope) es256Twin() (twin cid.Cid, ok bool) {
	if env.alg != ES256 || len(env.signature) != 64 {
		return cid.Undef, false
	}
	// The signature is the envelope's first element and the signature
	// payload is the rest of the token, so S ends where it starts.
	end := len(env.raw) - len(env.sigPayload)
	t := append([]byte(nil), env.raw...)
	sb := t[end-32 : end]
	s := new(big.Int).SetBytes(sb)
	s.Sub(p256N, s)
	if s.Sign() <= 0 || s.Cmp(p256N) >= 0 {
		return cid.Undef, false
	}
	s.FillBytes(sb)
	return tokenCID(t), true
}

// replayCID is the CID the replay guard records for a token: its CID, or
// for an ES256 token with a high S the CID of its low-S twin, so that the
// twin of a used invocation is a replay too.
func (env *envelope) replayCID(c cid.Cid) cid.Cid {
	if env.es256HighS() {
		if twin, ok := env.es256Twin(); ok {
			return twin
		}
	}
	return c
}

// tokenCID is the CID of a token: CIDv1, dag-cbor, sha2-256 of its bytes.
func tokenCID(data []byte) cid.Cid { return drisl.SumCID(drisl.CodecDagCBOR, data) }

// byteStringHead reads a CBOR byte-string head in shortest form and returns
// the head's length and the string's length.
func byteStringHead(b []byte) (headLen int, n uint64, ok bool) {
	if len(b) == 0 || b[0]>>5 != 2 {
		return 0, 0, false
	}
	info := b[0] & 0x1f
	switch {
	case info < 24:
		return 1, uint64(info), true
	case info > 27:
		return 0, 0, false
	}
	w := 1 << (info - 24)
	if len(b) < 1+w {
		return 0, 0, false
	}
	for _, c := range b[1 : 1+w] {
		n = n<<8 | uint64(c)
	}
	min := [4]uint64{24, 1 << 8, 1 << 16, 1 << 32}[info-24]
	if n < min {
		return 0, 0, false
	}
	return 1 + w, n, true
}
