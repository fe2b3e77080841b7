package plc

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"

	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/internal/ecverify"
)

// asGeneric is the same operation in drisl's generic value model, for
// checking the hand-written encoder against drisl.Marshal.
func asGeneric(op *Op, withSig bool) map[string]any {
	strs := func(ss []string) []any {
		out := []any{}
		for _, s := range ss {
			out = append(out, s)
		}
		return out
	}
	var prev any
	if op.Prev != "" {
		prev = op.Prev
	}
	m := map[string]any{"type": op.Type, "prev": prev}
	switch op.Type {
	case TypeOperation:
		vm := map[string]any{}
		for k, v := range op.VerificationMethods {
			vm[k] = v
		}
		sv := map[string]any{}
		for k, v := range op.Services {
			sv[k] = map[string]any{"type": v.Type, "endpoint": v.Endpoint}
		}
		m["rotationKeys"] = strs(op.RotationKeys)
		m["alsoKnownAs"] = strs(op.AlsoKnownAs)
		m["verificationMethods"] = vm
		m["services"] = sv
	case TypeCreate:
		m["signingKey"], m["recoveryKey"], m["handle"], m["service"] = op.SigningKey, op.RecoveryKey, op.Handle, op.ServiceURL
	}
	if withSig {
		m["sig"] = op.Sig
	}
	return m
}

func TestEncodingMatchesDRISL(t *testing.T) {
	files, _ := filepath.Glob("testdata/didplc/log_*.json")
	n := 0
	for _, f := range files {
		for _, e := range loadLog(t, filepath.Base(f)) {
			op := e.Operation
			for _, withSig := range []bool{false, true} {
				got, err := op.encode(nil, withSig)
				if err != nil {
					t.Fatal(err)
				}
				want, err := drisl.Marshal(asGeneric(&op, withSig))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(want) {
					t.Fatalf("%s: encoding differs\n%x\n%x", f, got, want)
				}
				if err := drisl.Validate(got); err != nil {
					t.Fatal(err)
				}
			}
			n++
		}
	}
	// Long strings and many entries exercise the longer heads.
	big := &Op{Type: TypeOperation, Prev: "", Sig: strings.Repeat("A", 86),
		AlsoKnownAs:         []string{strings.Repeat("x", 300), strings.Repeat("y", 70000)},
		VerificationMethods: map[string]string{}, Services: map[string]Service{}}
	for i := 0; i < 30; i++ {
		big.RotationKeys = append(big.RotationKeys, strings.Repeat("k", i))
		big.VerificationMethods[strings.Repeat("v", i%7)+string(rune('a'+i%26))] = "did:key:z"
		big.Services[strings.Repeat("s", i%5)+string(rune('a'+i%26))] = Service{Type: "t", Endpoint: "e"}
	}
	got, _ := big.encode(nil, true)
	want, _ := drisl.Marshal(asGeneric(big, true))
	if string(got) != string(want) {
		t.Fatal("large op encoding differs")
	}
	if n < 40 {
		t.Fatalf("only %d ops checked", n)
	}
}

