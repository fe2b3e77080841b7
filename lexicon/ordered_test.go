package lexicon

import (
	"context"
	"strings"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
)

// TestOrderedModel: a record decoded by drisl with OrderedMaps (maps as
// drisl.Map, at every depth) validates as the same record decoded into
// map[string]any, the two models mix freely, and a drisl.Map whose keys
// are out of DRISL order or repeated is not an object (Map.Get bisects, so
// such a Map could hide a key from the validator).
func TestOrderedModel(t *testing.T) {
	cat := NewCatalog(CatalogOptions{})
	if err := cat.AddJSON([]byte(kitchenSink)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const coll, rkey = "com.example.sink", "com.example.key"
	rec := map[string]any{"$type": coll, "req": "x", "n": int64(5), "tags": []any{"ab", "cd"},
		"pic": map[string]any{"$type": "blob", "ref": fuzzCID, "mimeType": "image/png", "size": int64(100)}}
	data, err := drisl.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var plain, ord any
	if err := drisl.Unmarshal(data, &plain); err != nil {
		t.Fatal(err)
	}
	if err := (drisl.DecOptions{OrderedMaps: true}).Unmarshal(data, &ord); err != nil {
		t.Fatal(err)
	}
	if _, ok := ord.(drisl.Map); !ok {
		t.Fatalf("OrderedMaps decoded a %T", ord)
	}
	for name, v := range map[string]any{"map[string]any": plain, "drisl.Map": ord} {
		if err := cat.ValidateRecord(ctx, coll, rkey, v, ValidateOptions{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Mixed: a drisl.Map blob inside a map[string]any record, and the
	// other way round.
	mixed := map[string]any{"$type": coll, "req": "x", "pic": ordered(rec["pic"])}
	if err := cat.ValidateRecord(ctx, coll, rkey, mixed, ValidateOptions{}); err != nil {
		t.Errorf("drisl.Map in map[string]any: %v", err)
	}
	om := ord.(drisl.Map)
	om.Set("pic", rec["pic"])
	if err := cat.ValidateRecord(ctx, coll, rkey, om, ValidateOptions{}); err != nil {
		t.Errorf("map[string]any in drisl.Map: %v", err)
	}
	// A Map that is not in DRISL order. Without the order check, Get
	// would miss "req" here and report it missing.
	swapped := drisl.Map{{Key: "$type", Value: coll}, {Key: "req", Value: "x"}}
	err = cat.ValidateRecord(ctx, coll, rkey, swapped, ValidateOptions{})
	wantVErr(t, "record out of order", err, "", ConstraintType)
	if err == nil || !strings.Contains(err.Error(), "out of DRISL order") {
		t.Errorf("record out of order: %v", err)
	}
	twice := drisl.Map{{Key: "req", Value: "x"}, {Key: "req", Value: "y"}, {Key: "$type", Value: coll}}
	twice.Sort()
	err = cat.ValidateRecord(ctx, coll, rkey, twice, ValidateOptions{})
	wantVErr(t, "key twice", err, "", ConstraintType)
	inner := drisl.Map{{Key: "size", Value: int64(1)}, {Key: "$type", Value: "blob"}, {Key: "ref", Value: fuzzCID}, {Key: "mimeType", Value: "image/png"}}
	err = cat.ValidateRecord(ctx, coll, rkey, map[string]any{"$type": coll, "req": "x", "pic": inner}, ValidateOptions{})
	wantVErr(t, "blob out of order", err, "pic", ConstraintType)
	inner.Sort()
	if err := cat.ValidateRecord(ctx, coll, rkey, map[string]any{"$type": coll, "req": "x", "pic": inner}, ValidateOptions{}); err != nil {
		t.Errorf("blob sorted: %v", err)
	}
	// An empty or nil Map is an empty object, as a nil map[string]any is.
	for name, v := range map[string]any{"nil Map": drisl.Map(nil), "nil map": map[string]any(nil)} {
		err := cat.Validate(ctx, coll, v, ValidateOptions{})
		wantVErr(t, name, err, "req", ConstraintRequired)
	}
}
