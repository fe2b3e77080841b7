// Package bench compares Townhall with peer implementations.
//
// It is a separate module so that the peers it measures against (indigo,
// fxamacker/cbor with default options, ...) never become dependencies of the
// library. Every comparison is one benchmark with one sub-benchmark per
// implementation, named by implementation: BenchmarkDecodeRecords/townhall,
// BenchmarkDecodeRecords/indigo. See README.md for the latest medians.
package bench
