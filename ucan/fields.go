package ucan

import (
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
)

// MaxSafeInteger is the largest timestamp magnitude UCAN accepts
// (2^53 - 1, spec: Time Bounds).
const MaxSafeInteger = 1<<53 - 1

// maxDIDBytes bounds DID strings.
const maxDIDBytes = 2048

// payloadReader extracts typed fields from a decoded payload map and
// reports the first problem as a MalformedToken error.
type payloadReader struct {
	m   map[string]any
	err error
}

func (r *payloadReader) fail(rule Rule, format string, args ...any) {
	if r.err == nil {
		r.err = newErr(NameMalformedToken, rule, -1, fmt.Sprintf(format, args...))
	}
}

func (r *payloadReader) did(key string, required bool) string {
	v, ok := r.m[key]
	if !ok {
		if required {
			r.fail(RuleField, "missing %s", key)
		}
		return ""
	}
	s, ok := v.(string)
	if !ok || !validDID(s) {
		r.fail(RuleField, "%s is not a DID", key)
		return ""
	}
	return s
}

func validDID(s string) bool {
	if len(s) > maxDIDBytes || !strings.HasPrefix(s, "did:") {
		return false
	}
	method, rest, ok := strings.Cut(s[4:], ":")
	return ok && method != "" && rest != ""
}

func (r *payloadReader) command() string {
	v, ok := r.m["cmd"]
	if !ok {
		r.fail(RuleField, "missing cmd")
		return ""
	}
	s, ok := v.(string)
	if !ok || !ValidCommand(s) {
		r.fail(RuleCommandSyntax, "cmd %v", truncate(fmt.Sprint(v)))
		return ""
	}
	return s
}

func (r *payloadReader) nonce() []byte {
	v, ok := r.m["nonce"]
	if !ok {
		r.fail(RuleField, "missing nonce")
		return nil
	}
	b, ok := v.([]byte)
	if !ok {
		r.fail(RuleField, "nonce is not bytes")
	}
	return b
}

// timestamp reads an integer field within ±(2^53-1). present reports
// whether the key exists; a null value gives (nil, true) and is accepted
// only if nullable.
func (r *payloadReader) timestamp(key string, required, nullable bool) *int64 {
	v, ok := r.m[key]
	if !ok {
		if required {
			r.fail(RuleField, "missing %s", key)
		}
		return nil
	}
	if v == nil {
		if !nullable {
			r.fail(RuleField, "%s is null", key)
		}
		return nil
	}
	switch n := v.(type) {
	case int64:
		if n > MaxSafeInteger || n < -MaxSafeInteger {
			r.fail(RuleIntegerBounds, "%s = %d", key, n)
			return nil
		}
		return &n
	case uint64, drisl.NegInt:
		r.fail(RuleIntegerBounds, "%s = %v", key, n)
		return nil
	}
	r.fail(RuleField, "%s is not an integer", key)
	return nil
}

func (r *payloadReader) meta() map[string]any {
	v, ok := r.m["meta"]
	if !ok {
		return nil
	}
	m, ok := topMap(v)
	if !ok {
		r.fail(RuleField, "meta is not a map")
	}
	return m
}

func (r *payloadReader) link(key string) *cid.Cid {
	v, ok := r.m[key]
	if !ok || v == nil {
		return nil
	}
	c, ok := v.(cid.Cid)
	if !ok {
		r.fail(RuleField, "%s is not a link", key)
		return nil
	}
	return &c
}
