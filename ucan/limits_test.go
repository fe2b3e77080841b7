package ucan

import (
	"strings"
	"testing"
)

// TestDocumentedLimits checks the limits the package doc states, at the
// boundary: the largest accepted and the smallest rejected input.
func TestDocumentedLimits(t *testing.T) {
	// "policy statements nested at most 32 deep": a top-level statement is
	// at depth 1.
	nest := func(depth int) []any {
		stmt := []any{"==", ".a", int64(1)}
		for i := 1; i < depth; i++ {
			stmt = []any{"not", stmt}
		}
		return []any{stmt}
	}
	if _, err := ParsePolicy(nest(32)); err != nil {
		t.Errorf("statements nested 32 deep: %v", err)
	}
	if _, err := ParsePolicy(nest(33)); err == nil {
		t.Error("statements nested 33 deep parsed")
	}

	// "selectors at most 1 KiB".
	sel := func(n int) string { return "." + strings.Repeat("a", n-1) }
	if _, err := ParseSelector(sel(MaxSelectorBytes)); err != nil {
		t.Errorf("selector of %d bytes: %v", MaxSelectorBytes, err)
	}
	if _, err := ParseSelector(sel(MaxSelectorBytes + 1)); err == nil {
		t.Errorf("selector of %d bytes parsed", MaxSelectorBytes+1)
	}

	// "signature payloads nested at most 64 deep": the signature payload
	// map is level 1, the payload 2, args 3 (the envelope array around
	// them is not counted).
	w := newWorld(t, Ed25519, 1, "/")
	token := func(depth int) []byte {
		var v any = int64(1)
		for i := 3; i < depth; i++ {
			v = []any{v}
		}
		tok, err := encodeEnvelope(w.invoker(), TagInvocation, map[string]any{
			"iss": w.invoker().DID(), "sub": w.signer[0].DID(), "cmd": "/x",
			"args": map[string]any{"v": v}, "prf": []any{w.chain[0].CID()},
			"nonce": []byte{1}, "exp": nil,
		})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if _, err := w.validator(ValidatorOptions{}).Validate(ctx, token(64)); err != nil {
		t.Errorf("signature payload nested 64 deep: %v", err)
	}
	if _, err := ParseInvocation(token(65)); err == nil {
		t.Error("signature payload nested 65 deep parsed")
	} else if e, ok := err.(*Error); !ok || e.Rule != RuleEncoding {
		t.Errorf("signature payload nested 65 deep: %v, want %s", err, RuleEncoding)
	}
}
