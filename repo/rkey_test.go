package repo

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/townhall-dev/townhall/internal/recordkey"
)

// recordKeyVectors reads one of the interop record-key files: one key per
// line; blank lines and lines starting with # are comments (no key in
// either file starts with #, which no key may hold).
func recordKeyVectors(t testing.TB, name string) []string {
	f, err := os.Open("testdata/atproto-interop-tests/syntax/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCheckRecordKeyVectors holds checkRecordKey to the interop vectors
// and to indigo's syntax.ParseRecordKey on each of them.
func TestCheckRecordKeyVectors(t *testing.T) {
	valid := recordKeyVectors(t, "recordkey_syntax_valid.txt")
	invalid := recordKeyVectors(t, "recordkey_syntax_invalid.txt")
	if len(valid) < 10 || len(invalid) < 10 {
		t.Fatalf("too few vectors: %d valid, %d invalid", len(valid), len(invalid))
	}
	// The comment lines of the invalid file are keys too ("#extra" is one).
	invalid = append(invalid, "#extra", "# specs", "", "a\n", "a\x00", "é", strings.Repeat("o", 513))
	for _, k := range valid {
		if err := checkRecordKey(k); err != nil {
			t.Errorf("valid %q: %v", k, err)
		}
		if _, err := syntax.ParseRecordKey(k); err != nil {
			t.Errorf("indigo refuses valid %q: %v", k, err)
		}
	}
	for _, k := range invalid {
		if checkRecordKey(k) == nil {
			t.Errorf("invalid %q accepted", k)
		}
		if _, err := syntax.ParseRecordKey(k); err == nil {
			t.Errorf("indigo accepts invalid %q", k)
		}
	}
}

// TestCheckRecordKeyAllShortKeys compares checkRecordKey with
// syntax.ParseRecordKey on every key of one and two bytes.
func TestCheckRecordKeyAllShortKeys(t *testing.T) {
	var b [2]byte
	for i := 0; i < 256; i++ {
		b[0] = byte(i)
		for j := -1; j < 256; j++ {
			k := string(b[:1])
			if j >= 0 {
				b[1] = byte(j)
				k = string(b[:2])
			}
			_, ierr := syntax.ParseRecordKey(k)
			if err := checkRecordKey(k); (err == nil) != (ierr == nil) {
				t.Fatalf("%q: checkRecordKey %v, indigo %v", k, err, ierr)
			}
		}
	}
}

// TestPrepareRecordKeyError checks that Apply refuses a bad key with
// ErrInvalidWrite and names the rule and the byte.
func TestPrepareRecordKeyError(t *testing.T) {
	r := &Repo{}
	_, err := r.prepare([]Write{{Action: ActionDelete, Collection: "app.bsky.feed.post", RKey: "ab cd"}})
	var ke *recordkey.Error
	if !errors.Is(err, ErrInvalidWrite) || !errors.As(err, &ke) || ke.At != 2 {
		t.Fatalf("got %v", err)
	}
}

// FuzzCheckRecordKey is a differential test: checkRecordKey accepts
// exactly what syntax.ParseRecordKey accepts.
func FuzzCheckRecordKey(f *testing.F) {
	for _, name := range []string{"recordkey_syntax_valid.txt", "recordkey_syntax_invalid.txt"} {
		for _, k := range recordKeyVectors(f, name) {
			f.Add(k)
		}
	}
	f.Add("")
	f.Add("a\n")
	f.Add(strings.Repeat("o", 512) + "\n")
	f.Fuzz(func(t *testing.T, k string) {
		_, ierr := syntax.ParseRecordKey(k)
		err := checkRecordKey(k)
		if (err == nil) != (ierr == nil) {
			t.Fatalf("%q: checkRecordKey %v, indigo %v", k, err, ierr)
		}
	})
}
