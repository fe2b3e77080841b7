package testvectors

import (
	"bytes"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFiles: the 24 syntax files and the commit-proof fixtures are there,
// and no file is empty.
func TestFiles(t *testing.T) {
	syntax, err := fs.Glob(FS(), "syntax/*.txt")
	if err != nil || len(syntax) != 24 {
		t.Fatalf("%d syntax files (%v), want 24", len(syntax), err)
	}
	for _, name := range append(syntax, "firehose/commit-proof-fixtures.json") {
		data, err := fs.ReadFile(FS(), name)
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			t.Errorf("%s: %d bytes, %v", name, len(data), err)
		}
	}
}

// TestImportedOnlyByTests: no non-test Go file of the module (bench
// included) imports this package.
func TestImportedOnlyByTests(t *testing.T) {
	const path = "github.com/townhall-dev/townhall/internal/testvectors"
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	checked := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); p != root && (name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			if v, _ := strconv.Unquote(imp.Path.Value); v == path {
				t.Errorf("%s imports %s outside a test", p, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d Go files checked: the walk did not cover the module", checked)
	}
}
