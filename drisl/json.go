package drisl

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

// UnmarshalJSON reads atproto JSON (https://atproto.com/specs/data-model)
// into the generic value model that Unmarshal returns, so that
// Marshal(UnmarshalJSON(j)) is the record's DRISL form:
//
//   - {"$link": "<cid>"} becomes a cid.Cid (a CIDv1, dag-cbor or raw,
//     sha2-256), {"$bytes": "<base64>"} a []byte; both must have no other key;
//   - other objects become map[string]any (duplicate keys are an error), so a
//     blob stays the map {"$type": "blob", "ref": cid.Cid, ...} that DRISL
//     holds; ParseBlob reads it;
//   - integers become int64 (an error beyond int64), and so do numbers
//     written with a fraction or exponent whose value is an integer
//     ("123.0"), as JavaScript reads them; other numbers become float64,
//     which CheckAtproto then rejects.
//
// Objects always become map[string]any: JSON objects are not in DRISL key
// order. For the ordered model, Marshal the result and decode the bytes with
// DecOptions{OrderedMaps: true}. It does not apply CheckAtproto. Errors are
// *DataModelError with RuleJSON, RuleUTF8, RuleLink or RuleInteger, carrying
// the byte offset.
func UnmarshalJSON(data []byte) (any, error) {
	if !utf8.Valid(data) {
		// encoding/json would silently replace the bad bytes with U+FFFD.
		return nil, &DataModelError{Rule: RuleUTF8, Offset: invalidUTF8At(data)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := jsonValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, jsonError(dec, "", "trailing data after the top-level value")
	}
	return v, nil
}

func jsonError(dec *json.Decoder, path, detail string) error {
	return &DataModelError{Rule: RuleJSON, Path: path, Offset: int(dec.InputOffset()), Detail: detail}
}

func jsonValue(dec *json.Decoder, depth int) (any, error) {
	off := int(dec.InputOffset())
	tok, err := dec.Token()
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = int(se.Offset)
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, &DataModelError{Rule: RuleJSON, Offset: off, Detail: err.Error()}
	}
	switch t := tok.(type) {
	case nil, bool, string:
		return t, nil
	case json.Number:
		return jsonNumber(t, off)
	case json.Delim:
		if depth >= DefaultMaxDepth {
			return nil, &DataModelError{Rule: RuleJSON, Offset: off, Detail: "nesting deeper than the limit"}
		}
		if t == '[' {
			out := []any{}
			for dec.More() {
				v, err := jsonValue(dec, depth+1)
				if err != nil {
					return nil, dmPath(err, indexElem(len(out)))
				}
				out = append(out, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, jsonError(dec, "", err.Error())
			}
			return out, nil
		}
		return jsonObject(dec, depth, off)
	}
	return nil, jsonError(dec, "", fmt.Sprintf("unexpected token %v", tok))
}

func jsonObject(dec *json.Decoder, depth, off int) (any, error) {
	out := map[string]any{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, jsonError(dec, "", err.Error())
		}
		k, ok := kt.(string)
		if !ok {
			return nil, jsonError(dec, "", "object key is not a string")
		}
		if _, dup := out[k]; dup {
			return nil, jsonError(dec, k, "duplicate key")
		}
		v, err := jsonValue(dec, depth+1)
		if err != nil {
			return nil, dmPath(err, k)
		}
		out[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonError(dec, "", err.Error())
	}
	if l, ok := out["$link"]; ok {
		s, isStr := l.(string)
		if len(out) != 1 || !isStr {
			return nil, &DataModelError{Rule: RuleJSON, Path: "$link", Offset: off, Detail: "a $link object holds exactly one string"}
		}
		c, err := cid.Decode(s)
		if err != nil {
			return nil, &DataModelError{Rule: RuleLink, Path: "$link", Offset: off, Detail: err.Error()}
		}
		if why := checkCIDString(c.KeyString(), false); why != "" {
			return nil, &DataModelError{Rule: RuleLink, Path: "$link", Offset: off, Detail: why}
		}
		return c, nil
	}
	if b, ok := out["$bytes"]; ok {
		s, isStr := b.(string)
		if len(out) != 1 || !isStr {
			return nil, &DataModelError{Rule: RuleJSON, Path: "$bytes", Offset: off, Detail: "a $bytes object holds exactly one string"}
		}
		enc := base64.RawStdEncoding
		if strings.HasSuffix(s, "=") {
			enc = base64.StdEncoding // read padded base64 too; never written
		}
		raw, err := enc.DecodeString(s)
		if err != nil {
			return nil, &DataModelError{Rule: RuleJSON, Path: "$bytes", Offset: off, Detail: err.Error()}
		}
		return raw, nil
	}
	return out, nil
}

func jsonNumber(n json.Number, off int) (any, error) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, &DataModelError{Rule: RuleInteger, Offset: off, Detail: s}
		}
		return i, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, &DataModelError{Rule: RuleJSON, Offset: off, Detail: "number " + s}
	}
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return int64(f), nil
	}
	return f, nil
}

