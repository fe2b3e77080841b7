package community

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns for a refused request or
// a failed check wraps exactly one of them (and, where another package found
// the fault, that package's error too), so callers branch with errors.Is.
var (
	// ErrUnauthorized: the invocation or its delegation chain is not valid
	// (signature, time bounds, revocation, replay, attenuation, policy). The
	// package ucan error is wrapped: errors.Is(err, ucan.ErrExpired) works.
	ErrUnauthorized = errors.New("community: unauthorised")
	// ErrNotMember: the invoker's session key is not bound to a member.
	ErrNotMember = errors.New("community: not a member")
	// ErrBanned: the member is banned.
	ErrBanned = errors.New("community: member is banned")
	// ErrNotOwner: an update or delete of another member's record without a
	// moderation capability.
	ErrNotOwner = errors.New("community: record belongs to another member")
	// ErrReservedCollection: a /repo write names a collection that only the
	// community's own acts write (dev.townhall.community.*).
	ErrReservedCollection = errors.New("community: reserved collection")
	// ErrInvalidRecord: the record is not valid DRISL, not an atproto
	// record, or does not match its lexicon.
	ErrInvalidRecord = errors.New("community: invalid record")
	// ErrRecordTooLarge: a record or request exceeds a size limit.
	ErrRecordTooLarge = errors.New("community: record too large")
	// ErrBadRequest: the request is malformed (arguments, command, the
	// record bytes do not match the CID the invocation names...).
	ErrBadRequest = errors.New("community: malformed request")
	// ErrRecordExists and ErrRecordNotFound: a create of an existing record,
	// an update or delete of a missing one.
	ErrRecordExists   = errors.New("community: record already exists")
	ErrRecordNotFound = errors.New("community: record not found")
	// ErrServiceAuth: the service-auth JWT or the join proof does not verify.
	ErrServiceAuth = errors.New("community: service auth rejected")
	// ErrNoAudience: the audience does not exist.
	ErrNoAudience = errors.New("community: no such audience")
	// ErrBadBundle: an authorship bundle or an audience CAR does not verify.
	ErrBadBundle = errors.New("community: bundle does not verify")
	// ErrMigration: a migration step failed.
	ErrMigration = errors.New("community: migration failed")
	// ErrClosed: the community or host was closed.
	ErrClosed = errors.New("community: closed")
)

// Error is the error type of this package: the sentinel (Kind) says which
// rule failed, Index which write of a batch (-1 for the request as a whole),
// Detail what was found, and Err the cause from a lower package, if any.
type Error struct {
	Kind   error
	Index  int
	Detail string
	Err    error
}

func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Index >= 0 {
		s += fmt.Sprintf(": write %d", e.Index)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the sentinel and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func errf(kind error, index int, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Index: index, Detail: fmt.Sprintf(format, args...), Err: cause}
}
