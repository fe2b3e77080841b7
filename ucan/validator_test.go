package ucan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
)

var algs = []Algorithm{Ed25519, ES256, ES256K}

func TestKeyTypes(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg.String(), func(t *testing.T) {
			w := newWorld(t, alg, 3, "/repo")
			inv := w.invoke("/repo/create", map[string]any{"collection": "app.chat"})
			if inv.Algorithm != alg || inv.Tag != TagInvocation {
				t.Fatalf("alg %s tag %s", inv.Algorithm, inv.Tag)
			}
			v := w.validator(ValidatorOptions{})
			got, err := v.Validate(ctx, inv.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if !got.CID().Equals(inv.CID()) || got.Args["collection"] != "app.chat" {
				t.Fatalf("validated %v", got)
			}
			// did:key roundtrip.
			for _, s := range w.signer {
				k, err := ParseDIDKey(s.DID())
				if err != nil || k.DIDKey() != s.DID() || k.Algorithm() != alg {
					t.Fatalf("ParseDIDKey(%s): %v", s.DID(), err)
				}
			}
			// A flipped bit in the invocation's signature.
			bad := resign(t, inv.Bytes(), func(sig []byte) []byte { sig[5] ^= 0x10; return sig })
			_, err = w.validator(ValidatorOptions{}).Validate(ctx, bad)
			wantName(t, err, NameInvalidSignature)
		})
	}
}

// resign rewrites the signature of an envelope, keeping the payload bytes.
func resign(t testing.TB, token []byte, f func([]byte) []byte) []byte {
	t.Helper()
	var parts []drisl.Raw
	if err := drisl.Unmarshal(token, &parts); err != nil {
		t.Fatal(err)
	}
	var sig []byte
	if err := drisl.Unmarshal(parts[0], &sig); err != nil {
		t.Fatal(err)
	}
	out, err := drisl.Marshal([]any{f(append([]byte(nil), sig...)), parts[1]})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var curveOrders = map[Algorithm]string{
	ES256:  "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
	ES256K: "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
}

// flipS returns token with the other valid ECDSA signature: S replaced by
// n-S.
func flipS(t testing.TB, alg Algorithm, token []byte) []byte {
	t.Helper()
	n, _ := new(big.Int).SetString(curveOrders[alg], 16)
	return resign(t, token, func(sig []byte) []byte {
		s := new(big.Int).SetBytes(sig[32:])
		s.Sub(n, s)
		s.FillBytes(sig[32:])
		return sig
	})
}

// TestHighS checks ECDSA signatures with a high S (the other valid
// signature n-S of a low-S one, which this package writes): accepted for
// ES256, since UCAN does not ask for low-S and WebCrypto signs with either
// S; rejected for ES256K, which keeps atproto's low-S rule.
func TestHighS(t *testing.T) {
	for alg := range curveOrders {
		t.Run(alg.String(), func(t *testing.T) {
			n, _ := new(big.Int).SetString(curveOrders[alg], 16)
			w := newWorld(t, alg, 0, "/")
			inv, err := NewInvocation(w.signer[0], InvocationFields{Subject: w.signer[0].DID(), Command: "/x", NoExpiration: true})
			if err != nil {
				t.Fatal(err)
			}
			if s := new(big.Int).SetBytes(inv.Signature[32:]); s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
				t.Fatal("NewInvocation wrote a high S")
			}
			if _, err := w.validator(ValidatorOptions{}).Validate(ctx, inv.Bytes()); err != nil {
				t.Fatal(err)
			}
			_, err = w.validator(ValidatorOptions{}).Validate(ctx, flipS(t, alg, inv.Bytes()))
			if alg == ES256K {
				wantName(t, err, NameInvalidSignature)
			} else if err != nil {
				t.Fatalf("high-S ES256 invocation: %v", err)
			}
		})
	}
}

