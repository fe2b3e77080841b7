// Package indigocheck exists to prove a dependency choice. Townhall does not
// write its own parsers for atproto identifiers (DID, handle, NSID, TID,
// record key, AT-URI, datetime, CID, language, URI) nor its own P-256 and
// K-256 signing: it uses indigo's atproto/syntax and atproto/atcrypto. The
// tests of this package run the atproto interop vectors of
// https://github.com/bluesky-social/atproto-interop-tests (syntax valid and
// invalid lists, from internal/testvectors; signature and did:key fixtures,
// copied into testdata/; testdata/SOURCE.md names the commit) through those
// two packages, so a change of indigo version that breaks a vector fails
// CI here. Vectors indigo does not pass are listed in the tests as
// exceptions, each with its reason, and asserted so that a fix upstream
// shows up too.
//
// The package has no code of its own and nothing should import it.
package indigocheck
