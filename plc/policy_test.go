package plc

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPolicyLimits(t *testing.T) {
	k := newKey(t, true)
	base := func() *Op {
		return &Op{Type: TypeOperation, RotationKeys: []string{k.did}, VerificationMethods: map[string]string{"atproto": k.did},
			AlsoKnownAs: []string{"at://a.test"}, Services: map[string]Service{"atproto_pds": {Type: "AtprotoPersonalDataServer", Endpoint: "https://pds.test"}},
			Sig: strings.Repeat("A", 86)}
	}
	many := func(n int, f func(i int) string) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, f(i))
		}
		return out
	}
	cases := []struct {
		name  string
		edit  func(op *Op)
		field string
	}{
		{"size", func(op *Op) { op.AlsoKnownAs = []string{"at://" + strings.Repeat("x", 4000)} }, ""},
		{"aka count", func(op *Op) { op.AlsoKnownAs = many(11, func(i int) string { return fmt.Sprint("at://", i) }) }, "alsoKnownAs"},
		{"aka length", func(op *Op) { op.AlsoKnownAs = []string{"at://" + strings.Repeat("x", 254)} }, "alsoKnownAs[0]"},
		{"aka duplicate", func(op *Op) { op.AlsoKnownAs = []string{"at://a", "at://a"} }, "alsoKnownAs[1]"},
		{"rotation count", func(op *Op) { op.RotationKeys = many(11, func(int) string { return k.did }) }, "rotationKeys"},
		{"rotation key type", func(op *Op) { op.RotationKeys = []string{"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"} }, "rotationKeys[0]"},
		{"service count", func(op *Op) {
			for i := 0; i < 11; i++ {
				op.Services[fmt.Sprint("s", i)] = Service{Type: "t", Endpoint: "e"}
			}
		}, "services"},
		{"service id", func(op *Op) { op.Services[strings.Repeat("s", 33)] = Service{} }, "services." + strings.Repeat("s", 33)},
		{"service type", func(op *Op) { op.Services["x"] = Service{Type: strings.Repeat("t", 257)} }, "services.x.type"},
		{"service endpoint", func(op *Op) { op.Services["x"] = Service{Endpoint: strings.Repeat("e", 513)} }, "services.x.endpoint"},
		{"vm count", func(op *Op) {
			for i := 0; i < 11; i++ {
				op.VerificationMethods[fmt.Sprint("v", i)] = k.did
			}
		}, "verificationMethods"},
		{"vm id", func(op *Op) { op.VerificationMethods[strings.Repeat("v", 33)] = k.did }, "verificationMethods." + strings.Repeat("v", 33)},
		{"vm key length", func(op *Op) { op.VerificationMethods["x"] = "did:key:z" + strings.Repeat("2", 250) }, "verificationMethods.x"},
		{"vm key syntax", func(op *Op) { op.VerificationMethods["x"] = "did:web:example.com" }, "verificationMethods.x"},
		{"vm key base58", func(op *Op) { op.VerificationMethods["x"] = "did:key:z0OIl" }, "verificationMethods.x"},
	}
	if err := (Policy{}).Check(base()); err != nil {
		t.Fatalf("base op: %v", err)
	}
	for _, c := range cases {
		op := base()
		c.edit(op)
		err := Policy{}.Check(op)
		var fe *FieldError
		if !errors.Is(err, ErrPolicy) || !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: got %v, want ErrPolicy at %q", c.name, err, c.field)
		}
		if err := (Policy{Disabled: true}).Check(op); err != nil {
			t.Errorf("%s with policy disabled: %v", c.name, err)
		}
	}
	// A negative value disables one limit.
	op := base()
	op.AlsoKnownAs = many(11, func(i int) string { return fmt.Sprint("at://", i) })
	if err := (Policy{MaxAlsoKnownAs: -1}).Check(op); err != nil {
		t.Fatal(err)
	}
	// ed25519 verification methods are fine (spec v0.2).
	op = base()
	op.VerificationMethods["ed"] = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	if err := (Policy{}).Check(op); err != nil {
		t.Fatal(err)
	}
	legacy := &Op{Type: TypeCreate}
	if err := (Policy{Disabled: true}).Check(legacy); !errors.Is(err, ErrUnknownOpType) {
		t.Fatal(err)
	}
}

func TestPolicyRate(t *testing.T) {
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	var times []time.Time
	for i := 0; i < 9; i++ {
		times = append(times, now.Add(-time.Duration(i+1)*time.Minute))
	}
	if err := (Policy{}).checkRate(times, now); err != nil {
		t.Fatal(err)
	}
	times = append(times, now.Add(-30*time.Second))
	if err := (Policy{}).checkRate(times, now); !errors.Is(err, ErrPolicy) {
		t.Fatalf("11th op in an hour: %v", err)
	}
	if err := (Policy{MaxOpsPerHour: -1}).checkRate(times, now); err != nil {
		t.Fatal(err)
	}
}

// TestDirectoryRateLimit: the 11th ordinary update within an hour is
// refused; a nullifying recovery operation is not rate limited.
func TestDirectoryRateLimit(t *testing.T) {
	dir, clock, _ := newTestDirectory(t, nil)
	ctx := t.Context()
	host, rec := newKey(t, true), newKey(t, false)
	g, did, err := NewGenesis(GenesisOptions{RecoveryKeys: []string{rec.did}, HostRotationKey: host.did, SigningKey: host.did, Endpoint: "https://a.test"}, host.priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.Submit(ctx, did, g); err != nil {
		t.Fatal(err)
	}
	var first string
	for i := 0; ; i++ {
		clock.Add(time.Second)
		s, err := dir.State(ctx, did)
		if err != nil {
			t.Fatal(err)
		}
		op, err := Update(s, UpdateOptions{AlsoKnownAs: []string{fmt.Sprint("at://n", i, ".test")}}, host.priv)
		if err != nil {
			t.Fatal(err)
		}
		res, err := dir.Submit(ctx, did, op)
		if i == 0 && err == nil {
			first = res.CID
		}
		if err != nil {
			if i != 9 || !errors.Is(err, ErrPolicy) {
				t.Fatalf("update %d: %v", i, err)
			}
			break
		}
	}
	s, _ := dir.State(ctx, did)
	clock.Add(time.Second)
	rec2 := newKey(t, true)
	op, res, err := Nullify(s, MoveOptions{NewSigningKey: rec2.did, NewEndpoint: "https://b.test", NewHostRotationKey: rec2.did,
		Hostile: first}, rec.priv, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Nullified) != 9 {
		t.Fatalf("nullifies %d", len(res.Nullified))
	}
	if _, err := dir.Submit(ctx, did, op); err != nil {
		t.Fatalf("recovery refused: %v", err)
	}
}
