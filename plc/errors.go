package plc

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns for bad input wraps one
// of them, so callers can test the rule with errors.Is and read where it
// failed from a *FieldError or *OpError.
var (
	// Syntax of one operation.
	ErrSyntax        = errors.New("plc: malformed operation JSON")
	ErrUnknownField  = errors.New("plc: unknown field")
	ErrDuplicateKey  = errors.New("plc: duplicate key")
	ErrMissingField  = errors.New("plc: missing field")
	ErrFieldType     = errors.New("plc: field has the wrong type")
	ErrUnknownOpType = errors.New("plc: unknown operation type")
	ErrTooLarge      = errors.New("plc: input too large")
	ErrInvalidCID    = errors.New("plc: invalid CID")
	ErrInvalidDIDKey = errors.New("plc: invalid did:key")

	// Signature encoding and verification.
	ErrSigPadding      = errors.New("plc: signature has base64 padding characters")
	ErrSigNewline      = errors.New("plc: signature contains a newline")
	ErrSigEncoding     = errors.New("plc: signature is not strict base64url (bad character or non-zero trailing bits)")
	ErrSigLength       = errors.New("plc: signature is not 64 bytes")
	ErrSigDER          = errors.New("plc: signature is DER-encoded, not raw r||s")
	ErrSigHighS        = errors.New("plc: signature is high-S")
	ErrSigInvalid      = errors.New("plc: signature does not verify against any authorised rotation key")
	ErrUnsigned        = errors.New("plc: operation is not signed")
	ErrNoRotationKeys  = errors.New("plc: no rotation keys to verify against")
	ErrUnsupportedKey  = errors.New("plc: unsupported rotation key type")
	ErrLegacyNotCreate = errors.New("plc: legacy create operation after genesis")

	// Audit log and next-operation rules.
	ErrEmptyLog            = errors.New("plc: empty operation log")
	ErrGenesisPrev         = errors.New("plc: genesis operation has a prev")
	ErrGenesisTombstone    = errors.New("plc: genesis operation is a tombstone")
	ErrDIDMismatch         = errors.New("plc: DID does not match the genesis operation")
	ErrCIDMismatch         = errors.New("plc: log entry CID does not match the operation")
	ErrMissingPrev         = errors.New("plc: non-genesis operation without prev")
	ErrPrevNotFound        = errors.New("plc: prev does not name an earlier operation of this DID")
	ErrPrevNullified       = errors.New("plc: prev is a nullified operation")
	ErrTombstoned          = errors.New("plc: prev is a tombstone; the DID is deactivated")
	ErrTimestampOrder      = errors.New("plc: operation timestamp is not after the current head")
	ErrLateRecovery        = errors.New("plc: nullification outside the 72 h recovery window")
	ErrNullifyUnauthorized = errors.New("plc: nullification not signed by a strictly higher-priority rotation key")
	ErrNullifiedFlag       = errors.New("plc: nullified flag disagrees with the rules")
	ErrInvalidTimestamp    = errors.New("plc: invalid createdAt timestamp")
	ErrAlreadyExists       = errors.New("plc: genesis operation for a DID that already exists")
	ErrPolicy              = errors.New("plc: operation exceeds the directory policy")
	ErrInvalidDID          = errors.New("plc: invalid did:plc identifier")
	ErrConflict            = errors.New("plc: concurrent update: prev no longer matches the head")
	ErrNotFound            = errors.New("plc: DID not registered")
	ErrGone                = errors.New("plc: DID deactivated (tombstoned)")
	ErrRateLimited         = errors.New("plc: rate limited")
	ErrRejected            = errors.New("plc: operation rejected by the directory")
	ErrUnexpectedStatus    = errors.New("plc: unexpected HTTP status from the directory")
	ErrNotRecoveryKey      = errors.New("plc: key is not a rotation key of the operation")
	ErrNothingToNullify    = errors.New("plc: operation is not in the active history")
	ErrInvalidOptions      = errors.New("plc: invalid options")

	// In-process transport and storage.
	ErrHandlerPanic = errors.New("plc: in-process handler panicked")
	ErrSQLitePath   = errors.New("plc: invalid SQLite database path")
)

// FieldError reports a rule broken by one field of one operation.
type FieldError struct {
	Field  string // JSON field path, e.g. "sig" or "services.atproto_pds.endpoint"
	Err    error  // one of the sentinel errors
	Detail string
}

func (e *FieldError) Error() string {
	msg := e.Err.Error()
	if e.Field != "" {
		msg += " (" + e.Field + ")"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the sentinel error.
func (e *FieldError) Unwrap() error { return e.Err }

// OpError reports which operation of a log (by index and CID) broke a rule.
// Err is a sentinel error or a *FieldError.
type OpError struct {
	Index  int    // position in the log, or -1 for a proposed next operation
	CID    string // CID of the operation, when known
	Err    error
	Detail string
}

func (e *OpError) Error() string {
	where := fmt.Sprintf("operation %d", e.Index)
	if e.Index < 0 {
		where = "proposed operation"
	}
	if e.CID != "" {
		where += " " + e.CID
	}
	msg := where + ": " + e.Err.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *OpError) Unwrap() error { return e.Err }

func fieldErr(field string, err error, detail string) error {
	return &FieldError{Field: field, Err: err, Detail: detail}
}
