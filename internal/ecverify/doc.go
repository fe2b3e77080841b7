// Package ecverify verifies ECDSA signatures (SHA-256, raw r||s) on
// secp256k1 and P-256, once or with a precomputed table of a hot key, and
// Ed25519 signatures with a precomputed table of a hot key. It is written
// by hand, on library arithmetic, because no library offers what it does;
// plc (rotation keys of audit logs) and ucan (invokers' session keys) use
// it.
//
// # Specifications
//
//   - ECDSA verification: SEC 1 v2, §4.1.4,
//     https://www.secg.org/sec1-v2.pdf; for P-256 also FIPS 186-5, §6.4.2,
//     https://doi.org/10.6028/NIST.FIPS.186-5; the secp256k1 curve is SEC 2
//     v2, https://www.secg.org/sec2-v2.pdf.
//   - Ed25519: RFC 8032, §5.1.7, https://www.rfc-editor.org/rfc/rfc8032,
//     as crypto/ed25519 implements it (see below).
//   - atproto's signature rules (raw r||s, low-S):
//     https://atproto.com/specs/cryptography.
//
// # What is written here and why
//
// ECDSA verification computes u1·G + u2·Q for u1 = e/s, u2 = r/s mod n.
// Libraries precompute multiples of the generator G but must treat the
// public key Q as new each time, so u2·Q costs a full variable-base scalar
// multiplication. A key that signs many messages in a row (the rotation
// key of a long did:plc log, an invoker's UCAN session key) can instead
// get a fixed-base table: j·256^i·Q for the 32 byte positions i of a
// scalar and every byte value j. u2·Q then costs at most 32 point
// additions and no doublings.
//
//   - K256Sig: secp256k1, one-shot (Verify, secp256k1-voi's variable-time
//     double multiplication, as in indigo atcrypto) or with tables of G and
//     Q (VerifyTables). Its scalars are computed once, on the first key
//     tried, and reused for the next (plc tries several rotation keys);
//     s is inverted with math/big's binary GCD, a seventh of the
//     instructions of secp256k1-voi's constant-time addition chain, as
//     constant time is not needed for public data.
//   - P256Table: P-256 with a table of Q; u1·G is filippo.io/nistec's
//     base multiplication (the standard library's P-256 code, exported).
//     A one-shot P-256 verification is best left to crypto/ecdsa.
//   - Ed25519Key and Ed25519Table: Ed25519 (RFC 8032) verification as
//     [S]B − [k]A from two tables of the same shape, the base point's
//     (shared) and the key's (of −A): j·256^i·P for j = 1..128 in affine
//     Niels form, read with signed radix-256 digits, so 64 mixed
//     additions and no doubling, where crypto/ed25519 does about 250
//     doublings and 75 additions and decodes A on every call. The mixed
//     addition (the complete unified formulas of Hisil, Wong, Carter and
//     Dawson 2008) is written here on filippo.io/edwards25519's field
//     arithmetic; the tables are built with its point arithmetic and one
//     batched inversion; the scalars, the point decoding and the checks
//     are its and crypto/sha512's, in crypto/ed25519's order, so the
//     accepted set is crypto/ed25519.Verify's exactly (non-canonical S
//     refused, A decoded as the standard library decodes it, R compared
//     byte for byte with the canonical encoding, no cofactor).
//     TestEd25519MatchesStdlib and FuzzEd25519MatchesStdlib (with a
//     committed corpus) compare it with crypto/ed25519.Verify on valid
//     signatures and near misses, keys of small order, non-canonical key
//     encodings and keys with a torsion component. A one-shot
//     verification is best left to crypto/ed25519, whose field arithmetic
//     costs fewer instructions.
//
// The group arithmetic is the libraries' (gitlab.com/yawning/secp256k1-voi,
// the one atcrypto uses, and filippo.io/nistec); this package only arranges
// it. The checks are SEC 1 v2 §4.1.4 (r and s in [1, n-1], R ≠ O,
// x(R) mod n = r) plus an S rule chosen by the caller (SRule): LowS
// (s ≤ n/2, atproto's rule; plc uses it for both curves, ucan for ES256K)
// or AnyS (ucan's ES256, which WebCrypto signs with either S).
// TestK256MatchesAtcrypto and TestP256TableMatchesAtcrypto check every
// verification under both rules against indigo atcrypto (HashAndVerify for
// LowS, HashAndVerifyLenient for AnyS) on valid, tampered, high-S twin,
// out-of-range and wrongly sized signatures; FuzzVerifyMatchesAtcrypto does
// the same on arbitrary inputs, with a committed seed corpus.
//
// # Costs
//
// Instructions (callgrind, this package's benchmarks): a K-256 one-shot
// verification about 1.1 M, with tables about 0.45 M; building a K-256
// table about 44 M (about 40 one-shot verifications), so a table pays for
// itself after about 65 verifications. P-256 (crypto/ecdsa under
// valgrind's CPU model) about 2.8 M one-shot, 0.66 M with a table; a
// table about 21 M, paid back after about 10 verifications. Ed25519 (a
// 400-byte message): crypto/ed25519 about 0.65 M, with tables about
// 0.16 M (a fifth of it the one inversion, to encode the result); a table
// about 18.9 M (about 29 crypto/ed25519 verifications), paid back after
// about 38. VerifyTables allocates nothing (for messages up to 960
// bytes): math/big's GCD inverts in half the instructions of the
// exponentiation but allocates ten times, and cost as much CPU time in
// BenchmarkUCANValidate.
//
// Memory: a table is 8192 points, K256TableBytes = 832 KiB for secp256k1
// (104-byte points) and P256TableBytes = 768 KiB for P-256 (96-byte
// points), or 4096 points, Ed25519TableBytes = 480 KiB for Ed25519
// (120-byte points); K-256 and Ed25519 verifications also need their
// generator's table, built once per owner. Callers bound how many tables
// they keep (plc: 32 per KeyCache; ucan: 4 per Validator).
//
// # Limits
//
//   - Variable time: verification only, on public data (keys, messages,
//     signatures). Nothing here signs or touches a private key.
//   - ECDSA over SHA-256 only, signatures in the 64-byte raw r||s form
//     only (a DER signature is refused, as atproto requires).
//   - Tables are large (768, 832 and 480 KiB, above) and slow to build, so
//     they pay only for a key that verifies many signatures; one-shot
//     P-256 and Ed25519 verification is left to the standard library.
//   - Ed25519 messages longer than 960 bytes make verification allocate.
//   - No global state: the caller owns every table.
package ecverify
