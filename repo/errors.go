package repo

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
)

// Sentinel errors. Every error this package returns for bad input or a failed
// check wraps exactly one of them, so callers can branch with errors.Is.
var (
	// ErrRepoNotFound: the store holds no repository for the DID.
	ErrRepoNotFound = errors.New("repo: repository not found")
	// ErrRepoExists: Create was called for a DID the store already holds.
	ErrRepoExists = errors.New("repo: repository already exists")
	// ErrRecordNotFound: no record at the collection and record key.
	ErrRecordNotFound = errors.New("repo: record not found")
	// ErrRecordExists: a create names a record that already exists.
	ErrRecordExists = errors.New("repo: record already exists")
	// ErrBlockNotFound: a store or block set lacks a block.
	ErrBlockNotFound = errors.New("repo: block not found")
	// ErrSwapCommit: the write stated a swapCommit that is not the head.
	ErrSwapCommit = errors.New("repo: swapCommit does not match the current head")
	// ErrSwapRecord: the write stated a swapRecord that is not the record's CID.
	ErrSwapRecord = errors.New("repo: swapRecord does not match the current record")
	// ErrConflict: the store's head moved between read and write (another
	// writer landed first). Repo.Apply retries internally unless the caller
	// gave a swapCommit.
	ErrConflict = errors.New("repo: head changed concurrently")
	// ErrInvalidWrite: a write is malformed (bad collection, record key,
	// action, duplicate path in one batch, record not encodable).
	ErrInvalidWrite = errors.New("repo: invalid write")
	// ErrRecordCID: a write's RecordCID is not the CIDv1 dag-cbor sha2-256
	// CID of its pre-encoded record bytes. Apply wraps it in an
	// ErrInvalidWrite.
	ErrRecordCID = errors.New("repo: RecordCID is not the dag-cbor sha2-256 CID of the record's bytes")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("repo: store closed")
	// ErrSchemaVersion: a SQLite file's schema version is newer than this
	// package's (a newer release wrote it); OpenSQLite leaves it untouched.
	ErrSchemaVersion = errors.New("repo: SQLite schema version newer than this package's")
	// ErrClockRange: the repository's clock reads a time no TID can carry
	// (before 1970 or after 2255-06-05T23:47:34.740991Z, the end of a TID's
	// 53 bits of microseconds), or the last rev or generated record key is
	// already the latest TID: there is no rev or key to issue after it.
	ErrClockRange = errors.New("repo: clock outside the range of TIDs")

	// Verification failures: CAR files, commits, proofs, #commit events.

	// ErrTruncated: the input ended inside a header or block.
	ErrTruncated = errors.New("repo: truncated input")
	// ErrMalformedCAR: CAR framing, header or CID bytes are invalid, or a
	// section exceeds a limit.
	ErrMalformedCAR = errors.New("repo: malformed CAR")
	// ErrWrongRoot: the CAR roots are not exactly the expected commit.
	ErrWrongRoot = errors.New("repo: wrong CAR root")
	// ErrMissingBlock: a block the commit, tree or a record needs is absent.
	ErrMissingBlock = errors.New("repo: missing block")
	// ErrBlockHash: a block's bytes do not hash to its CID (tampered).
	ErrBlockHash = errors.New("repo: block does not match its CID")
	// ErrBadCommit: the commit object is malformed (version, DID, rev,
	// prev, fields) or not the expected repository.
	ErrBadCommit = errors.New("repo: malformed commit")
	// ErrBadSignature: the commit signature does not verify with the key.
	ErrBadSignature = errors.New("repo: commit signature does not verify")
	// ErrBadMST: the tree is not a canonical MST (package mst rejected it).
	ErrBadMST = errors.New("repo: invalid or non-canonical MST")
	// ErrBadRecord: a record block is not valid DRISL.
	ErrBadRecord = errors.New("repo: invalid record")
	// ErrBadEvent: a sync event is malformed or inconsistent with its blocks.
	ErrBadEvent = errors.New("repo: invalid sync event")
	// ErrRevOrder: a commit's rev is not after the consumer's known rev.
	ErrRevOrder = errors.New("repo: rev not after the previous rev")
	// ErrFutureRev: a commit's rev is dated more than the allowed clock
	// skew after the verifier's time. Accepted, it would date every later
	// commit of the repository in the future (a repository's clock never
	// issues a rev before one it has seen).
	ErrFutureRev = errors.New("repo: rev dated in the future")
	// ErrPrevData: inverting a commit's ops does not give its prevData, or
	// prevData does not match the consumer's known tree root.
	ErrPrevData = errors.New("repo: prevData mismatch")
	// ErrBadProof: a record proof does not prove the record.
	ErrBadProof = errors.New("repo: record proof does not verify")
)

// VerifyError reports a failed check: which rule (one of the sentinels
// above, reachable with errors.Is), at which block or byte offset, and the
// underlying cause if any.
type VerifyError struct {
	Rule   error   // one of the Err* sentinels
	CID    cid.Cid // block concerned, if known
	Offset int64   // byte offset in the input, or -1
	Detail string
	Err    error // underlying cause, may be nil
}

func (e *VerifyError) Error() string {
	msg := e.Rule.Error()
	if e.CID.Defined() {
		msg += " (block " + e.CID.String() + ")"
	}
	if e.Offset >= 0 {
		msg += fmt.Sprintf(" at offset %d", e.Offset)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the rule and the cause.
func (e *VerifyError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Rule, e.Err}
	}
	return []error{e.Rule}
}

func verr(rule error, c cid.Cid, detail string, cause error) *VerifyError {
	return &VerifyError{Rule: rule, CID: c, Offset: -1, Detail: detail, Err: cause}
}
