package drisl

import (
	"fmt"
	"math"
	"reflect"

	"github.com/ipfs/go-cid"
)

var (
	cidType        = reflect.TypeOf(cid.Cid{})
	rawType        = reflect.TypeOf(Raw(nil))
	negIntType     = reflect.TypeOf(NegInt(0))
	mapAnyType     = reflect.TypeOf(map[string]any(nil))
	orderedMapType = reflect.TypeOf(Map(nil))
	sliceAny       = reflect.TypeOf([]any(nil))
)

func (d *decodeState) mismatch(start int, want reflect.Type, got string) error {
	return d.fail(RuleMismatch, start, fmt.Sprintf("cannot put %s into %s", got, want))
}

var majorNames = [8]string{"unsigned integer", "negative integer", "byte string", "text string", "array", "map", "tag", "simple value or float"}

// into decodes the next item into rv, which must be settable.
func (d *decodeState) into(rv reflect.Value) error {
	t := rv.Type()
	kind := t.Kind()
	// The special types are slices, maps and structs; comparing types
	// costs a call each, so other kinds (strings, integers) skip it.
	if kind == reflect.Slice || kind == reflect.Map || kind == reflect.Struct {
		switch t {
		case rawType:
			start := d.off
			if err := d.skip(); err != nil {
				return err
			}
			rv.SetBytes(append([]byte{}, d.data[start:d.off]...))
			return nil
		case mapAnyType, sliceAny:
			// The generic model's own containers: build them without reflect
			// (but not a map[string]any while maps decode as Map).
			want := byte(5)
			if t == sliceAny {
				want = 4
			}
			if d.off < len(d.data) && d.data[d.off]>>5 == want && (want == 4 || !d.ordered) {
				v, err := d.value()
				if err != nil {
					return err
				}
				rv.Set(reflect.ValueOf(v))
				return nil
			}
		case orderedMapType:
			// A Map holds the ordered model all the way down.
			if d.off < len(d.data) && d.data[d.off] == 0xf6 {
				d.off++
				rv.SetZero()
				return nil
			}
			major, _, arg, start, err := d.head()
			if err != nil {
				return err
			}
			if major != 5 {
				return d.mismatch(start, t, majorNames[major])
			}
			ordered := d.ordered
			d.ordered = true
			m, err := d.orderedMap(arg, start)
			d.ordered = ordered
			if err != nil {
				return err
			}
			*rv.Addr().Interface().(*Map) = m
			return nil
		case blobType:
			start := d.off
			v, err := d.value()
			if err != nil {
				return err
			}
			b, err := ParseBlob(v)
			if err != nil {
				return d.fail(RuleMismatch, start, err.Error())
			}
			rv.Set(reflect.ValueOf(b))
			return nil
		case cidType:
			major, _, arg, start, err := d.head()
			if err != nil {
				return err
			}
			if major != 6 {
				return d.mismatch(start, t, majorNames[major])
			}
			if err := d.tag(arg, start); err != nil {
				return err
			}
			c, err := d.link(start)
			if err != nil {
				return err
			}
			rv.Set(reflect.ValueOf(c))
			return nil
		}
	}
	switch kind {
	case reflect.Pointer:
		if d.off < len(d.data) && d.data[d.off] == 0xf6 {
			d.off++
			rv.SetZero()
			return nil
		}
		if rv.IsNil() {
			rv.Set(reflect.New(t.Elem()))
		}
		return d.into(rv.Elem())
	case reflect.Interface:
		if t.NumMethod() != 0 {
			return d.mismatch(d.off, t, "any item")
		}
		v, err := d.value()
		if err != nil {
			return err
		}
		if v == nil {
			rv.SetZero()
		} else {
			rv.Set(reflect.ValueOf(v))
		}
		return nil
	}

	major, info, arg, start, err := d.head()
	if err != nil {
		return err
	}
	switch major {
	case 0, 1:
		return d.intInto(rv, major, arg, start)
	case 2:
		b, err := d.payload(arg, start)
		if err != nil {
			return err
		}
		switch {
		case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
			rv.SetBytes(append([]byte{}, b...))
		case t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8 && t.Len() == len(b):
			reflect.Copy(rv, reflect.ValueOf(b))
		default:
			return d.mismatch(start, t, "byte string")
		}
		return nil
	case 3:
		b, err := d.text(arg, start)
		if err != nil {
			return err
		}
		if t.Kind() != reflect.String {
			return d.mismatch(start, t, "text string")
		}
		rv.SetString(d.strAt(d.off, len(b)))
		return nil
	case 4:
		n, err := d.container(arg, 1, start)
		if err != nil {
			return err
		}
		switch t.Kind() {
		case reflect.Slice:
			s := reflect.MakeSlice(t, n, n)
			for i := 0; i < n; i++ {
				if err := d.into(s.Index(i)); err != nil {
					return err
				}
			}
			rv.Set(s)
		case reflect.Array:
			if t.Len() != n {
				return d.mismatch(start, t, fmt.Sprintf("array of %d", n))
			}
			for i := 0; i < n; i++ {
				if err := d.into(rv.Index(i)); err != nil {
					return err
				}
			}
		default:
			return d.mismatch(start, t, "array")
		}
		d.depth--
		return nil
	case 5:
		n, err := d.container(arg, 2, start)
		if err != nil {
			return err
		}
		switch {
		case t.Kind() == reflect.Struct:
			err = d.structInto(rv, n)
		case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
			err = d.mapInto(rv, n)
		default:
			err = d.mismatch(start, t, "map")
		}
		if err != nil {
			return err
		}
		d.depth--
		return nil
	case 6:
		if err := d.tag(arg, start); err != nil {
			return err
		}
		if _, err := d.link(start); err != nil {
			return err
		}
		return d.mismatch(start, t, "link")
	}
	v, err := d.simple(info, start)
	if err != nil {
		return err
	}
	switch v := v.(type) {
	case nil:
		rv.SetZero()
	case bool:
		if t.Kind() != reflect.Bool {
			return d.mismatch(start, t, "boolean")
		}
		rv.SetBool(v)
	case float64:
		if t.Kind() != reflect.Float64 && t.Kind() != reflect.Float32 {
			return d.mismatch(start, t, "float")
		}
		rv.SetFloat(v)
	}
	return nil
}