// MarshalJSON writes v, in the generic value model (with map[string]any or
// Map maps) or any value Marshal accepts, as atproto JSON: links as
// {"$link": "<base32 CID>"}, bytes as {"$bytes": "<base64, no padding>"},
// Blob values as blob objects (never the legacy form), map keys in DRISL
// order, no insignificant space. Floats and integers outside int64 have no
// atproto JSON form and are errors (*DataModelError), as are strings that
// are not valid UTF-8, and a Map whose keys are out of order (*EncodeError).
func MarshalJSON(v any) ([]byte, error) {
	g, err := generic(v)
	if err != nil {
		return nil, err
	}
	return appendJSON(make([]byte, 0, 256), g, 0)
}

func appendJSON(b []byte, v any, depth int) ([]byte, error) {
	if depth > DefaultMaxDepth {
		return nil, &DataModelError{Rule: RuleDepth, Offset: -1, Detail: "or a value that contains itself"}
	}
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case uint64:
		if v > math.MaxInt64 {
			return nil, &DataModelError{Rule: RuleInteger, Offset: -1, Detail: strconv.FormatUint(v, 10)}
		}
		return strconv.AppendUint(b, v, 10), nil
	case NegInt:
		return nil, &DataModelError{Rule: RuleInteger, Offset: -1}
	case float64:
		return nil, &DataModelError{Rule: RuleFloat, Offset: -1, Detail: fmt.Sprint(v)}
	case string:
		return appendJSONString(b, v)
	case []byte:
		b = append(b, `{"$bytes":"`...)
		b = base64.RawStdEncoding.AppendEncode(b, v)
		return append(b, `"}`...), nil
	case cid.Cid:
		b = append(b, `{"$link":"`...)
		b = append(b, v.String()...)
		return append(b, `"}`...), nil
	case []any:
		b = append(b, '[')
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, x, depth+1); err != nil {
				return nil, dmPath(err, indexElem(i))
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		if err := reservedKey(v); err != nil {
			return nil, err
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sortKeys(keys)
		b = append(b, '{')
		for i, k := range keys {
			var err error
			if b, err = appendJSONMember(b, i, k, v[k], depth); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case Map:
		if err := v.orderError(); err != nil {
			return nil, err
		}
		if err := reservedKey(v); err != nil {
			return nil, err
		}
		b = append(b, '{')
		for i, e := range v {
			var err error
			if b, err = appendJSONMember(b, i, e.Key, e.Value, depth); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	// Any other Go value (Blob, int, a struct, ...): through its DRISL form.
	g, err := generic(v)
	if err != nil {
		return nil, err
	}
	return appendJSON(b, g, depth)
}

// appendJSONMember appends the member i of an object (its key k and value x,
// after a comma unless it is the first), the object being at depth, adding
// the key to the path of an error.
func appendJSONMember(b []byte, i int, k string, x any, depth int) ([]byte, error) {
	if i > 0 {
		b = append(b, ',')
	}
	var err error
	if b, err = appendJSONString(b, k); err != nil {
		return nil, dmPath(err, strconv.Quote(k))
	}
	b = append(b, ':')
	if b, err = appendJSON(b, x, depth+1); err != nil {
		return nil, dmPath(err, k)
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string, escaping only what JSON
// requires (quote, backslash, control characters).
func appendJSONString(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, &DataModelError{Rule: RuleUTF8, Offset: -1}
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}
