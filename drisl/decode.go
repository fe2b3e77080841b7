package drisl

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"unsafe"

	"github.com/ipfs/go-cid"
)

// NegInt is a negative integer below math.MinInt64, which CBOR can carry and
// int64 cannot: its value is -1 - uint64(n). Integers that fit int64 decode as
// int64, larger positive ones as uint64, smaller negative ones as NegInt, so
// every DRISL integer roundtrips. atproto data never holds the latter two
// (see CheckAtproto).
type NegInt uint64

// Raw holds the exact bytes of one encoded DRISL item. Decoding into a Raw
// validates the item and keeps its bytes as received; encoding a Raw writes
// them as they are after validating them. Use it to verify signatures over
// bytes exactly as received.
type Raw []byte

// Unmarshal decodes strict DRISL data into v with the default options. v must
// be a non-nil pointer. Into an empty interface it stores the generic value
// model: nil, bool, int64 (uint64 or NegInt out of int64 range), float64,
// string, []byte, cid.Cid, []any and map[string]any (Map with
// DecOptions.OrderedMaps). Into a Map it stores the map's entries in wire
// order, and Maps for the maps inside.
func Unmarshal(data []byte, v any) error {
	return DecOptions{}.Unmarshal(data, v)
}

// Validate reports whether data is exactly one strict DRISL item, with the
// default options, without building any value.
func Validate(data []byte) error {
	return DecOptions{}.Validate(data)
}

// Unmarshal decodes strict DRISL data into v with these options.
func (o DecOptions) Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("%w, got %T", ErrTarget, v)
	}
	d, err := o.start(data)
	if err != nil {
		return err
	}
	if p, ok := v.(*any); ok {
		val, err := d.value()
		if err != nil {
			return err
		}
		if err := d.end(); err != nil {
			return err
		}
		*p = val
		return nil
	}
	if err := d.into(rv.Elem()); err != nil {
		return err
	}
	return d.end()
}

// UnmarshalFirst decodes the first strict DRISL item of data into v, with
// the default options, and returns the bytes after it. It reads a sequence
// of items, such as an atproto event-stream frame (a header item followed by
// a body item). Error offsets count from the start of data.
func UnmarshalFirst(data []byte, v any) (rest []byte, err error) {
	return DecOptions{}.UnmarshalFirst(data, v)
}

// UnmarshalFirst is the package-level UnmarshalFirst with these options.
func (o DecOptions) UnmarshalFirst(data []byte, v any) (rest []byte, err error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return data, fmt.Errorf("%w, got %T", ErrTarget, v)
	}
	d, err := o.start(data)
	if err != nil {
		return data, err
	}
	if p, ok := v.(*any); ok {
		val, err := d.value()
		if err != nil {
			return data, err
		}
		*p = val
	} else if err := d.into(rv.Elem()); err != nil {
		return data, err
	}
	return data[d.off:], nil
}

// Validate checks that data is exactly one strict DRISL item.
func (o DecOptions) Validate(data []byte) error {
	d, err := o.start(data)
	if err != nil {
		return err
	}
	if err := d.skip(); err != nil {
		return err
	}
	return d.end()
}

func (o DecOptions) start(data []byte) (*decodeState, error) {
	d := new(decodeState)
	if err := d.reset(data, o.withDefaults()); err != nil {
		return nil, err
	}
	return d, nil
}

// reset makes d a decoder of data with o (its defaults filled in), keeping
// d's boxes.
func (d *decodeState) reset(data []byte, o DecOptions) error {
	if len(data) > o.MaxInputBytes {
		return &SyntaxError{Rule: RuleInputLen, Offset: 0}
	}
	*d = decodeState{data: data, opts: o, ordered: o.OrderedMaps, boxes: d.boxes}
	if o.NoCopyStrings && len(data) > 0 {
		d.arena = unsafe.String(&data[0], len(data)) // strAt never copies
	}
	return nil
}

type decodeState struct {
	data  []byte
	arena string // a copy of data that decoded strings share; made on first use
	off   int
	depth int
	opts  DecOptions
	boxes boxes // chunks that decoded values are boxed in (box.go)
	// ordered makes maps of the generic model decode as Map: set by
	// DecOptions.OrderedMaps, and while decoding into a Map.
	ordered bool
	// watch (UnmarshalRecord) makes the decoder note in suspect any value
	// that could break a rule of the atproto data model: a float, an
	// integer outside int64, a BLAKE3 link, a key $link or $bytes, a $type
	// that is not a non-empty string other than "blob". Only the ordered
	// model's maps (orderedMap) watch their keys.
	watch, suspect bool
}

