// Package ucan implements UCAN 1.0: delegations, invocations, the policy
// language, proof-chain validation and revocation. Members of a community
// write to its repo by invoking capabilities the community delegated to
// them; this package decides whether such an invocation is authorised.
//
// Specifications followed:
//
//   - https://github.com/ucan-wg/spec (v1.0.0: envelope, commands, time
//     bounds, nonce, replay prevention)
//   - https://github.com/ucan-wg/delegation (payload, subject, powerline,
//     policy language, selectors, validation)
//   - https://github.com/ucan-wg/invocation (payload, proof chains)
//   - https://github.com/ucan-wg/revocation (a pre-1.0 draft; see below)
//   - https://github.com/ChainAgnostic/varsig (v1 headers, common.md)
//
// # Tokens
//
// A token is the DRISL array [signature, {"h": varsig header,
// "ucan/dlg@1.0.0" | "ucan/inv@1.0.0": payload}]. The signature covers the
// second element exactly as received (Delegation.SignedBytes): it is never
// re-encoded. The signature payload must hold exactly the two keys. Tokens
// tagged @1.0.0-rc.1 are read too; builders always write @1.0.0. A token's
// CID is CIDv1 dag-cbor sha2-256 of its bytes.
//
// Varsig headers: Ed25519 34 01 ed01 ed01 13 71; ES256 (P-256) 34 01 ec01
// 8024 12 71; ES256K (secp256k1) 34 01 ec01 e701 12 71. ECDSA signatures
// are raw r||s over SHA-256 of the payload. Neither UCAN nor varsig asks
// for low-S, and WebCrypto, which the UCAN spec names as the reason P-256
// is in its cryptosuite, signs with either S, so ES256 signatures are
// accepted with a high S (this package writes low S); ES256K keeps
// atproto's low-S rule (K-256 signers normalise S). An ES256 token thus has
// a twin with S replaced by n-S and another CID, so what is keyed by CID
// treats the two as one: the replay guard records the CID of the low-S
// form, and a revocation of either form revokes both. The header must
// agree with the issuer's key type.
//
// Principals are did:key (Ed25519 0xed, P-256 0x1200, secp256k1 0xe7).
// Other DID methods go through a Resolver supplied by the caller: for
// did:plc, the community layer returns the atproto signing key from the DID
// document (PublicKeyFromAtcrypto wraps it). A Signer can sign as such a DID
// with KeySigner.WithDID. Principal alignment ignores DID fragments.
//
// # Building and parsing
//
// NewDelegation and NewInvocation sign (Expiration is explicit:
// NoExpiration writes exp: null; a missing Nonce is 12 random bytes);
// NewInvocationToken returns only the token, for a client that sends it.
// ParseDelegation and ParseInvocation inspect a token without verifying it.
// ParsePolicy and ParsePolicyJSON build policies.
//
// # Policies and commands
//
// All statements: ==, != (deep equality, 1 == 1.0), <, <=, >, >= (numbers
// only, any other type is false), like (* wildcard, \* a literal star),
// and/or (an empty list is true), not, all/any (over list elements or map
// values; a non-collection is false). Selectors: ".", ".foo", `["key"]`,
// "[]", "[i]", "[-i]", "[a:b]" (lists and bytes), "?" (repeatable, one
// effect). A missing map key selects null; any other unresolvable selector
// makes its statement false (so != over an unresolvable selector is false,
// while not(==) is true). Evaluation is bounded by a step budget
// (DefaultMaxPolicySteps) and an exceeded budget is false.
//
// Commands are lowercase "/"-separated segments without a trailing slash;
// "/repo" covers "/repo/create" but not "/repository"; "/ucan" and
// "/ucan/..." are reserved: builders refuse them and Validate rejects them
// (revocations go to Validator.Revoke).
//
// # Validation
//
// Validator.Validate checks, in order: token size and strict structure;
// the invocation's signature; its exp; the reserved namespace; the
// executor (ValidatorOptions.Executor); with an empty prf, iss == sub
// (self-invocation) else InvalidClaim; len(prf) <= MaxChainLength; each
// proof from the verified cache, the attached tokens or the ProofStore
// (missing: UnavailableProof; bytes must hash to the CID), its signature
// (InvalidSignature); each proof's nbf/exp with MaxClockSkew (TooEarly,
// Expired) and the RevocationStore (Revoked); the root is not a powerline
// (InvalidClaim) and is issued by its subject; every non-null sub equals
// the root's, powerlines take the prior subject, and the invocation's sub
// must match (InvalidSubject); each aud is the next iss and the last aud is
// the invoker (InvalidAudience); every proof's cmd covers the invoked cmd
// (InvalidClaim: the chain's authority is the intersection, which admits
// the spec's powerline example where "/" follows "/msg/send";
// ValidatorOptions.StrictAttenuation also requires each delegation to
// restate or narrow the previous one's command); every
// proof's policy holds on args (MatchError); finally the ReplayGuard
// records the invocation's CID, of its low-S form for ES256 (Replayed on a
// second use). Errors are
// *Error with Name (the spec fixtures' names), Rule and Index, and match
// the Err* sentinels with errors.Is.
//
// The validator caches signature-verified delegations by CID, so repeated
// invocations over one chain cost one signature verification; time bounds,
// revocation, alignment and policies are checked on every call.
// Validator.ClearCache forgets them (after a DID's key rotation).
// Validator.ValidateChain also returns the validated chain (to record which
// delegations authorised a write); Validator.VerifyDelegation checks one
// delegation's signature, for instance before adding it to a ProofStore.
//
// # Revocation
//
// The revocation draft predates 1.0. Here a revocation is an invocation:
//
//	iss:   the revoker: the issuer of any delegation in prf
//	sub:   the subject of the chain (the root delegation's sub)
//	aud:   optional, the executor
//	cmd:   "/ucan/revoke"
//	args:  {"revoke": <CID link of the revoked delegation>} (no other key)
//	prf:   the chain of the revoked delegation, root first, ending with it
//	nonce, exp (or null), optional meta
//
// Validator.ValidateRevocation checks its signature and exp, the args and
// prf shape, the chain's signatures, root, subject and principal alignment
// (not the chain's time bounds, commands or policies: an expired
// delegation may still be revoked), and that iss issued one of the chain's
// delegations. Validator.Revoke also adds the delegation CID to the
// RevocationStore; from then on every chain containing it fails with
// Revoked. NewRevocation builds one.
//
// # Limits
//
// Tokens are at most 64 KiB (MaxTokenBytes), their signature payload
// nested at most 64 deep (the envelope array not counted);
// chains at most 16 delegations (MaxChainLength); timestamps within
// ±(2^53-1); policy statements nested at most 32 deep, selectors at most
// 1 KiB, policy evaluation DefaultMaxPolicySteps steps; the verified cache
// holds 4096 delegations and the did:key cache 1024 keys (LRU). The default
// MemoryReplayGuard holds 1<<20 CIDs, drops expired ones when full and
// then fails closed; invocations with exp: null are remembered for the
// guard's lifetime, so a long-lived executor should supply a persistent
// ReplayGuard (and RevocationStore).
//
// Hot keys: an invoker's session key signs many invocations in a row, and
// once the delegations of its chain are cached its signature is most of a
// validation. A did:key in a Validator's key cache that has signed 16
// (ES256), 64 (ES256K) or 32 (Ed25519) invocations that validated
// completely (a use is counted after the replay guard, never for an
// attempt with a bad signature or without authority, so outsiders' junk
// cannot evict the tables of keys in use; a Validator that accepts any
// subject still counts an outsider's invocations on a did:key subject of
// its own, which ValidatorOptions.Subject refuses) gets a precomputed
// table of its point (internal/ecverify), which makes each of its
// verifications about 4 (P-256), 2.5 (K-256) or 4 (Ed25519) times
// cheaper; the thresholds are where a table pays for its construction.
// Keys are parsed from the did string alone, so a cache entry is always
// that string's key, and every signature is still verified, under the
// same rules (either S for ES256, low S for ES256K, exactly crypto/ed25519's
// for Ed25519: canonical S, R compared byte for byte, no cofactor). A
// Validator keeps at most 4 tables (768 KiB for P-256, 832 KiB for
// K-256, 480 KiB for Ed25519, plus the generator's table of K-256 (832 KiB)
// or Ed25519 (480 KiB) once a key of that curve is hot: at most 4.5 MiB);
// a key that becomes hot when all 4 are taken takes the least recently
// used one's, which must then earn its table again. Keys from a Resolver
// get no table.
//
// Not implemented: receipts and the cause field's semantics (cause is
// parsed and kept), promises, delegated revocation, payload encodings
// other than DAG-CBOR, RSA and other varsig algorithms, and the invocation
// "task" CID. Only did:key is resolved without a Resolver.
//
// Dependencies: DRISL decoding and CIDs come from package drisl; P-256 and
// K-256 keys, low-S signing and K-256 verification from indigo's
// atproto/atcrypto; ES256 verification (either S) from crypto/ecdsa, on
// the atcrypto key converted once (atcrypto's lenient check converts the
// key and the signature on every call); the table-based verification of
// hot keys from internal/ecverify (written by hand on secp256k1-voi,
// filippo.io/nistec and filippo.io/edwards25519, checked against atcrypto
// and crypto/ed25519; see its doc); Ed25519 from crypto/ed25519. The
// envelope, varsig, policy language and validator are written here because no Go library implements UCAN 1.0
// (go-ucan reads only @1.0.0-rc.1 tokens and cannot read the 1.0 fixtures).
package ucan
