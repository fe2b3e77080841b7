package drisl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/ipfs/go-cid"
)

// Marshal returns the DRISL encoding of v. It accepts the generic value model
// (nil, bool, integers, NegInt, float32/float64, string, []byte, cid.Cid,
// *cid.Cid, Raw, slices, arrays, maps with string keys, Map and *Map) and
// structs, whose fields follow `cbor:"name,omitempty"` tags. A Map is written
// in its own order, which must be strict DRISL order (an *EncodeError with
// RuleMapKeyOrder or RuleMapKeyDuplicate otherwise). It never emits non-DRISL
// bytes: NaN, infinities, -0.0, non-string map keys and types DRISL cannot
// hold (time.Time, big.Int, channels, ...) are errors. float32 widens to
// float64.
func Marshal(v any) ([]byte, error) {
	return EncOptions{}.Marshal(v)
}

// AppendMarshal appends the DRISL encoding of v to dst.
func AppendMarshal(dst []byte, v any) ([]byte, error) {
	return EncOptions{}.AppendMarshal(dst, v)
}

// Marshal returns the DRISL encoding of v with these options.
func (o EncOptions) Marshal(v any) ([]byte, error) {
	e := getEncodeState(o)
	defer putEncodeState(e)
	if err := e.value(v); err != nil {
		return nil, err
	}
	// One exact-size allocation: the scratch buffer is reused.
	return bytes.Clone(e.buf), nil
}

// AppendMarshal appends the DRISL encoding of v to dst with these options.
func (o EncOptions) AppendMarshal(dst []byte, v any) ([]byte, error) {
	e := getEncodeState(o)
	defer putEncodeState(e)
	scratch := e.buf
	e.buf = dst
	err := e.value(v)
	out := e.buf
	e.buf = scratch
	if err != nil {
		return dst, err
	}
	return out, nil
}

type encodeState struct {
	buf   []byte
	kvs   []keyValue // scratch for the entries of large maps; nested maps stack up
	order []int32    // their sort order
	depth int
	opts  EncOptions

	// The struct type encoded last and its layout: a memo of facts about
	// a Go type, like typeCache, not state of any value. lastType is the
	// type's runtime type word (what reflect.Type and an interface's type
	// word point at), compared by address.
	lastType unsafe.Pointer
	lastInfo *structInfo
	lastPtr  bool // lastType is a pointer to the struct lastInfo describes
}

type keyValue struct {
	k string
	v any
}

// encodeStates recycles scratch buffers between calls, as encoding/json
// does: it holds no semantic state, only memory, so Marshal allocates its
// result once instead of growing a fresh buffer for every call.
var encodeStates sync.Pool

func getEncodeState(o EncOptions) *encodeState {
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	o.MaxDepth = min(o.MaxDepth, MaxDepthLimit)
	if e, ok := encodeStates.Get().(*encodeState); ok {
		e.opts, e.depth = o, 0
		return e
	}
	return &encodeState{buf: make([]byte, 0, 1024), opts: o}
}

// maxPooledBuf keeps one huge encoding from pinning its buffer forever.
const maxPooledBuf = 1 << 20

func putEncodeState(e *encodeState) {
	if cap(e.buf) > maxPooledBuf {
		return
	}
	e.buf = e.buf[:0]
	e.kvs, e.order = e.kvs[:0], e.order[:0] // entries are cleared after each map
	encodeStates.Put(e)
}

// enter counts one level of nesting; callers decrement e.depth when the
// container is done.
func (e *encodeState) enter() error {
	e.depth++
	if e.depth > e.opts.MaxDepth {
		return &EncodeError{Rule: RuleDepth, Detail: "nesting deeper than the limit, or a value that contains itself"}
	}
	return nil
}

// atPath prefixes the path of an EncodeError with elem as the error travels
// up from a nested value, so paths cost nothing unless encoding fails.
func atPath(err error, elem string) error {
	if ee, ok := err.(*EncodeError); ok {
		switch {
		case ee.Path == "":
			ee.Path = elem
		case ee.Path[0] == '[':
			ee.Path = elem + ee.Path
		default:
			ee.Path = elem + "." + ee.Path
		}
	}
	return err
}

func indexElem(i int) string { return "[" + strconv.Itoa(i) + "]" }

