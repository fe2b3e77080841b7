// Package testvectors holds, once, the files of
// https://github.com/bluesky-social/atproto-interop-tests that several
// packages test against: the syntax vectors (syntax/*.txt, valid and
// invalid strings per format) and the sync 1.1 commit-proof fixtures
// (firehose/commit-proof-fixtures.json), under their upstream paths. See
// SOURCE.md for the commit and LICENSE-CC0 for the licence.
//
// # Limits
//
// Import it from _test.go files only (TestImportedOnlyByTests checks): the
// files are embedded, so any other importer would carry them in its binary.
package testvectors

import (
	"embed"
	"io/fs"
)

//go:embed syntax/*.txt firehose/commit-proof-fixtures.json
var files embed.FS

// FS returns the vector files, read-only, under their upstream paths
// ("syntax/did_syntax_valid.txt", "firehose/commit-proof-fixtures.json").
func FS() fs.FS { return files }
