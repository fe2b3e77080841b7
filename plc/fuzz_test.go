package plc

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzParseOp feeds arbitrary bytes to the strict operation parser. It must
// never panic; every error must be a typed *FieldError; and whatever it
// accepts must encode, hash, round-trip through JSON unchanged, and be
// checkable as a genesis operation without panicking. The seed corpus in
// testdata/fuzz/FuzzParseOp holds the vector operations and near misses.
func FuzzParseOp(f *testing.F) {
	f.Add([]byte(`{"type":"plc_tombstone","prev":"bafyreihqa4o4gsyai22ydms6j4cua6yr6tuc7trq2temvnycadk2daniru","sig":"AAAA"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		op, err := ParseOp(data)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		if _, err := op.CID(); err != nil {
			t.Fatalf("accepted op does not hash: %v", err)
		}
		raw, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseOp(raw)
		if err != nil {
			t.Fatalf("round trip: %v\n%s", err, raw)
		}
		a, _ := op.SignedBytes()
		b, _ := back.SignedBytes()
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip changed the operation:\n%s", raw)
		}
		_ = Policy{}.Check(op)
		if op.IsGenesis() {
			did, err := op.DID()
			if err == nil {
				s := NewAuditState(did, ValidateOptions{})
				_, _ = s.CheckNext(op, time.Unix(0, 0))
			}
		}
		_ = DataOf("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", op)
	})
}

// FuzzValidateAuditLog feeds arbitrary bytes, read as a JSON audit log, to
// ValidateAuditLog and to a directory's Import. Neither may panic, and
// every validation error must be a typed *OpError or sentinel. The seed
// corpus in testdata/fuzz/FuzzValidateAuditLog holds the 20 vector logs.
func FuzzValidateAuditLog(f *testing.F) {
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		var log []LogEntry
		if json.Unmarshal(data, &log) != nil || len(log) == 0 || len(log) > 64 {
			return
		}
		s, err := ValidateAuditLog(log[0].DID, log, ValidateOptions{Workers: 1})
		if err != nil {
			var oe *OpError
			if !errors.As(err, &oe) && !errors.Is(err, ErrEmptyLog) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		_ = s.Data()
		d := NewDirectory(DirectoryOptions{})
		if err := d.Import(t.Context(), log); err != nil {
			t.Fatalf("valid log does not import: %v", err)
		}
		back, err := d.State(t.Context(), log[0].DID)
		if err != nil || !reflect.DeepEqual(back.Entries(), s.Entries()) {
			t.Fatalf("imported log differs: %v", err)
		}
	})
}

// FuzzDirectorySubmit posts arbitrary bodies to an embeddable directory
// (in-process, no network): it must never panic, answer only 200, 400 or
// 413, and keep every stored log valid. The seed corpus in
// testdata/fuzz/FuzzDirectorySubmit holds the vector genesis operations.
func FuzzDirectorySubmit(f *testing.F) {
	f.Add("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", []byte(`{}`))
	f.Fuzz(func(t *testing.T, did string, body []byte) {
		if len(did) > 64 || strings.ContainsAny(did, "/?#%") || did == "" || did == "export" || did == "_health" {
			return
		}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		d := NewDirectory(DirectoryOptions{Now: func() time.Time { return now }})
		req := httptest.NewRequest(http.MethodPost, "/"+url.PathEscape(did), bytes.NewReader(body))
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			s, err := d.State(t.Context(), did)
			if err != nil {
				t.Fatalf("accepted, then unreadable: %v", err)
			}
			if _, err := ValidateAuditLog(did, s.Entries(), ValidateOptions{}); err != nil {
				t.Fatalf("accepted an operation that does not validate: %v", err)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusNotFound, http.StatusMethodNotAllowed:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzParseRotationKey checks parseRotationKey's K-256 fast path against
// atcrypto.ParsePublicDIDKey on arbitrary strings: same acceptance, same
// curve, same point. The seed corpus in testdata/fuzz/FuzzParseRotationKey
// holds valid keys of both curves and near misses.
func FuzzParseRotationKey(f *testing.F) {
	for _, s := range parseCases(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 512 {
			return
		}
		checkParseMatchesAtcrypto(t, s)
	})
}
