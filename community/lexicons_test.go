package community

import (
	"context"
	"errors"
	"testing"

	"github.com/townhall-dev/townhall/lexicon"
)

// TestMessageOrigin: an imported message's origin needs an author, and its
// strings are bounded; a message without one stays valid.
func TestMessageOrigin(t *testing.T) {
	ctx := context.Background()
	cat, err := newCatalog(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := func(origin any) map[string]any {
		m := map[string]any{"$type": NSIDMessage, "channel": "general", "text": "hi", "createdAt": "2025-03-03T08:00:01.000Z"}
		if origin != nil {
			m["origin"] = origin
		}
		return m
	}
	long := string(make([]byte, 513))
	for _, tc := range []struct {
		name   string
		origin any
		ok     bool
	}{
		{"none", nil, true},
		{"author", map[string]any{"author": "author007"}, true},
		{"all", map[string]any{"source": "discord", "author": "author007", "id": "1234"}, true},
		{"no author", map[string]any{"source": "discord"}, false},
		{"empty author", map[string]any{"author": ""}, false},
		{"author not a string", map[string]any{"author": int64(7)}, false},
		{"long author", map[string]any{"author": long}, false},
		{"not an object", "author007", false},
	} {
		err := cat.ValidateRecord(ctx, NSIDMessage, "3l3qo2vutsw2b", msg(tc.origin), lexicon.ValidateOptions{})
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok %v", tc.name, err, tc.ok)
		}
		var ve *lexicon.ValidationError
		if err != nil && !errors.As(err, &ve) {
			t.Errorf("%s: %T is not a *lexicon.ValidationError", tc.name, err)
		}
	}
}
