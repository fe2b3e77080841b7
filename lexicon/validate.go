package lexicon

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
)

// DefaultMaxDepth is the nesting limit of validated data when
// ValidateOptions.MaxDepth is zero.
const DefaultMaxDepth = 128

// ValidateOptions tunes validation. The zero value means the defaults: open
// unions are lenient, legacy blobs and lenient datetimes are rejected.
type ValidateOptions struct {
	// StrictUnions rejects a member of an open union whose $type is neither
	// listed in the union nor defined in the catalog. By default such a
	// member is accepted unchecked (members whose $type the catalog knows are
	// always checked against it). Unlisted types are looked up in the catalog
	// only, never through the Resolver.
	StrictUnions bool
	// AllowLegacyBlob accepts the pre-2023 blob form {"cid": string,
	// "mimeType": string}.
	AllowLegacyBlob bool
	// LenientDatetime accepts datetimes that syntax.ParseDatetimeLenient
	// accepts (for example without a timezone).
	LenientDatetime bool
	// MaxDepth limits the nesting of arrays and objects: the validated
	// value (a record, a body) is level 1, a field holding an object or
	// array level 2, and so on. Zero means DefaultMaxDepth.
	MaxDepth int
}

// validator carries the state of one validation call.
// It is passed by value: it is small, and a pointer to it would escape to
// the heap through the recursive calls.
type validator struct {
	ctx             context.Context
	cat             *Catalog
	maxDepth        int
	strictUnions    bool
	allowLegacyBlob bool
	lenientDatetime bool
}

func (c *Catalog) newValidator(ctx context.Context, opts *ValidateOptions) validator {
	d := opts.MaxDepth
	if d <= 0 {
		d = DefaultMaxDepth
	}
	return validator{ctx: ctx, cat: c, maxDepth: d, strictUnions: opts.StrictUnions,
		allowLegacyBlob: opts.AllowLegacyBlob, lenientDatetime: opts.LenientDatetime}
}

// ValidateRecord validates a record of the given collection (an NSID whose
// main definition is a record) in the data model that drisl decodes: nil,
// bool, int64 (uint64, drisl.NegInt), string, []byte, cid.Cid, []any, and
// maps as map[string]any or, in drisl's ordered model, drisl.Map (see
// object), mixed freely. The record's $type must equal collection. If rkey is not
// "", it must be a valid record key of the record's key type (tid, nsid,
// literal:<value> or any). Data faults are *ValidationError (wrapping
// ErrInvalidData) with the path of the fault; a collection missing from the
// catalog is ErrNotFound.
func (c *Catalog) ValidateRecord(ctx context.Context, collection, rkey string, record any, opts ValidateOptions) error {
	if strings.Contains(collection, "#") {
		return fmt.Errorf("%w: collection %s has a fragment", ErrWrongKind, quote(collection))
	}
	n, err := c.lookup(ctx, collection)
	if err != nil {
		return err
	}
	if n.kind != kRecord {
		return fmt.Errorf("%w: %s is a %s, not a record", ErrWrongKind, collection, kindName(n.kind))
	}
	m, ok := asObject(record)
	if !ok {
		return fail(ConstraintType, "record must be an object, not "+typeName(record)).finish()
	}
	if t, present := m.get("$type"); t != collection {
		if !present {
			return fail(ConstraintRecordType, "missing $type").field("$type").finish()
		}
		return fail(ConstraintRecordType, fmt.Sprintf("$type must be %q", collection)).field("$type").finish()
	}
	if rkey != "" {
		if e := checkRecordKey(n, rkey); e != nil {
			return e.finish()
		}
	}
	v := c.newValidator(ctx, &opts)
	if e := v.object(n.body, m, 1); e != nil {
		return e.finish()
	}
	return nil
}

