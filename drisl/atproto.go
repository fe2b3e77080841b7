package drisl

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unsafe"

	"github.com/ipfs/go-cid"
)

// Rules of the atproto data model (https://atproto.com/specs/data-model),
// carried by *DataModelError. DRISL allows what they forbid; atproto records
// must follow them.
const (
	RuleJSON        Rule = "invalid atproto JSON"
	RuleTopLevel    Rule = "top level is not a map"
	RuleFloat       Rule = "float in atproto data"
	RuleInteger     Rule = "integer outside the int64 range"
	RuleTypeKey     Rule = "$type is not a non-empty string"
	RuleBlob        Rule = "malformed blob"
	RuleReservedKey Rule = "map uses the reserved key $link or $bytes"
	RuleLink        Rule = "link is not an atproto CID"
)

// ErrDataModel is wrapped by every DataModelError.
var ErrDataModel = errors.New("drisl: not valid atproto data")

// DataModelError reports data that breaks a rule of the atproto data model,
// or atproto JSON that cannot be read: the rule, the path to the offending
// value (e.g. "embed.images[0].image"), and for JSON input the byte offset
// (-1 when there is none).
type DataModelError struct {
	Rule   Rule
	Path   string
	Offset int
	Detail string
}

func (e *DataModelError) Error() string {
	s := "drisl: " + string(e.Rule)
	if e.Path != "" {
		s += " at " + e.Path
	}
	if e.Offset >= 0 {
		s += " (offset " + strconv.Itoa(e.Offset) + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns ErrDataModel.
func (e *DataModelError) Unwrap() error { return ErrDataModel }

func dmPath(err error, elem string) error {
	if de, ok := err.(*DataModelError); ok {
		switch {
		case de.Path == "":
			de.Path = elem
		case de.Path[0] == '[':
			de.Path = elem + de.Path
		default:
			de.Path = elem + "." + de.Path
		}
	}
	return err
}

// CheckAtproto checks that v, a value in the generic value model (as
// Unmarshal or UnmarshalJSON return it; maps may be map[string]any or Map,
// mixed freely), is valid atproto data: the top
// level is a map; no floats; integers fit int64; every $type is a non-empty
// string; every map with $type "blob" is a well-formed blob (see ParseBlob);
// no map has the reserved keys $link or $bytes (they would not survive the
// JSON form); every link is a CIDv1, dag-cbor or raw, sha2-256; strings and
// map keys are valid UTF-8 (RuleUTF8; Unmarshal never gives others, a value
// built in Go may hold them). Other Go
// values (structs, Blob, ...) are first encoded with Marshal and read back.
// It returns a *DataModelError, or the *EncodeError of a value that has no
// DRISL form at all (such as a Map whose keys are not in DRISL order).
func CheckAtproto(v any) error {
	v, err := generic(v)
	if err != nil {
		return err
	}
	switch v.(type) {
	case map[string]any, Map:
	default:
		return &DataModelError{Rule: RuleTopLevel, Offset: -1, Detail: fmt.Sprintf("%T", v)}
	}
	return checkValue(v, 0)
}

// CheckRecord checks v as CheckAtproto does and also that it is a record:
// its top-level $type is present (a non-empty string, whose NSID syntax
// package lexicon checks).
func CheckRecord(v any) error {
	v, err := generic(v)
	if err != nil {
		return err
	}
	if err := CheckAtproto(v); err != nil {
		return err
	}
	if _, ok := lookup(v, "$type"); !ok {
		return &DataModelError{Rule: RuleTypeKey, Path: "$type", Offset: -1, Detail: "a record needs $type"}
	}
	return nil
}

// UnmarshalRecord decodes data as an atproto record: it is
// DecOptions{OrderedMaps: true}.Unmarshal into an empty interface (with o's
// limits) followed by CheckRecord, in one pass. It returns the record as a
// Map and the first error of the two: a decode error (nil Map), else
// CheckRecord's verdict on the decoded value, the same error (nil Map when
// the top level is not a map). The decoder notes the few values that could
// break a data-model rule (floats, integers outside int64, BLAKE3 links,
// the keys $link and $bytes, a $type that is not a non-empty string or is
// "blob"); only a record holding one of them, or lacking $type, is walked
// again by CheckRecord, which decides and writes the error.
func (o DecOptions) UnmarshalRecord(data []byte) (Map, error) {
	o.OrderedMaps = true
	d, err := o.start(data)
	if err != nil {
		return nil, err
	}
	return d.record()
}

// RecordDecoder decodes records one after another, each as
// DecOptions.UnmarshalRecord does (same values, same errors), sharing
// allocations among them: the records' strings are cut from one copy of
// their bytes, and their entries and boxed values from shared chunks (see
// box.go), so a batch of small records costs a few allocations, not a few
// per record. The price: a Map it returned keeps the chunks it shares
// with other records alive. It is for records that are checked and
// dropped together, such as those of one request. A RecordDecoder is not
// safe for concurrent use.
type RecordDecoder struct {
	opts DecOptions
	d    decodeState
	text []byte // the unused rest of the chunk records' bytes are copied to
}

// recordTextChunk is the least size of a RecordDecoder's chunks of text.
const recordTextChunk = 16 << 10

// NewRecordDecoder returns a RecordDecoder with these options.
func (o DecOptions) NewRecordDecoder() *RecordDecoder {
	o.OrderedMaps = true
	r := &RecordDecoder{opts: o.withDefaults()}
	r.d.boxes.more = recordTextChunk // chunks for the records to come too
	return r
}

// Decode is UnmarshalRecord(data) with the decoder's options.
func (r *RecordDecoder) Decode(data []byte) (Map, error) {
	if err := r.d.reset(data, r.opts); err != nil {
		return nil, err
	}
	if len(data) > 0 && !r.opts.NoCopyStrings {
		// The decoded strings are cut from a copy of data in a chunk of
		// text that nothing writes to again (strAt and the map loops take
		// an arena as long as the input as that copy).
		if len(r.text) < len(data) {
			r.text = make([]byte, max(len(data), recordTextChunk))
		}
		n := copy(r.text, data)
		r.d.arena = unsafe.String(&r.text[0], n)
		r.text = r.text[n:]
	}
	m, err := r.d.record()
	r.d.data, r.d.arena = nil, ""
	return m, err
}

// record decodes the input as UnmarshalRecord does.
func (d *decodeState) record() (Map, error) {
	d.watch = true
	v, err := d.value()
	if err == nil {
		err = d.end()
	}
	if err != nil {
		return nil, err
	}
	m, isMap := v.(Map) // m is nil if v is not a map
	// Above DefaultMaxDepth, checkValue refuses what the decoder took.
	if d.suspect || !isMap || d.opts.MaxDepth > DefaultMaxDepth {
		return m, CheckRecord(v)
	}
	if _, ok := m.Get("$type"); !ok {
		return m, CheckRecord(v) // it writes the error
	}
	return m, nil
}

// generic returns v in the generic value model, converting other Go values
// through their DRISL encoding.
func generic(v any) (any, error) {
	switch m := v.(type) {
	case nil, bool, int64, uint64, NegInt, float64, string, []byte, cid.Cid, []any, map[string]any, Map:
		return v, nil
	case *Map:
		if m != nil {
			return *m, nil
		}
	}
	b, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	var g any
	if err := (DecOptions{AllowBLAKE3: true}).Unmarshal(b, &g); err != nil {
		return nil, err
	}
	return g, nil
}

func checkValue(v any, depth int) error {
	if depth > DefaultMaxDepth {
		return &DataModelError{Rule: RuleDepth, Offset: -1, Detail: "or a value that contains itself"}
	}
	switch v := v.(type) {
	case string:
		if !validUTF8StringWide(v) {
			return &DataModelError{Rule: RuleUTF8, Offset: -1}
		}
		return nil
	case nil, bool, int64, int, int32, []byte:
		return nil
	case float64, float32:
		return &DataModelError{Rule: RuleFloat, Offset: -1, Detail: fmt.Sprint(v)}
	case uint64:
		if v > math.MaxInt64 {
			return &DataModelError{Rule: RuleInteger, Offset: -1, Detail: strconv.FormatUint(v, 10)}
		}
		return nil
	case NegInt:
		return &DataModelError{Rule: RuleInteger, Offset: -1}
	case cid.Cid:
		if why := checkCIDString(v.KeyString(), false); why != "" {
			return &DataModelError{Rule: RuleLink, Offset: -1, Detail: why}
		}
		return nil
	case []any:
		for i, x := range v {
			if err := checkValue(x, depth+1); err != nil {
				return dmPath(err, indexElem(i))
			}
		}
		return nil
	case map[string]any:
		if err := checkMapKeys(v); err != nil {
			return err
		}
		for k, x := range v {
			if err := checkEntry(k, x, depth); err != nil {
				return err
			}
		}
		return nil
	case Map:
		// Get finds keys by bisection, which needs the order Marshal
		// requires anyway.
		if err := v.orderError(); err != nil {
			return err
		}
		if err := checkMapKeys(v); err != nil {
			return err
		}
		for _, e := range v {
			if err := checkEntry(e.Key, e.Value, depth); err != nil {
				return err
			}
		}
		return nil
	}
	// Any other Go value (Blob, a struct, ...): through its DRISL form.
	g, err := generic(v)
	if err != nil {
		return err
	}
	return checkValue(g, depth)
}

// checkEntry checks map key k for UTF-8 and its value x, one level below
// the map at depth, adding k to the path of an error.
func checkEntry(k string, x any, depth int) error {
	if !validUTF8String(k) {
		return &DataModelError{Rule: RuleUTF8, Offset: -1, Detail: "in a map key " + strconv.Quote(k)}
	}
	if err := checkValue(x, depth+1); err != nil {
		return dmPath(err, k)
	}
	return nil
}

// checkMapKeys applies the rules about a map's own keys: no reserved key, a
// $type that is a non-empty string, a well-formed blob. m is a
// map[string]any or a Map in DRISL order.
func checkMapKeys(m any) error {
	if err := reservedKey(m); err != nil {
		return err
	}
	if t, ok := lookup(m, "$type"); ok {
		s, ok := t.(string)
		if !ok || s == "" {
			return &DataModelError{Rule: RuleTypeKey, Path: "$type", Offset: -1, Detail: fmt.Sprintf("%T %v", t, t)}
		}
		if s == "blob" {
			if _, err := ParseBlob(m); err != nil {
				return err
			}
		}
	}
	return nil
}

// reservedKey returns a *DataModelError if m, a map[string]any or a Map in
// DRISL order, has the key $link or $bytes: it would read back from JSON as
// a link or bytes, not as this map.
func reservedKey(m any) error {
	for _, k := range [...]string{"$link", "$bytes"} {
		if _, ok := lookup(m, k); ok {
			return &DataModelError{Rule: RuleReservedKey, Path: k, Offset: -1}
		}
	}
	return nil
}
