package community

import (
	"errors"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
)

// TestParseWriteKeys: a write's arguments are exactly collection, rkey,
// cid and audience, plus action in a batch; any other key is refused
// with ErrBadRequest naming it.
func TestParseWriteKeys(t *testing.T) {
	c := drisl.SumCID(drisl.CodecDagCBOR, []byte{0xa0})
	base := func() map[string]any {
		return map[string]any{"collection": NSIDMessage, "rkey": "3kabcdefghij2", "cid": c}
	}
	if _, err := parseWrite(base(), repo.ActionCreate, -1, false, ""); err != nil {
		t.Fatalf("a plain create: %v", err)
	}
	withAudience := base()
	withAudience["audience"] = "staff"
	if w, err := parseWrite(withAudience, repo.ActionCreate, -1, false, ""); err != nil || w.audience != "staff" {
		t.Fatalf("a create with an audience: %+v %v", w, err)
	}
	inBatch := base()
	inBatch["action"] = "create"
	if w, err := parseWrite(inBatch, "", 0, true, ""); err != nil || w.action != repo.ActionCreate {
		t.Fatalf("a batch write with its action: %+v %v", w, err)
	}
	for name, tc := range map[string]struct {
		key     string
		inBatch bool
	}{
		"action outside a batch": {"action", false},
		"unknown key":            {"text", false},
		"unknown key in a batch": {"record", true},
		"empty key":              {"", true},
	} {
		m := base()
		if tc.inBatch {
			m["action"] = "create"
		}
		m[tc.key] = "x"
		_, err := parseWrite(m, repo.ActionCreate, -1, tc.inBatch, "")
		var e *Error
		if !errors.Is(err, ErrBadRequest) || !errors.As(err, &e) || e.Detail != "unexpected argument \""+tc.key+"\"" {
			t.Errorf("%s: %v", name, err)
		}
	}
}