// appendHead appends the head of an item of the given major type and
// argument n, in its shortest form.
func appendHead(buf []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(buf, m|byte(n))
	case n <= math.MaxUint8:
		return append(buf, m|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(buf, m|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(buf, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(buf, m|27), n)
}

func (e *encodeState) head(major byte, n uint64) {
	e.buf = appendHead(e.buf, major, n)
}

func (e *encodeState) int(n int64) {
	if n >= 0 {
		e.head(0, uint64(n))
	} else {
		e.head(1, uint64(-1-n))
	}
}

func (e *encodeState) float(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) || (f == 0 && math.Signbit(f)) {
		return &EncodeError{Rule: RuleFloatValue, Detail: strconv.FormatFloat(f, 'g', -1, 64)}
	}
	e.buf = append(e.buf, 0xfb)
	e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(f))
	return nil
}

func (e *encodeState) str(s string) error {
	if !validUTF8String(s) {
		return &EncodeError{Rule: RuleUTF8}
	}
	e.buf = append(appendHead(e.buf, 3, uint64(len(s))), s...) // one write back to e
	return nil
}

func (e *encodeState) link(c cid.Cid) error {
	if !c.Defined() {
		return &EncodeError{Rule: RuleCID, Detail: "undefined CID"}
	}
	b := c.KeyString() // the CID's binary form, without a copy
	if why := checkCIDString(b, e.opts.AllowBLAKE3); why != "" {
		return &EncodeError{Rule: RuleCID, Detail: why}
	}
	e.buf = append(e.buf, 0xd8, 42)
	e.head(2, uint64(len(b)+1))
	e.buf = append(e.buf, 0)
	e.buf = append(e.buf, b...)
	return nil
}

// bytesMarshaler is fxamacker/cbor's Marshaler (cbor.RawMessage, cbor.Tag,
// cbor.SimpleValue, ...); writerMarshaler is cbor-gen's (indigo's typed
// records). Their output is validated as strict DRISL before it is written.
type bytesMarshaler interface{ MarshalCBOR() ([]byte, error) }
type writerMarshaler interface{ MarshalCBOR(io.Writer) error }

func (e *encodeState) marshaler(v any) (bool, error) {
	var b []byte
	switch m := v.(type) {
	case bytesMarshaler:
		out, err := m.MarshalCBOR()
		if err != nil {
			return true, &EncodeError{Rule: RuleType, Detail: "MarshalCBOR: " + err.Error(), Err: err}
		}
		b = out
	case writerMarshaler:
		var w bytes.Buffer
		if err := m.MarshalCBOR(&w); err != nil {
			return true, &EncodeError{Rule: RuleType, Detail: "MarshalCBOR: " + err.Error(), Err: err}
		}
		b = w.Bytes()
	default:
		return false, nil
	}
	return true, e.raw(b)
}

func (e *encodeState) raw(b []byte) error {
	if err := (DecOptions{AllowBLAKE3: e.opts.AllowBLAKE3}).Validate(b); err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			return &EncodeError{Rule: se.Rule, Detail: "pre-encoded bytes are not DRISL: " + err.Error()}
		}
		return &EncodeError{Rule: RuleType, Detail: err.Error()}
	}
	e.buf = append(e.buf, b...)
	return nil
}

// value encodes v. Errors carry the path to the failing value.
func (e *encodeState) value(v any) error {
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
		return e.float(v)
	case string:
		return e.str(v)
	case []byte:
		e.head(2, uint64(len(v)))
		e.buf = append(e.buf, v...)
	case cid.Cid:
		return e.link(v)
	case *cid.Cid:
		if v == nil {
			e.buf = append(e.buf, 0xf6)
			return nil
		}
		return e.link(*v)
	case Raw:
		return e.raw(v)
	case Blob:
		return e.blob(&v)
	case *Blob:
		if v == nil {
			e.buf = append(e.buf, 0xf6)
			return nil
		}
		return e.blob(v)
	case []any:
		if err := e.enter(); err != nil {
			return err
		}
		e.head(4, uint64(len(v)))
		for i, x := range v {
			if err := e.value(x); err != nil {
				return atPath(err, indexElem(i))
			}
		}
		e.depth--
	case map[string]any:
		if err := e.enter(); err != nil {
			return err
		}
		err := e.genericMap(v)
		e.depth--
		return err
	case Map:
		return e.orderedMap(v)
	case *Map:
		if v == nil {
			e.buf = append(e.buf, 0xf6)
			return nil
		}
		return e.orderedMap(*v)
	default:
		// A struct record, or a pointer to one: its layout says whether it
		// may have a Marshaler (on the struct or its pointer), so the
		// interface checks run only if it may. Blob and cid.Cid, which
		// have methods, are cases above.
		if si, ptr := e.recordInfo(v); si != nil && !si.methods {
			// The interface's data word points at the struct: it is the
			// pointer, or, for a struct larger than a pointer, where the
			// interface keeps the value.
			base := (*[2]unsafe.Pointer)(unsafe.Pointer(&v))[1]
			rv := reflect.ValueOf(v)
			if ptr {
				if base == nil {
					e.buf = append(e.buf, 0xf6)
					return nil
				}
				rv = rv.Elem()
			} else if !si.boxed {
				base = nil
			}
			if err := e.enter(); err != nil {
				return err
			}
			err := e.structValue(rv, base, si)
			e.depth--
			return err
		}
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer && rv.IsNil() {
			e.buf = append(e.buf, 0xf6) // never call a method on a nil pointer
			return nil
		}
		if ok, err := e.marshaler(v); ok {
			return err
		}
		return e.reflectValue(rv)
	}
	return nil
}

