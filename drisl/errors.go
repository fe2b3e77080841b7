package drisl

import (
	"errors"
	"fmt"
)

// Rule names a DRISL rule that input bytes or a value broke.
type Rule string

// The rules a decode or encode can break. Each SyntaxError and EncodeError
// carries one of them, so callers can tell failures apart without parsing
// messages.
const (
	RuleTruncated       Rule = "truncated input"
	RuleTrailingBytes   Rule = "trailing bytes after the top-level item"
	RuleNonShortest     Rule = "non-shortest integer, length or tag head"
	RuleIndefinite      Rule = "indefinite length or break code"
	RuleReserved        Rule = "reserved additional information"
	RuleMapKeyType      Rule = "map key is not a text string"
	RuleMapKeyOrder     Rule = "map keys not sorted length-first then bytewise"
	RuleMapKeyDuplicate Rule = "duplicate map key"
	RuleTag             Rule = "tag other than 42"
	RuleCID             Rule = "invalid CID in tag 42"
	RuleFloatWidth      Rule = "float that is not 64-bit"
	RuleFloatValue      Rule = "NaN, infinity or negative zero"
	RuleSimple          Rule = "simple value other than false, true, null"
	RuleUTF8            Rule = "invalid UTF-8 in text string"
	RuleDepth           Rule = "nesting deeper than the limit"
	RuleContainerLen    Rule = "container longer than the limit"
	RuleInputLen        Rule = "input larger than the limit"
	RuleType            Rule = "value of a type DRISL cannot hold"
	RuleMismatch        Rule = "CBOR item does not fit the Go value"
)

// ErrInvalid is wrapped by every SyntaxError, so errors.Is(err, ErrInvalid)
// tells malformed input from other failures.
var ErrInvalid = errors.New("drisl: invalid input")

// ErrTarget is returned (wrapped) when Unmarshal is not given a non-nil
// pointer to decode into: a mistake of the caller, not of the input.
var ErrTarget = errors.New("drisl: Unmarshal needs a non-nil pointer")

// ErrUnsupported is wrapped by every EncodeError.
var ErrUnsupported = errors.New("drisl: value cannot be encoded")

// SyntaxError reports input that is not strict DRISL: which rule failed and
// at which byte offset (of the item's head) it was found.
type SyntaxError struct {
	Rule   Rule
	Offset int
	Detail string
}

func (e *SyntaxError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("drisl: %s at offset %d: %s", e.Rule, e.Offset, e.Detail)
	}
	return fmt.Sprintf("drisl: %s at offset %d", e.Rule, e.Offset)
}

// Unwrap returns ErrInvalid.
func (e *SyntaxError) Unwrap() error { return ErrInvalid }

// EncodeError reports a Go value that has no DRISL encoding, with the path to
// it inside the value being encoded.
type EncodeError struct {
	Rule   Rule
	Path   string
	Detail string
	Err    error // the error of a value's own MarshalCBOR, if that failed
}

func (e *EncodeError) Error() string {
	p := e.Path
	if p == "" {
		p = "value"
	}
	if e.Detail != "" {
		return fmt.Sprintf("drisl: cannot encode %s: %s: %s", p, e.Rule, e.Detail)
	}
	return fmt.Sprintf("drisl: cannot encode %s: %s", p, e.Rule)
}

// Unwrap returns ErrUnsupported, and the error of a value's MarshalCBOR
// method when that is what failed.
func (e *EncodeError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrUnsupported, e.Err}
	}
	return []error{ErrUnsupported}
}
