//go:build interop

package interop

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
)

// tv is the typed JSON form of a DRISL data-model value shared with the Node
// side (see node/tv.mjs): JSON alone cannot tell ints from floats or carry
// bytes, CIDs and 64-bit integers.
type tv struct {
	T string `json:"t"`
	V any    `json:"v,omitempty"`
}

// toTV converts a value of drisl's generic model to its typed form.
func toTV(v any) tv {
	switch x := v.(type) {
	case nil:
		return tv{T: "null"}
	case bool:
		return tv{T: "bool", V: x}
	case int64:
		return tv{T: "int", V: fmt.Sprint(x)}
	case uint64:
		return tv{T: "int", V: fmt.Sprint(x)}
	case drisl.NegInt:
		n := new(big.Int).SetUint64(uint64(x))
		return tv{T: "int", V: n.Neg(n).Sub(n, big.NewInt(1)).String()}
	case float64:
		return tv{T: "float", V: x}
	case string:
		return tv{T: "str", V: x}
	case []byte:
		return tv{T: "bytes", V: base64.StdEncoding.EncodeToString(x)}
	case cid.Cid:
		return tv{T: "cid", V: x.String()}
	case []any:
		out := make([]tv, len(x))
		for i, e := range x {
			out[i] = toTV(e)
		}
		return tv{T: "list", V: out}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := make([][2]any, len(keys))
		for i, k := range keys {
			out[i] = [2]any{k, toTV(x[k])}
		}
		return tv{T: "map", V: out}
	}
	panic(fmt.Sprintf("toTV: %T is not in the generic model", v))
}

// fromTV converts a typed value decoded from JSON (as map[string]any) back
// to drisl's generic model.
func fromTV(j any) (any, error) {
	m, ok := j.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("typed value is %T", j)
	}
	switch m["t"] {
	case "null":
		return nil, nil
	case "bool":
		b, ok := m["v"].(bool)
		if !ok {
			return nil, fmt.Errorf("bad bool %v", m["v"])
		}
		return b, nil
	case "int":
		s, _ := m["v"].(string)
		n, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return nil, fmt.Errorf("bad int %q", s)
		}
		switch {
		case n.IsInt64():
			return n.Int64(), nil
		case n.IsUint64():
			return n.Uint64(), nil
		}
		// -1 - n fits uint64: a NegInt.
		neg := new(big.Int).Sub(big.NewInt(-1), n)
		if neg.IsUint64() {
			return drisl.NegInt(neg.Uint64()), nil
		}
		return nil, fmt.Errorf("int %s out of CBOR range", s)
	case "float":
		f, ok := m["v"].(float64)
		if !ok {
			return nil, fmt.Errorf("bad float %v", m["v"])
		}
		return f, nil
	case "str":
		s, ok := m["v"].(string)
		if !ok {
			return nil, fmt.Errorf("bad string %v", m["v"])
		}
		return s, nil
	case "bytes":
		s, _ := m["v"].(string)
		return base64.StdEncoding.DecodeString(s)
	case "cid":
		s, _ := m["v"].(string)
		return cid.Decode(s)
	case "list":
		l, _ := m["v"].([]any)
		out := make([]any, len(l))
		for i, e := range l {
			v, err := fromTV(e)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case "map":
		l, _ := m["v"].([]any)
		out := make(map[string]any, len(l))
		for _, e := range l {
			kv, ok := e.([]any)
			if !ok || len(kv) != 2 {
				return nil, fmt.Errorf("bad map entry %v", e)
			}
			k, ok := kv[0].(string)
			if !ok {
				return nil, fmt.Errorf("bad map key %v", kv[0])
			}
			if _, dup := out[k]; dup {
				return nil, fmt.Errorf("duplicate map key %q", k)
			}
			v, err := fromTV(kv[1])
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown typed value %v", m["t"])
}

// diff reports the first difference between two values of the generic
// model, with its path, or "" when they are equal (floats by bits).
func diff(a, b any, path string) string {
	switch x := a.(type) {
	case nil:
		if b != nil {
			return fmt.Sprintf("%s: null vs %T", path, b)
		}
		return ""
	case []byte:
		y, ok := b.([]byte)
		if !ok || !bytes.Equal(x, y) {
			return fmt.Sprintf("%s: bytes %x vs %#v", path, x, b)
		}
		return ""
	case float64:
		y, ok := b.(float64)
		if !ok || math.Float64bits(x) != math.Float64bits(y) {
			return fmt.Sprintf("%s: float %v vs %T %v", path, x, b, b)
		}
		return ""
	case cid.Cid:
		y, ok := b.(cid.Cid)
		if !ok || !x.Equals(y) {
			return fmt.Sprintf("%s: cid %v vs %v", path, x, b)
		}
		return ""
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return fmt.Sprintf("%s: list of %d vs %T", path, len(x), b)
		}
		for i := range x {
			if d := diff(x[i], y[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return fmt.Sprintf("%s: map of %d vs %T %v", path, len(x), b, b)
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok {
				return fmt.Sprintf("%s: key %q missing", path, k)
			}
			if d := diff(v, w, path+"."+k); d != "" {
				return d
			}
		}
		return ""
	default:
		if a != b {
			return fmt.Sprintf("%s: %T %v vs %T %v", path, a, a, b, b)
		}
		return ""
	}
}