// sortKeys sorts map keys in DRISL order. Most maps are small, where an
// insertion sort beats the generic sort and allocates nothing.
func sortKeys(keys []string) {
	if len(keys) > 12 {
		slices.SortFunc(keys, compareKeyStrings)
		return
	}
	for i := 1; i < len(keys); i++ {
		k := keys[i]
		j := i
		for ; j > 0 && keyLess(k, keys[j-1]); j-- {
			keys[j] = keys[j-1]
		}
		keys[j] = k
	}
}

func keyLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func (e *encodeState) genericMap(m map[string]any) error {
	e.head(5, uint64(len(m)))
	if len(m) <= smallMap {
		// Small maps, most of a record, sort on the stack: no allocation
		// and no write barriers.
		var stack [smallMap]keyValue
		kvs := stack[:0]
		for k, v := range m {
			kvs = append(kvs, keyValue{k, v})
		}
		insertionSortKeyValues(kvs)
		buf := e.buf
		for i := range kvs {
			var err error
			if buf, err = e.entryTo(buf, kvs[i].k, kvs[i].v); err != nil {
				return err
			}
		}
		e.buf = buf
		return nil
	}
	// Larger maps collect their entries in the reusable scratch (nested
	// maps stack up behind them) and sort an index, moving 4 bytes per swap
	// instead of 32.
	base, obase := len(e.kvs), len(e.order)
	for k, v := range m {
		e.kvs = append(e.kvs, keyValue{k, v})
	}
	e.order = slices.Grow(e.order, len(m))[:obase+len(m)]
	sortIndex(e.order[obase:], e.kvs[base:])
	var err error
	for i := range len(m) {
		// e.kvs and e.order may move while nested maps encode: index them
		// afresh.
		kv := e.kvs[base+int(e.order[obase+i])]
		if e.buf, err = e.entryTo(e.buf, kv.k, kv.v); err != nil {
			break
		}
	}
	clear(e.kvs[base:])
	e.kvs, e.order = e.kvs[:base], e.order[:obase]
	return err
}

const smallMap = 16

// orderedMap writes m in its own order, which must be strict DRISL order:
// each key is compared with the one before it, and a key out of order or
// repeated is an error.
func (e *encodeState) orderedMap(m Map) error {
	if err := e.enter(); err != nil {
		return err
	}
	// Keys and the usual scalar values append to a local slice: no write
	// back to e (and no write barrier) per entry. This is entryTo inlined
	// by hand: calling it cost 9 % more instructions here.
	buf := appendHead(e.buf, 5, uint64(len(m)))
	var prev string
	for i := range m {
		k := m[i].Key
		if i > 0 && (len(k) < len(prev) || len(k) == len(prev) && k <= prev) {
			e.buf = buf
			return keyAfter(prev, k)
		}
		// Keys of up to eight bytes, most of them, are checked here
		// (validUTF8String's short path, without the call); the others,
		// and any with a non-ASCII byte, by validUTF8String.
		ascii := false
		switch n := len(k); {
		case n >= 4 && n <= 8:
			ascii = (word32(k)|word32(k[n-4:]))&0x80808080 == 0
		case n > 0 && n < 4:
			ascii = k[0]|k[n/2]|k[n-1] < utf8.RuneSelf
		}
		if !ascii && !validUTF8String(k) {
			e.buf = buf
			return atPath(&EncodeError{Rule: RuleUTF8}, strconv.Quote(k))
		}
		buf = append(appendHead(buf, 3, uint64(len(k))), k...)
		switch v := m[i].Value.(type) {
		case string:
			if !validUTF8String(v) {
				e.buf = buf
				return atPath(&EncodeError{Rule: RuleUTF8}, k)
			}
			buf = append(appendHead(buf, 3, uint64(len(v))), v...)
		case int64:
			if v >= 0 {
				buf = appendHead(buf, 0, uint64(v))
			} else {
				buf = appendHead(buf, 1, uint64(-1-v))
			}
		case bool:
			if v {
				buf = append(buf, 0xf5)
			} else {
				buf = append(buf, 0xf4)
			}
		case nil:
			buf = append(buf, 0xf6)
		default:
			e.buf = buf
			if err := e.value(v); err != nil {
				return atPath(err, k)
			}
			buf = e.buf
		}
		prev = k
	}
	e.buf = buf
	e.depth--
	return nil
}

