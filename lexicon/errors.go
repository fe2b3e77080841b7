package lexicon

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrInvalidSchema is wrapped by every *SchemaError: a schema file that does
// not parse or breaks a rule of the Lexicon language.
var ErrInvalidSchema = errors.New("lexicon: invalid schema")

// ErrInvalidData is wrapped by every *ValidationError: data that does not
// match its schema.
var ErrInvalidData = errors.New("lexicon: invalid data")

// ErrNotFound is returned (wrapped) when a schema or definition is not in the
// catalog and no Resolver could supply it.
var ErrNotFound = errors.New("lexicon: schema not found")

// ErrWrongKind is returned (wrapped) when a reference names a definition of
// another kind than the call needs (a query where a record is expected...),
// or one without the part the call validates (a subscription that declares
// no message schema).
var ErrWrongKind = errors.New("lexicon: definition of the wrong kind")

// ErrDuplicate is returned (wrapped) when a catalog already holds a schema
// with the same NSID.
var ErrDuplicate = errors.New("lexicon: duplicate schema")

// SchemaError reports a fault in a schema file: the NSID of the file (when
// known), the JSON path of the fault inside the file (for example
// "defs.main.record.properties.text.maxLength") and what is wrong.
type SchemaError struct {
	ID   string // NSID of the schema file, "" if it could not be read
	Path string // JSON path inside the file, "" for the file itself
	Msg  string
}

// Error formats the file's NSID, the path of the fault and the message.
func (e *SchemaError) Error() string {
	var b strings.Builder
	b.WriteString("lexicon: invalid schema")
	if e.ID != "" {
		b.WriteString(" ")
		b.WriteString(e.ID)
	}
	if e.Path != "" {
		b.WriteString(" at ")
		b.WriteString(e.Path)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns ErrInvalidSchema.
func (e *SchemaError) Unwrap() error { return ErrInvalidSchema }

// Constraint names the Lexicon rule that data violated.
type Constraint string

// The constraints a ValidationError can report. Most are named after the
// schema field that expresses them.
const (
	ConstraintType         Constraint = "type"         // wrong data-model type
	ConstraintRequired     Constraint = "required"     // required field missing
	ConstraintNullable     Constraint = "nullable"     // null in a non-nullable field
	ConstraintFormat       Constraint = "format"       // string format (did, handle, ...)
	ConstraintMinLength    Constraint = "minLength"    // string (UTF-8 bytes), bytes or array too short
	ConstraintMaxLength    Constraint = "maxLength"    // string (UTF-8 bytes), bytes or array too long
	ConstraintMinGraphemes Constraint = "minGraphemes" // too few grapheme clusters
	ConstraintMaxGraphemes Constraint = "maxGraphemes" // too many grapheme clusters
	ConstraintEnum         Constraint = "enum"         // value not in the closed set
	ConstraintConst        Constraint = "const"        // value differs from the constant
	ConstraintMinimum      Constraint = "minimum"      // integer below minimum
	ConstraintMaximum      Constraint = "maximum"      // integer above maximum
	ConstraintAccept       Constraint = "accept"       // blob MIME type not accepted
	ConstraintMaxSize      Constraint = "maxSize"      // blob too large
	ConstraintBlob         Constraint = "blob"         // malformed blob object
	ConstraintUnion        Constraint = "union"        // union member missing or without $type
	ConstraintClosed       Constraint = "closed"       // $type not in a closed union
	ConstraintUnknownType  Constraint = "strict"       // $type of an open union not in the catalog (strict mode)
	ConstraintRecordType   Constraint = "$type"        // record $type does not match its collection, or the record a ref names
	ConstraintRecordKey    Constraint = "key"          // record key does not match the record's key type
	ConstraintEncoding     Constraint = "encoding"     // body encoding does not match the schema
	ConstraintToken        Constraint = "token"        // a token cannot hold data
	ConstraintDepth        Constraint = "depth"        // data nested deeper than the validator allows
)

// ValidationError reports data that does not match its schema: the path of
// the offending value (for example "embed.images[2].alt", "" for the value
// itself), the violated constraint, and a short detail.
type ValidationError struct {
	Path       string
	Constraint Constraint
	Detail     string
	Err        error // underlying error (a syntax parse error), may be nil
}

// Error formats the path of the fault, the constraint and the detail
// (not Err, which errors.Is and errors.As reach through Unwrap).
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("lexicon: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(string(e.Constraint))
	b.WriteString(": ")
	b.WriteString(e.Detail)
	return b.String()
}

// Unwrap returns ErrInvalidData and the underlying error, if any.
func (e *ValidationError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidData, e.Err}
	}
	return []error{ErrInvalidData}
}

// verr is the internal form of a ValidationError while it travels up the
// validator tree: path segments are collected innermost first, so that the
// success path never builds a string.
type verr struct {
	segs       []seg
	constraint Constraint
	detail     string
	err        error
}

// seg is one path segment: a field name, or an array index when name is "".
type seg struct {
	name  string
	index int
}

func (e *verr) Error() string { return e.finish().Error() }

func (e *verr) field(name string) *verr {
	e.segs = append(e.segs, seg{name: name})
	return e
}

func (e *verr) index(i int) *verr {
	e.segs = append(e.segs, seg{index: i})
	return e
}

func (e *verr) finish() *ValidationError {
	var b strings.Builder
	for i := len(e.segs) - 1; i >= 0; i-- {
		s := e.segs[i]
		if s.name == "" {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.name)
	}
	return &ValidationError{Path: b.String(), Constraint: e.constraint, Detail: e.detail, Err: e.err}
}

func fail(c Constraint, detail string) *verr {
	return &verr{constraint: c, detail: detail}
}

// maxQuoted bounds how much of an offending value an error message quotes.
const maxQuoted = 64

// quote returns s quoted like %q, cut to its first maxQuoted bytes (at a
// rune boundary, marked "...") so that huge data never makes a huge error.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	i := maxQuoted
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return strconv.Quote(s[:i]) + "..."
}
