package lexicon

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
)

// fromJSON converts atproto JSON into the data model drisl decodes
// (integers to int64, {"$link": s} to cid.Cid, {"$bytes": s} to []byte),
// with drisl's converter.
func fromJSON(data []byte) (any, error) {
	return drisl.UnmarshalJSON(data)
}

func mustJSON(s string) any {
	v, err := fromJSON([]byte(s))
	if err != nil {
		panic(err)
	}
	return v
}

// ordered returns v in drisl's ordered generic model: a copy in which every
// map[string]any is a drisl.Map of the same entries in DRISL order (what
// drisl.DecOptions.OrderedMaps decodes). Other values are shared. It
// converts orderedDepth levels, deeper than any validation goes
// (DefaultMaxDepth), so that cyclic test data stays finite.
func ordered(v any) any { return orderedAt(v, 0) }

const orderedDepth = 2 * DefaultMaxDepth

func orderedAt(v any, depth int) any {
	if depth > orderedDepth {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		m := make(drisl.Map, 0, len(x))
		for k, e := range x {
			m = append(m, drisl.Entry{Key: k, Value: orderedAt(e, depth+1)})
		}
		m.Sort()
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = orderedAt(e, depth+1)
		}
		return a
	}
	return v
}

// twoModels is a catalog whose validation methods validate their data
// twice, as given (map[string]any) and as ordered makes it (drisl.Map),
// report a test error unless both give the same result, and return the
// first. The tests that validate through it hold both models to every
// vector and case.
type twoModels struct {
	*Catalog
	t testing.TB
}

func both(t testing.TB, c *Catalog) twoModels { return twoModels{c, t} }

// same reports an error unless err (map[string]any) and oerr (drisl.Map)
// are the same result: both nil, or errors of one type with one message.
// Two schema errors are the same result whatever their messages: which of
// a schema's unresolved references the lazy compiler meets first depends
// on the order it walks the schema's maps, not on the data.
func same(t testing.TB, what string, err, oerr error) error {
	t.Helper()
	if errors.Is(err, ErrInvalidSchema) && errors.Is(oerr, ErrInvalidSchema) {
		return err
	}
	if (err == nil) != (oerr == nil) || err != nil && (err.Error() != oerr.Error() || reflect.TypeOf(err) != reflect.TypeOf(oerr)) {
		t.Errorf("%s: map[string]any gives %v, drisl.Map gives %v", what, err, oerr)
	}
	return err
}

func (c twoModels) ValidateRecord(ctx context.Context, collection, rkey string, record any, opts ValidateOptions) error {
	c.t.Helper()
	return same(c.t, "ValidateRecord "+collection,
		c.Catalog.ValidateRecord(ctx, collection, rkey, record, opts),
		c.Catalog.ValidateRecord(ctx, collection, rkey, ordered(record), opts))
}

func (c twoModels) Validate(ctx context.Context, ref string, data any, opts ValidateOptions) error {
	c.t.Helper()
	return same(c.t, "Validate "+ref,
		c.Catalog.Validate(ctx, ref, data, opts),
		c.Catalog.Validate(ctx, ref, ordered(data), opts))
}

func (c twoModels) ValidateInput(ctx context.Context, nsid, encoding string, body any, opts ValidateOptions) error {
	c.t.Helper()
	return same(c.t, "ValidateInput "+nsid,
		c.Catalog.ValidateInput(ctx, nsid, encoding, body, opts),
		c.Catalog.ValidateInput(ctx, nsid, encoding, ordered(body), opts))
}

func (c twoModels) ValidateOutput(ctx context.Context, nsid, encoding string, body any, opts ValidateOptions) error {
	c.t.Helper()
	return same(c.t, "ValidateOutput "+nsid,
		c.Catalog.ValidateOutput(ctx, nsid, encoding, body, opts),
		c.Catalog.ValidateOutput(ctx, nsid, encoding, ordered(body), opts))
}

func (c twoModels) ValidateMessage(ctx context.Context, nsid, msgType string, body any, opts ValidateOptions) error {
	c.t.Helper()
	return same(c.t, "ValidateMessage "+nsid,
		c.Catalog.ValidateMessage(ctx, nsid, msgType, body, opts),
		c.Catalog.ValidateMessage(ctx, nsid, msgType, ordered(body), opts))
}

// validateErrorBody is ValidateErrorBody in both models, as twoModels does.
func validateErrorBody(t testing.TB, body any) error {
	t.Helper()
	return same(t, "ValidateErrorBody", ValidateErrorBody(body), ValidateErrorBody(ordered(body)))
}
