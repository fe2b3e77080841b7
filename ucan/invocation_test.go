package ucan

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
)

// sameInvocation reports how got, built by NewInvocation, differs from
// want, parsed from its bytes: "" if in nothing.
func sameInvocation(got, want *Invocation) string {
	g, w := *got, *want
	g.env, g.id, w.env, w.id = nil, nil, nil, nil
	switch {
	case !reflect.DeepEqual(g, w):
		return "fields differ"
	case got.CID() != want.CID():
		return "CIDs differ"
	case !bytes.Equal(got.Bytes(), want.Bytes()):
		return "bytes differ"
	case !bytes.Equal(got.SignedBytes(), want.SignedBytes()):
		return "signed bytes differ"
	case got.env.alg != want.env.alg || got.env.kind != want.env.kind || got.env.tag != want.env.tag:
		return "envelope header differs"
	case !bytes.Equal(got.env.signature, want.env.signature) || cap(got.env.signature) != len(got.env.signature):
		return "signature differs"
	case !reflect.DeepEqual(got.env.payload, want.env.payload):
		return "payload differs"
	case len(got.Nonce) > 0 && &got.Nonce[0] == &want.Nonce[0]:
		return "nonce shared"
	}
	return ""
}

// randomCID is a DRISL link (dag-cbor or raw, sha2-256) of r's bytes.
func randomCID(r *rand.Rand) cid.Cid {
	codec := uint64(drisl.CodecDagCBOR)
	if r.IntN(2) == 0 {
		codec = drisl.CodecRaw
	}
	return drisl.SumCID(codec, []byte{byte(r.Uint32()), byte(r.Uint32())})
}

// randomString is a string of r's choice: empty, short, long (past the
// one-byte head), or with multi-byte runes.
func randomString(r *rand.Rand) string {
	switch r.IntN(5) {
	case 0:
		return ""
	case 1:
		return strings.Repeat("x", r.IntN(300))
	case 2:
		return "héllo, 世界 🙂"
	}
	return []string{"collection", "rkey", "a", "dev.townhall.chat.message", "3lbatch000001"}[r.IntN(5)]
}

// randomGeneric is a value of the generic model NewInvocation copies
// without decoding (decodedValue), or, when odd is set, sometimes one it
// hands to ParseInvocation instead.
func randomGeneric(r *rand.Rand, depth int, odd bool) any {
	k := r.IntN(17)
	if depth > 4 {
		k = r.IntN(12) // no more containers
	}
	if odd && r.IntN(4) == 0 {
		k = 17
	}
	switch k {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return randomString(r)
	case 3:
		return []int64{0, 1, 23, 24, 255, 256, -1, -24, -25, -257, math.MaxInt64, math.MinInt64, 1 << 53}[r.IntN(13)]
	case 4:
		return []int{0, 7, -7, 1 << 40, -(1 << 40)}[r.IntN(5)]
	case 5:
		return int32(r.Int32() - math.MaxInt32/2)
	case 6:
		return []uint64{0, 42, math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64}[r.IntN(5)]
	case 7:
		return []float64{0, 1, -1.5, 1e300, math.SmallestNonzeroFloat64, 3}[r.IntN(6)]
	case 8:
		switch r.IntN(3) {
		case 0:
			return []byte(nil)
		case 1:
			return []byte{}
		}
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	case 9, 10, 11:
		return randomCID(r)
	case 12, 13:
		if r.IntN(8) == 0 {
			return []any(nil)
		}
		l := make([]any, r.IntN(5))
		for i := range l {
			l[i] = randomGeneric(r, depth+1, odd)
		}
		return l
	case 14, 15:
		return randomArgs(r, depth+1, odd)
	case 16:
		// The ordered model: encoded without sorting, decoded as a map.
		var m drisl.Map
		for k, v := range randomArgs(r, depth+1, odd) {
			m = append(m, drisl.Entry{Key: k, Value: v})
		}
		m.Sort()
		return m
	}
	// Values drisl encodes that decodedValue does not take.
	c := randomCID(r)
	return []any{
		struct {
			A string `cbor:"a"`
		}{"x"},
		[]string{"a", "b"},
		&c,
		drisl.NegInt(r.Uint64()),
		int8(-3),
		float32(0.5),
		drisl.Raw{0x83, 0x01, 0x02, 0x03},
		map[string]string{"k": "v"},
		deepList(maxDecodedDepth + r.IntN(3)),
	}[r.IntN(9)]
}

// deepList is a list nested n deep.
func deepList(n int) any {
	var v any = "bottom"
	for range n {
		v = []any{v}
	}
	return v
}

// randomArgs is a map of randomGeneric values (nil, sometimes).
func randomArgs(r *rand.Rand, depth int, odd bool) map[string]any {
	if r.IntN(10) == 0 {
		return nil
	}
	m := make(map[string]any)
	for range r.IntN(6) {
		m[randomString(r)] = randomGeneric(r, depth, odd)
	}
	return m
}

