package ucan

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return b
}

type dagBytes struct {
	Slash struct {
		Bytes string `json:"bytes"`
	} `json:"/"`
}

type invocationCase struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Invocation  dagBytes   `json:"invocation"`
	Proofs      []dagBytes `json:"proofs"`
	Time        int64      `json:"time"`
	Error       *struct {
		Name string `json:"name"`
	} `json:"error"`
}

func loadJSON(t testing.TB, name string, v any) {
	t.Helper()
	data, err := readTestdata("ucan-spec/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

func readTestdata(name string) ([]byte, error) { return os.ReadFile("testdata/" + name) }

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

func TestSpecDelegation(t *testing.T) {
	var f struct {
		Valid []struct {
			Name     string `json:"name"`
			Token    string `json:"token"`
			CID      string `json:"cid"`
			Envelope struct {
				Payload struct {
					Iss, Aud, Sub, Cmd, Nonce string
					Exp                       int64
				} `json:"payload"`
				Signature string `json:"signature"`
				Alg       string `json:"alg"`
			} `json:"envelope"`
		} `json:"valid"`
	}
	loadJSON(t, "delegation.json", &f)
	if len(f.Valid) != 1 {
		t.Fatalf("%d valid delegations, want 1", len(f.Valid))
	}
	for _, c := range f.Valid {
		t.Run(c.Name, func(t *testing.T) {
			tok := b64(t, c.Token)
			d, err := ParseDelegation(tok)
			if err != nil {
				t.Fatal(err)
			}
			p := c.Envelope.Payload
			if d.Issuer != p.Iss || d.Audience != p.Aud || d.Subject != p.Sub || d.Command != p.Cmd {
				t.Errorf("fields %+v, want %+v", d, p)
			}
			if d.Expiration == nil || *d.Expiration != p.Exp {
				t.Errorf("exp %v, want %d", d.Expiration, p.Exp)
			}
			if string(d.Nonce) != string(b64(t, p.Nonce)) || string(d.Signature) != string(b64(t, c.Envelope.Signature)) {
				t.Error("nonce or signature differ")
			}
			if d.Algorithm.String() != c.Envelope.Alg || d.Policy.Len() != 0 {
				t.Errorf("alg %s, policy %d", d.Algorithm, d.Policy.Len())
			}
			if d.CID().String() != c.CID {
				t.Errorf("CID %s, want %s", d.CID(), c.CID)
			}
			v := NewValidator(ValidatorOptions{})
			if err := v.verifySignature(context.Background(), d.env, d.Issuer, 0); err != nil {
				t.Errorf("signature: %v", err)
			}
			// A flipped signature bit must fail.
			bad := *d.env
			bad.signature = append([]byte(nil), d.env.signature...)
			bad.signature[0] ^= 1
			if err := v.verifySignature(context.Background(), &bad, d.Issuer, 0); !errors.Is(err, ErrInvalidSignature) {
				t.Errorf("flipped signature: %v", err)
			}
		})
	}
}

func TestSpecInvocation(t *testing.T) {
	var f struct {
		Valid   []invocationCase `json:"valid"`
		Invalid []invocationCase `json:"invalid"`
	}
	loadJSON(t, "invocation.json", &f)
	if len(f.Valid) != 7 || len(f.Invalid) != 13 {
		t.Fatalf("%d valid, %d invalid; want 7 and 13", len(f.Valid), len(f.Invalid))
	}
	run := func(t *testing.T, c invocationCase, strict bool) error {
		var proofs [][]byte
		for _, p := range c.Proofs {
			proofs = append(proofs, b64(t, p.Slash.Bytes))
		}
		now := time.Unix(c.Time, 0)
		v := NewValidator(ValidatorOptions{Now: func() time.Time { return now }, StrictAttenuation: strict})
		_, err := v.Validate(context.Background(), b64(t, c.Invocation.Slash.Bytes), proofs...)
		return err
	}
	for _, c := range f.Valid {
		t.Run("valid/"+c.Name, func(t *testing.T) {
			if err := run(t, c, false); err != nil {
				t.Errorf("%s: %v", c.Description, err)
			}
			if err := run(t, c, true); err != nil {
				t.Errorf("%s, StrictAttenuation: %v", c.Description, err)
			}
		})
	}
	for _, c := range f.Invalid {
		t.Run("invalid/"+c.Name, func(t *testing.T) {
			err := run(t, c, false)
			if err == nil {
				t.Fatalf("%s: accepted", c.Description)
			}
			if got := ErrorName(err); got != c.Error.Name {
				t.Errorf("%s: error %q (%v), want %q", c.Description, got, err, c.Error.Name)
			}
		})
	}
}

func TestSpecPolicy(t *testing.T) {
	var f struct {
		Valid, Invalid []struct {
			Args     json.RawMessage   `json:"args"`
			Policies []json.RawMessage `json:"policies"`
		}
	}
	loadJSON(t, "policy.json", &f)
	if len(f.Valid) != 6 || len(f.Invalid) != 4 {
		t.Fatalf("%d valid, %d invalid groups; want 6 and 4", len(f.Valid), len(f.Invalid))
	}
	check := func(t *testing.T, groups []struct {
		Args     json.RawMessage   `json:"args"`
		Policies []json.RawMessage `json:"policies"`
	}, want bool) {
		for g, grp := range groups {
			args, err := jsonToIPLD(grp.Args)
			if err != nil {
				t.Fatal(err)
			}
			for i, raw := range grp.Policies {
				p, err := ParsePolicyJSON(raw)
				if err != nil {
					t.Fatalf("group %d policy %d: %v", g, i, err)
				}
				if got := p.Match(args); got != want {
					t.Errorf("group %d policy %d %s on %s: %v, want %v", g, i, raw, grp.Args, got, want)
				}
			}
		}
	}
	t.Run("valid", func(t *testing.T) { check(t, f.Valid, true) })
	t.Run("invalid", func(t *testing.T) { check(t, f.Invalid, false) })
}
