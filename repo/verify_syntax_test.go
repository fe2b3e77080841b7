package repo

import (
	"testing"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// TestEventSyntax compares parseEventTID and checkEventTime with
// syntax.ParseTID and syntax.ParseDatetime on valid values and on every
// one-byte change of them (each byte replaced by each of a set of
// characters, one removed, one added): the same verdict, and the same
// error where both refuse. It also checks that the fast forms were taken
// for the common values, so that the comparison covers them.
func TestEventSyntax(t *testing.T) {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.:+-TZ /\x00\xff"
	mutations := func(s string) []string {
		out := []string{s, "", s + s}
		for i := range len(s) + 1 {
			if i < len(s) {
				out = append(out, s[:i]+s[i+1:])
			}
			for j := range len(alphabet) {
				c := alphabet[j : j+1]
				out = append(out, s[:i]+c+s[i:])
				if i < len(s) {
					out = append(out, s[:i]+c+s[i+1:])
				}
			}
		}
		return out
	}
	same := func(t *testing.T, what, s string, err, want error) {
		t.Helper()
		if (err == nil) != (want == nil) || (err != nil && err.Error() != want.Error()) {
			t.Fatalf("%s %q: %v, syntax gives %v", what, s, err, want)
		}
	}
	fastTID := 0
	for _, v := range []string{"3jzfcijpj2z2a", "2222222222222", "7zzzzzzzzzzzz", "jzzzzzzzzzzzz", "azzzzzzzzzzzz", "3lbcfjrj6qc2k"} {
		for _, s := range mutations(v) {
			got, err := parseEventTID(s)
			want, werr := syntax.ParseTID(s)
			same(t, "TID", s, err, werr)
			if got != want {
				t.Fatalf("TID %q: %q, syntax gives %q", s, got, want)
			}
			if err == nil {
				fastTID++
			}
		}
	}
	fastTime := 0
	for _, v := range []string{"2026-01-02T04:04:05.000Z", "1985-04-12T23:20:50.123456789Z", "2024-02-29T00:00:00Z",
		"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.99999999999999999999Z", "2023-02-29T00:00:00Z", "1985-04-12T23:20:50.123+01:00"} {
		for _, s := range mutations(v) {
			same(t, "datetime", s, checkEventTime(s), func() error { _, err := syntax.ParseDatetime(s); return err }())
			if utcDatetime(s) {
				fastTime++
			}
		}
	}
	if fastTID == 0 || fastTime == 0 || !utcDatetime("2026-01-02T04:04:05.000Z") {
		t.Fatalf("fast forms taken %d (TID) and %d (datetime) times", fastTID, fastTime)
	}
}