// TestNewInvocationMatchesParse checks that NewInvocation, which builds
// its result from the fields it encoded instead of parsing its own token,
// returns exactly what ParseInvocation returns for that token (fields,
// payload, CID, bytes), over random arguments of every type of the
// generic model, nested, empty and nil, with and without the optional
// fields, for the three algorithms; and, for values it does not copy
// (structs, typed slices, deep nesting), that the result is still
// ParseInvocation's.
func TestNewInvocationMatchesParse(t *testing.T) {
	signers := []*KeySigner{newSigner(t, Ed25519), newSigner(t, ES256), newSigner(t, ES256K)}
	r := rand.New(rand.NewPCG(1, 2))
	copied := 0
	for i := range 600 {
		s := signers[i%len(signers)]
		odd := i%3 == 2
		f := InvocationFields{
			Subject:    s.DID(),
			Command:    "/repo/batch",
			Args:       randomArgs(r, 0, odd),
			Expiration: t0.Add(time.Duration(r.IntN(1000)) * time.Second),
		}
		if r.IntN(2) == 0 {
			f.Audience = signers[r.IntN(3)].DID()
		}
		for range r.IntN(3) {
			f.Proofs = append(f.Proofs, randomCID(r))
		}
		if r.IntN(2) == 0 {
			f.Nonce = []byte{byte(i), 1, 2}
		}
		if r.IntN(3) == 0 {
			f.Meta = randomArgs(r, 0, odd)
		}
		if r.IntN(4) == 0 {
			f.Expiration, f.NoExpiration = time.Time{}, true
		}
		if r.IntN(2) == 0 {
			f.IssuedAt = t0
		}
		if r.IntN(3) == 0 {
			c := randomCID(r)
			f.Cause = &c
		}
		inv, err := NewInvocation(s, f)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		want, err := ParseInvocation(inv.Bytes())
		if err != nil {
			t.Fatalf("case %d: its token does not parse: %v", i, err)
		}
		if d := sameInvocation(inv, want); d != "" {
			t.Fatalf("case %d: %s:\nbuilt  %#v\nparsed %#v", i, d, inv.env.payload, want.env.payload)
		}
		p, err := invocationPayload(s, f)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := decodedMap(p, 0); ok {
			copied++
		}
		if copiesAsDecoded(p, 0) != (func() bool { _, ok := decodedMap(p, 0); return ok })() {
			t.Fatalf("case %d: copiesAsDecoded disagrees with decodedMap", i)
		}
		sameToken(t, s, f)
		// The caller's arguments are not the invocation's: changing
		// them changes nothing in it.
		if f.Args != nil {
			f.Args["added after"] = true
			if _, ok := inv.Args["added after"]; ok {
				t.Fatalf("case %d: the invocation shares the caller's args", i)
			}
		}
	}
	// Two in three cases hold only copied types, and some of the others
	// happen to: the copy is what is being tested, most of the time.
	if copied < 400 {
		t.Fatalf("only %d of 600 cases copied the payload", copied)
	}
}

// TestNewInvocationErrorsMatchParse checks that NewInvocation refuses
// what ParseInvocation would refuse of the token it encodes, with the
// same error: fields that are not DIDs, timestamps beyond 2^53-1, tokens
// over DefaultMaxTokenBytes.
func TestNewInvocationErrorsMatchParse(t *testing.T) {
	s := newSigner(t, Ed25519)
	base := InvocationFields{Subject: s.DID(), Command: "/repo/create", Nonce: []byte{1}, Expiration: t0}
	cases := map[string]struct {
		s Signer
		f func(*InvocationFields)
	}{
		"subject":     {s, func(f *InvocationFields) { f.Subject = "not a did" }},
		"audience":    {s, func(f *InvocationFields) { f.Audience = "did:nomethod" }},
		"issuer":      {s.WithDID("did:"), func(*InvocationFields) {}},
		"expiration":  {s, func(f *InvocationFields) { f.Expiration = time.Unix(MaxSafeInteger+1, 0) }},
		"issued at":   {s, func(f *InvocationFields) { f.IssuedAt = time.Unix(-MaxSafeInteger-1, 0) }},
		"token size":  {s, func(f *InvocationFields) { f.Args = map[string]any{"big": strings.Repeat("x", DefaultMaxTokenBytes)} }},
		"deep and id": {s, func(f *InvocationFields) { f.Subject = "x"; f.Args = map[string]any{"deep": deepList(40)} }},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := base
			c.f(&f)
			_, err := NewInvocation(c.s, f)
			if err == nil {
				t.Fatal("accepted")
			}
			if _, terr := NewInvocationToken(c.s, f); terr == nil || terr.Error() != err.Error() {
				t.Fatalf("NewInvocationToken says %v, NewInvocation %v", terr, err)
			}
			p, perr := invocationPayload(c.s, f)
			if perr != nil {
				t.Fatal(perr)
			}
			tok, perr := encodeEnvelope(c.s, TagInvocation, p)
			if perr != nil {
				t.Fatal(perr)
			}
			_, want := ParseInvocation(tok)
			var e *Error
			if want == nil || err.Error() != want.Error() || !errors.As(err, &e) {
				t.Fatalf("got %v, ParseInvocation says %v", err, want)
			}
		})
	}
}

