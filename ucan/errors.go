package ucan

import (
	"errors"
	"fmt"
)

// Error names. The first eight are the names the UCAN 1.0 spec fixtures
// (fixtures/1.0.0/invocation.json) expect; the others name failures those
// fixtures do not cover.
const (
	NameInvalidClaim     = "InvalidClaim"
	NameUnavailableProof = "UnavailableProof"
	NameExpired          = "Expired"
	NameTooEarly         = "TooEarly"
	NameInvalidAudience  = "InvalidAudience"
	NameInvalidSubject   = "InvalidSubject"
	NameInvalidSignature = "InvalidSignature"
	NameMatchError       = "MatchError"
	NameMalformedToken   = "MalformedToken"
	NameRevoked          = "Revoked"
	NameReplayed         = "Replayed"
	NameUnresolvableDID  = "UnresolvableDID"
)

// Sentinels, one per error name. Every *Error matches the sentinel of its
// Name under errors.Is, so callers can write
// errors.Is(err, ucan.ErrExpired).
var (
	ErrInvalidClaim     = errors.New("ucan: " + NameInvalidClaim)
	ErrUnavailableProof = errors.New("ucan: " + NameUnavailableProof)
	ErrExpired          = errors.New("ucan: " + NameExpired)
	ErrTooEarly         = errors.New("ucan: " + NameTooEarly)
	ErrInvalidAudience  = errors.New("ucan: " + NameInvalidAudience)
	ErrInvalidSubject   = errors.New("ucan: " + NameInvalidSubject)
	ErrInvalidSignature = errors.New("ucan: " + NameInvalidSignature)
	ErrMatchError       = errors.New("ucan: " + NameMatchError)
	ErrMalformedToken   = errors.New("ucan: " + NameMalformedToken)
	ErrRevoked          = errors.New("ucan: " + NameRevoked)
	ErrReplayed         = errors.New("ucan: " + NameReplayed)
	ErrUnresolvableDID  = errors.New("ucan: " + NameUnresolvableDID)
)

func sentinel(name string) error {
	switch name {
	case NameInvalidClaim:
		return ErrInvalidClaim
	case NameUnavailableProof:
		return ErrUnavailableProof
	case NameExpired:
		return ErrExpired
	case NameTooEarly:
		return ErrTooEarly
	case NameInvalidAudience:
		return ErrInvalidAudience
	case NameInvalidSubject:
		return ErrInvalidSubject
	case NameInvalidSignature:
		return ErrInvalidSignature
	case NameMatchError:
		return ErrMatchError
	case NameMalformedToken:
		return ErrMalformedToken
	case NameRevoked:
		return ErrRevoked
	case NameReplayed:
		return ErrReplayed
	case NameUnresolvableDID:
		return ErrUnresolvableDID
	}
	return nil
}

// Rule names the specific rule a token or chain broke, finer than the
// error Name (several rules share the name InvalidClaim).
type Rule string

// The rules the parser and validator check.
const (
	RuleTokenSize        Rule = "token larger than the limit"
	RuleEnvelope         Rule = "envelope is not [signature, {h, ucan/<tag>}]"
	RuleEncoding         Rule = "token is not strict DRISL"
	RuleVarsig           Rule = "unsupported or malformed varsig header"
	RuleTypeTag          Rule = "unexpected token type tag"
	RuleField            Rule = "missing or ill-typed payload field"
	RuleIntegerBounds    Rule = "integer outside the 53-bit range"
	RuleCommandSyntax    Rule = "command is not lowercase /-separated segments"
	RuleReservedCommand  Rule = "command is in the reserved /ucan namespace"
	RulePolicySyntax     Rule = "malformed policy statement"
	RuleSignature        Rule = "signature does not verify"
	RuleKeyMismatch      Rule = "varsig header does not match the issuer's key"
	RuleDID              Rule = "issuer DID cannot be resolved to a key"
	RuleNoProof          Rule = "no proof and the issuer is not the subject"
	RuleChainLength      Rule = "proof chain longer than the limit"
	RuleProofMissing     Rule = "proof not attached and not in the store"
	RuleProofKind        Rule = "proof is not a delegation"
	RuleProofCID         Rule = "proof bytes do not hash to the CID"
	RulePowerlineRoot    Rule = "powerline (null subject) delegation at the root"
	RuleRootIssuer       Rule = "root delegation not issued by its subject"
	RuleSubjectAlignment Rule = "subject differs along the chain"
	RuleAudience         Rule = "audience is not the next issuer"
	RuleExecutor         Rule = "invocation is addressed to another executor"
	RuleSubject          Rule = "subject is not the one the validator serves"
	RuleCommandCoverage  Rule = "command not covered by the proof's command"
	RuleExpired          Rule = "past exp"
	RuleNotBefore        Rule = "before nbf"
	RulePolicy           Rule = "arguments do not satisfy a proof's policy"
	RuleRevoked          Rule = "delegation revoked"
	RuleReplay           Rule = "invocation already seen"
	RuleRevocation       Rule = "malformed revocation"
	RuleRevoker          Rule = "revocation issuer is not an issuer in the delegation's chain"
)

// Error is the error returned for every invalid token or chain. Name is one
// of the Name* constants (the spec fixtures' names), Rule the exact rule,
// Index the position of the offending token: -1 for the invocation (or the
// token being parsed), 0.. for prf[Index] (root first).
type Error struct {
	Name   string
	Rule   Rule
	Index  int
	Detail string
	Err    error // underlying cause, if any
}

// Error formats the name, the chain position (if any), the rule and details.
func (e *Error) Error() string {
	s := fmt.Sprintf("ucan: %s: %s", e.Name, e.Rule)
	if e.Index >= 0 {
		s = fmt.Sprintf("ucan: %s: prf[%d]: %s", e.Name, e.Index, e.Rule)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is the sentinel for e's Name.
func (e *Error) Is(target error) bool { return target != nil && sentinel(e.Name) == target }

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

func newErr(name string, rule Rule, index int, detail string) *Error {
	return &Error{Name: name, Rule: rule, Index: index, Detail: detail}
}

func wrapErr(name string, rule Rule, index int, err error) *Error {
	return &Error{Name: name, Rule: rule, Index: index, Err: err}
}

// ErrorName returns the Name of the *Error in err's chain, or "" if none.
func ErrorName(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Name
	}
	return ""
}
