package ucan

import (
	"crypto/ed25519"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/townhall-dev/townhall/internal/ecverify"
)

// hotThreshold is hotUses as an int.
func hotThreshold(alg Algorithm) int { return int(hotUses(alg)) }

// cachedHotKey returns did's key from v's cache, which must be a hotKey,
// and the same key parsed without a cache.
func cachedHotKey(t *testing.T, v *Validator, did string) (*hotKey, PublicKey) {
	t.Helper()
	k, err := v.resolveKey(ctx, did)
	if err != nil {
		t.Fatal(err)
	}
	hk, ok := k.(*hotKey)
	if !ok {
		t.Fatalf("cached key is a %T", k)
	}
	plain, err := ParseDIDKey(did)
	if err != nil {
		t.Fatal(err)
	}
	return hk, plain
}

func hasTable(k *hotKey) bool {
	return k.p256.Load() != nil || k.k256.Load() != nil || k.ed.Load() != nil
}

// TestHotKeyMatchesOneShot drives a cached ES256 and ES256K did:key past
// its threshold and checks that, before and after it gets a table, it
// gives the verdict of the same key without a cache on a valid signature,
// its high-S twin (ES256 accepts it, ES256K does not), tampered and
// out-of-range signatures and another key's signature.
func TestHotKeyMatchesOneShot(t *testing.T) {
	for _, alg := range []Algorithm{ES256, ES256K} {
		t.Run(alg.String(), func(t *testing.T) {
			s, other := newSigner(t, alg), newSigner(t, alg)
			v := NewValidator(ValidatorOptions{})
			hk, plain := cachedHotKey(t, v, s.DID())
			n, _ := new(big.Int).SetString(curveOrders[alg], 16)
			msg := []byte("an invocation payload")
			sig, err := s.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			otherSig, _ := other.Sign(msg)
			set := func(lo int, x *big.Int) []byte {
				c := append([]byte{}, sig...)
				x.FillBytes(c[lo : lo+32])
				return c
			}
			flip := func(b []byte, i int) []byte {
				c := append([]byte{}, b...)
				c[i] ^= 1
				return c
			}
			cases := []struct {
				name     string
				msg, sig []byte
			}{
				{"valid", msg, sig},
				{"high-S twin", msg, set(32, new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:])))},
				{"other key", msg, otherSig},
				{"message bit", flip(msg, 3), sig},
				{"r bit", msg, flip(sig, 7)},
				{"s bit", msg, flip(sig, 40)},
				{"r = 0", msg, set(0, new(big.Int))},
				{"s = n", msg, set(32, n)},
				{"short", msg, sig[:63]},
			}
			for round := 0; ; round++ {
				tabled := hasTable(hk)
				for _, c := range cases {
					want := plain.Verify(c.msg, c.sig) == nil
					if got := hk.Verify(c.msg, c.sig) == nil; got != want {
						t.Fatalf("round %d (table %v), %s: hot key says %v, one-shot %v", round, tabled, c.name, got, want)
					}
					if wantOK := c.name == "valid" || c.name == "high-S twin" && alg == ES256; want != wantOK {
						t.Fatalf("%s: one-shot says %v", c.name, want)
					}
				}
				if tabled {
					break
				}
				if round > hotThreshold(alg) {
					t.Fatal("no table built")
				}
				hk.noteUse()
			}
		})
	}
}