// sameToken checks that NewInvocationToken(s, f) is NewInvocation(s, f)'s
// token: with f's nonce, or a fixed one if f has none, the same signature
// payload, and for Ed25519 (deterministic signatures) the same bytes.
func sameToken(t *testing.T, s *KeySigner, f InvocationFields) {
	t.Helper()
	if f.Nonce == nil {
		f.Nonce = []byte("fixed nonce")
	}
	inv, err := NewInvocation(s, f)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := NewInvocationToken(s, f)
	if err != nil {
		t.Fatalf("NewInvocationToken: %v", err)
	}
	got, err := ParseInvocation(tok)
	if err != nil {
		t.Fatalf("NewInvocationToken's token does not parse: %v", err)
	}
	if !bytes.Equal(got.SignedBytes(), inv.SignedBytes()) {
		t.Fatal("NewInvocationToken signed another payload than NewInvocation")
	}
	if err := s.PublicKey().Verify(got.SignedBytes(), got.Signature); err != nil {
		t.Fatalf("NewInvocationToken's signature: %v", err)
	}
	if s.Algorithm() == Ed25519 && !bytes.Equal(tok, inv.Bytes()) {
		t.Fatal("NewInvocationToken's Ed25519 token differs from NewInvocation's")
	}
}

// TestNewInvocationTokenReserved checks that NewInvocationToken refuses
// the reserved /ucan commands as NewInvocation does.
func TestNewInvocationTokenReserved(t *testing.T) {
	s := newSigner(t, Ed25519)
	f := InvocationFields{Subject: s.DID(), Command: "/ucan/revoke", NoExpiration: true}
	_, want := NewInvocation(s, f)
	if _, err := NewInvocationToken(s, f); err == nil || want == nil || err.Error() != want.Error() {
		t.Fatalf("NewInvocationToken says %v, NewInvocation %v", err, want)
	}
}

// TestSignEnvelopeMatchesMarshal checks that the token signEnvelope writes
// around the signature payload is drisl's encoding of [sig, sp], for
// signatures whose byte-string heads take one, two and three bytes.
func TestSignEnvelopeMatchesMarshal(t *testing.T) {
	for _, n := range []int{0, 23, 24, 64, 255, 256, 70000} {
		sig := bytes.Repeat([]byte{7}, n)
		env, err := signEnvelope(fixedSigner{sig}, TagInvocation, map[string]any{"a": int64(1)})
		if err != nil {
			t.Fatal(err)
		}
		want, err := drisl.Marshal([]any{sig, drisl.Raw(env.sigPayload)})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(env.raw, want) || !bytes.Equal(env.signature, sig) {
			t.Fatalf("signature of %d bytes: token differs from drisl's", n)
		}
	}
}

// TestSignEnvelopeEncodeError checks that a payload drisl refuses fails
// signEnvelope with the error of encoding the signature payload alone
// (its path starts at the payload's tag), whatever the signature length.
func TestSignEnvelopeEncodeError(t *testing.T) {
	p := map[string]any{"args": map[string]any{"x": []any{1, math.NaN()}}}
	s := newSigner(t, Ed25519)
	_, want := drisl.Marshal(map[string]any{"h": Ed25519.Header(), TagInvocation: p})
	if want == nil {
		t.Fatal("test bug: drisl encodes NaN")
	}
	for _, signer := range []Signer{s, fixedSigner{make([]byte, 10)}} {
		if _, err := signEnvelope(signer, TagInvocation, p); err == nil || err.Error() != want.Error() {
			t.Fatalf("got %v, want %v", err, want)
		}
	}
}

// fixedSigner signs everything with the same bytes.
type fixedSigner struct{ sig []byte }

func (fixedSigner) DID() string                   { return "did:example:fixed" }
func (fixedSigner) Algorithm() Algorithm          { return Ed25519 }
func (s fixedSigner) Sign([]byte) ([]byte, error) { return s.sig, nil }

// TestZeroInvocationCID checks that the CID of an Invocation built by hand
// (no token) is cid.Undef, as before CIDs were hashed on first use,
// instead of a nil dereference.
func TestZeroInvocationCID(t *testing.T) {
	if c := (&Invocation{}).CID(); c != cid.Undef {
		t.Fatalf("CID of a zero Invocation is %v", c)
	}
}

// TestInvocationCIDConcurrent checks that the first CID calls, made at
// once from several goroutines, all return the token's CID (run with
// -race: the hash is computed once, under sync.Once).
func TestInvocationCIDConcurrent(t *testing.T) {
	s := newSigner(t, Ed25519)
	inv, err := NewInvocation(s, InvocationFields{Subject: s.DID(), Command: "/repo/create", NoExpiration: true})
	if err != nil {
		t.Fatal(err)
	}
	want := drisl.SumCID(drisl.CodecDagCBOR, inv.Bytes())
	got := make(chan cid.Cid, 8)
	for range 8 {
		go func() { got <- inv.CID() }()
	}
	for range 8 {
		if c := <-got; c != want {
			t.Fatalf("CID %v, want %v", c, want)
		}
	}
}
