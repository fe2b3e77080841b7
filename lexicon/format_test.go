package lexicon

import "testing"

// TestGraphemesIndicConjunct pins the Unicode version: since Unicode 15.1
// (rule GB9c) KA, VIRAMA, SSA, VOWEL SIGN I is one extended grapheme cluster,
// as the TypeScript reference counts it (interop finding th-indic-conjunct).
func TestGraphemesIndicConjunct(t *testing.T) {
	for s, want := range map[string]int64{
		"\u0915\u094d\u0937\u093f":       1, // क्षि
		"\u0915\u094d\u0937\u093f\u0915": 2,
		"e\u0301":                        1,
		"👩\u200d👩\u200d👧\u200d👦":         1,
		"🇯🇵🇫🇷":                           2,
		"a\r\nb":                         3,
		"\u0915\u094d\u200d\u0937":       1, // ZWJ is InCB=Extend
		"\u0915\u0937":                   2, // no linker: two clusters
	} {
		if got := graphemes(s); got != want {
			t.Errorf("graphemes(%q) = %d, want %d", s, got, want)
		}
	}
}