// sortIndex fills order with the indexes of kvs in DRISL key order. Keys
// sort length-first, so a counting sort by length does most of the work; an
// insertion sort then orders keys of equal length, which sit side by side.
func sortIndex(order []int32, kvs []keyValue) {
	const maxLen = 64
	var count [maxLen + 1]int32
	for i := range kvs {
		n := len(kvs[i].k)
		if n >= maxLen {
			for j := range order {
				order[j] = int32(j)
			}
			slices.SortFunc(order, func(a, b int32) int { return compareKeyStrings(kvs[a].k, kvs[b].k) })
			return
		}
		count[n+1]++
	}
	for n := 1; n <= maxLen; n++ {
		count[n] += count[n-1]
	}
	for i := range kvs {
		n := len(kvs[i].k)
		order[count[n]] = int32(i)
		count[n]++
	}
	for i := 1; i < len(order); i++ {
		x := order[i]
		j := i
		for ; j > 0 && keyLess(kvs[x].k, kvs[order[j-1]].k); j-- {
			order[j] = order[j-1]
		}
		order[j] = x
	}
}

// entryTo appends map key k and its value v to buf, which continues e.buf:
// the key and a string, int64, bool or null value locally, without a write
// back to e (and its write barrier), anything else through e.value. It
// returns the continued buffer; when it fails, e.buf holds what was
// written.
func (e *encodeState) entryTo(buf []byte, k string, v any) ([]byte, error) {
	if !validUTF8String(k) {
		e.buf = buf
		return buf, atPath(&EncodeError{Rule: RuleUTF8}, strconv.Quote(k))
	}
	buf = append(appendHead(buf, 3, uint64(len(k))), k...)
	switch v := v.(type) {
	case string:
		if !validUTF8String(v) {
			e.buf = buf
			return buf, atPath(&EncodeError{Rule: RuleUTF8}, k)
		}
		buf = append(appendHead(buf, 3, uint64(len(v))), v...)
	case int64:
		if v >= 0 {
			buf = appendHead(buf, 0, uint64(v))
		} else {
			buf = appendHead(buf, 1, uint64(-1-v))
		}
	case bool:
		if v {
			buf = append(buf, 0xf5)
		} else {
			buf = append(buf, 0xf4)
		}
	case nil:
		buf = append(buf, 0xf6)
	default:
		e.buf = buf
		if err := e.value(v); err != nil {
			return e.buf, atPath(err, k)
		}
		return e.buf, nil
	}
	return buf, nil
}