// strAt returns the n bytes of input that end at offset end as a string.
// All strings of one decode share a single copy of the input, so text
// strings and map keys cost no allocation each; the price is that any
// string kept from the result keeps that copy alive.
func (d *decodeState) strAt(end, n int) string {
	if len(d.arena) != len(d.data) {
		d.arena = string(d.data)
	}
	return d.arena[end-n : end]
}

// peek returns the next byte of input, or 0xff (a break code, which value
// refuses) at the end.
func (d *decodeState) peek() byte {
	if d.off < len(d.data) {
		return d.data[d.off]
	}
	return 0xff
}

func (d *decodeState) fail(rule Rule, off int, detail string) error {
	return &SyntaxError{Rule: rule, Offset: off, Detail: detail}
}

func (d *decodeState) end() error {
	if d.off != len(d.data) {
		return d.fail(RuleTrailingBytes, d.off, "")
	}
	return nil
}

// head reads the head of the next item. For major type 7 it returns the
// additional information in info and reads no argument.
func (d *decodeState) head() (major, info byte, arg uint64, start int, err error) {
	start = d.off
	if d.off >= len(d.data) {
		return 0, 0, 0, start, d.fail(RuleTruncated, start, "")
	}
	b := d.data[d.off]
	d.off++
	major, info = b>>5, b&0x1f
	if major == 7 {
		return major, info, 0, start, nil
	}
	if info < 24 {
		return major, info, uint64(info), start, nil
	}
	if arg, err = d.longArg(info, start); err != nil {
		return 0, 0, 0, start, err
	}
	return major, info, arg, start, nil
}

// longArg reads the argument that follows the head byte at start, whose
// additional information info is 24 or more, checks that it is in its
// shortest form and moves past it.
func (d *decodeState) longArg(info byte, start int) (uint64, error) {
	switch {
	case info == 31:
		return 0, d.fail(RuleIndefinite, start, "")
	case info > 27:
		return 0, d.fail(RuleReserved, start, "")
	}
	p := d.data[start+1:]
	var arg, min uint64
	switch info {
	case 24:
		if len(p) < 1 {
			return 0, d.fail(RuleTruncated, start, "")
		}
		arg, min = uint64(p[0]), 24
	case 25:
		if len(p) < 2 {
			return 0, d.fail(RuleTruncated, start, "")
		}
		arg, min = uint64(binary.BigEndian.Uint16(p)), 1<<8
	case 26:
		if len(p) < 4 {
			return 0, d.fail(RuleTruncated, start, "")
		}
		arg, min = uint64(binary.BigEndian.Uint32(p)), 1<<16
	default:
		if len(p) < 8 {
			return 0, d.fail(RuleTruncated, start, "")
		}
		arg, min = binary.BigEndian.Uint64(p), 1<<32
	}
	if arg < min {
		return 0, d.fail(RuleNonShortest, start, "")
	}
	d.off = start + 1 + 1<<(info-24)
	return arg, nil
}

// payload returns the n bytes after a string head, checking they exist
// before anything is allocated.
func (d *decodeState) payload(n uint64, start int) ([]byte, error) {
	if n > uint64(len(d.data)-d.off) {
		return nil, d.fail(RuleTruncated, start, "length beyond end of input")
	}
	b := d.data[d.off : d.off+int(n)]
	d.off += int(n)
	return b, nil
}

func (d *decodeState) text(n uint64, start int) ([]byte, error) {
	b, err := d.payload(n, start)
	if err != nil {
		return nil, err
	}
	if !validUTF8Wide(b) {
		return nil, d.fail(RuleUTF8, start, "")
	}
	return b, nil
}

// container checks a container's declared length against the limits and
// against the bytes left (every element takes at least one byte), and
// enters one level of nesting.
func (d *decodeState) container(n uint64, perElem uint64, start int) (int, error) {
	if n > uint64(d.opts.MaxContainerLen) {
		return 0, d.fail(RuleContainerLen, start, "")
	}
	if n*perElem > uint64(len(d.data)-d.off) {
		return 0, d.fail(RuleTruncated, start, "container longer than the input")
	}
	d.depth++
	if d.depth > d.opts.MaxDepth {
		return 0, d.fail(RuleDepth, start, "")
	}
	return int(n), nil
}

