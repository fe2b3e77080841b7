package drisl

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

// Marshal returns the DRISL encoding of v. It accepts the generic value model
// (nil, bool, integers, NegInt, float32/float64, string, []byte, cid.Cid,
// *cid.Cid, Raw, slices, arrays, maps with string keys) and structs, whose
// fields follow `cbor:"name,omitempty"` tags. It never emits non-DRISL bytes:
// NaN, infinities, -0.0, non-string map keys and types DRISL cannot hold
// (time.Time, big.Int, channels, ...) are errors. float32 widens to float64.
func Marshal(v any) ([]byte, error) {
	e := encodeState{buf: make([]byte, 0, 128)}
	if err := e.value(v); err != nil {
		return nil, err
	}
	return e.buf, nil
}

// AppendMarshal appends the DRISL encoding of v to dst.
func AppendMarshal(dst []byte, v any) ([]byte, error) {
	e := encodeState{buf: dst}
	if err := e.value(v); err != nil {
		return dst, err
	}
	return e.buf, nil
}

type encodeState struct {
	buf  []byte
	path []string // only built on error paths
}

func (e *encodeState) head(major byte, n uint64) {
	m := major << 5
	switch {
	case n < 24:
		e.buf = append(e.buf, m|byte(n))
	case n <= math.MaxUint8:
		e.buf = append(e.buf, m|24, byte(n))
	case n <= math.MaxUint16:
		e.buf = append(e.buf, m|25)
		e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(n))
	case n <= math.MaxUint32:
		e.buf = append(e.buf, m|26)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(n))
	default:
		e.buf = append(e.buf, m|27)
		e.buf = binary.BigEndian.AppendUint64(e.buf, n)
	}
}

func (e *encodeState) int(n int64) {
	if n >= 0 {
		e.head(0, uint64(n))
	} else {
		e.head(1, uint64(-1-n))
	}
}

func (e *encodeState) float(f float64, path string) error {
	if math.IsNaN(f) || math.IsInf(f, 0) || (f == 0 && math.Signbit(f)) {
		return &EncodeError{Rule: RuleFloatValue, Path: path}
	}
	e.buf = append(e.buf, 0xfb)
	e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(f))
	return nil
}

func (e *encodeState) str(s string, path string) error {
	if !utf8.ValidString(s) {
		return &EncodeError{Rule: RuleUTF8, Path: path}
	}
	e.head(3, uint64(len(s)))
	e.buf = append(e.buf, s...)
	return nil
}

func (e *encodeState) link(c cid.Cid, path string) error {
	if !c.Defined() {
		return &EncodeError{Rule: RuleCID, Path: path, Detail: "undefined CID"}
	}
	b := c.Bytes()
	if why := checkCIDBytes(append([]byte{0}, b...), true); why != "" {
		return &EncodeError{Rule: RuleCID, Path: path, Detail: why}
	}
	e.buf = append(e.buf, 0xd8, 42)
	e.head(2, uint64(len(b)+1))
	e.buf = append(e.buf, 0)
	e.buf = append(e.buf, b...)
	return nil
}

func (e *encodeState) value(v any) error { return e.valueAt(v, "") }

func joinPath(path, elem string) string {
	if path == "" {
		return elem
	}
	if elem[0] == '[' {
		return path + elem
	}
	return path + "." + elem
}

// valueAt encodes v; path names where v sits, for errors.
func (e *encodeState) valueAt(v any, path string) error {
	switch v := v.(type) {
	case nil:
		e.buf = append(e.buf, 0xf6)
	case bool:
		if v {
			e.buf = append(e.buf, 0xf5)
		} else {
			e.buf = append(e.buf, 0xf4)
		}
	case int64:
		e.int(v)
	case int:
		e.int(int64(v))
	case int32:
		e.int(int64(v))
	case uint64:
		e.head(0, v)
	case NegInt:
		e.head(1, uint64(v))
	case float64:
		return e.float(v, path)
	case string:
		return e.str(v, path)
	case []byte:
		e.head(2, uint64(len(v)))
		e.buf = append(e.buf, v...)
	case cid.Cid:
		return e.link(v, path)
	case *cid.Cid:
		if v == nil {
			e.buf = append(e.buf, 0xf6)
			return nil
		}
		return e.link(*v, path)
	case Raw:
		if err := Validate(v); err != nil {
			return &EncodeError{Rule: RuleType, Path: path, Detail: "Raw holds invalid DRISL: " + err.Error()}
		}
		e.buf = append(e.buf, v...)
	case []any:
		e.head(4, uint64(len(v)))
		for i, x := range v {
			if err := e.valueAt(x, joinPath(path, "["+strconv.Itoa(i)+"]")); err != nil {
				return err
			}
		}
	case map[string]any:
		return e.genericMap(v, path)
	default:
		return e.reflectValue(reflect.ValueOf(v), path)
	}
	return nil
}

