package recordkey

import (
	"errors"
	"strings"
	"testing"
)

// TestValidAgreesWithCheck: Valid and Check give one verdict, and Check
// names the bad byte. (Agreement with indigo is tested by the callers.)
func TestValidAgreesWithCheck(t *testing.T) {
	for _, c := range []struct {
		k  string
		ok bool
		at int
	}{
		{"3jzfcijpj2z2a", true, -1}, {"self", true, -1}, {"a:b~c_d.e-f", true, -1},
		{"", false, -1}, {".", false, -1}, {"..", false, -1}, {"...", true, -1},
		{"ab cd", false, 2}, {"a/b", false, 1}, {"é", false, 0},
		{strings.Repeat("a", MaxLen), true, -1}, {strings.Repeat("a", MaxLen+1), false, -1},
	} {
		err := Check(c.k)
		if Valid(c.k) != c.ok || (err == nil) != c.ok {
			t.Errorf("%q: Valid %v, Check %v, want ok=%v", c.k, Valid(c.k), err, c.ok)
			continue
		}
		var e *Error
		if !c.ok && (!errors.As(err, &e) || e.At != c.at) {
			t.Errorf("%q: Check = %v, want the bad byte at %d", c.k, err, c.at)
		}
	}
}
