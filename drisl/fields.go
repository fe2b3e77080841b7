package drisl

import (
	"reflect"
	"sort"
	"strings"
	"sync"
	"unsafe"
)

// field is one struct field as DRISL sees it: its map key, options and
// how to encode it.
type field struct {
	name      string
	key       []byte // the name encoded as a DRISL text string
	index     int
	offset    uintptr // the field's offset in the struct
	size      uintptr // the field's size: which integer type an encInt or encUint field is
	omitEmpty bool
	enc       fieldEnc
}

// fieldEnc says how the encoder writes a field. Fields of a plain kind,
// whose type has no methods (so no MarshalCBOR) and is not one of the
// package's own types, are written directly; the others go through
// reflectValue.
type fieldEnc uint8

const (
	encReflect fieldEnc = iota
	encString
	encBool
	encInt
	encUint
)

// structInfo lists a struct's fields in DRISL key order, and by name, with
// the facts about the struct type that encoding needs, so that encoding a
// struct looks nothing up on its type but this.
type structInfo struct {
	fields  []field
	byName  map[string]int // name -> position in fields
	dup     string         // a key two fields share, if any: not encodable
	opaque  bool           // fields, none exported (time.Time, big.Int): not encodable
	methods bool           // hasMethods(t): the struct may implement a Marshaler
	boxed   bool           // larger than a pointer: an interface holds a pointer to the value
}

// typeCache memoises struct layouts. Like encoding/json's, it only ever
// holds facts derived from Go types, so sharing it is safe.
var typeCache sync.Map // reflect.Type -> *structInfo

// fieldsOf reads a struct's `cbor:"name,omitempty"` tags. A field without a
// tag uses its Go name; "-" skips it; unexported fields are skipped.
func fieldsOf(t reflect.Type) *structInfo {
	if si, ok := typeCache.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{byName: map[string]int{}, methods: hasMethods(t), opaque: t.NumField() > 0,
		boxed: t.Size() > unsafe.Sizeof(uintptr(0))}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		si.opaque = false
		tag := sf.Tag.Get("cbor")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		si.fields = append(si.fields, field{name: name, index: i, offset: sf.Offset, size: sf.Type.Size(),
			omitEmpty: strings.Contains(opts, "omitempty"), enc: fieldEncOf(sf.Type)})
	}
	sort.Slice(si.fields, func(a, b int) bool {
		return compareKeys([]byte(si.fields[a].name), []byte(si.fields[b].name)) < 0
	})
	for i, f := range si.fields {
		si.fields[i].key = appendText(nil, f.name)
		if _, ok := si.byName[f.name]; ok {
			si.dup = f.name
		}
		si.byName[f.name] = i
	}
	actual, _ := typeCache.LoadOrStore(t, si)
	return actual.(*structInfo)
}

// fieldEncOf chooses how to encode a field of type t.
func fieldEncOf(t reflect.Type) fieldEnc {
	switch t {
	case cidType, rawType, negIntType, blobType:
		return encReflect
	}
	if hasMethods(t) {
		return encReflect
	}
	switch t.Kind() {
	case reflect.String:
		return encString
	case reflect.Bool:
		return encBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return encInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return encUint
	}
	return encReflect
}

// appendText appends s as a DRISL text string.
func appendText(dst []byte, s string) []byte {
	e := encodeState{buf: dst}
	e.head(3, uint64(len(s)))
	return append(e.buf, s...)
}