func (e *encodeState) genericMap(m map[string]any, path string) error {
	var stack [16]string
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeyStrings)
	e.head(5, uint64(len(keys)))
	for _, k := range keys {
		if err := e.str(k, path); err != nil {
			return err
		}
		if err := e.valueAt(m[k], joinPath(path, k)); err != nil {
			return err
		}
	}
	return nil
}

func compareKeyStrings(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (e *encodeState) reflectValue(rv reflect.Value, path string) error {
	if !rv.IsValid() {
		e.buf = append(e.buf, 0xf6)
		return nil
	}
	t := rv.Type()
	switch t {
	case cidType:
		return e.link(rv.Interface().(cid.Cid), path)
	case rawType:
		return e.valueAt(Raw(rv.Bytes()), path)
	case negIntType:
		e.head(1, rv.Uint())
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return e.valueAt(rv.Bool(), path)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.int(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.head(0, rv.Uint())
	case reflect.Float32, reflect.Float64:
		return e.float(rv.Float(), path)
	case reflect.String:
		return e.str(rv.String(), path)
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			e.buf = append(e.buf, 0xf6)
			return nil
		}
		return e.reflectValue(rv.Elem(), path)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			e.head(2, uint64(rv.Len()))
			e.buf = append(e.buf, rv.Bytes()...)
			return nil
		}
		fallthrough
	case reflect.Array:
		if t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8 {
			e.head(2, uint64(rv.Len()))
			for i := 0; i < rv.Len(); i++ {
				e.buf = append(e.buf, byte(rv.Index(i).Uint()))
			}
			return nil
		}
		e.head(4, uint64(rv.Len()))
		for i := 0; i < rv.Len(); i++ {
			if err := e.reflectValue(rv.Index(i), joinPath(path, "["+strconv.Itoa(i)+"]")); err != nil {
				return err
			}
		}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return &EncodeError{Rule: RuleMapKeyType, Path: path, Detail: t.Key().String()}
		}
		keys := rv.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return compareKeyStrings(a.String(), b.String()) })
		e.head(5, uint64(len(keys)))
		for _, k := range keys {
			if err := e.str(k.String(), path); err != nil {
				return err
			}
			if err := e.reflectValue(rv.MapIndex(k), joinPath(path, k.String())); err != nil {
				return err
			}
		}
	case reflect.Struct:
		return e.structValue(rv, path)
	default:
		return &EncodeError{Rule: RuleType, Path: path, Detail: fmt.Sprint(t)}
	}
	return nil
}

func (e *encodeState) structValue(rv reflect.Value, path string) error {
	t := rv.Type()
	if t.NumField() > 0 && !hasCBORFields(t) && t.PkgPath() != "" && isOpaque(t) {
		return &EncodeError{Rule: RuleType, Path: path, Detail: t.String()}
	}
	si := fieldsOf(t)
	n := 0
	for _, f := range si.fields {
		if f.omitEmpty && rv.Field(f.index).IsZero() {
			continue
		}
		n++
	}
	e.head(5, uint64(n))
	for _, f := range si.fields {
		fv := rv.Field(f.index)
		if f.omitEmpty && fv.IsZero() {
			continue
		}
		e.head(3, uint64(len(f.name)))
		e.buf = append(e.buf, f.name...)
		if err := e.reflectValue(fv, joinPath(path, f.name)); err != nil {
			return err
		}
	}
	return nil
}

// hasCBORFields reports whether t has any exported field.
func hasCBORFields(t reflect.Type) bool {
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).IsExported() {
			return true
		}
	}
	return false
}

// isOpaque reports whether t is a struct with only unexported state, such as
// time.Time or big.Int, which has no faithful DRISL form.
func isOpaque(t reflect.Type) bool { return !hasCBORFields(t) }
