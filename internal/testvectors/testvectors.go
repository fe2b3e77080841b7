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
	"bufio"
	"embed"
	"io/fs"
	"testing"
)

//go:embed syntax/*.txt firehose/commit-proof-fixtures.json
var files embed.FS

// FS returns the vector files, read-only, under their upstream paths
// ("syntax/did_syntax_valid.txt", "firehose/commit-proof-fixtures.json").
func FS() fs.FS { return files }

// Lines returns the vectors of a syntax file (name as FS names it,
// "syntax/did_syntax_valid.txt"): one per line, leaving out empty lines
// and lines that start with # (comments). It fails tb if the file cannot
// be read.
func Lines(tb testing.TB, name string) []string {
	tb.Helper()
	f, err := files.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}