// TestHotEd25519KeyMatchesOneShot drives a cached Ed25519 did:key past
// its threshold and checks that, before and after it gets a table, it
// gives crypto/ed25519's verdict (the same key without a cache) on a valid
// signature, its twin with S+L (not canonical: rejected), S with its top
// bits set, tampered R, S and message, and another key's signature.
// (internal/ecverify checks the table verification itself against
// crypto/ed25519 on keys and signatures of every edge-case encoding.)
func TestHotEd25519KeyMatchesOneShot(t *testing.T) {
	s, other := newSigner(t, Ed25519), newSigner(t, Ed25519)
	v := NewValidator(ValidatorOptions{})
	hk, plain := cachedHotKey(t, v, s.DID())
	msg := []byte("an invocation payload")
	sig, _ := s.Sign(msg)
	otherSig, _ := other.Sign(msg)
	flip := func(b []byte, i int) []byte {
		c := append([]byte{}, b...)
		c[i] ^= 1
		return c
	}
	// S+L, little-endian: L = 2^252 + 27742317777372353535851937790883648493.
	l, _ := new(big.Int).SetString("1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed", 16)
	le := make([]byte, 32)
	for i := range le {
		le[i] = sig[63-i]
	}
	sl := new(big.Int).Add(new(big.Int).SetBytes(le), l).FillBytes(make([]byte, 32))
	twin := append([]byte{}, sig...)
	for i := range 32 {
		twin[32+i] = sl[31-i]
	}
	high := append([]byte{}, sig...)
	high[63] |= 0x80
	cases := []struct {
		name     string
		msg, sig []byte
	}{
		{"valid", msg, sig},
		{"S+L", msg, twin},
		{"S top bit", msg, high},
		{"other key", msg, otherSig},
		{"message bit", flip(msg, 3), sig},
		{"R bit", msg, flip(sig, 7)},
		{"S bit", msg, flip(sig, 40)},
		{"short", msg, sig[:63]},
	}
	for round := 0; ; round++ {
		tabled := hasTable(hk)
		for _, c := range cases {
			want := plain.Verify(c.msg, c.sig) == nil
			if got := hk.Verify(c.msg, c.sig) == nil; got != want {
				t.Fatalf("round %d (table %v), %s: hot key says %v, one-shot %v", round, tabled, c.name, got, want)
			}
			if want != (c.name == "valid") {
				t.Fatalf("%s: one-shot says %v", c.name, want)
			}
		}
		if tabled {
			break
		}
		if round > hotUsesEd25519 {
			t.Fatal("no table built")
		}
		hk.noteUse()
	}

	// A did:key whose 32 bytes are not a point: crypto/ed25519 rejects
	// every signature, and so does the hot key, which gets no table.
	var bad []byte
	for i := 2; bad == nil; i++ {
		b := make([]byte, 32)
		b[0] = byte(i)
		if _, err := ecverify.NewEd25519Key(b); err != nil {
			bad = b
		}
	}
	k, err := v.resolveKey(ctx, "did:key:z"+base58.Encode(append([]byte{0xed, 0x01}, bad...)))
	if err != nil {
		t.Fatal(err)
	}
	if ed25519.Verify(bad, msg, sig) {
		t.Fatal("crypto/ed25519 verified with a non-point key")
	}
	for range hotUsesEd25519 + 2 {
		if k.Verify(msg, sig) == nil {
			t.Fatal("non-point key verified")
		}
		k.(*hotKey).noteUse()
	}
	if hasTable(k.(*hotKey)) {
		t.Fatal("non-point key has a table")
	}
}

