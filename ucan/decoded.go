package ucan

import (
	"math"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
)

// maxDecodedDepth bounds the nesting decodedValue copies: far below what
// the decoder accepts in a payload (maxDecodeDepth less the envelope's
// levels), so that every value it copies would decode.
const maxDecodedDepth = 16

// decodedMap returns a copy of m, a map that drisl.Marshal encoded, equal
// (reflect.DeepEqual) to what decoding that encoding into the generic
// value model gives: fresh maps, lists and byte strings (never nil),
// integers as int64 (uint64 above math.MaxInt64), strings, floats,
// booleans, nil and links as they are. ok is false if m holds a value of
// any other type (a struct, a typed slice, a *cid.Cid, drisl.Raw, ...) or
// nests deeper than maxDecodedDepth: the caller then decodes instead.
//
// It relies on the encoding having succeeded, which already refused what
// cannot be decoded back as it was: invalid UTF-8, NaN, infinities, -0.0,
// undefined links and links that are not DRISL's CIDv1 forms (those keep
// their bytes through the decoder's cid.Cast).
func decodedMap(m map[string]any, depth int) (map[string]any, bool) {
	return walkDecoded(m, depth, true)
}

// copiesAsDecoded reports whether decodedMap(m, depth) would succeed,
// without copying anything.
func copiesAsDecoded(m map[string]any, depth int) bool {
	_, ok := walkDecoded(m, depth, false)
	return ok
}

// walkDecoded is decodedMap, or with cp unset only its verdict (the result
// is then nil and nothing is allocated).
func walkDecoded(m map[string]any, depth int, cp bool) (map[string]any, bool) {
	if depth >= maxDecodedDepth {
		return nil, false
	}
	var out map[string]any
	if cp {
		out = make(map[string]any, len(m))
	}
	for k, v := range m {
		d, ok := decodedValue(v, depth+1, cp)
		if !ok {
			return nil, false
		}
		if cp {
			out[k] = d
		}
	}
	return out, true
}

// decodedValue is walkDecoded for one value at the given depth.
func decodedValue(v any, depth int, cp bool) (any, bool) {
	switch x := v.(type) {
	case nil, bool, string, int64, float64, cid.Cid:
		return v, true
	case int, int32, uint64:
		if !cp {
			return nil, true // boxing the converted value would allocate
		}
		switch x := x.(type) {
		case int:
			return int64(x), true
		case int32:
			return int64(x), true
		case uint64:
			if x <= math.MaxInt64 {
				return int64(x), true
			}
			return x, true
		}
	case []byte:
		if !cp {
			return nil, true
		}
		return append([]byte{}, x...), true
	case map[string]any:
		return walkDecoded(x, depth, cp)
	case drisl.Map:
		// Marshal refused one whose keys are out of order or repeated.
		if depth >= maxDecodedDepth {
			return nil, false
		}
		var out map[string]any
		if cp {
			out = make(map[string]any, len(x))
		}
		for _, e := range x {
			d, ok := decodedValue(e.Value, depth+1, cp)
			if !ok {
				return nil, false
			}
			if cp {
				out[e.Key] = d
			}
		}
		return out, true
	case []any:
		if depth >= maxDecodedDepth {
			return nil, false
		}
		var out []any
		if cp {
			out = make([]any, len(x))
		}
		for i, e := range x {
			d, ok := decodedValue(e, depth+1, cp)
			if !ok {
				return nil, false
			}
			if cp {
				out[i] = d
			}
		}
		return out, true
	}
	return nil, false
}