func TestParseOpStrict(t *testing.T) {
	log := loadLog(t, "log_bskyapp.json")
	good, _ := json.Marshal(log[1].Operation)
	if _, err := ParseOp(good); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(good, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	sigOf := func(raw []byte) string { return base64.RawURLEncoding.EncodeToString(raw) }
	highS := make([]byte, 64)
	for i := 32; i < 64; i++ {
		highS[i] = 0xff
	}
	der := append([]byte{0x30, 0x44, 0x02, 0x20}, make([]byte, 32)...)
	der = append(der, 0x02, 0x20)
	der = append(der, make([]byte, 32)...)
	orig := log[1].Operation.Sig
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"unknown field", edit(func(m map[string]any) { m["extra"] = 1 }), ErrUnknownField},
		{"legacy field on a regular op", edit(func(m map[string]any) { m["handle"] = "x" }), ErrUnknownField},
		{"missing field", edit(func(m map[string]any) { delete(m, "services") }), ErrMissingField},
		{"missing prev", edit(func(m map[string]any) { delete(m, "prev") }), ErrMissingField},
		{"wrong type", edit(func(m map[string]any) { m["alsoKnownAs"] = "at://x" }), ErrFieldType},
		{"number in array", edit(func(m map[string]any) { m["rotationKeys"] = []any{1} }), ErrFieldType},
		{"null sig", edit(func(m map[string]any) { m["sig"] = nil }), ErrFieldType},
		{"service extra field", edit(func(m map[string]any) {
			m["services"] = map[string]any{"a": map[string]any{"type": "t", "endpoint": "e", "x": "y"}}
		}), ErrUnknownField},
		{"service missing endpoint", edit(func(m map[string]any) { m["services"] = map[string]any{"a": map[string]any{"type": "t"}} }), ErrMissingField},
		{"unknown type", edit(func(m map[string]any) { m["type"] = "plc_other" }), ErrUnknownOpType},
		{"bad prev", edit(func(m map[string]any) { m["prev"] = "not-a-cid" }), ErrInvalidCID},
		{"unsigned", edit(func(m map[string]any) { m["sig"] = "" }), ErrUnsigned},
		{"padding", edit(func(m map[string]any) { m["sig"] = orig + "==" }), ErrSigPadding},
		{"newline", edit(func(m map[string]any) { m["sig"] = orig[:40] + "\n" + orig[40:] }), ErrSigNewline},
		{"trailing bits", edit(func(m map[string]any) { m["sig"] = orig[:85] + "B" }), ErrSigEncoding},
		{"std alphabet", edit(func(m map[string]any) { m["sig"] = "+" + orig[1:] }), ErrSigEncoding},
		{"short", edit(func(m map[string]any) { m["sig"] = sigOf(make([]byte, 63)) }), ErrSigLength},
		{"DER", edit(func(m map[string]any) { m["sig"] = sigOf(der) }), ErrSigDER},
		{"high S", edit(func(m map[string]any) { m["sig"] = sigOf(highS) }), ErrSigHighS},
		{"duplicate key", []byte(strings.Replace(string(good), `{`, `{"type":"plc_operation",`, 1)), ErrDuplicateKey},
		{"duplicate map key", []byte(strings.Replace(string(good), `"verificationMethods":{`, `"verificationMethods":{"atproto":"x",`, 1)), ErrDuplicateKey},
		{"trailing data", append(append([]byte{}, good...), []byte(" {}")...), ErrSyntax},
		{"not an object", []byte(`[]`), ErrFieldType},
		{"truncated", good[:len(good)-1], ErrSyntax},
		{"tombstone null prev", []byte(`{"type":"plc_tombstone","prev":null,"sig":"` + orig + `"}`), ErrFieldType},
		{"too large", make([]byte, MaxOpJSONBytes+1), ErrTooLarge},
	}
	for _, c := range cases {
		_, err := ParseOp(c.in)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		var fe *FieldError
		if err != nil && !errors.As(err, &fe) {
			t.Errorf("%s: %T is not a *FieldError", c.name, err)
		}
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, k256 := range []bool{false, true} {
		k := newKey(t, k256)
		op := &Op{Type: TypeOperation, RotationKeys: []string{k.did}, VerificationMethods: map[string]string{"atproto": k.did},
			AlsoKnownAs: []string{"at://x.test"}, Services: map[string]Service{}}
		for i := 0; i < 20; i++ {
			op.AlsoKnownAs[0] = "at://x" + strings.Repeat("y", i) + ".test"
			if err := Sign(op, k.priv); err != nil {
				t.Fatal(err)
			}
			sig, err := decodeSig(op.Sig)
			if err != nil {
				t.Fatal(err)
			}
			if ecverify.HighS(sig[32:], k256) {
				t.Fatal("signed high-S")
			}
			msg, _ := op.UnsignedBytes()
			if i, err := verifyAny(&KeyCache{}, op.RotationKeys, msg, sig, -1); err != nil || i != 0 {
				t.Fatal(err)
			}
			// The high-S twin of a valid signature is refused as high-S.
			n, _ := new(big.Int).SetString("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16) // P-256's order
			if k256 {
				n, _ = new(big.Int).SetString("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16)
			}
			s := new(big.Int).SetBytes(sig[32:])
			twin := append([]byte{}, sig...)
			new(big.Int).Sub(n, s).FillBytes(twin[32:])
			if _, err := verifyAny(&KeyCache{}, op.RotationKeys, msg, twin, -1); !errors.Is(err, ErrSigHighS) {
				t.Fatalf("high-S twin: %v", err)
			}
		}
		raw, _ := json.Marshal(op)
		back, err := ParseOp(raw)
		if err != nil || !reflect.DeepEqual(back, op) {
			t.Fatalf("json round trip: %v", err)
		}
		did, err := op.DID()
		if err != nil || !didPattern.MatchString(did) {
			t.Fatalf("did %s %v", did, err)
		}
	}
}

func TestLegacyNormalize(t *testing.T) {
	log := loadLog(t, "log_legacy_dholms.json")
	n := log[0].Operation.Normalize()
	if n.Type != TypeOperation || n.AlsoKnownAs[0] != "at://dan.bsky.social" ||
		n.Services["atproto_pds"].Endpoint != "https://bsky.social" ||
		!reflect.DeepEqual(n.RotationKeys, []string{log[0].Operation.RecoveryKey, log[0].Operation.SigningKey}) {
		t.Fatalf("%+v", n)
	}
	if ensureAtprotoPrefix("https://x.test") != "at://x.test" || ensureHTTPPrefix("pds.test") != "https://pds.test" {
		t.Fatal("prefixes")
	}
	// A legacy create after the genesis is refused.
	s, err := ValidateAuditLog(log[0].DID, log, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again := log[0].Operation
	if _, err := s.CheckNext(&again, mustTime(t, log[4].CreatedAt).Add(1)); !errors.Is(err, ErrLegacyNotCreate) && !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("legacy again: %v", err)
	}
}

func TestAuditLogErrors(t *testing.T) {
	log := loadLog(t, "log_nullification.json")
	did := log[0].DID
	mod := func(f func(l []LogEntry)) []LogEntry {
		l := append([]LogEntry(nil), log...)
		f(l)
		return l
	}
	cases := []struct {
		name  string
		did   string
		log   []LogEntry
		want  error
		index int
	}{
		{"wrong did", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", log, ErrDIDMismatch, 0},
		{"cid", did, mod(func(l []LogEntry) { l[1].CID = l[0].CID }), ErrCIDMismatch, 1},
		{"flag", did, mod(func(l []LogEntry) { l[1].Nullified = false }), ErrNullifiedFlag, 1},
		{"genesis nullified", did, mod(func(l []LogEntry) { l[0].Nullified = true }), ErrNullifiedFlag, 0},
		{"time order", did, mod(func(l []LogEntry) { l[2].CreatedAt = l[1].CreatedAt }), ErrTimestampOrder, 2},
		{"bad time", did, mod(func(l []LogEntry) { l[1].CreatedAt = "yesterday" }), ErrInvalidTimestamp, 1},
		{"no time", did, mod(func(l []LogEntry) { l[0].CreatedAt = "" }), ErrInvalidTimestamp, 0},
		{"missing prev", did, mod(func(l []LogEntry) { l[1] = l[0]; l[1].CreatedAt = log[1].CreatedAt }), ErrCIDMismatch, 1},
		{"order", did, []LogEntry{log[0], log[2], log[1]}, ErrNullifyUnauthorized, 2},
	}
	for _, c := range cases {
		_, err := ValidateAuditLog(c.did, c.log, ValidateOptions{})
		var oe *OpError
		if !errors.Is(err, c.want) || !errors.As(err, &oe) || oe.Index != c.index {
			t.Errorf("%s: got %v, want %v at %d", c.name, err, c.want, c.index)
		}
	}
	if _, err := ValidateAuditLog(did, nil, ValidateOptions{}); !errors.Is(err, ErrEmptyLog) {
		t.Fatal(err)
	}
	// A genesis that is not a genesis.
	if _, err := ValidateAuditLog(did, log[1:], ValidateOptions{}); !errors.Is(err, ErrGenesisPrev) {
		t.Fatalf("prev on genesis: %v", err)
	}
}
