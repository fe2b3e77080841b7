package lexicon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestObjectMergeWalk: object finds a drisl.Map's properties by one walk
// along its entries and the properties in DRISL key order (up to
// maxMergedProps properties; more are looked up one by one). Records with
// every mix of present, missing, faulty and extra keys, including keys of
// equal length and keys sorting between the properties, validate through
// both models (both) to one result, for an object of 9 properties and one
// of maxMergedProps+6.
func TestObjectMergeWalk(t *testing.T) {
	ctx := context.Background()
	small := []string{"a", "b", "bb", "ab", "abc", "aab", "zz", "text", "createdAt"}
	var large []string
	for i := range maxMergedProps + 6 {
		large = append(large, fmt.Sprintf("p%d", i*7%100))
	}
	r := rand.New(rand.NewPCG(71, 72))
	for _, props := range [][]string{small, large} {
		var defs []string
		for i, p := range props {
			def := `{"type":"string","maxLength":5}`
			if i%3 == 1 {
				def = `{"type":"integer","maximum":10}`
			}
			defs = append(defs, fmt.Sprintf("%q:%s", p, def))
		}
		id := fmt.Sprintf("com.example.merge%d", len(props))
		schema := fmt.Sprintf(`{"lexicon":1,"id":%q,"defs":{"main":{"type":"record","key":"any","record":{"type":"object","required":[%q,%q],"properties":{%s}}}}}`,
			id, props[0], props[len(props)-1], strings.Join(defs, ","))
		cat := both(t, NewCatalog(CatalogOptions{}))
		if err := cat.AddJSON([]byte(schema)); err != nil {
			t.Fatal(err)
		}
		extras := []string{"", "c", "ba", "abd", "zzz", "$x", "texts", "p1000"}
		valid, invalid := 0, 0
		for range 400 {
			rec := map[string]any{"$type": id}
			for i, p := range props {
				switch x := r.IntN(4 * len(props)); {
				case x < len(props): // missing
				case x < len(props)+2: // faulty
					if i%3 == 1 {
						rec[p] = int64(11)
					} else {
						rec[p] = "too long"
					}
				default:
					if i%3 == 1 {
						rec[p] = int64(3)
					} else {
						rec[p] = "ok"
					}
				}
			}
			for _, x := range extras {
				if r.IntN(3) == 0 {
					rec[x] = true
				}
			}
			if cat.ValidateRecord(ctx, id, "", rec, ValidateOptions{}) == nil {
				valid++
			} else {
				invalid++
			}
		}
		if valid == 0 || invalid == 0 {
			t.Fatalf("%d properties: %d valid and %d invalid records: the test needs both", len(props), valid, invalid)
		}
	}
}

// TestTIDRecordKey: a collection whose key is tid accepts a TID (found by
// fastTID alone: a TID is a record key), refuses a valid record key that
// is not a TID as such, and an invalid record key as such.
func TestTIDRecordKey(t *testing.T) {
	ctx := context.Background()
	cat := both(t, NewCatalog(CatalogOptions{}))
	if err := cat.AddJSON([]byte(`{"lexicon":1,"id":"com.example.tidkey","defs":{"main":{"type":"record","key":"tid","record":{"type":"object","properties":{}}}}}`)); err != nil {
		t.Fatal(err)
	}
	rec := map[string]any{"$type": "com.example.tidkey"}
	for rkey, detail := range map[string]string{
		"3l6oveex3ii2l":  "",
		"2222222222222":  "",
		"3l6oveex3ii2":   `record key "3l6oveex3ii2" is not a TID`,
		"3l6oveex3ii2L":  `record key "3l6oveex3ii2L" is not a TID`,
		"kl6oveex3ii2l":  `record key "kl6oveex3ii2l" is not a TID`,
		"3l6oveex3ii2l1": `record key "3l6oveex3ii2l1" is not a TID`,
		"3l6oveex/ii2l":  `invalid record key "3l6oveex/ii2l"`,
		"..":             `invalid record key ".."`,
	} {
		err := cat.ValidateRecord(ctx, "com.example.tidkey", rkey, rec, ValidateOptions{})
		if detail == "" {
			if err != nil {
				t.Errorf("%s: %v", rkey, err)
			}
			continue
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Constraint != ConstraintRecordKey || !strings.Contains(err.Error(), detail) {
			t.Errorf("%s: %v, want %s", rkey, err, detail)
		}
	}
}
