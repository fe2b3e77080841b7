package sqlitefile

import (
	"errors"
	"net/url"
	"path/filepath"
	"testing"
)

func TestURIKeepsPath(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.db", "a?b.db", "a#b.db", "a%3Fb.db", "x?_pragma=journal_mode(OFF)"} {
		path := filepath.Join(dir, name)
		uri, err := URI(path, "_txlock=immediate")
		if err != nil {
			t.Fatalf("URI(%q): %v", path, err)
		}
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatalf("URI(%q) = %q does not parse: %v", path, uri, err)
		}
		if got := filepath.FromSlash(u.Path); got != path {
			t.Errorf("URI(%q) names %q", path, got)
		}
		if u.RawQuery != "_txlock=immediate" {
			t.Errorf("URI(%q) query %q", path, u.RawQuery)
		}
	}
}

func TestURIRefuses(t *testing.T) {
	for _, bad := range []string{"", "a\x00b"} {
		if _, err := URI(bad, ""); !errors.Is(err, ErrPath) {
			t.Errorf("URI(%q) = %v, want ErrPath", bad, err)
		}
	}
}
