package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/ucan"
)

// readToken reads a UCAN token file: raw DRISL bytes, or the same as base64
// (standard or URL alphabet, padded or not) text.
func readToken(e *env, name string) ([]byte, error) {
	b, err := readInput(e, name)
	if err != nil {
		return nil, err
	}
	if len(b) > 0 && b[0] == 0x82 { // a DRISL array of two: the envelope
		return b, nil
	}
	text := strings.TrimSpace(string(b))
	text = strings.TrimRight(text, "=")
	text = strings.NewReplacer("+", "-", "/", "_").Replace(text)
	raw, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil {
		return nil, invalidErr("%s is neither a DRISL token nor base64 of one", name)
	}
	return raw, nil
}

type tokenSummary struct {
	Kind       string         `json:"kind"`
	CID        string         `json:"cid"`
	Tag        string         `json:"tag"`
	Algorithm  string         `json:"algorithm"`
	Issuer     string         `json:"iss"`
	Audience   string         `json:"aud,omitempty"`
	Subject    *string        `json:"sub"`
	Command    string         `json:"cmd"`
	Policy     int            `json:"policyStatements,omitempty"`
	Args       any            `json:"args,omitempty"`
	Proofs     []string       `json:"prf,omitempty"`
	NotBefore  string         `json:"nbf,omitempty"`
	Expiration string         `json:"exp"`
	IssuedAt   string         `json:"iat,omitempty"`
	Meta       map[string]any `json:"meta,omitempty"`
}

func unixString(p *int64) string {
	if p == nil {
		return ""
	}
	return time.Unix(*p, 0).UTC().Format(time.RFC3339)
}

func summariseToken(tok []byte) (*tokenSummary, error) {
	if d, err := ucan.ParseDelegation(tok); err == nil {
		s := &tokenSummary{Kind: "delegation", CID: d.CID().String(), Tag: d.Tag, Algorithm: d.Algorithm.String(),
			Issuer: d.Issuer, Audience: d.Audience, Command: d.Command, Policy: d.Policy.Len(),
			NotBefore: unixString(d.NotBefore), Expiration: unixString(d.Expiration)}
		if !d.IsPowerline() {
			s.Subject = &d.Subject
		}
		if s.Expiration == "" {
			s.Expiration = "never"
		}
		s.Meta = jsonable(d.Meta)
		return s, nil
	}
	inv, err := ucan.ParseInvocation(tok)
	if err != nil {
		return nil, invalidErr("not a UCAN 1.0 delegation or invocation: %v", err)
	}
	s := &tokenSummary{Kind: "invocation", CID: inv.CID().String(), Tag: inv.Tag, Algorithm: inv.Algorithm.String(),
		Issuer: inv.Issuer, Audience: inv.Audience, Subject: &inv.Subject, Command: inv.Command,
		Expiration: unixString(inv.Expiration), IssuedAt: unixString(inv.IssuedAt)}
	if s.Expiration == "" {
		s.Expiration = "never"
	}
	for _, p := range inv.Proofs {
		s.Proofs = append(s.Proofs, p.String())
	}
	s.Args = jsonable(inv.Args)
	s.Meta = jsonable(inv.Meta)
	return s, nil
}

// jsonable turns a data-model map into plain JSON values ($link, $bytes).
func jsonable(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	b, err := drisl.MarshalJSON(m)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return map[string]any{"error": err.Error()}
	}
	return out
}

func runUCAN(e *env, args []string) error {
	sub, args, err := subcommand("ucan", args, "inspect", "verify")
	if err != nil {
		return err
	}
	fs := newFlags("ucan " + sub)
	asJSON := fs.Bool("json", false, "print JSON")
	var proofs stringList
	fs.Var(&proofs, "proof", "verify: a delegation token file of the chain (repeat, any order)")
	at := fs.String("at", "", "verify: validate at this time (RFC 3339; default now)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("ucan %s needs one token file ('-' for stdin)", sub)
	}
	tok, err := readToken(e, fs.Arg(0))
	if err != nil {
		return err
	}
	if sub == "inspect" {
		s, err := summariseToken(tok)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e, s)
		}
		var buf bytes.Buffer
		printTokenSummary(&buf, s)
		_, err = e.stdout.Write(buf.Bytes())
		return err
	}
	now := time.Now
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return usageErr("--at %q is not an RFC 3339 time", *at)
		}
		now = func() time.Time { return t }
	}
	var attached [][]byte
	for _, p := range proofs {
		b, err := readToken(e, p)
		if err != nil {
			return err
		}
		attached = append(attached, b)
	}
	v := ucan.NewValidator(ucan.ValidatorOptions{Now: now})
	inv, chain, err := v.ValidateChain(e.ctx, tok, attached...)
	if err != nil {
		return invalidErr("invocation rejected: %v", err)
	}
	if *asJSON {
		out := map[string]any{"valid": true, "cid": inv.CID().String(), "iss": inv.Issuer, "sub": inv.Subject, "cmd": inv.Command, "chain": len(chain)}
		return writeJSON(e, out)
	}
	printf(e, "valid: %s invokes %s on %s through %d delegation(s)\n", inv.Issuer, inv.Command, inv.Subject, len(chain))
	return nil
}

func printTokenSummary(w *bytes.Buffer, s *tokenSummary) {
	line := func(k, v string) {
		if v != "" {
			w.WriteString(k + strings.Repeat(" ", 10-len(k)) + v + "\n")
		}
	}
	line("kind", s.Kind)
	line("cid", s.CID)
	line("tag", s.Tag)
	line("alg", s.Algorithm)
	line("iss", s.Issuer)
	line("aud", s.Audience)
	if s.Subject == nil {
		line("sub", "null (powerline)")
	} else {
		line("sub", *s.Subject)
	}
	line("cmd", s.Command)
	line("nbf", s.NotBefore)
	line("exp", s.Expiration)
	line("iat", s.IssuedAt)
	for _, p := range s.Proofs {
		line("prf", p)
	}
	if s.Args != nil {
		b, _ := json.Marshal(s.Args)
		line("args", string(b))
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
