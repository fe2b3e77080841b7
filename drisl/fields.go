package drisl

import (
	"reflect"
	"sort"
	"strings"
	"sync"
)

// field is one struct field as DRISL sees it: its map key and options.
type field struct {
	name      string
	key       []byte // the name encoded as a DRISL text string
	index     int
	omitEmpty bool
}

// structInfo lists a struct's fields in DRISL key order, and by name.
type structInfo struct {
	fields []field
	byName map[string]int // name -> position in fields
	dup    string         // a key two fields share, if any: not encodable
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
	si := &structInfo{byName: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("cbor")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		si.fields = append(si.fields, field{name: name, index: i, omitEmpty: strings.Contains(opts, "omitempty")})
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

// appendText appends s as a DRISL text string.
func appendText(dst []byte, s string) []byte {
	e := encodeState{buf: dst}
	e.head(3, uint64(len(s)))
	return append(e.buf, s...)
}