// mapKey reads one map key and checks it sorts strictly after prev.
func (d *decodeState) mapKey(prev []byte, first bool) ([]byte, error) {
	start := d.off
	var k []byte
	if start < len(d.data) && d.data[start]-0x60 < 24 && int(d.data[start]-0x60) < len(d.data)-start {
		// Fast path for the usual key, a text string shorter than 24
		// bytes, whose head is one byte and always shortest.
		n := int(d.data[start] - 0x60)
		k = d.data[start+1 : start+1+n]
		d.off = start + 1 + n
		if !validText(k) {
			return nil, d.fail(RuleUTF8, start, "")
		}
	} else {
		major, _, n, start, err := d.head()
		if err != nil {
			return nil, err
		}
		if major != 3 {
			return nil, d.fail(RuleMapKeyType, start, "")
		}
		if k, err = d.text(n, start); err != nil {
			return nil, err
		}
	}
	if !first {
		switch c := compareKeys(prev, k); {
		case c == 0:
			return nil, d.fail(RuleMapKeyDuplicate, start, string(k))
		case c > 0:
			return nil, d.fail(RuleMapKeyOrder, start, string(k))
		}
	}
	return k, nil
}

// compareKeys orders map keys length-first, then bytewise, as DRISL and
// dag-cbor require.
func compareKeys(a, b []byte) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return bytes.Compare(a, b)
}

// link reads the content of tag 42 after its head.
func (d *decodeState) link(start int) (cid.Cid, error) {
	major, _, n, bstart, err := d.head()
	if err != nil {
		return cid.Undef, err
	}
	if major != 2 {
		return cid.Undef, d.fail(RuleCID, start, "tag 42 content is not a byte string")
	}
	b, err := d.payload(n, bstart)
	if err != nil {
		return cid.Undef, err
	}
	if why := checkCIDBytes(b, d.opts.AllowBLAKE3); why != "" {
		return cid.Undef, d.fail(RuleCID, start, why)
	}
	if b[3] == HashSHA256 {
		// checkCIDBytes has read the whole CID: 0x01, a one-byte codec,
		// the sha2-256 multihash of 32 bytes. NewCidV1 writes the same
		// string that cid.Cast would return, without parsing it again.
		return cid.NewCidV1(uint64(b[2]), b[3:]), nil
	}
	d.suspect = true
	c, err := cid.Cast(b[1:])
	if err != nil {
		return cid.Undef, d.fail(RuleCID, start, err.Error())
	}
	return c, nil
}

// tag checks a tag head: only 42, in its one-byte-argument form.
func (d *decodeState) tag(arg uint64, start int) error {
	if arg != 42 {
		return d.fail(RuleTag, start, "")
	}
	if d.data[start] != 0xd8 {
		return d.fail(RuleNonShortest, start, "")
	}
	return nil
}

// simple decodes a major type 7 item: false, true, null or a float64.
func (d *decodeState) simple(info byte, start int) (any, error) {
	switch info {
	case 20:
		return false, nil
	case 21:
		return true, nil
	case 22:
		return nil, nil
	case 27:
		if len(d.data)-d.off < 8 {
			return nil, d.fail(RuleTruncated, start, "")
		}
		bits := binary.BigEndian.Uint64(d.data[d.off:])
		d.off += 8
		f := math.Float64frombits(bits)
		if math.IsNaN(f) || math.IsInf(f, 0) || bits == 1<<63 {
			return nil, d.fail(RuleFloatValue, start, "")
		}
		d.suspect = true
		return f, nil
	case 25, 26:
		return nil, d.fail(RuleFloatWidth, start, "")
	case 31:
		return nil, d.fail(RuleIndefinite, start, "")
	case 28, 29, 30:
		return nil, d.fail(RuleReserved, start, "")
	}
	return nil, d.fail(RuleSimple, start, "")
}