// TestHotTablesBounded makes more keys (ES256 and Ed25519, alternately)
// hot than a Validator keeps tables for: the least recently used lose
// theirs (and start counting again), every key still verifies, and
// ClearCache drops every table.
func TestHotTablesBounded(t *testing.T) {
	v := NewValidator(ValidatorOptions{})
	msg := []byte("payload")
	type signed struct {
		k   *hotKey
		sig []byte
	}
	var keys []signed
	for i := 0; i < maxHotTables+2; i++ {
		alg := ES256
		if i%2 == 1 {
			alg = Ed25519
		}
		s := newSigner(t, alg)
		k, err := v.resolveKey(ctx, s.DID())
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := s.Sign(msg)
		keys = append(keys, signed{k.(*hotKey), sig})
		for range hotThreshold(alg) {
			if err := k.Verify(msg, sig); err != nil {
				t.Fatal(err)
			}
			k.(*hotKey).noteUse()
		}
		if !hasTable(k.(*hotKey)) {
			t.Fatalf("key %d: no table", i)
		}
	}
	for i, s := range keys {
		if want := i >= 2; hasTable(s.k) != want {
			t.Fatalf("key %d: table %v, want %v", i, hasTable(s.k), want)
		}
		if err := s.k.Verify(msg, s.sig); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	if n := len(v.hot.keys); n != maxHotTables {
		t.Fatalf("%d tables", n)
	}
	if keys[0].k.uses.Load() != 0 {
		t.Fatalf("evicted key has %d uses, want 0 (verifying is not a use)", keys[0].k.uses.Load())
	}
	v.ClearCache()
	for i, s := range keys {
		if hasTable(s.k) {
			t.Fatalf("key %d kept its table", i)
		}
	}
}

// TestValidateHotInvoker validates more invocations by one invoker than
// its key's threshold, over a cached 3-delegation chain: every one
// validates, the key gets a table, and then a tampered signature is still
// rejected, an ES256 high-S twin still accepted once and then replayed
// (ES256K: rejected).
func TestValidateHotInvoker(t *testing.T) {
	for _, alg := range []Algorithm{ES256, ES256K, Ed25519} {
		t.Run(alg.String(), func(t *testing.T) {
			w := newWorld(t, alg, 3, "/repo")
			v := w.validator(ValidatorOptions{})
			for i := 0; i < hotThreshold(alg)+4; i++ {
				if _, err := v.Validate(ctx, w.invoke("/repo/create", nil).Bytes()); err != nil {
					t.Fatalf("invocation %d: %v", i, err)
				}
			}
			k, _ := v.keys.get(w.invoker().DID())
			if hk, ok := k.(*hotKey); !ok || !hasTable(hk) {
				t.Fatal("the invoker's key has no table")
			}
			bad := resign(t, w.invoke("/repo/create", nil).Bytes(), func(sig []byte) []byte {
				sig[9] ^= 4
				return sig
			})
			_, err := v.Validate(ctx, bad)
			wantName(t, err, NameInvalidSignature)
			if alg == Ed25519 {
				return
			}
			twin := flipS(t, alg, w.invoke("/repo/create", nil).Bytes())
			_, err = v.Validate(ctx, twin)
			if alg == ES256K {
				wantName(t, err, NameInvalidSignature)
				return
			}
			if err != nil {
				t.Fatalf("high-S twin: %v", err)
			}
			_, err = v.Validate(ctx, twin)
			wantName(t, err, NameReplayed)
		})
	}
}

// TestHotKeyJunkKeepsTable makes a member's key hot with validated
// invocations, then has 5 outsiders' keys (more than the Validator keeps
// tables for) present 16 invocations each that fail: all-zero signatures,
// and validly signed invocations over a chain delegated to another key. No
// outsider's key gets a table or a use, and the member's key keeps its
// table (audit 4, F4: uses were counted per verification attempt).
func TestHotKeyJunkKeepsTable(t *testing.T) {
	w := newWorld(t, ES256, 2, "/repo")
	v := w.validator(ValidatorOptions{})
	for i := 0; i < hotThreshold(ES256); i++ {
		if _, err := v.Validate(ctx, w.invoke("/repo/create", nil).Bytes()); err != nil {
			t.Fatalf("invocation %d: %v", i, err)
		}
	}
	mk, _ := v.keys.get(w.invoker().DID())
	member, ok := mk.(*hotKey)
	if !ok || !hasTable(member) {
		t.Fatal("the member's key has no table")
	}
	for a := 0; a < maxHotTables+1; a++ {
		outsider := newSigner(t, ES256)
		for i := 0; i < hotThreshold(ES256); i++ {
			inv, err := NewInvocation(outsider, InvocationFields{Subject: w.signer[0].DID(), Command: "/repo/create",
				Proofs: w.proofs(), Expiration: t0.Add(time.Hour), Nonce: []byte{byte(a), byte(i)}})
			if err != nil {
				t.Fatal(err)
			}
			token := inv.Bytes()
			if i%2 == 0 {
				token = resign(t, token, func(sig []byte) []byte { return make([]byte, len(sig)) })
			}
			_, err = v.Validate(ctx, token)
			if i%2 == 0 {
				wantName(t, err, NameInvalidSignature)
			} else {
				wantName(t, err, NameInvalidAudience)
			}
		}
		ok, _ := v.keys.get(outsider.DID())
		if hk := ok.(*hotKey); hasTable(hk) || hk.uses.Load() != 0 {
			t.Fatalf("outsider %d: table %v, %d uses", a, hasTable(hk), hk.uses.Load())
		}
	}
	if !hasTable(member) {
		t.Fatal("outsiders' failed invocations evicted the member's table")
	}
	if _, err := v.Validate(ctx, w.invoke("/repo/create", nil).Bytes()); err != nil {
		t.Fatal(err)
	}
}

// TestHotKeySubject: validly signed self-invocations by outsiders on
// did:keys of their own validate when the Validator accepts any subject
// (and count towards their keys' tables); with ValidatorOptions.Subject
// they are refused (InvalidClaim, RuleSubject) and earn nothing, so 5
// outsiders' keys × 16 leave a member's table in place.
func TestHotKeySubject(t *testing.T) {
	w := newWorld(t, ES256, 1, "/repo")
	selfInvoke := func(s *KeySigner, n byte) []byte {
		inv, err := NewInvocation(s, InvocationFields{Subject: s.DID(), Command: "/repo/create",
			Expiration: t0.Add(time.Hour), Nonce: []byte{n}})
		if err != nil {
			t.Fatal(err)
		}
		return inv.Bytes()
	}
	open := w.validator(ValidatorOptions{})
	outsider := newSigner(t, ES256)
	if _, err := open.Validate(ctx, selfInvoke(outsider, 0)); err != nil {
		t.Fatalf("self-invocation without Subject: %v", err)
	}
	if k, _ := open.keys.get(outsider.DID()); k.(*hotKey).uses.Load() != 1 {
		t.Fatal("a validated self-invocation did not count a use")
	}

	v := w.validator(ValidatorOptions{Subject: w.signer[0].DID()})
	for i := 0; i < hotThreshold(ES256); i++ {
		if _, err := v.Validate(ctx, w.invoke("/repo/create", nil).Bytes()); err != nil {
			t.Fatalf("member's invocation %d: %v", i, err)
		}
	}
	mk, _ := v.keys.get(w.invoker().DID())
	member := mk.(*hotKey)
	if !hasTable(member) {
		t.Fatal("the member's key has no table")
	}
	for a := 0; a < maxHotTables+1; a++ {
		s := newSigner(t, ES256)
		for i := 0; i < hotThreshold(ES256); i++ {
			_, err := v.Validate(ctx, selfInvoke(s, byte(i)))
			wantName(t, err, NameInvalidClaim)
			var e *Error
			if !errors.As(err, &e) || e.Rule != RuleSubject {
				t.Fatalf("outsider's self-invocation: %v, want RuleSubject", err)
			}
		}
		if k, _ := v.keys.get(s.DID()); k.(*hotKey).uses.Load() != 0 || hasTable(k.(*hotKey)) {
			t.Fatalf("outsider %d earned uses or a table", a)
		}
	}
	if !hasTable(member) {
		t.Fatal("outsiders' self-invocations evicted the member's table")
	}
}