func checkRecordKey(n *node, rkey string) *verr {
	if n.key == keyTID && fastTID(rkey) {
		return nil // a TID is a record key
	}
	if err := fmtRecordKey.check(rkey, false); err != nil {
		return &verr{constraint: ConstraintRecordKey, detail: "invalid record key " + quote(rkey), err: err}
	}
	switch n.key {
	case keyTID:
		if err := fmtTID.check(rkey, false); err != nil {
			return &verr{constraint: ConstraintRecordKey, detail: "record key " + quote(rkey) + " is not a TID", err: err}
		}
	case keyNSID:
		if err := fmtNSID.check(rkey, false); err != nil {
			return &verr{constraint: ConstraintRecordKey, detail: "record key " + quote(rkey) + " is not an NSID", err: err}
		}
	case keyLiteral:
		if rkey != n.literal {
			return fail(ConstraintRecordKey, fmt.Sprintf("record key must be %q, not %s", n.literal, quote(rkey)))
		}
	}
	return nil
}

// Validate validates data against any data definition named by ref ("nsid"
// for main, "nsid#name"): an object, a string, a union... For a record
// definition it validates the record's object without the $type and key
// checks of ValidateRecord.
func (c *Catalog) Validate(ctx context.Context, ref string, data any, opts ValidateOptions) error {
	n, err := c.lookup(ctx, strings.TrimSuffix(ref, "#main"))
	if err != nil {
		return err
	}
	switch n.kind {
	case kRecord:
		n = n.body
	case kQuery, kProcedure, kSubscription, kPermissionSet:
		return fmt.Errorf("%w: %s is a %s", ErrWrongKind, ref, kindName(n.kind))
	}
	v := c.newValidator(ctx, &opts)
	if e := v.value(n, data, 1); e != nil {
		return e.finish()
	}
	return nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case int64, int, int32, uint64, drisl.NegInt:
		return "integer"
	case float64, float32:
		return "float"
	case string:
		return "string"
	case []byte:
		return "bytes"
	case cid.Cid, *cid.Cid:
		return "cid-link"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case drisl.Map:
		if !v.(drisl.Map).InOrder() {
			return "drisl.Map with keys out of DRISL order"
		}
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func wrongType(want string, got any) *verr {
	return fail(ConstraintType, "expected "+want+", got "+typeName(got))
}

// value validates v against n at nesting depth.
func (v validator) value(n *node, val any, depth int) *verr {
	switch n.kind {
	case kString:
		s, ok := val.(string)
		if !ok {
			return wrongType("string", val)
		}
		return v.str(n, s)
	case kObject:
		m, ok := asObject(val)
		if !ok {
			return wrongType("object", val)
		}
		return v.object(n, m, depth)
	case kUnion:
		return v.union(n, val, "", depth)
	case kInteger:
		return integer(n, val)
	case kBoolean:
		b, ok := val.(bool)
		if !ok {
			return wrongType("boolean", val)
		}
		if n.constBool != nil && b != *n.constBool {
			return fail(ConstraintConst, fmt.Sprintf("must be %v", *n.constBool))
		}
		return nil
	case kArray:
		a, ok := val.([]any)
		if !ok {
			return wrongType("array", val)
		}
		if depth > v.maxDepth {
			return fail(ConstraintDepth, fmt.Sprintf("nested deeper than %d", v.maxDepth))
		}
		if n.minLen >= 0 && int64(len(a)) < n.minLen {
			return fail(ConstraintMinLength, fmt.Sprintf("array has %d elements, fewer than %d", len(a), n.minLen))
		}
		if n.maxLen >= 0 && int64(len(a)) > n.maxLen {
			return fail(ConstraintMaxLength, fmt.Sprintf("array has %d elements, more than %d", len(a), n.maxLen))
		}
		for i, item := range a {
			if e := v.value(n.items, item, depth+1); e != nil {
				return e.index(i)
			}
		}
		return nil
	case kBytes:
		b, ok := val.([]byte)
		if !ok {
			return wrongType("bytes", val)
		}
		if n.minLen >= 0 && int64(len(b)) < n.minLen {
			return fail(ConstraintMinLength, fmt.Sprintf("%d bytes, fewer than %d", len(b), n.minLen))
		}
		if n.maxLen >= 0 && int64(len(b)) > n.maxLen {
			return fail(ConstraintMaxLength, fmt.Sprintf("%d bytes, more than %d", len(b), n.maxLen))
		}
		return nil
	case kCIDLink:
		if !isCID(val) {
			return wrongType("cid-link", val)
		}
		return nil
	case kBlob:
		return v.blob(n, val)
	case kNull:
		if val != nil {
			return wrongType("null", val)
		}
		return nil
	case kUnknown:
		m, ok := asObject(val)
		if !ok {
			return wrongType("object (unknown)", val)
		}
		if t, _ := m.get("$type"); t == "blob" {
			return fail(ConstraintType, "expected object (unknown), got blob")
		}
		return nil
	case kToken:
		return fail(ConstraintToken, fmt.Sprintf("%s is a token and cannot hold data", n.ref))
	case kRecord: // referenced as data: its object, with its $type
		m, ok := asObject(val)
		if !ok {
			return wrongType("object", val)
		}
		// Lexicon spec, ref: "This does not apply to references to
		// `record` types, which always include the `$type` discriminator."
		t, present := m.get("$type")
		if !present {
			return fail(ConstraintRecordType, "missing $type of record "+quote(n.ref)).field("$type")
		}
		if t != n.ref {
			return fail(ConstraintRecordType, fmt.Sprintf("$type must be %q", n.ref)).field("$type")
		}
		return v.object(n.body, m, depth)
	}
	return fail(ConstraintType, "cannot validate data against a "+kindName(n.kind))
}

func isCID(val any) bool {
	switch c := val.(type) {
	case cid.Cid:
		return c.Defined()
	case *cid.Cid:
		return c != nil && c.Defined()
	}
	return false
}

func (v validator) str(n *node, s string) *verr {
	if n.minLen >= 0 && int64(len(s)) < n.minLen {
		return fail(ConstraintMinLength, fmt.Sprintf("%d UTF-8 bytes, fewer than %d", len(s), n.minLen))
	}
	if n.maxLen >= 0 && int64(len(s)) > n.maxLen {
		return fail(ConstraintMaxLength, fmt.Sprintf("%d UTF-8 bytes, more than %d", len(s), n.maxLen))
	}
	// A string has at most as many graphemes as bytes, and at most
	// graphemeBound: segment only when neither bound decides.
	if n.maxGraphemes >= 0 && int64(len(s)) > n.maxGraphemes && graphemeBound(s) > n.maxGraphemes {
		if g := graphemes(s); g > n.maxGraphemes {
			return fail(ConstraintMaxGraphemes, fmt.Sprintf("%d graphemes, more than %d", g, n.maxGraphemes))
		}
	}
	if n.minGraphemes >= 0 {
		if int64(len(s)) < n.minGraphemes {
			return fail(ConstraintMinGraphemes, fmt.Sprintf("%d bytes, fewer than %d graphemes", len(s), n.minGraphemes))
		}
		if g := graphemes(s); g < n.minGraphemes {
			return fail(ConstraintMinGraphemes, fmt.Sprintf("%d graphemes, fewer than %d", g, n.minGraphemes))
		}
	}
	if n.enumStr != nil {
		if _, ok := n.enumStr[s]; !ok {
			return fail(ConstraintEnum, quote(s)+" is not one of the allowed values")
		}
	}
	if n.constStr != nil && s != *n.constStr {
		return fail(ConstraintConst, fmt.Sprintf("must be %q", *n.constStr))
	}
	if n.format != fmtNone {
		if err := n.format.check(s, v.lenientDatetime); err != nil {
			return &verr{constraint: ConstraintFormat, detail: fmt.Sprintf("not a valid %s", n.format), err: err}
		}
	}
	return nil
}

// toInt reads an integer of the data model.
func toInt(val any) (n int64, ok, inRange bool) {
	switch x := val.(type) {
	case int64:
		return x, true, true
	case int:
		return int64(x), true, true
	case int32:
		return int64(x), true, true
	case uint64:
		if x > math.MaxInt64 {
			return 0, true, false
		}
		return int64(x), true, true
	case drisl.NegInt:
		return 0, true, false
	}
	return 0, false, false
}

func integer(n *node, val any) *verr {
	x, ok, inRange := toInt(val)
	if !ok {
		return wrongType("integer", val)
	}
	if !inRange {
		return fail(ConstraintType, "integer outside the signed 64-bit range of the data model")
	}
	if n.hasMin && x < n.minimum {
		return fail(ConstraintMinimum, fmt.Sprintf("%d is less than %d", x, n.minimum))
	}
	if n.hasMax && x > n.maximum {
		return fail(ConstraintMaximum, fmt.Sprintf("%d is more than %d", x, n.maximum))
	}
	if n.enumInt != nil {
		found := false
		for _, e := range n.enumInt {
			if e == x {
				found = true
				break
			}
		}
		if !found {
			return fail(ConstraintEnum, strconv.FormatInt(x, 10)+" is not one of the allowed values")
		}
	}
	if n.constInt != nil && x != *n.constInt {
		return fail(ConstraintConst, fmt.Sprintf("must be %d", *n.constInt))
	}
	return nil
}

// maxMergedProps bounds the properties of an object whose drisl.Map
// values object finds by one merge walk (its bitmask of found properties
// is a uint64).
const maxMergedProps = 64

func (v validator) object(n *node, m object, depth int) *verr {
	if depth > v.maxDepth {
		return fail(ConstraintDepth, fmt.Sprintf("nested deeper than %d", v.maxDepth))
	}
	// A Map's entries are in DRISL order (asObject checked), as are the
	// properties in keyOrder: one walk along both finds every property's
	// entry, instead of a bisection of the entries per property. The
	// checks below then run in the properties' order either way.
	var idx [maxMergedProps]uint16 // entry index of each found property
	var found uint64
	merged := m.m == nil && n.keyOrder != nil && len(m.o) < 1<<16
	if merged {
		e, o, props := 0, m.o, n.props
		for _, pi := range n.keyOrder {
			name := props[pi].name
			// Skip the entries before name: most differ in length, and
			// of those that do not, most are name.
			for ; e < len(o); e++ {
				k := o[e].Key
				if len(k) < len(name) {
					continue
				}
				if len(k) == len(name) {
					if k == name {
						idx[pi], found = uint16(e), found|1<<pi
						e++
						break
					}
					if k < name {
						continue
					}
				}
				break
			}
		}
	}
	for i := range n.props {
		p := &n.props[i]
		var val any
		var present bool
		if merged {
			if present = found>>i&1 != 0; present {
				val = m.o[idx[i]].Value
			}
		} else {
			val, present = m.get(p.name)
		}
		if !present {
			if p.required {
				return fail(ConstraintRequired, "required field missing").field(p.name)
			}
			continue
		}
		if val == nil && p.n.kind != kNull {
			if p.nullable {
				continue
			}
			return fail(ConstraintNullable, "null in a non-nullable field").field(p.name)
		}
		if e := v.value(p.n, val, depth+1); e != nil {
			return e.field(p.name)
		}
	}
	return nil
}

// union validates val against union n. typ, if not "", is the member type
// given out of band (the header of a subscription message); otherwise it is
// the $type of val.
func (v validator) union(n *node, val any, typ string, depth int) *verr {
	m, ok := asObject(val)
	if !ok {
		return wrongType("object (union)", val)
	}
	if typ == "" {
		t, present := m.get("$type")
		if !present {
			return fail(ConstraintUnion, "union member needs a $type").field("$type")
		}
		if typ, ok = t.(string); !ok || typ == "" {
			return fail(ConstraintUnion, "$type must be a non-empty string").field("$type")
		}
	}
	if member := n.variants[typ]; member != nil {
		return v.member(member, m, val, depth)
	}
	if n.closed {
		return fail(ConstraintClosed, "$type "+quote(typ)+" is not a member of the closed union").field("$type")
	}
	member, err := v.cat.lookupLocal(v.ctx, strings.TrimSuffix(typ, "#main"))
	if err != nil || member == nil {
		if v.strictUnions {
			return fail(ConstraintUnknownType, "$type "+quote(typ)+" is not in the catalog").field("$type")
		}
		return nil
	}
	switch member.kind {
	case kRecord, kObject:
	default:
		if v.strictUnions {
			return fail(ConstraintUnknownType, fmt.Sprintf("$type %s is a %s, not an object", quote(typ), kindName(member.kind))).field("$type")
		}
		return nil
	}
	return v.member(member, m, val, depth)
}

// member validates val, whose object is m, against the union member n,
// whose $type the union has checked (or was given out of band): a record
// member validates as its object.
func (v validator) member(n *node, m object, val any, depth int) *verr {
	if n.kind == kRecord {
		return v.object(n.body, m, depth)
	}
	return v.value(n, val, depth)
}

func (v validator) blob(n *node, val any) *verr {
	m, ok := asObject(val)
	if !ok {
		return wrongType("blob", val)
	}
	var mime string
	var size int64 = -1
	if t, present := m.get("$type"); present {
		if t != "blob" {
			return fail(ConstraintBlob, `blob $type must be "blob"`).field("$type")
		}
		if ref, _ := m.get("ref"); !isCID(ref) {
			return fail(ConstraintBlob, "blob ref must be a cid-link").field("ref")
		}
		mt, _ := m.get("mimeType")
		mime, ok = mt.(string)
		if !ok || mime == "" {
			return fail(ConstraintBlob, "blob mimeType must be a non-empty string").field("mimeType")
		}
		sz, _ := m.get("size")
		x, ok, inRange := toInt(sz)
		if !ok || !inRange || x < 0 {
			return fail(ConstraintBlob, "blob size must be a non-negative integer").field("size")
		}
		size = x
	} else {
		if !v.allowLegacyBlob {
			return fail(ConstraintBlob, `blob needs $type "blob" (legacy blobs not allowed)`)
		}
		cv, _ := m.get("cid")
		c, ok := cv.(string)
		if !ok {
			return fail(ConstraintBlob, "legacy blob cid must be a string").field("cid")
		}
		if err := checkCID(c); err != nil {
			return &verr{constraint: ConstraintBlob, detail: "legacy blob cid is not a CID", err: err, segs: []seg{{name: "cid"}}}
		}
		mt, _ := m.get("mimeType")
		mime, ok = mt.(string)
		if !ok || mime == "" {
			return fail(ConstraintBlob, "blob mimeType must be a non-empty string").field("mimeType")
		}
	}
	if n.accept != nil && !mimeAccepted(n.accept, mime) {
		return fail(ConstraintAccept, "MIME type "+quote(mime)+" not accepted").field("mimeType")
	}
	if n.maxSize >= 0 && size > n.maxSize {
		return fail(ConstraintMaxSize, fmt.Sprintf("%d bytes, more than %d", size, n.maxSize)).field("size")
	}
	return nil
}

// object is a map of the data model in either of drisl's generic models: a
// map[string]any, or a drisl.Map (the ordered model, which
// drisl.DecOptions.OrderedMaps decodes), whose keys must be in strict DRISL
// order (sorted length-first then bytewise, none twice), as drisl decodes
// them and as drisl.Marshal requires. A Map out of that order is not an
// object here (asObject refuses it): bisection could miss its keys, and a
// key given twice has no map[string]any equivalent. Both models validate
// the same data to the same result.
type object struct {
	m map[string]any // nil for a Map
	o drisl.Map
}

// asObject returns val as an object, and false if it is not a map or is a
// drisl.Map out of DRISL order.
func asObject(val any) (object, bool) {
	switch x := val.(type) {
	case map[string]any:
		return object{m: x}, true
	case drisl.Map:
		if !x.InOrder() {
			return object{}, false
		}
		return object{o: x}, true
	}
	return object{}, false
}

// get returns the value of key k and whether it is present.
func (m object) get(k string) (any, bool) {
	if m.m != nil {
		v, ok := m.m[k]
		return v, ok
	}
	return m.o.Get(k)
}