// insertionSortKeyValues sorts map entries in DRISL key order.
func insertionSortKeyValues(kvs []keyValue) {
	for i := 1; i < len(kvs); i++ {
		kv := kvs[i]
		j := i
		for ; j > 0 && keyLess(kv.k, kvs[j-1].k); j-- {
			kvs[j] = kvs[j-1]
		}
		kvs[j] = kv
	}
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

// hasMethods reports whether values of t might implement a Marshaler.
// Named types and unnamed pointers can have methods, and so can an unnamed
// struct, through the fields it embeds; other unnamed types (slices, maps,
// arrays...) cannot.
func hasMethods(t reflect.Type) bool {
	if k := t.Kind(); t.Name() == "" && k != reflect.Struct && k != reflect.Pointer {
		return false
	}
	return t.NumMethod() > 0 || reflect.PointerTo(t).NumMethod() > 0
}

func (e *encodeState) reflectValue(rv reflect.Value) error {
	if !rv.IsValid() {
		e.buf = append(e.buf, 0xf6)
		return nil
	}
	t := rv.Type()
	switch t {
	case cidType:
		return e.link(rv.Interface().(cid.Cid))
	case rawType:
		return e.raw(rv.Bytes())
	case negIntType:
		e.head(1, rv.Uint())
		return nil
	case blobType:
		b := rv.Interface().(Blob)
		return e.blob(&b)
	case orderedMapType:
		return e.orderedMap(rv.Interface().(Map))
	}
	if t.Kind() == reflect.Struct {
		if si := e.structInfo(t); !si.methods {
			if err := e.enter(); err != nil {
				return err
			}
			err := e.structValue(rv, structAddr(rv), si)
			e.depth--
			return err
		}
	}
	if k := t.Kind(); k != reflect.Pointer && k != reflect.Interface && hasMethods(t) {
		v := rv.Interface()
		if rv.CanAddr() {
			if _, ok := rv.Addr().Interface().(writerMarshaler); ok {
				v = rv.Addr().Interface()
			}
		}
		if ok, err := e.marshaler(v); ok {
			return err
		}
	}
	switch t.Kind() {
	case reflect.Bool:
		return e.value(rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.int(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.head(0, rv.Uint())
	case reflect.Float32, reflect.Float64:
		return e.float(rv.Float())
	case reflect.String:
		return e.str(rv.String())
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			e.buf = append(e.buf, 0xf6)
			return nil
		}
		if t.Kind() == reflect.Pointer {
			if ok, err := e.marshaler(rv.Interface()); ok {
				return err
			}
		}
		return e.reflectValue(rv.Elem())
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
		if err := e.enter(); err != nil {
			return err
		}
		e.head(4, uint64(rv.Len()))
		for i := 0; i < rv.Len(); i++ {
			if err := e.reflectValue(rv.Index(i)); err != nil {
				return atPath(err, indexElem(i))
			}
		}
		e.depth--
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return &EncodeError{Rule: RuleMapKeyType, Detail: t.Key().String()}
		}
		if err := e.enter(); err != nil {
			return err
		}
		err := e.reflectMap(rv)
		e.depth--
		return err
	case reflect.Struct:
		if err := e.enter(); err != nil {
			return err
		}
		err := e.structValue(rv, structAddr(rv), e.structInfo(t))
		e.depth--
		return err
	default:
		return &EncodeError{Rule: RuleType, Detail: t.String()}
	}
	return nil
}

// reflectMap writes a Go map with string keys in DRISL key order. It is
// not part of reflectValue so that function has no defer to run on every
// return.
func (e *encodeState) reflectMap(rv reflect.Value) error {
	keys := rv.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int { return compareKeyStrings(a.String(), b.String()) })
	e.head(5, uint64(len(keys)))
	for _, k := range keys {
		if err := e.str(k.String()); err != nil {
			return atPath(err, strconv.Quote(k.String()))
		}
		if err := e.reflectValue(rv.MapIndex(k)); err != nil {
			return atPath(err, k.String())
		}
	}
	return nil
}

// recordInfo returns the layout of v's type if v is a struct (ptr false)
// or a pointer to a struct (ptr true), from the same one-entry cache as
// structInfo, keyed by v's type word (so a struct and a pointer to it are
// two entries); nil otherwise.
func (e *encodeState) recordInfo(v any) (si *structInfo, ptr bool) {
	p := (*[2]unsafe.Pointer)(unsafe.Pointer(&v))[0] // v's type word
	if p == e.lastType {
		return e.lastInfo, e.lastPtr
	}
	t := reflect.TypeOf(v)
	switch {
	case t.Kind() == reflect.Struct:
		si = fieldsOf(t)
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		si, ptr = fieldsOf(t.Elem()), true
	default:
		return nil, false
	}
	e.lastType, e.lastInfo, e.lastPtr = p, si, ptr
	return si, ptr
}

// structInfo returns the layout of struct type t, from a one-entry cache
// in the encodeState (records of one type are usually encoded in a row)
// or else from fieldsOf.
func (e *encodeState) structInfo(t reflect.Type) *structInfo {
	if p := typePointer(t); p != e.lastType {
		e.lastType, e.lastInfo, e.lastPtr = p, fieldsOf(t), false
	}
	return e.lastInfo
}

// typePointer returns the address of t's runtime type: the data word of
// the reflect.Type interface, which is the same for every reflect.Type of
// one type.
func typePointer(t reflect.Type) unsafe.Pointer {
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&t))[1]
}

