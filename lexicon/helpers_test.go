package lexicon

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
)

// fromJSON converts atproto JSON into the data model drisl decodes:
// integers to int64, {"$link": s} to cid.Cid, {"$bytes": s} to []byte.
// (A stand-in until drisl's JSON converter lands.)
func fromJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return convertJSON(v)
}

func convertJSON(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			return nil, fmt.Errorf("not an integer: %s", x)
		}
		return n, nil
	case []any:
		for i := range x {
			c, err := convertJSON(x[i])
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
		return x, nil
	case map[string]any:
		if len(x) == 1 {
			if s, ok := x["$link"].(string); ok {
				return cid.Decode(s)
			}
			if s, ok := x["$bytes"].(string); ok {
				return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
			}
		}
		for k, e := range x {
			c, err := convertJSON(e)
			if err != nil {
				return nil, err
			}
			x[k] = c
		}
		return x, nil
	}
	return v, nil
}

func mustJSON(s string) any {
	v, err := fromJSON([]byte(s))
	if err != nil {
		panic(err)
	}
	return v
}
