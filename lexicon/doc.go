// Package lexicon parses atproto Lexicon schemas (language version 1),
// checks them, and validates data against them: records of a collection
// (with their $type and record-key type), XRPC query parameters, procedure
// input and output bodies, subscription messages, and XRPC error bodies
// (ValidateErrorBody).
//
// The specification is https://atproto.com/specs/lexicon; data follows the
// data model of https://atproto.com/specs/data-model.
//
// # Concept
//
// A Catalog holds schema files, loaded from a directory (LoadDir), any
// fs.FS such as an embed.FS (LoadFS), or memory (AddJSON, Add). Each file is
// checked when it is added (ParseSchema): a bad schema is a *SchemaError
// naming the file's NSID and the JSON path of the fault, for example
// "defs.main.record.properties.text.maxGraphemes". References between files
// (local "#def" and remote "nsid#def") are resolved when a definition is
// first used, or all at once by CheckRefs; a Resolver plugged into
// CatalogOptions can fetch missing schemas (for example from the network),
// and nothing is fetched without one.
//
// Each definition is compiled once into a validator tree: references become
// pointers to the referenced nodes (recursive schemas become cyclic trees),
// union members and string enums become maps, bounds become integers.
// Validation walks that tree and the data together and never looks at the
// schema JSON again. The community layer validates a member's record with
//
//	//go:embed lexicons
//	var schemas embed.FS
//	...
//	cat, err := lexicon.LoadCatalog(ctx, schemas, "lexicons", lexicon.CatalogOptions{})
//	...
//	err = cat.ValidateRecord(ctx, collection, rkey, record, lexicon.ValidateOptions{})
//
// where record is the value drisl.Unmarshal decodes (nil, bool, int64,
// uint64, drisl.NegInt, string, []byte, cid.Cid, []any, map[string]any; JSON
// converted to that model validates the same), or the same in drisl's
// ordered model (maps as drisl.Map, which drisl.DecOptions.OrderedMaps
// decodes without hashing a key; the two models may be mixed). A drisl.Map
// must be in DRISL key order, as decoded: one out of order, or with a key
// twice, is not an object (ConstraintType). Both models give every datum
// the same result, error included; the tests validate every vector in
// both. Errors are
// *ValidationError with the path of the fault ("embed.images[2].alt") and
// the violated Constraint; validation never panics and stops at the first
// fault. Open unions are lenient by default (a $type the catalog does not
// know is accepted unchecked; one it knows is checked) and strict with
// ValidateOptions.StrictUnions. Unlisted open-union types are looked up in
// the catalog only, never through the Resolver, so data cannot make the
// validator fetch schemas. A ref may name a record definition: its value is
// the record's object with the record's $type, as the spec's ref section
// says ("references to `record` types, which always include the `$type`
// discriminator").
//
// # What is reused, and why
//
// String formats (did, handle, at-identifier, nsid, at-uri, cid, datetime,
// tid, record-key, uri, language) and record keys are defined by indigo's
// github.com/bluesky-social/indigo/atproto/syntax, the reference Go parsers,
// and every string this package rejects is rejected by it, except for cid:
// syntax.ParseCID checks only characters and length, and the spec's cid is
// a "CID in string format" (a CID hash reference, per the data model), so a
// cid string must also decode as a CIDv1 with go-cid (any multibase, codec
// and hash; base32 canonical). Three strings of the interop vectors'
// cid_syntax_valid.txt are no CID and are rejected (TestFastFormats). Because its
// regular expressions cost several times the rest of a validation, each
// format first goes through a small allocation-free scan (fastformat.go)
// that accepts only a subset of what syntax accepts (the usual shapes:
// did:plc, handles, canonical UTC datetimes, ...); anything else goes to
// syntax, which decides and writes the error. The subset property is tested
// on the atproto interop syntax vectors and by FuzzFastFormats. One
// documented exception: language tags that are RFC 5646 private-use tags
// with an upper-case X ("X-fr-CH", a valid interop vector) are accepted,
// although syntax.ParseLanguage rejects them.
//
// Grapheme lengths count extended grapheme clusters of Unicode UAX #29 for
// Unicode 17 as implemented by github.com/clipperhouse/uax29/v2, which
// includes rule GB9c (Indic conjuncts, Unicode 15.1): "क्षि" is one cluster,
// as the TypeScript reference (ICU) counts it. github.com/rivo/uniseg, which
// indigo uses, implements Unicode 15.0 and counts two there.
// Segmentation runs only when cheaper bounds do not decide: a string has at
// most as many clusters as code points and as bytes, and ASCII without CR
// has exactly one cluster per byte. Lengths (minLength, maxLength) of
// strings are in UTF-8 bytes.
//
// indigo's atproto/lexicon schema types and catalog loading were read and
// followed (the field names, the permission-set rules, the accept-pattern
// semantics), but not imported: that package pulls atproto/identity (and
// with it a DNS resolver, Prometheus and cbor-gen) into every importer, its
// schema checks report no path, its catalog cannot be enumerated, and its
// validator works on indigo's atdata types rather than the values drisl
// decodes. Its validator is used as an oracle and a peer in bench/.
//
// # Limits
//
// Schema files are limited to CatalogOptions.MaxSchemaBytes (1 MiB by
// default); data nesting to ValidateOptions.MaxDepth (128 by default).
// Object properties not in the schema are accepted unchecked, as the
// specification requires. "unknown" values must be objects and not blobs;
// their contents are not checked. knownValues are documentation only.
// Formats are syntactic: a well-formed but semantically invalid language tag
// (a repeated variant, "de-DE-1901-1901") is accepted, as by indigo.
// Validation does not check that data is in the data model beyond what the
// schema asks (that is drisl's job): for example floats are rejected only
// where the schema expects an integer.
package lexicon