// structAddr returns the address of the struct rv if it has one, else
// nil.
func structAddr(rv reflect.Value) unsafe.Pointer {
	if rv.CanAddr() {
		return rv.Addr().UnsafePointer()
	}
	return nil
}

// structValue writes the struct rv, whose layout is si, as a map. When
// base is not nil it is the struct's address, and the fields of plain
// kinds are read from memory at their offsets instead of through
// rv.Field; the others always go through reflection.
func (e *encodeState) structValue(rv reflect.Value, base unsafe.Pointer, si *structInfo) error {
	if si.opaque {
		// Only unexported state, like time.Time or big.Int: no faithful
		// DRISL form.
		return &EncodeError{Rule: RuleType, Detail: rv.Type().String()}
	}
	if si.dup != "" {
		t := rv.Type()
		return &EncodeError{Rule: RuleMapKeyDuplicate, Detail: t.String() + " has two fields named " + strconv.Quote(si.dup)}
	}
	// The map head counts the fields written, which omitempty makes
	// unknown until they are: below 24 fields the head is one byte, patched
	// at the end; otherwise a first pass counts them.
	at := -1
	if len(si.fields) < 24 {
		at = len(e.buf)
		e.buf = append(e.buf, 0xa0)
	} else {
		n := 0
		for i := range si.fields {
			f := &si.fields[i]
			if !f.omitEmpty || !rv.Field(f.index).IsZero() {
				n++
			}
		}
		e.head(5, uint64(n))
	}
	// The plain kinds append to a local slice: no write back to e (and no
	// write barrier) per field.
	buf := e.buf
	n := 0
	for i := range si.fields {
		f := &si.fields[i]
		switch f.enc {
		case encString:
			var s string
			if base != nil {
				s = *(*string)(unsafe.Add(base, f.offset))
			} else {
				s = rv.Field(f.index).String()
			}
			if f.omitEmpty && s == "" {
				continue
			}
			if !validUTF8StringWide(s) {
				e.buf = buf
				return atPath(&EncodeError{Rule: RuleUTF8}, f.name)
			}
			buf = append(buf, f.key...)
			buf = appendHead(buf, 3, uint64(len(s)))
			buf = append(buf, s...)
		case encBool:
			var b bool
			if base != nil {
				b = *(*bool)(unsafe.Add(base, f.offset))
			} else {
				b = rv.Field(f.index).Bool()
			}
			if f.omitEmpty && !b {
				continue
			}
			buf = append(buf, f.key...)
			if b {
				buf = append(buf, 0xf5)
			} else {
				buf = append(buf, 0xf4)
			}
		case encInt:
			var x int64
			if base != nil {
				x = loadInt(unsafe.Add(base, f.offset), f.size)
			} else {
				x = rv.Field(f.index).Int()
			}
			if f.omitEmpty && x == 0 {
				continue
			}
			buf = append(buf, f.key...)
			if x >= 0 {
				buf = appendHead(buf, 0, uint64(x))
			} else {
				buf = appendHead(buf, 1, uint64(-1-x))
			}
		case encUint:
			var x uint64
			if base != nil {
				x = loadUint(unsafe.Add(base, f.offset), f.size)
			} else {
				x = rv.Field(f.index).Uint()
			}
			if f.omitEmpty && x == 0 {
				continue
			}
			buf = append(buf, f.key...)
			buf = appendHead(buf, 0, x)
		default:
			fv := rv.Field(f.index)
			if f.omitEmpty && fv.IsZero() {
				continue
			}
			e.buf = append(buf, f.key...)
			if err := e.reflectValue(fv); err != nil {
				return atPath(err, f.name)
			}
			buf = e.buf
		}
		n++
	}
	e.buf = buf
	if at >= 0 {
		e.buf[at] = 0xa0 | byte(n)
	}
	return nil
}

// loadInt reads a signed integer of size bytes at p.
func loadInt(p unsafe.Pointer, size uintptr) int64 {
	switch size {
	case 1:
		return int64(*(*int8)(p))
	case 2:
		return int64(*(*int16)(p))
	case 4:
		return int64(*(*int32)(p))
	}
	return *(*int64)(p)
}

// loadUint reads an unsigned integer of size bytes at p.
func loadUint(p unsafe.Pointer, size uintptr) uint64 {
	switch size {
	case 1:
		return uint64(*(*uint8)(p))
	case 2:
		return uint64(*(*uint16)(p))
	case 4:
		return uint64(*(*uint32)(p))
	}
	return *(*uint64)(p)
}
