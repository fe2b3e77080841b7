// Package plc implements did:plc: operations, audit-log validation, a
// directory client, an embeddable directory server, and the adversarial
// migration a community needs to leave a hostile host.
//
// Spec: did:plc v0.3, https://web.plc.directory/spec; where the spec text
// and the reference implementation (github.com/did-method-plc/did-method-plc)
// differ, this package follows the reference and says so.
//
// # Concept
//
// A did:plc is the hash of a signed genesis operation. Each later operation
// names its predecessor (prev) by CID and is signed by one of the rotation
// keys of that predecessor, listed in priority order. Within RecoveryWindow
// (72 h) of an operation, a strictly higher-priority rotation key may sign a
// fork from an earlier operation, which nullifies everything after the fork
// point. A tombstone deactivates the DID.
//
// # What is validated
//
// ParseOp is strict: exactly the fields of the operation's type, no unknown,
// duplicate or missing fields, JSON types as specified, prev a canonical
// CIDv1 dag-cbor sha2-256, sig unpadded base64url with zero trailing bits and
// no newlines, decoding to a 64-byte raw r||s. Signatures are verified over
// the DRISL encoding of the operation without sig, low-S only (indigo
// atcrypto, which rejects high-S for both P-256 and K-256); DER signatures are
// reported as ErrSigDER. ValidateAuditLog checks CIDs, the genesis DID, the
// prev chain, signer authority (including the priority rule for
// nullification and the 72 h window, inclusive), strictly increasing
// timestamps, tombstones and the nullified flags. AuditState.CheckNext does
// the same for one proposed operation and returns the CIDs it nullifies.
// Policy holds the reference server's operational limits.
//
// # Limits and departures
//
//   - Legacy "create" genesis operations are read, verified and normalised,
//     never written; the directory refuses them on submission (as the
//     reference does) but imports them in audit logs.
//
//   - prev must be the canonical base32 string of the CID; the reference
//     parses any multibase form, but a non-canonical string would hash
//     differently anyway.
//
//   - A 64-byte signature is classified as DER only after it failed to
//     verify, so no valid raw signature is ever rejected for looking like DER.
//
//   - The DID document lists verification methods and services in DRISL key
//     order (length, then bytes), the order plc.directory's storage returns.
//
//   - A tombstoned DID resolves to HTTP 410 (as plc.directory and the
//     published OpenAPI document do; the reference code says 404).
//
//   - The spec text asks for 1 to 5 distinct rotation keys and a 7500-byte
//     limit; the reference accepts empty and duplicate key lists (two of the
//     valid vectors have them), and its server enforces 10 keys and 4000
//     bytes. This package follows the reference: Policy holds the server's
//     limits, and log validation applies none of them.
//
//   - A submitted operation with duplicate JSON keys is refused (400); the
//     reference's JSON.parse would keep the last value.
//
//   - Rotation keys are P-256 or K-256 did:keys (indigo atcrypto);
//     verification-method keys only need did:key syntax (spec v0.2).
//
// # API map
//
// Operations: ParseOp, Op (CID, DID, UnsignedBytes, SignedBytes,
// Normalize), Sign. Logs: ValidateAuditLog returns an *AuditState (Data,
// Head, Entries, CheckNext, Apply); ValidateNext checks one proposed
// operation against a log. Communities: NewGenesis (rotation keys
// [recovery keys..., host key]), Move (a recovery-key-signed move to a new
// host), Nullify (undo a hostile operation and move, within 72 h), Update,
// Tombstone. Directory access: Client (Resolve, Data, OpLog, AuditLog,
// LastOp, Submit, Export, State, VerifiedState; errors are
// *HTTPError wrapping ErrNotFound, ErrGone, ErrConflict, ErrRateLimited,
// ErrRejected). Embeddable directory: NewDirectory on a Storage
// (MemoryStorage, OpenSQLite), with an injectable clock and Policy
// (Directory.Submit, Directory.State, and Directory.Import for mirrors);
// HandlerTransport lets a Client call it in process, without a listener.
// Resolve, Data, OpLog and LastOp return what the directory says,
// unverified; VerifiedState (Client.State) validates the audit log. Both
// Client and Directory are Resolvers: ResolveAtproto gives a DID's atproto
// signing key and PDS endpoint from either, verified. The directory answers 200 for
// an accepted operation, 400 for any invalid one (as the reference does),
// 409 when a concurrent writer moved the head, 404 for an unknown DID, 410
// for a tombstoned one, 413 for a body over MaxOpJSONBytes.
//
// # Performance
//
// Every signature of a log is checked once, against the key most likely to
// have signed it first (the previous operation's signer, else the last
// rotation key, the host's by convention; priority order for a fork), so
// usually with one verification per operation: exactly one on each of the
// vector logs. did:keys are parsed once per KeyCache; operations are
// encoded to DRISL by hand, without reflection; a whole log's signatures
// are verified on GOMAXPROCS goroutines in contiguous chunks. Signatures
// are verified with internal/ecverify, written by hand on library
// arithmetic rather than through atcrypto. K-256: about 7% cheaper for a
// one-shot key (no re-encoding of the key, s inverted once per operation
// with math/big, public data needing no constant time) and 2.5 times
// cheaper with the precomputed fixed-base table (832 KiB) a key gets after
// signing 32 operations. P-256 verification of a one-shot key is
// atcrypto's (the standard library's crypto/ecdsa underneath); a key past
// 32 operations gets the same kind of table (768 KiB), because no library
// offers verification with a per-key precomputed table. Only successful
// verifications count towards a table, and at most 32 tables live in a
// KeyCache (the least recently used gives its place to a key that earns
// one). Both hand-written paths accept exactly what atcrypto
// accepts (low-S, r and s in range): TestK256MatchesAtcrypto and
// TestP256TableMatchesAtcrypto check every known way to break a signature,
// here and in internal/ecverify, and FuzzVerifyMatchesAtcrypto compares
// them with atcrypto on arbitrary inputs (the verifications in
// internal/ecverify, their use by KeyCache here). The figures are in
// bench/README.md; on this project's 2.5 GHz machine one fresh K-256
// verification alone costs about 0.13 ms, which bounds the cost per
// operation of a log whose keys sign once each.
//
// Everything here is pure Go; no global state; I/O takes a context.
package plc