// TestES256Twins checks that the two forms of an ES256 signature (S and
// n-S, both valid) count as one token where a CID identifies it: an
// invocation and its twin are one use for the replay guard, and a
// revocation of a delegation under either CID revokes both forms.
func TestES256Twins(t *testing.T) {
	w := newWorld(t, ES256, 1, "/repo")
	inv := w.invoke("/repo/create", nil)
	twin := flipS(t, ES256, inv.Bytes())
	if tokenCID(twin).Equals(inv.CID()) {
		t.Fatal("twin has the same CID")
	}
	for _, order := range [][2][]byte{{inv.Bytes(), twin}, {twin, inv.Bytes()}} {
		v := w.validator(ValidatorOptions{})
		if _, err := v.Validate(ctx, order[0]); err != nil {
			t.Fatal(err)
		}
		_, err := v.Validate(ctx, order[1])
		wantName(t, err, NameReplayed)
	}

	d := w.chain[0]
	dTwin := flipS(t, ES256, d.Bytes())
	invOfTwin, err := NewInvocation(w.invoker(), InvocationFields{
		Subject:    w.signer[0].DID(),
		Command:    "/repo/create",
		Proofs:     []cid.Cid{tokenCID(dTwin)},
		Expiration: t0.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.validator(ValidatorOptions{}).Validate(ctx, invOfTwin.Bytes(), dTwin); err != nil {
		t.Fatalf("invocation over the delegation's twin: %v", err)
	}
	for _, revoked := range []cid.Cid{d.CID(), tokenCID(dTwin)} {
		for _, tok := range []*Invocation{inv, invOfTwin} {
			rs := NewMemoryRevocationStore()
			if err := rs.AddRevocation(ctx, revoked, drisl.SumCID(drisl.CodecDagCBOR, []byte("revocation"))); err != nil {
				t.Fatal(err)
			}
			_, err := w.validator(ValidatorOptions{Revocations: rs}).Validate(ctx, tok.Bytes(), dTwin)
			wantName(t, err, NameRevoked)
		}
	}
}

func TestKeyHeaderMismatch(t *testing.T) {
	// An Ed25519 key signing under an ES256 header.
	ed := newSigner(t, Ed25519)
	p := map[string]any{"iss": ed.DID(), "sub": ed.DID(), "cmd": "/x", "args": map[string]any{}, "prf": []any{}, "nonce": []byte{1}, "exp": nil}
	sp, _ := drisl.Marshal(map[string]any{"h": ES256.Header(), TagInvocation: p})
	sig, _ := ed.Sign(sp)
	tok, _ := drisl.Marshal([]any{sig, drisl.Raw(sp)})
	_, err := NewValidator(ValidatorOptions{Now: fixedClock(t0)}).Validate(ctx, tok)
	wantName(t, err, NameInvalidSignature)
}

func TestSelfInvocation(t *testing.T) {
	w := newWorld(t, Ed25519, 1, "/")
	self, err := NewInvocation(w.signer[0], InvocationFields{Subject: w.signer[0].DID(), Command: "/anything", NoExpiration: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.validator(ValidatorOptions{}).Validate(ctx, self.Bytes()); err != nil {
		t.Fatal(err)
	}
	other, _ := NewInvocation(w.signer[1], InvocationFields{Subject: w.signer[0].DID(), Command: "/anything", NoExpiration: true})
	_, err = w.validator(ValidatorOptions{}).Validate(ctx, other.Bytes())
	wantName(t, err, NameInvalidClaim)
}

func TestPowerline(t *testing.T) {
	// alice -> bob (sub alice), bob -> carol powerline (sub null).
	w := newWorld(t, Ed25519, 1, "/msg")
	w.signer = append(w.signer, newSigner(t, Ed25519))
	pl := w.delegate(1, DelegationFields{Powerline: true, Command: "/", NoExpiration: true})
	if !pl.IsPowerline() || pl.Subject != "" {
		t.Fatal("not a powerline")
	}
	inv := w.invoke("/msg/send", nil)
	if _, err := w.validator(ValidatorOptions{}).Validate(ctx, inv.Bytes()); err != nil {
		t.Fatal(err)
	}
	// The powerline does not widen the command: /msg still bounds it.
	inv2 := w.invoke("/repo/create", nil)
	_, err := w.validator(ValidatorOptions{}).Validate(ctx, inv2.Bytes())
	wantName(t, err, NameInvalidClaim)

	// A powerline at the root is invalid.
	w2 := newWorld(t, Ed25519, 0, "/")
	w2.signer = append(w2.signer, newSigner(t, Ed25519))
	w2.delegate(0, DelegationFields{Powerline: true, Command: "/", NoExpiration: true})
	inv3 := w2.invoke("/x", nil)
	_, err = w2.validator(ValidatorOptions{}).Validate(ctx, inv3.Bytes())
	wantName(t, err, NameInvalidClaim)
}

func TestRevocation(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg.String(), func(t *testing.T) {
			w := newWorld(t, alg, 3, "/repo") // alice -> bob -> carol -> dan
			revs := NewMemoryRevocationStore()
			v := w.validator(ValidatorOptions{Revocations: revs})
			if _, err := v.Validate(ctx, w.invoke("/repo/create", nil).Bytes()); err != nil {
				t.Fatal(err)
			}
			// Dan (the invoker) is not an issuer in the chain of bob -> carol.
			rev, err := NewRevocation(w.signer[3], w.chain[:2], RevocationFields{NoExpiration: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Revoke(ctx, rev.Bytes()); !errors.Is(err, ErrInvalidClaim) {
				t.Fatalf("revocation by an outsider: %v", err)
			}
			// A stranger cannot revoke either.
			rev, _ = NewRevocation(newSigner(t, alg), w.chain[:2], RevocationFields{NoExpiration: true})
			if _, err := v.Revoke(ctx, rev.Bytes()); !errors.Is(err, ErrInvalidClaim) {
				t.Fatalf("revocation by a stranger: %v", err)
			}
			// Alice (the root issuer) revokes bob -> carol.
			rev, err = NewRevocation(w.signer[0], w.chain[:2], RevocationFields{NoExpiration: true})
			if err != nil {
				t.Fatal(err)
			}
			if rev.Command != CommandRevoke || !rev.Args["revoke"].(cid.Cid).Equals(w.chain[1].CID()) {
				t.Fatalf("revocation shape %v", rev.Args)
			}
			r, err := v.Revoke(ctx, rev.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if !r.Delegation.Equals(w.chain[1].CID()) || r.Revoker != w.signer[0].DID() {
				t.Fatalf("revocation %+v", r)
			}
			_, err = v.Validate(ctx, w.invoke("/repo/create", nil).Bytes())
			wantName(t, err, NameRevoked)
			var e *Error
			if errors.As(err, &e); e.Index != 1 {
				t.Fatalf("revoked at index %d, want 1", e.Index)
			}
			// A revocation is not a valid ordinary invocation.
			_, err = v.Validate(ctx, rev.Bytes())
			wantName(t, err, NameInvalidClaim)
			// Carol may revoke carol -> dan (she issued it).
			rev, _ = NewRevocation(w.signer[2], w.chain, RevocationFields{NoExpiration: true})
			if _, err := v.ValidateRevocation(ctx, rev.Bytes()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReplay(t *testing.T) {
	w := newWorld(t, Ed25519, 2, "/")
	v := w.validator(ValidatorOptions{})
	inv := w.invoke("/x", nil)
	if _, err := v.Validate(ctx, inv.Bytes()); err != nil {
		t.Fatal(err)
	}
	_, err := v.Validate(ctx, inv.Bytes())
	wantName(t, err, NameReplayed)
	if !errors.Is(err, ErrReplayed) {
		t.Fatal("errors.Is ErrReplayed")
	}
	// A fresh invocation (new nonce) is fine.
	if _, err := v.Validate(ctx, w.invoke("/x", nil).Bytes()); err != nil {
		t.Fatal(err)
	}
	// A rejected invocation is not recorded.
	guard := NewMemoryReplayGuard(MemoryReplayGuardOptions{Now: fixedClock(t0)})
	v2 := w.validator(ValidatorOptions{Replay: guard, MaxChainLength: 1})
	inv2 := w.invoke("/x", nil)
	if _, err := v2.Validate(ctx, inv2.Bytes()); err == nil || guard.Len() != 0 {
		t.Fatalf("err %v, guard %d", err, guard.Len())
	}
}

func TestReplayGuardBound(t *testing.T) {
	now := t0
	g := NewMemoryReplayGuard(MemoryReplayGuardOptions{MaxEntries: 2, Now: func() time.Time { return now }})
	c := func(i byte) cid.Cid { return drisl.SumCID(drisl.CodecRaw, []byte{i}) }
	if g.Record(ctx, c(1), t0.Add(time.Minute)) != nil || g.Record(ctx, c(2), time.Time{}) != nil {
		t.Fatal("record")
	}
	if err := g.Record(ctx, c(3), time.Time{}); !errors.Is(err, ErrReplayGuardFull) {
		t.Fatalf("full: %v", err)
	}
	now = t0.Add(2 * time.Minute) // c(1) expired and can be dropped
	if err := g.Record(ctx, c(3), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := g.Record(ctx, c(2), time.Time{}); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay: %v", err)
	}
}

// TestReplayGuardSweepsAsItGrows: a guard far from its bound still drops
// expired entries as it grows, so its size follows the live entries (here
// about 1,000 at a time) rather than everything ever recorded.
func TestReplayGuardSweepsAsItGrows(t *testing.T) {
	now := t0
	g := NewMemoryReplayGuard(MemoryReplayGuardOptions{Now: func() time.Time { return now }})
	peak := 0
	for i := 0; i < 50_000; i++ {
		if i%1000 == 0 {
			now = now.Add(time.Minute) // everything recorded before has expired
		}
		c := drisl.SumCID(drisl.CodecRaw, []byte(strconv.Itoa(i)))
		if err := g.Record(ctx, c, now.Add(30*time.Second)); err != nil {
			t.Fatal(err)
		}
		peak = max(peak, g.Len())
	}
	if peak > 4*minReplaySweep {
		t.Fatalf("guard grew to %d entries with about 1,000 live", peak)
	}
}

func TestMaxClockSkew(t *testing.T) {
	w := newWorld(t, Ed25519, 1, "/")
	w.chain = nil
	w.delegate(0, DelegationFields{Command: "/", NotBefore: t0, Expiration: t0.Add(time.Hour)})
	cases := []struct {
		now  time.Time
		skew time.Duration
		want string
	}{
		{t0, 0, ""},
		{t0.Add(-30 * time.Second), 0, ""},           // within default 60 s before nbf
		{t0.Add(-61 * time.Second), 0, NameTooEarly}, // beyond it
		{t0.Add(-30 * time.Second), 10 * time.Second, NameTooEarly},
		{t0.Add(-30 * time.Second), -1, NameTooEarly}, // no skew
		{t0.Add(time.Hour + 59*time.Second), 0, ""},   // within skew after exp
		{t0.Add(time.Hour + 61*time.Second), 0, NameExpired},
		{t0.Add(time.Hour + 11*time.Second), 10 * time.Second, NameExpired},
	}
	for i, c := range cases {
		inv, err := NewInvocation(w.invoker(), InvocationFields{Subject: w.signer[0].DID(), Command: "/x", Proofs: w.proofs(), NoExpiration: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.validator(ValidatorOptions{Now: fixedClock(c.now), MaxClockSkew: c.skew}).Validate(ctx, inv.Bytes())
		if got := ErrorName(err); got != c.want {
			t.Errorf("case %d: %q (%v), want %q", i, got, err, c.want)
		}
	}
	// The invocation's own exp.
	inv, _ := NewInvocation(w.invoker(), InvocationFields{Subject: w.signer[0].DID(), Command: "/x", Proofs: w.proofs(), Expiration: t0})
	_, err := w.validator(ValidatorOptions{Now: fixedClock(t0.Add(90 * time.Second))}).Validate(ctx, inv.Bytes())
	wantName(t, err, NameExpired)
	if e := err.(*Error); e.Index != -1 {
		t.Fatalf("index %d", e.Index)
	}
}

func TestChainLength(t *testing.T) {
	w := newWorld(t, ES256K, 4, "/")
	inv := w.invoke("/x", nil)
	_, err := w.validator(ValidatorOptions{MaxChainLength: 3}).Validate(ctx, inv.Bytes())
	wantName(t, err, NameInvalidClaim)
	if e := err.(*Error); e.Rule != RuleChainLength {
		t.Fatalf("rule %s", e.Rule)
	}
	if _, err := w.validator(ValidatorOptions{MaxChainLength: 4}).Validate(ctx, inv.Bytes()); err != nil {
		t.Fatal(err)
	}
}

func TestTokenSize(t *testing.T) {
	w := newWorld(t, Ed25519, 1, "/")
	inv := w.invoke("/x", map[string]any{"blob": bytes.Repeat([]byte{7}, 2000)})
	_, err := w.validator(ValidatorOptions{MaxTokenBytes: 1000}).Validate(ctx, inv.Bytes())
	wantName(t, err, NameMalformedToken)
	if e := err.(*Error); e.Rule != RuleTokenSize {
		t.Fatalf("rule %s", e.Rule)
	}
}

// TestRC1 reads tokens tagged @1.0.0-rc.1, as older implementations write.
func TestRC1(t *testing.T) {
	alice, bob := newSigner(t, ES256), newSigner(t, Ed25519)
	dlg := map[string]any{"iss": alice.DID(), "aud": bob.DID(), "sub": alice.DID(), "cmd": "/msg", "pol": []any{}, "nonce": []byte{1, 2}, "exp": nil}
	dtok, err := encodeEnvelope(alice, TagDelegationRC1, dlg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDelegation(dtok)
	if err != nil || d.Tag != TagDelegationRC1 {
		t.Fatalf("%v %v", d, err)
	}
	inv := map[string]any{"iss": bob.DID(), "sub": alice.DID(), "cmd": "/msg/send", "args": map[string]any{}, "prf": []any{d.CID()}, "nonce": []byte{3}, "exp": nil}
	itok, err := encodeEnvelope(bob, TagInvocationRC1, inv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewValidator(ValidatorOptions{Now: fixedClock(t0)}).Validate(ctx, itok, dtok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tag != TagInvocationRC1 {
		t.Fatalf("tag %s", got.Tag)
	}
	// Builders always write 1.0.0.
	w := newWorld(t, Ed25519, 1, "/")
	if w.chain[0].Tag != TagDelegation || w.invoke("/x", nil).Tag != TagInvocation {
		t.Fatal("builders must write @1.0.0")
	}
}

func TestCommandAttenuation(t *testing.T) {
	w := newWorld(t, Ed25519, 1, "/repo")
	w.signer = append(w.signer, newSigner(t, Ed25519))
	w.delegate(1, DelegationFields{Command: "/repo/create", NoExpiration: true})
	for cmd, want := range map[string]string{
		"/repo/create":     "",
		"/repo/create/sub": "",
		"/repo":            NameInvalidClaim, // wider than the last proof
		"/repo/delete":     NameInvalidClaim,
		"/repository":      NameInvalidClaim,
	} {
		_, err := w.validator(ValidatorOptions{}).Validate(ctx, w.invoke(cmd, nil).Bytes())
		if got := ErrorName(err); got != want {
			t.Errorf("%s: %q (%v), want %q", cmd, got, err, want)
		}
	}
	// A later delegation of a wider command does not widen the chain.
	w2 := newWorld(t, Ed25519, 1, "/repo/create")
	w2.signer = append(w2.signer, newSigner(t, Ed25519))
	w2.delegate(1, DelegationFields{Command: "/", NoExpiration: true})
	if _, err := w2.validator(ValidatorOptions{}).Validate(ctx, w2.invoke("/repo/create", nil).Bytes()); err != nil {
		t.Fatal(err)
	}
	_, err := w2.validator(ValidatorOptions{}).Validate(ctx, w2.invoke("/repo/delete", nil).Bytes())
	wantName(t, err, NameInvalidClaim)
	// StrictAttenuation rejects the wider later delegation.
	_, err = w2.validator(ValidatorOptions{StrictAttenuation: true}).Validate(ctx, w2.invoke("/repo/create", nil).Bytes())
	wantName(t, err, NameInvalidClaim)
	if _, err := w.validator(ValidatorOptions{StrictAttenuation: true}).Validate(ctx, w.invoke("/repo/create", nil).Bytes()); err != nil {
		t.Fatal(err)
	}
	// Reserved commands cannot be built or invoked.
	if _, err := NewInvocation(w.invoker(), InvocationFields{Subject: w.signer[0].DID(), Command: "/ucan/x", NoExpiration: true}); err == nil {
		t.Fatal("built /ucan/x")
	}
	if _, err := NewDelegation(w.signer[0], DelegationFields{Audience: w.signer[1].DID(), Subject: w.signer[0].DID(), Command: "/ucan/revoke", NoExpiration: true}); err == nil {
		t.Fatal("delegated /ucan/revoke")
	}
}

func TestAllPoliciesApply(t *testing.T) {
	w := newWorld(t, Ed25519, 0, "/")
	w.signer = append(w.signer, newSigner(t, Ed25519), newSigner(t, Ed25519))
	p0, _ := ParsePolicyJSON([]byte(`[["==", ".collection", "app.chat"]]`))
	p1, _ := ParsePolicyJSON([]byte(`[["<=", ".size", 10]]`))
	w.delegate(0, DelegationFields{Command: "/repo", Policy: p0, NoExpiration: true})
	w.delegate(1, DelegationFields{Command: "/repo", Policy: p1, NoExpiration: true})
	cases := []struct {
		args  map[string]any
		want  string
		index int
	}{
		{map[string]any{"collection": "app.chat", "size": 3}, "", 0},
		{map[string]any{"collection": "app.other", "size": 3}, NameMatchError, 0},
		{map[string]any{"collection": "app.chat", "size": 11}, NameMatchError, 1},
		{map[string]any{"collection": "app.chat"}, NameMatchError, 1}, // null is not a number
	}
	for i, c := range cases {
		_, err := w.validator(ValidatorOptions{}).Validate(ctx, w.invoke("/repo/create", c.args).Bytes())
		if got := ErrorName(err); got != c.want {
			t.Fatalf("case %d: %q (%v)", i, got, err)
		}
		if err != nil && err.(*Error).Index != c.index {
			t.Fatalf("case %d: index %d", i, err.(*Error).Index)
		}
	}
}

type countingStore struct {
	ProofStore
	gets int
}

func (s *countingStore) GetDelegation(ctx context.Context, c cid.Cid) ([]byte, error) {
	s.gets++
	return s.ProofStore.GetDelegation(ctx, c)
}

type badStore struct{ data []byte }

func (s badStore) GetDelegation(context.Context, cid.Cid) ([]byte, error) { return s.data, nil }

func TestProofStoreAndCache(t *testing.T) {
	w := newWorld(t, ES256, 3, "/")
	cs := &countingStore{ProofStore: w.store}
	v := w.validator(ValidatorOptions{Proofs: cs})
	for i := 0; i < 3; i++ {
		if _, err := v.Validate(ctx, w.invoke("/x", nil).Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if cs.gets != 3 || v.CachedDelegations() != 3 {
		t.Fatalf("%d store reads, %d cached; want 3 and 3", cs.gets, v.CachedDelegations())
	}
	v.ClearCache()
	if _, err := v.Validate(ctx, w.invoke("/x", nil).Bytes()); err != nil || cs.gets != 6 {
		t.Fatalf("after ClearCache: %v, %d reads", err, cs.gets)
	}
	// Without a cache, every validation reads the store.
	cs2 := &countingStore{ProofStore: w.store}
	v2 := w.validator(ValidatorOptions{Proofs: cs2, CacheSize: -1})
	for i := 0; i < 2; i++ {
		if _, err := v2.Validate(ctx, w.invoke("/x", nil).Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if cs2.gets != 6 || v2.CachedDelegations() != 0 {
		t.Fatalf("%d store reads, %d cached", cs2.gets, v2.CachedDelegations())
	}
	// Missing proof.
	_, err := w.validator(ValidatorOptions{Proofs: NewMemoryProofStore()}).Validate(ctx, w.invoke("/x", nil).Bytes())
	wantName(t, err, NameUnavailableProof)
	// A store returning other bytes than the CID names.
	_, err = w.validator(ValidatorOptions{Proofs: badStore{w.chain[1].Bytes()}}).Validate(ctx, w.invoke("/x", nil).Bytes())
	wantName(t, err, NameUnavailableProof)
	// An invocation named as a proof.
	self, _ := NewInvocation(w.signer[0], InvocationFields{Subject: w.signer[0].DID(), Command: "/x", NoExpiration: true})
	inv, _ := NewInvocation(w.signer[1], InvocationFields{Subject: w.signer[0].DID(), Command: "/x", Proofs: []cid.Cid{self.CID()}, NoExpiration: true})
	_, err = NewValidator(ValidatorOptions{Now: fixedClock(t0)}).Validate(ctx, inv.Bytes(), self.Bytes())
	wantName(t, err, NameInvalidClaim)
}

type mapResolver map[string]PublicKey

func (m mapResolver) ResolveKey(_ context.Context, did string) (PublicKey, error) {
	if k, ok := m[did]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("unknown DID %s", did)
}

func TestResolver(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg.String(), func(t *testing.T) {
			key := newSigner(t, alg)
			community := key.WithDID("did:plc:ewvi7nxzyoun6zhxrhs64oiz")
			member := newSigner(t, Ed25519)
			d, err := NewDelegation(community, DelegationFields{Audience: member.DID(), Subject: community.DID(), Command: "/repo", NoExpiration: true})
			if err != nil {
				t.Fatal(err)
			}
			inv, err := NewInvocation(member, InvocationFields{Subject: community.DID(), Command: "/repo/create", Proofs: []cid.Cid{d.CID()}, NoExpiration: true})
			if err != nil {
				t.Fatal(err)
			}
			res := mapResolver{community.DID(): key.PublicKey()}
			if _, err := NewValidator(ValidatorOptions{Resolver: res, Now: fixedClock(t0)}).Validate(ctx, inv.Bytes(), d.Bytes()); err != nil {
				t.Fatal(err)
			}
			_, err = NewValidator(ValidatorOptions{Now: fixedClock(t0)}).Validate(ctx, inv.Bytes(), d.Bytes())
			wantName(t, err, NameUnresolvableDID)
			// A resolver returning another key.
			other := mapResolver{community.DID(): newSigner(t, alg).PublicKey()}
			_, err = NewValidator(ValidatorOptions{Resolver: other, Now: fixedClock(t0)}).Validate(ctx, inv.Bytes(), d.Bytes())
			wantName(t, err, NameInvalidSignature)
		})
	}
}

func TestExecutor(t *testing.T) {
	w := newWorld(t, Ed25519, 1, "/")
	exec := newSigner(t, Ed25519).DID()
	inv, _ := NewInvocation(w.invoker(), InvocationFields{Subject: w.signer[0].DID(), Audience: exec, Command: "/x", Proofs: w.proofs(), NoExpiration: true})
	if _, err := w.validator(ValidatorOptions{Executor: exec}).Validate(ctx, inv.Bytes()); err != nil {
		t.Fatal(err)
	}
	_, err := w.validator(ValidatorOptions{Executor: w.signer[0].DID()}).Validate(ctx, inv.Bytes())
	wantName(t, err, NameInvalidAudience)
	// Without aud, the subject is the executor.
	if _, err := w.validator(ValidatorOptions{Executor: w.signer[0].DID()}).Validate(ctx, w.invoke("/x", nil).Bytes()); err != nil {
		t.Fatal(err)
	}
}

// TestSubject: with ValidatorOptions.Subject, an invocation or revocation
// on another subject is refused (InvalidClaim, RuleSubject); on the
// subject it validates.
func TestSubject(t *testing.T) {
	w := newWorld(t, Ed25519, 1, "/repo")
	other := newWorld(t, Ed25519, 1, "/repo")
	v := w.validator(ValidatorOptions{Subject: w.signer[0].DID()})
	if _, err := v.Validate(ctx, w.invoke("/repo/create", nil).Bytes()); err != nil {
		t.Fatal(err)
	}
	wantRule := func(err error) {
		t.Helper()
		wantName(t, err, NameInvalidClaim)
		var e *Error
		if !errors.As(err, &e) || e.Rule != RuleSubject {
			t.Fatalf("%v, want RuleSubject", err)
		}
	}
	_, err := v.Validate(ctx, other.invoke("/repo/create", nil).Bytes(), other.chain[0].Bytes())
	wantRule(err)
	rev, err := NewRevocation(other.signer[0], other.chain, RevocationFields{NoExpiration: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.ValidateRevocation(ctx, rev.Bytes(), other.chain[0].Bytes())
	wantRule(err)
	if _, err := other.validator(ValidatorOptions{}).ValidateRevocation(ctx, rev.Bytes()); err != nil {
		t.Fatalf("the same revocation without Subject: %v", err)
	}
}

func TestEnvelopeStrictness(t *testing.T) {
	s := newSigner(t, Ed25519)
	base := map[string]any{"iss": s.DID(), "sub": s.DID(), "cmd": "/x", "args": map[string]any{}, "prf": []any{}, "nonce": []byte{1}, "exp": nil}
	sign := func(sp map[string]any) []byte {
		b, err := drisl.Marshal(sp)
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := s.Sign(b)
		tok, _ := drisl.Marshal([]any{sig, drisl.Raw(b)})
		return tok
	}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for k2, v2 := range base {
			m[k2] = v2
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	good := sign(map[string]any{"h": Ed25519.Header(), TagInvocation: base})
	bad := map[string][]byte{
		"extra key":      sign(map[string]any{"h": Ed25519.Header(), TagInvocation: base, "x": 1}),
		"two tags":       sign(map[string]any{"h": Ed25519.Header(), TagInvocation: base, TagInvocationRC1: base}),
		"unknown tag":    sign(map[string]any{"h": Ed25519.Header(), "ucan/inv@0.9": base}),
		"bad header":     sign(map[string]any{"h": []byte{0x34, 0x01, 0xed, 0x01, 0xed, 0x01, 0x13, 0x55}, TagInvocation: base}),
		"no header":      sign(map[string]any{TagInvocation: base, "x": []byte{}}),
		"missing nonce":  sign(map[string]any{"h": Ed25519.Header(), TagInvocation: with("nonce", nil)}),
		"missing exp":    sign(map[string]any{"h": Ed25519.Header(), TagInvocation: with("exp", nil)}),
		"huge exp":       sign(map[string]any{"h": Ed25519.Header(), TagInvocation: with("exp", int64(1)<<53)}),
		"float exp":      sign(map[string]any{"h": Ed25519.Header(), TagInvocation: with("exp", 1.5)}),
		"upper cmd":      sign(map[string]any{"h": Ed25519.Header(), TagInvocation: with("cmd", "/X")}),
		"trailing slash": sign(map[string]any{"h": Ed25519.Header(), TagInvocation: with("cmd", "/x/")}),
		"bad iss":        sign(map[string]any{"h": Ed25519.Header(), TagInvocation: with("iss", "alice")}),
		"prf not links":  sign(map[string]any{"h": Ed25519.Header(), TagInvocation: with("prf", []any{"x"})}),
		"args list":      sign(map[string]any{"h": Ed25519.Header(), TagInvocation: with("args", []any{})}),
		"not an array":   mustMarshal(t, map[string]any{"a": 1}),
		"three elements": mustMarshal(t, []any{[]byte{1}, map[string]any{}, 1}),
		"non-canonical":  {0x82, 0x41, 0x00, 0xb8, 0x00},
		"long sig head":  append([]byte{0x82, 0x58, 0x01, 0x00}, good[3:]...),
		"sig past end":   {0x82, 0x58, 0x40, 0x00},
		"indefinite":     {0x9f, 0x41, 0x00, 0xa0, 0xff},
		"trailing byte":  append(append([]byte(nil), good...), 0x00),
	}
	if _, err := ParseInvocation(good); err != nil {
		t.Fatal(err)
	}
	for name, tok := range bad {
		if _, err := ParseInvocation(tok); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A delegation is not an invocation and vice versa.
	if _, err := ParseDelegation(good); !errors.Is(err, ErrMalformedToken) {
		t.Error("parsed an invocation as a delegation")
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	b, err := drisl.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSignatureOverReceivedBytes checks that the signature covers the
// payload bytes as received: a re-encoding with the same data model but
// different bytes cannot pass, and the validator never re-encodes.
func TestSignatureOverReceivedBytes(t *testing.T) {
	w := newWorld(t, Ed25519, 0, "/")
	inv, _ := NewInvocation(w.signer[0], InvocationFields{Subject: w.signer[0].DID(), Command: "/x", NoExpiration: true})
	sp := inv.SignedBytes()
	if !bytes.Contains(inv.Bytes(), sp) {
		t.Fatal("signed bytes are not inside the token")
	}
	if err := w.signer[0].PublicKey().Verify(sp, inv.Signature); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentValidation(t *testing.T) {
	w := newWorld(t, Ed25519, 3, "/")
	v := w.validator(ValidatorOptions{})
	same := w.invoke("/x", nil)
	invs := make([]*Invocation, 8)
	for i := range invs {
		invs[i] = w.invoke("/x", map[string]any{"i": i})
	}
	errs := make(chan error, 16)
	for i := 0; i < 8; i++ {
		go func(i int) {
			_, err := v.Validate(ctx, invs[i].Bytes())
			errs <- err
			_, err = v.Validate(ctx, same.Bytes(), w.chain[0].Bytes())
			errs <- err
		}(i)
	}
	ok, replayed := 0, 0
	for i := 0; i < 16; i++ {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, ErrReplayed):
			replayed++
		default:
			t.Fatal(err)
		}
	}
	if ok != 9 || replayed != 7 {
		t.Fatalf("%d accepted, %d replayed; want 9 and 7", ok, replayed)
	}
}

func TestValidateChainAndVerifyDelegation(t *testing.T) {
	w := newWorld(t, ES256K, 3, "/")
	v := w.validator(ValidatorOptions{})
	inv, chain, err := v.ValidateChain(ctx, w.invoke("/x", nil).Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 3 || inv == nil {
		t.Fatalf("chain of %d", len(chain))
	}
	for i, d := range chain {
		if !d.CID().Equals(w.chain[i].CID()) {
			t.Fatalf("chain[%d] is %s", i, d.CID())
		}
	}
	fresh := NewValidator(ValidatorOptions{})
	d, err := fresh.VerifyDelegation(ctx, w.chain[1].Bytes())
	if err != nil || !d.CID().Equals(w.chain[1].CID()) || fresh.CachedDelegations() != 1 {
		t.Fatalf("%v %v", d, err)
	}
	bad := resign(t, w.chain[2].Bytes(), func(sig []byte) []byte { sig[0] ^= 1; return sig })
	_, err = fresh.VerifyDelegation(ctx, bad)
	wantName(t, err, NameInvalidSignature)
}

func TestRevocationShape(t *testing.T) {
	w := newWorld(t, Ed25519, 2, "/repo")
	v := w.validator(ValidatorOptions{Revocations: NewMemoryRevocationStore()})
	alice := w.signer[0]
	build := func(args map[string]any, prf []cid.Cid, sub string) []byte {
		inv, err := newInvocation(alice, InvocationFields{Subject: sub, Command: CommandRevoke, Args: args, Proofs: prf, NoExpiration: true})
		if err != nil {
			t.Fatal(err)
		}
		return inv.Bytes()
	}
	target := w.chain[1].CID()
	prf := w.proofs()
	cases := map[string][]byte{
		"extra arg":        build(map[string]any{"revoke": target, "why": "x"}, prf, alice.DID()),
		"revoke not a CID": build(map[string]any{"revoke": target.String()}, prf, alice.DID()),
		"prf not ending":   build(map[string]any{"revoke": w.chain[0].CID()}, prf, alice.DID()),
		"empty prf":        build(map[string]any{"revoke": target}, nil, alice.DID()),
	}
	for name, tok := range cases {
		if _, err := v.Revoke(ctx, tok); !errors.Is(err, ErrInvalidClaim) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Wrong subject.
	_, err := v.Revoke(ctx, build(map[string]any{"revoke": target}, prf, w.signer[1].DID()))
	wantName(t, err, NameInvalidSubject)
	// Not a revocation at all.
	if _, err := v.ValidateRevocation(ctx, w.invoke("/repo/x", nil).Bytes()); !errors.Is(err, ErrInvalidClaim) {
		t.Errorf("ordinary invocation: %v", err)
	}
	// Revoke needs a store.
	if _, err := w.validator(ValidatorOptions{}).Revoke(ctx, build(map[string]any{"revoke": target}, prf, alice.DID())); err == nil {
		t.Error("Revoke without a store")
	}
	// An expired delegation can still be revoked.
	w2 := newWorld(t, Ed25519, 0, "/")
	w2.signer = append(w2.signer, newSigner(t, Ed25519))
	old := w2.delegate(0, DelegationFields{Command: "/", Expiration: t0.Add(-time.Hour)})
	rev, _ := NewRevocation(w2.signer[0], []*Delegation{old}, RevocationFields{NoExpiration: true})
	if _, err := w2.validator(ValidatorOptions{Revocations: NewMemoryRevocationStore()}).Revoke(ctx, rev.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// TestTokenBufferOwnership checks that parsed tokens do not alias the
// caller's buffer.
func TestTokenBufferOwnership(t *testing.T) {
	w := newWorld(t, Ed25519, 1, "/")
	buf := append([]byte(nil), w.chain[0].Bytes()...)
	d, err := ParseDelegation(buf)
	if err != nil {
		t.Fatal(err)
	}
	orig := append([]byte(nil), buf...)
	for i := range buf {
		buf[i] = 0
	}
	if !bytes.Equal(d.Bytes(), orig) || !bytes.Contains(orig, d.SignedBytes()) {
		t.Fatal("parsed delegation aliases the caller's buffer")
	}
}

func TestMalformedProofAndSentinels(t *testing.T) {
	alice, bob := newSigner(t, Ed25519), newSigner(t, Ed25519)
	// A signed delegation whose policy is malformed.
	p := map[string]any{"iss": alice.DID(), "aud": bob.DID(), "sub": alice.DID(), "cmd": "/x", "pol": []any{[]any{"~", ".a", 1}}, "nonce": []byte{1}, "exp": nil, "meta": map[string]any{"note": "hi"}}
	dtok, err := encodeEnvelope(alice, TagDelegation, p)
	if err != nil {
		t.Fatal(err)
	}
	dc := tokenCID(dtok)
	cause := dc
	inv, err := NewInvocation(bob, InvocationFields{Subject: alice.DID(), Command: "/x", Proofs: []cid.Cid{dc}, NoExpiration: true,
		Meta: map[string]any{"k": "v"}, Cause: &cause, IssuedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Cause == nil || !inv.Cause.Equals(dc) || inv.Meta["k"] != "v" || inv.IssuedAt == nil || *inv.IssuedAt != t0.Unix() {
		t.Fatalf("cause/meta/iat not kept: %+v", inv)
	}
	_, err = NewValidator(ValidatorOptions{Now: fixedClock(t0)}).Validate(ctx, inv.Bytes(), dtok)
	wantName(t, err, NameMalformedToken)
	var e *Error
	if !errors.As(err, &e) || e.Index != 0 || e.Rule != RulePolicySyntax {
		t.Fatalf("%+v", e)
	}
	// Every name matches exactly its own sentinel.
	names := []string{NameInvalidClaim, NameUnavailableProof, NameExpired, NameTooEarly, NameInvalidAudience, NameInvalidSubject,
		NameInvalidSignature, NameMatchError, NameMalformedToken, NameRevoked, NameReplayed, NameUnresolvableDID}
	for _, n := range names {
		err := newErr(n, RuleField, -1, "")
		for _, m := range names {
			if got := errors.Is(err, sentinel(m)); got != (n == m) {
				t.Errorf("errors.Is(%s, Err%s) = %v", n, m, got)
			}
		}
	}
	if errors.Is(newErr("Other", RuleField, -1, ""), nil) || sentinel("Other") != nil {
		t.Error("unknown name")
	}
	wrapped := fmt.Errorf("context: %w", wrapErr(NameExpired, RuleExpired, 2, ErrNotFound))
	if !errors.Is(wrapped, ErrExpired) || !errors.Is(wrapped, ErrNotFound) || ErrorName(wrapped) != NameExpired {
		t.Error("wrapping")
	}
}

func TestReplayGuardEarliest(t *testing.T) {
	now := t0
	g := NewMemoryReplayGuard(MemoryReplayGuardOptions{MaxEntries: 3, Now: func() time.Time { return now }})
	c := func(i byte) cid.Cid { return drisl.SumCID(drisl.CodecRaw, []byte{i}) }
	for i, until := range []time.Time{t0.Add(3 * time.Minute), t0.Add(time.Minute), {}} {
		if err := g.Record(ctx, c(byte(i)), until); err != nil {
			t.Fatal(err)
		}
	}
	now = t0.Add(30 * time.Second) // nothing expired yet: fail fast
	if err := g.Record(ctx, c(10), time.Time{}); !errors.Is(err, ErrReplayGuardFull) {
		t.Fatalf("%v", err)
	}
	now = t0.Add(2 * time.Minute) // c(1) expired
	if err := g.Record(ctx, c(11), t0.Add(10*time.Minute)); err != nil || g.Len() != 3 {
		t.Fatalf("%v, %d entries", err, g.Len())
	}
	if err := g.Record(ctx, c(12), time.Time{}); !errors.Is(err, ErrReplayGuardFull) {
		t.Fatalf("earliest not recomputed: %v", err)
	}
	now = t0.Add(4 * time.Minute) // c(0) expired
	if err := g.Record(ctx, c(12), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := g.Record(ctx, c(2), time.Time{}); !errors.Is(err, ErrReplayed) {
		t.Fatalf("never-expiring entry forgotten: %v", err)
	}
}

// failingRevocations is a RevocationStore whose writes fail.
type failingRevocations struct{ *MemoryRevocationStore }

var errStoreDown = errors.New("store down")

func (failingRevocations) AddRevocation(context.Context, cid.Cid, cid.Cid) error { return errStoreDown }

func TestRevokeStoreError(t *testing.T) {
	w := newWorld(t, Ed25519, 1, "/repo")
	v := w.validator(ValidatorOptions{Revocations: failingRevocations{NewMemoryRevocationStore()}})
	rev, err := NewRevocation(w.signer[0], w.chain, RevocationFields{NoExpiration: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Revoke(ctx, rev.Bytes())
	if !errors.Is(err, errStoreDown) || !strings.HasPrefix(err.Error(), "ucan: ") || !strings.Contains(err.Error(), w.chain[0].CID().String()) {
		t.Fatalf("store failure: %v, want it wrapped with the package prefix and the delegation", err)
	}
}
