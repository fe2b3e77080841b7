// Package sqlitefile builds the SQLite URI of a database file for
// modernc.org/sqlite, shared by the packages that keep state in SQLite
// (plc, repo, community).
//
// A URI built by concatenation ("file:" + path + "?" + query) lets a path
// containing '?' or '#' cut the file name short or add query parameters
// (pragmas) of its own. URI percent-escapes the path instead, following
// https://sqlite.org/uri.html.
package sqlitefile

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// ErrPath is the error URI returns for a path that cannot name a file.
var ErrPath = errors.New("invalid SQLite database path")

// URI returns the SQLite URI of the file at path with the (already
// encoded) query: "file:" and the absolute path, percent-escaped by
// net/url, so that '?', '#' and '%' in path stay part of the file name. An
// empty path or one containing NUL is refused with ErrPath.
func URI(path, query string) (string, error) {
	if path == "" || strings.IndexByte(path, 0) >= 0 {
		return "", fmt.Errorf("%w: %q is empty or contains NUL", ErrPath, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrPath, path, err)
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows volume: file:///C:/...
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: query}
	return u.String(), nil
}
