package ucan

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/townhall-dev/townhall/drisl"
)

// FuzzParseToken feeds arbitrary bytes to both parsers and to a validator
// (with a proof store holding the spec fixture delegations): nothing may
// panic, and whatever parses must re-serialise to the same bytes and CID.
func FuzzParseToken(f *testing.F) {
	for _, tok := range fixtureTokens(f) {
		f.Add(tok)
	}
	for _, alg := range algs {
		w := newWorld(f, alg, 2, "/repo")
		f.Add(w.chain[1].Bytes())
		f.Add(w.invoke("/repo/create", map[string]any{"n": 1}).Bytes())
	}
	store := NewMemoryProofStore()
	for _, tok := range fixtureTokens(f) {
		store.Put(tok) //nolint:errcheck // invocations are not delegations
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		usualPayloadAgrees(t, data)
		_, derr := ParseDelegation(data)
		_, ierr := ParseInvocation(data)
		if (derr == nil || ierr == nil) && drisl.Validate(data) != nil {
			t.Fatalf("parsed a token that is not strict DRISL: %v", drisl.Validate(data))
		}
		if d, err := ParseDelegation(data); err == nil {
			if !bytes.Equal(d.Bytes(), data) || !d.CID().Equals(tokenCID(data)) {
				t.Fatal("delegation bytes or CID differ")
			}
			if _, err := ParsePolicy(d.Policy.Value()); err != nil {
				t.Fatalf("policy of a parsed delegation does not reparse: %v", err)
			}
		}
		if _, err := ParseInvocation(data); err == nil {
			v := NewValidator(ValidatorOptions{Proofs: store, Now: fixedClock(time.Unix(1767225600, 0))})
			v.Validate(context.Background(), data)           //nolint:errcheck
			v.ValidateRevocation(context.Background(), data) //nolint:errcheck
		}
	})
}

// FuzzPolicy evaluates an arbitrary DRISL policy against arbitrary DRISL
// arguments: parsing and matching must never panic, an exceeded budget
// must mean false, and a result reached within a budget must not change
// with a larger one (the budget only ever cuts evaluation short).
func FuzzPolicy(f *testing.F) {
	for _, seed := range policySeeds(f) {
		f.Add(seed[0], seed[1])
	}
	// Integers beyond int64, which only exact comparison orders correctly.
	for _, seed := range [][2]any{
		{[]any{[]any{">", ".n", float64(1 << 63)}, []any{"<", ".n", float64(1 << 64)}}, map[string]any{"n": uint64(math.MaxUint64)}},
		{[]any{[]any{"==", ".n", drisl.NegInt(1 << 63)}, []any{"all", ".m", []any{"<", ".", int64(math.MinInt64)}}},
			map[string]any{"n": drisl.NegInt(1 << 63), "m": map[string]any{"a": drisl.NegInt(0), "b": drisl.NegInt(7)}}},
	} {
		pb, err := drisl.Marshal(seed[0])
		if err != nil {
			f.Fatal(err)
		}
		ab, err := drisl.Marshal(seed[1])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pb, ab)
	}
	f.Fuzz(func(t *testing.T, pol, args []byte) {
		var pv, av any
		opts := drisl.DecOptions{MaxDepth: 64, MaxInputBytes: 1 << 16}
		if opts.Unmarshal(pol, &pv) != nil || opts.Unmarshal(args, &av) != nil {
			return
		}
		p, err := ParsePolicy(pv)
		if err != nil {
			return
		}
		ok, exceeded := p.MatchLimit(av, 1<<12)
		if exceeded && ok {
			t.Fatal("matched although the budget was exceeded")
		}
		if !exceeded {
			ok2, exceeded2 := p.MatchLimit(av, 1<<16)
			if exceeded2 || ok2 != ok {
				t.Fatalf("budget 1<<12: %v; budget 1<<16: %v (exceeded %v)", ok, ok2, exceeded2)
			}
		}
		for _, s := range p.stmts {
			if q, ok := s.(*quantStmt); ok {
				q.sel.Select(av)
			}
		}
	})
}

func fixtureTokens(t testing.TB) [][]byte {
	var out [][]byte
	var d struct {
		Valid []struct{ Token string }
	}
	loadJSON(t, "delegation.json", &d)
	for _, c := range d.Valid {
		out = append(out, b64(t, c.Token))
	}
	var inv struct{ Valid, Invalid []invocationCase }
	loadJSON(t, "invocation.json", &inv)
	for _, c := range append(inv.Valid, inv.Invalid...) {
		out = append(out, b64(t, c.Invocation.Slash.Bytes))
		for _, p := range c.Proofs {
			out = append(out, b64(t, p.Slash.Bytes))
		}
	}
	var iso struct {
		Cases []struct {
			Invocation string
			Proofs     []string
		}
	}
	data, err := readTestdata("iso-ucan/iso-ucan.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &iso); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range iso.Cases {
		for _, tok := range append([]string{c.Invocation}, c.Proofs...) {
			if !seen[tok] {
				seen[tok] = true
				out = append(out, b64(t, tok))
			}
		}
	}
	return out
}

func policySeeds(t testing.TB) [][2][]byte {
	var f struct {
		Valid, Invalid []struct {
			Args     json.RawMessage
			Policies []json.RawMessage
		}
	}
	loadJSON(t, "policy.json", &f)
	var out [][2][]byte
	for _, g := range append(f.Valid, f.Invalid...) {
		args, err := jsonToIPLD(g.Args)
		if err != nil {
			t.Fatal(err)
		}
		ab, err := drisl.Marshal(args)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range g.Policies {
			pv, err := jsonToIPLD(p)
			if err != nil {
				t.Fatal(err)
			}
			pb, err := drisl.Marshal(pv)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, [2][]byte{pb, ab})
		}
	}
	return out
}

// TestWriteFuzzSeeds regenerates the committed seed corpus in
// testdata/fuzz when UCAN_WRITE_SEEDS=1; otherwise it checks the corpus
// exists.
func TestWriteFuzzSeeds(t *testing.T) {
	write := os.Getenv("UCAN_WRITE_SEEDS") == "1"
	check := func(name string, i int, vals ...[]byte) {
		path := filepath.Join("testdata", "fuzz", name, "seed-"+itoa(i))
		if !write {
			if _, err := os.Stat(path); err != nil {
				t.Errorf("missing seed %s (run with UCAN_WRITE_SEEDS=1)", path)
			}
			return
		}
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, v := range vals {
			b.WriteString("[]byte(" + quoteBytes(v) + ")\n")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, tok := range fixtureTokens(t) {
		check("FuzzParseToken", i, tok)
	}
	for i, s := range policySeeds(t) {
		check("FuzzPolicy", i, s[0], s[1])
	}
}

func itoa(i int) string {
	return string(rune('0'+i/100)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}

func quoteBytes(b []byte) string {
	const hex = "0123456789abcdef"
	var s bytes.Buffer
	s.WriteByte('"')
	for _, c := range b {
		s.WriteString(`\x`)
		s.WriteByte(hex[c>>4])
		s.WriteByte(hex[c&15])
	}
	s.WriteByte('"')
	return s.String()
}