func (d *decodeState) intInto(rv reflect.Value, major byte, arg uint64, start int) error {
	t := rv.Type()
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if arg > math.MaxInt64 {
			return d.mismatch(start, t, "integer out of int64 range")
		}
		n := int64(arg)
		if major == 1 {
			n = -1 - n
		}
		if rv.OverflowInt(n) {
			return d.mismatch(start, t, fmt.Sprintf("integer %d", n))
		}
		rv.SetInt(n)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if t == negIntType {
			if major != 1 || arg <= math.MaxInt64 {
				return d.mismatch(start, t, "integer in int64 range")
			}
			rv.SetUint(arg)
			return nil
		}
		if major == 1 || rv.OverflowUint(arg) {
			return d.mismatch(start, t, "integer out of range")
		}
		rv.SetUint(arg)
		return nil
	}
	return d.mismatch(start, t, majorNames[major])
}

func (d *decodeState) structInto(rv reflect.Value, n int) error {
	si := fieldsOf(rv.Type())
	var prev []byte
	for i := 0; i < n; i++ {
		k, err := d.mapKey(prev, i == 0)
		if err != nil {
			return err
		}
		prev = k
		fi, ok := si.byName[string(k)]
		if !ok {
			if d.opts.DisallowUnknownFields {
				return d.fail(RuleMismatch, d.off, fmt.Sprintf("unknown field %q for %s", k, rv.Type()))
			}
			if err := d.skip(); err != nil {
				return err
			}
			continue
		}
		if err := d.into(rv.Field(si.fields[fi].index)); err != nil {
			return err
		}
	}
	return nil
}

func (d *decodeState) mapInto(rv reflect.Value, n int) error {
	t := rv.Type()
	m := reflect.MakeMapWithSize(t, n)
	var prev []byte
	for i := 0; i < n; i++ {
		k, err := d.mapKey(prev, i == 0)
		if err != nil {
			return err
		}
		prev = k
		key := reflect.ValueOf(d.strAt(d.off, len(k))).Convert(t.Key())
		ev := reflect.New(t.Elem()).Elem()
		if err := d.into(ev); err != nil {
			return err
		}
		m.SetMapIndex(key, ev)
	}
	rv.Set(m)
	return nil
}