// value decodes the next item into the generic value model. Items whose
// head is one byte (small integers, short strings, arrays and maps, simple
// values) take the fast path here; the others go through head.
func (d *decodeState) value() (any, error) {
	start := d.off
	if start >= len(d.data) {
		return nil, d.fail(RuleTruncated, start, "")
	}
	b := d.data[start]
	major := b >> 5
	var arg uint64
	switch {
	case b&0x1f < 24 && major != 7:
		arg = uint64(b & 0x1f)
		d.off = start + 1
	case b&0x1f == 24 && major != 7 && start+1 < len(d.data) && d.data[start+1] >= 24:
		// A one-byte argument in its shortest form (strings of 24 to 255
		// bytes, integers up to 255, tag 42), without the call to longArg.
		arg = uint64(d.data[start+1])
		d.off = start + 2
	case b == 0xf6:
		d.off = start + 1
		return nil, nil
	case b == 0xf4:
		d.off = start + 1
		return false, nil
	case b == 0xf5:
		d.off = start + 1
		return true, nil
	case major == 7:
		d.off = start + 1
		return d.simple(b&0x1f, start)
	default:
		var err error
		if arg, err = d.longArg(b&0x1f, start); err != nil {
			return nil, err
		}
	}
	switch major {
	case 0:
		if arg > math.MaxInt64 {
			d.suspect = true
			return arg, nil
		}
		return d.boxInt(int64(arg)), nil
	case 1:
		if arg > math.MaxInt64 {
			d.suspect = true
			return NegInt(arg), nil
		}
		return d.boxInt(-1 - int64(arg)), nil
	case 2:
		b, err := d.payload(arg, start)
		if err != nil {
			return nil, err
		}
		return append([]byte{}, b...), nil
	case 3:
		if arg > uint64(len(d.data)-d.off) {
			return nil, d.fail(RuleTruncated, start, "length beyond end of input")
		}
		end := d.off + int(arg)
		if !validText(d.data[d.off:end]) {
			return nil, d.fail(RuleUTF8, start, "")
		}
		d.off = end
		return d.boxString(d.strAt(end, int(arg))), nil
	case 4:
		n, err := d.container(arg, 1, start)
		if err != nil {
			return nil, err
		}
		out := d.array(n)
		for i := range out {
			if out[i], err = d.value(); err != nil {
				return nil, err
			}
		}
		d.depth--
		return d.boxSlice(out), nil
	case 5:
		if d.ordered {
			m, err := d.orderedMap(arg, start)
			if err != nil {
				return nil, err
			}
			return d.boxMap(m), nil
		}
		return d.genericMap(arg, start)
	}
	if err := d.tag(arg, start); err != nil {
		return nil, err
	}
	return d.link(start)
}

// genericMap decodes a map, whose head at start declared n pairs, into a
// map[string]any.
func (d *decodeState) genericMap(arg uint64, start int) (any, error) {
	n, err := d.container(arg, 2, start)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, n)
	if n > 0 && len(d.arena) != len(d.data) {
		d.arena = string(d.data)
	}
	var prev string
	for i := 0; i < n; i++ {
		// Fast path for the usual key, a text string shorter than 24
		// bytes, whose head is one byte and always shortest.
		ko := d.off
		var k string
		if ko < len(d.data) && d.data[ko]-0x60 < 24 && int(d.data[ko]-0x60) < len(d.data)-ko {
			end := ko + 1 + int(d.data[ko]-0x60)
			if !shortASCII(d.data, ko+1, end) && !validText(d.data[ko+1:end]) {
				return nil, d.fail(RuleUTF8, ko, "")
			}
			k = d.arena[ko+1 : end]
			d.off = end
		} else if ko+1 < len(d.data) && d.data[ko] == 0x78 && d.data[ko+1] >= 24 && int(d.data[ko+1]) <= len(d.data)-ko-2 {
			// A key of 24 to 255 bytes, whose head is two bytes.
			end := ko + 2 + int(d.data[ko+1])
			if !validText(d.data[ko+2 : end]) {
				return nil, d.fail(RuleUTF8, ko, "")
			}
			k = d.arena[ko+2 : end]
			d.off = end
		} else {
			kb, err := d.mapKey(nil, true)
			if err != nil {
				return nil, err
			}
			k = d.arena[d.off-len(kb) : d.off]
		}
		if i > 0 && (len(k) < len(prev) || len(k) == len(prev) && k <= prev) {
			if k == prev {
				return nil, d.fail(RuleMapKeyDuplicate, ko, k)
			}
			return nil, d.fail(RuleMapKeyOrder, ko, k)
		}
		// Null, booleans and integers below 24, frequent values, without
		// the call.
		var v any
		switch b := d.peek(); {
		case b < 0x18:
			d.off++
			v = int64(b) // boxed without allocating (below 256)
		case b == 0xf6:
			d.off++
		case b == 0xf4:
			d.off++
			v = false
		case b == 0xf5:
			d.off++
			v = true
		case b-0x60 < 24 && int(b-0x60) < len(d.data)-d.off:
			// A text string shorter than 24 bytes.
			o, n := d.off+1, int(b-0x60)
			if !validText(d.data[o : o+n]) {
				return nil, d.fail(RuleUTF8, d.off, "")
			}
			d.off = o + n
			v = d.boxString(d.arena[o : o+n])
		default:
			var err error
			if v, err = d.value(); err != nil {
				return nil, err
			}
		}
		out[k] = v
		prev = k
	}
	d.depth--
	return out, nil
}

