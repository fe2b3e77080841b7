package lexicon

import (
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
