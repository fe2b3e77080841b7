package plc

import (
	"errors"
	"testing"
	"time"
)

// FuzzParseTime feeds arbitrary strings to ParseTime, the createdAt parser
// of audit logs. It must never panic; every error is a *FieldError on
// createdAt wrapping ErrInvalidTimestamp; and a time it accepts (whose UTC
// year FormatTime can write: 0 to 9999) formats as a createdAt string that
// parses back to the same instant, cut to milliseconds. The seed corpus in
// testdata/fuzz/FuzzParseTime holds the directory's format and near misses.
func FuzzParseTime(f *testing.F) {
	f.Add("2024-11-21T06:00:00.000Z")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "createdAt" || !errors.Is(err, ErrInvalidTimestamp) {
				t.Fatalf("ParseTime(%q): error %T %v, want a *FieldError on createdAt wrapping ErrInvalidTimestamp", s, err, err)
			}
			return
		}
		if y := got.UTC().Year(); y < 0 || y > 9999 {
			return
		}
		out := FormatTime(got)
		back, err := ParseTime(out)
		if err != nil {
			t.Fatalf("ParseTime(%q) = %v, whose FormatTime %q does not parse: %v", s, got, out, err)
		}
		want := got.UTC().Truncate(time.Millisecond)
		if !back.Equal(want) || FormatTime(back) != out {
			t.Fatalf("ParseTime(%q) = %v; FormatTime %q parses back as %v, want %v", s, got, out, back, want)
		}
	})
}
