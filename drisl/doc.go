// Package drisl encodes and decodes DRISL, the deterministic CBOR profile of
// DASL that atproto uses for records, commits, MST nodes and signatures
// (https://dasl.ing/drisl.html, https://atproto.com/specs/data-model).
//
// Decoding is strict: every input that is not exactly one canonical DRISL
// item is rejected with a *SyntaxError naming the rule and the byte offset.
// Encoding never emits non-DRISL bytes. The generic value model for data of
// unknown shape is nil, bool, int64 (uint64 and NegInt outside int64), float64,
// string, []byte, cid.Cid, []any and map[string]any.
package drisl
