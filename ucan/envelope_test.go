package ucan

import (
	"reflect"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
)

// encodeEnvelope signs payload under tag and returns the token bytes.
func encodeEnvelope(s Signer, tag string, payload map[string]any) ([]byte, error) {
	env, err := signEnvelope(s, tag, payload)
	return env.raw, err
}

// usualPayloadAgrees decodes the signature payload of data by the fast path
// (decodeUsualPayload) and by the general decoder (decodePayload). It fails
// t if the fast path accepts a payload that the general decoder rejects or
// decodes differently, and reports whether the fast path accepted it.
func usualPayloadAgrees(t *testing.T, data []byte) bool {
	t.Helper()
	if len(data) < 2 || data[0] != 0x82 {
		return false
	}
	start, n, ok := byteStringHead(data[1:])
	if !ok || n > uint64(len(data)-1-start) {
		return false
	}
	sp := data[1+start+int(n):]
	accepted := false
	for _, ordered := range []bool{false, true} {
		opts := drisl.DecOptions{MaxDepth: maxDecodeDepth, MaxInputBytes: DefaultMaxTokenBytes, MaxContainerLen: DefaultMaxTokenBytes,
			OrderedMaps: ordered}
		fast, general := &envelope{sigPayload: sp}, &envelope{sigPayload: sp}
		if !fast.decodeUsualPayload(opts) {
			if fast.payload != nil || fast.tag != "" || fast.alg != 0 || fast.kind != 0 {
				t.Fatalf("payload %x: the fast path refused it but changed the envelope", sp)
			}
			if accepted {
				t.Fatalf("payload %x: the fast path refused ordered what it accepted unordered", sp)
			}
			continue
		}
		if ordered && !accepted {
			t.Fatalf("payload %x: the fast path accepted ordered what it refused unordered", sp)
		}
		accepted = true
		if err := general.decodePayload(opts); err != nil {
			t.Fatalf("payload %x: the fast path accepted what the general decoder rejects: %v", sp, err)
		}
		if fast.alg != general.alg || fast.kind != general.kind || fast.tag != general.tag || !reflect.DeepEqual(fast.payload, general.payload) {
			t.Fatalf("payload %x (ordered %v): the fast path decoded %v %v %q, the general decoder %v %v %q",
				sp, ordered, fast.alg, fast.kind, fast.tag, general.alg, general.kind, general.tag)
		}
	}
	return accepted
}

// TestUsualPayloadAgrees checks the envelope fast path against the general
// decoder on the fixtures, on tokens of every algorithm and tag (1.0.0 and
// rc.1) with every one-byte change of the prefix it reads by hand and every
// truncation, and at the nesting limit.
func TestUsualPayloadAgrees(t *testing.T) {
	var tokens [][]byte
	for _, alg := range algs {
		w := newWorld(t, alg, 1, "/repo")
		tokens = append(tokens, w.chain[0].Bytes(), w.invoke("/repo/create", map[string]any{"n": 1}).Bytes())
		for _, tag := range []string{TagInvocationRC1, TagDelegationRC1} {
			tok, err := encodeEnvelope(w.invoker(), tag, map[string]any{"iss": w.invoker().DID()})
			if err != nil {
				t.Fatal(err)
			}
			tokens = append(tokens, tok)
		}
	}
	// Signature payloads nested 64 deep (accepted) and 65 deep (refused),
	// as in TestDocumentedLimits.
	w := newWorld(t, Ed25519, 1, "/")
	for _, depth := range []int{64, 65} {
		var v any = int64(1)
		for i := 3; i < depth; i++ {
			v = []any{v}
		}
		tok, err := encodeEnvelope(w.invoker(), TagInvocation, map[string]any{"args": map[string]any{"v": v}})
		if err != nil {
			t.Fatal(err)
		}
		if got := usualPayloadAgrees(t, tok); got != (depth == 64) {
			t.Errorf("payload nested %d deep: fast path %v", depth, got)
		}
	}
	for _, tok := range fixtureTokens(t) {
		usualPayloadAgrees(t, tok) // some fixtures are malformed on purpose
	}
	fast := 0
	for _, tok := range tokens {
		if usualPayloadAgrees(t, tok) {
			fast++
		}
		// Every value of every byte of the prefix the fast path reads by
		// hand (map head, "h", the header, the tag's head and text) and
		// of the payload's first bytes.
		start, n, _ := byteStringHead(tok[1:])
		from := 1 + start + int(n)
		for i := from; i < min(len(tok), from+4+8+1+len(TagInvocationRC1)+4); i++ {
			for b := 0; b < 256; b++ {
				m := append([]byte(nil), tok...)
				m[i] = byte(b)
				usualPayloadAgrees(t, m)
			}
		}
		for l := from; l < len(tok); l++ {
			usualPayloadAgrees(t, tok[:l])
		}
	}
	if fast != len(tokens) {
		t.Errorf("the fast path took %d of %d well-formed tokens", fast, len(tokens))
	}
}

// oddLengthSigner signs like its Signer, then pads or cuts the signature
// to n bytes: no supported algorithm does, but signEnvelope must still
// build a well-formed token around it.
type oddLengthSigner struct {
	Signer
	n int
}

func (s oddLengthSigner) Sign(p []byte) ([]byte, error) {
	sig, err := s.Signer.Sign(p)
	out := make([]byte, s.n)
	copy(out, sig)
	return out, err
}

// TestSignEnvelopeOtherLength: a signature of another length than 64
// (across the byte-string head's sizes) is written as the token's byte
// string, before the same signature payload the usual path signs.
func TestSignEnvelopeOtherLength(t *testing.T) {
	s := newSigner(t, Ed25519)
	payload := map[string]any{"iss": s.DID(), "cmd": "/x"}
	want, err := signEnvelope(s, TagInvocation, payload)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 23, 24, 65, 300} {
		env, err := signEnvelope(oddLengthSigner{s, n}, TagInvocation, payload)
		if err != nil {
			t.Fatal(err)
		}
		var got envelope
		if err := got.decode(env.raw, DefaultMaxTokenBytes, false); err != nil {
			t.Fatalf("%d-byte signature: token does not decode: %v", n, err)
		}
		if len(got.signature) != n || !reflect.DeepEqual(got.sigPayload, want.sigPayload) ||
			!reflect.DeepEqual(env.signature, got.signature) || !reflect.DeepEqual(env.sigPayload, got.sigPayload) {
			t.Fatalf("%d-byte signature: decoded %d-byte signature, payload equal %v", n, len(got.signature), reflect.DeepEqual(got.sigPayload, want.sigPayload))
		}
	}
}