// orderedMap decodes a map, whose head at start declared arg pairs, into a
// Map. Its loop is genericMap's, storing entries instead of map elements,
// and the two are kept in step by hand: one loop for both, choosing per
// pair, cost the default model about 170,000 more instructions per decode
// of the twitter-like document in bench/ (callgrind).
func (d *decodeState) orderedMap(arg uint64, start int) (Map, error) {
	n, err := d.container(arg, 2, start)
	if err != nil {
		return nil, err
	}
	out := d.entries(n)
	if n > 0 && len(d.arena) != len(d.data) {
		d.arena = string(d.data)
	}
	var prev string
	for i := 0; i < n; i++ {
		// Fast path for the usual key, a text string shorter than 24
		// bytes, whose head is one byte and always shortest.
		ko := d.off
		var k string
		if ko < len(d.data) && d.data[ko]-0x60 < 24 && int(d.data[ko]-0x60) < len(d.data)-ko {
			end := ko + 1 + int(d.data[ko]-0x60)
			if !shortASCII(d.data, ko+1, end) && !validText(d.data[ko+1:end]) {
				return nil, d.fail(RuleUTF8, ko, "")
			}
			k = d.arena[ko+1 : end]
			d.off = end
		} else if ko+1 < len(d.data) && d.data[ko] == 0x78 && d.data[ko+1] >= 24 && int(d.data[ko+1]) <= len(d.data)-ko-2 {
			// A key of 24 to 255 bytes, whose head is two bytes.
			end := ko + 2 + int(d.data[ko+1])
			if !validText(d.data[ko+2 : end]) {
				return nil, d.fail(RuleUTF8, ko, "")
			}
			k = d.arena[ko+2 : end]
			d.off = end
		} else {
			kb, err := d.mapKey(nil, true)
			if err != nil {
				return nil, err
			}
			k = d.arena[d.off-len(kb) : d.off]
		}
		if i > 0 && (len(k) < len(prev) || len(k) == len(prev) && k <= prev) {
			if k == prev {
				return nil, d.fail(RuleMapKeyDuplicate, ko, k)
			}
			return nil, d.fail(RuleMapKeyOrder, ko, k)
		}
		// Null, booleans and integers below 24, frequent values, without
		// the call.
		var v any
		switch b := d.peek(); {
		case b < 0x18:
			d.off++
			v = int64(b) // boxed without allocating (below 256)
		case b == 0xf6:
			d.off++
		case b == 0xf4:
			d.off++
			v = false
		case b == 0xf5:
			d.off++
			v = true
		case b-0x60 < 24 && int(b-0x60) < len(d.data)-d.off:
			// A text string shorter than 24 bytes.
			o, n := d.off+1, int(b-0x60)
			if !validText(d.data[o : o+n]) {
				return nil, d.fail(RuleUTF8, d.off, "")
			}
			d.off = o + n
			v = d.boxString(d.arena[o : o+n])
		default:
			var err error
			if v, err = d.value(); err != nil {
				return nil, err
			}
		}
		if d.watch && len(k) > 0 && k[0] == '$' {
			d.watchKey(k, v)
		}
		out[i] = Entry{Key: k, Value: v}
		prev = k
	}
	d.depth--
	return out, nil
}

// watchKey notes in d.suspect a map entry, whose key k starts with '$',
// that could break a rule of the atproto data model (see checkMapKeys).
func (d *decodeState) watchKey(k string, v any) {
	switch k {
	case "$link", "$bytes":
		d.suspect = true
	case "$type":
		if s, ok := v.(string); !ok || s == "" || s == "blob" {
			d.suspect = true
		}
	}
}

// skip validates the next item without building it.
func (d *decodeState) skip() error {
	major, info, arg, start, err := d.head()
	if err != nil {
		return err
	}
	switch major {
	case 0, 1:
		return nil
	case 2:
		_, err := d.payload(arg, start)
		return err
	case 3:
		_, err := d.text(arg, start)
		return err
	case 4:
		n, err := d.container(arg, 1, start)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if err := d.skip(); err != nil {
				return err
			}
		}
		d.depth--
		return nil
	case 5:
		n, err := d.container(arg, 2, start)
		if err != nil {
			return err
		}
		var prev []byte
		for i := 0; i < n; i++ {
			k, err := d.mapKey(prev, i == 0)
			if err != nil {
				return err
			}
			if err := d.skip(); err != nil {
				return err
			}
			prev = k
		}
		d.depth--
		return nil
	case 6:
		if err := d.tag(arg, start); err != nil {
			return err
		}
		_, err := d.link(start)
		return err
	}
	_, err = d.simple(info, start)
	return err
}
