package repo

import (
	"errors"
	"testing"

	"github.com/townhall-dev/townhall/internal/recordkey"
)

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
