package recordkey

import (
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/townhall-dev/townhall/internal/testvectors"
)

// TestCheckVectors holds Check and Valid to the interop vectors
// and to indigo's syntax.ParseRecordKey on each of them.
func TestCheckVectors(t *testing.T) {
	valid := testvectors.Lines(t, "syntax/recordkey_syntax_valid.txt")
	invalid := testvectors.Lines(t, "syntax/recordkey_syntax_invalid.txt")
	if len(valid) < 10 || len(invalid) < 10 {
		t.Fatalf("too few vectors: %d valid, %d invalid", len(valid), len(invalid))
	}
	// The comment lines of the invalid file are keys too ("#extra" is one).
	invalid = append(invalid, "#extra", "# specs", "", "a\n", "a\x00", "é", strings.Repeat("o", 513))
	for _, k := range valid {
		if err := Check(k); err != nil || !Valid(k) {
			t.Errorf("valid %q: Check %v, Valid %v", k, err, Valid(k))
		}
		if _, err := syntax.ParseRecordKey(k); err != nil {
			t.Errorf("indigo refuses valid %q: %v", k, err)
		}
	}
	for _, k := range invalid {
		if Check(k) == nil || Valid(k) {
			t.Errorf("invalid %q accepted", k)
		}
		if _, err := syntax.ParseRecordKey(k); err == nil {
			t.Errorf("indigo accepts invalid %q", k)
		}
	}
}

// TestCheckAllShortKeys compares Check and Valid with
// syntax.ParseRecordKey on every key of one and two bytes.
func TestCheckAllShortKeys(t *testing.T) {
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
			if err := Check(k); (err == nil) != (ierr == nil) || Valid(k) != (ierr == nil) {
				t.Fatalf("%q: Check %v, Valid %v, indigo %v", k, err, Valid(k), ierr)
			}
		}
	}
}

// TestCheckLongKeys: the length bound (512 bytes) and a receipt-shaped key
// give indigo's answers.
func TestCheckLongKeys(t *testing.T) {
	for _, k := range []string{strings.Repeat("k", 511), strings.Repeat("k", 512), strings.Repeat("k", 513),
		"676kjjru34xbcgfu~3kabc2222222a", "a.b-c_d:e~f", "3kabc2222222a/b"} {
		_, ierr := syntax.ParseRecordKey(k)
		if err := Check(k); (err == nil) != (ierr == nil) || Valid(k) != (ierr == nil) {
			t.Errorf("%.20q (%d bytes): Check %v, Valid %v, indigo %v", k, len(k), err, Valid(k), ierr)
		}
	}
}

// FuzzCheck is a differential test: Check and Valid accept
// exactly what syntax.ParseRecordKey accepts.
func FuzzCheck(f *testing.F) {
	for _, name := range []string{"recordkey_syntax_valid.txt", "recordkey_syntax_invalid.txt"} {
		for _, k := range testvectors.Lines(f, "syntax/"+name) {
			f.Add(k)
		}
	}
	f.Add("")
	f.Add("a\n")
	f.Add(strings.Repeat("o", 512) + "\n")
	f.Fuzz(func(t *testing.T, k string) {
		_, ierr := syntax.ParseRecordKey(k)
		err := Check(k)
		if (err == nil) != (ierr == nil) || Valid(k) != (ierr == nil) {
			t.Fatalf("%q: Check %v, Valid %v, indigo %v", k, err, Valid(k), ierr)
		}
	})
}
