package lexicon

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// kind is the kind of a compiled node.
type kind uint8

const (
	kBoolean kind = iota + 1
	kInteger
	kString
	kBytes
	kCIDLink
	kBlob
	kNull
	kUnknown
	kArray
	kObject // also params and the body of a record
	kUnion
	kToken
	kRecord
	kQuery
	kProcedure
	kSubscription
	kPermissionSet
)

// recordKey is the key type of a record.
type recordKey uint8

const (
	keyAny recordKey = iota
	keyTID
	keyNSID
	keyLiteral
)

// node is one compiled definition: references are replaced by the nodes
// they point to, enum sets are maps, and every bound is a plain integer (-1
// when absent).
type node struct {
	kind kind
	ref  string // full reference of a named definition, "" for inline ones

	// string (UTF-8 bytes), bytes, array (elements)
	minLen, maxLen int64
	// string
	minGraphemes, maxGraphemes int64
	format                     format
	enumStr                    map[string]struct{}
	constStr                   *string
	// integer
	minimum, maximum int64
	hasMin, hasMax   bool
	enumInt          []int64
	constInt         *int64
	// boolean
	constBool *bool
	// array
	items *node
	// object
	props     []prop // sorted by name
	nRequired int
	// keyOrder lists the indexes of props in DRISL key order (length
	// first, then bytewise): the order of a drisl.Map's entries, which
	// object walks alongside them. nil for objects of more than
	// maxMergedProps properties.
	keyOrder []uint8
	// union
	variants map[string]*node // by $type, with and without "#main"
	closed   bool
	// blob
	accept  []string
	maxSize int64
	// record
	key     recordKey
	literal string
	body    *node // record object
	// query, procedure, subscription
	params  *node
	input   *body
	output  *body
	message *node
	errors  []string
}

type prop struct {
	name     string
	n        *node
	required bool
	nullable bool
}

type body struct {
	encoding string
	schema   *node // nil: any payload of the encoding
}

// compiler compiles definitions into nodes. Named definitions are
// registered in pending before their contents are compiled, so recursive
// schemas (a thread view containing thread views) compile to cyclic trees.
type compiler struct {
	cat     *Catalog
	ctx     context.Context
	resolve bool // may ask the catalog's Resolver
	pending map[string]*node
}

// named returns the node of the named definition ref (a full reference),
// compiling it if needed. fromID and fromPath locate the reference, for
// error messages.
func (cc *compiler) named(ref, fromID, fromPath string) (*node, error) {
	if n, ok := cc.cat.nodes.Load(ref); ok {
		return n.(*node), nil
	}
	if n := cc.pending[ref]; n != nil {
		return n, nil
	}
	sf, def, err := cc.cat.findDef(cc.ctx, ref, cc.resolve)
	if err != nil {
		if fromPath == "" {
			return nil, err
		}
		var se *SchemaError
		if errors.As(err, &se) {
			return nil, err
		}
		return nil, &SchemaError{ID: fromID, Path: fromPath, Msg: fmt.Sprintf("unresolved reference %q: %v", ref, err)}
	}
	n := &node{ref: ref}
	cc.pending[ref] = n
	_, name := splitRef(ref)
	if err := cc.fill(n, def, sf.ID, "defs."+name); err != nil {
		return nil, err
	}
	return n, nil
}

// inline compiles a definition that appears inside another one. A ref
// returns the referenced node itself.
func (cc *compiler) inline(d *Def, id, path string) (*node, error) {
	if d.Type == "ref" {
		target, err := cc.named(fullRef(id, d.Ref), id, path+".ref")
		if err != nil {
			return nil, err
		}
		switch target.kind {
		case kQuery, kProcedure, kSubscription, kPermissionSet:
			return nil, &SchemaError{ID: id, Path: path + ".ref", Msg: fmt.Sprintf("reference %q points to a %s", d.Ref, kindName(target.kind))}
		}
		// A record validates as its object (see validator.value); target may
		// still be under construction when the schema is recursive, so keep
		// the pointer rather than its body.
		return target, nil
	}
	n := &node{}
	if err := cc.fill(n, d, id, path); err != nil {
		return nil, err
	}
	return n, nil
}

func orMinus(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}

// fill compiles d (checked by ParseSchema) into n.
func (cc *compiler) fill(n *node, d *Def, id, path string) error {
	n.minLen, n.maxLen = orMinus(d.MinLength), orMinus(d.MaxLength)
	n.minGraphemes, n.maxGraphemes = orMinus(d.MinGraphemes), orMinus(d.MaxGraphemes)
	n.maxSize = orMinus(d.MaxSize)
	switch d.Type {
	case "boolean":
		n.kind = kBoolean
		n.constBool = d.constBool
	case "integer":
		n.kind = kInteger
		if d.Minimum != nil {
			n.hasMin, n.minimum = true, *d.Minimum
		}
		if d.Maximum != nil {
			n.hasMax, n.maximum = true, *d.Maximum
		}
		n.enumInt = d.enumInt
		n.constInt = d.constInt
	case "string":
		n.kind = kString
		n.format = formatByName[d.Format]
		if d.enumStr != nil {
			n.enumStr = make(map[string]struct{}, len(d.enumStr))
			for _, s := range d.enumStr {
				n.enumStr[s] = struct{}{}
			}
		}
		n.constStr = d.constStr
	case "bytes":
		n.kind = kBytes
	case "cid-link":
		n.kind = kCIDLink
	case "blob":
		n.kind = kBlob
		n.accept = d.Accept
	case "null":
		n.kind = kNull
	case "unknown":
		n.kind = kUnknown
	case "token":
		n.kind = kToken
	case "array":
		n.kind = kArray
		items, err := cc.inline(d.Items, id, path+".items")
		if err != nil {
			return err
		}
		n.items = items
	case "object", "params":
		n.kind = kObject
		return cc.object(n, d, id, path)
	case "union":
		n.kind = kUnion
		n.closed = d.Closed != nil && *d.Closed
		n.variants = make(map[string]*node, 2*len(d.Refs))
		for i, r := range d.Refs {
			full := fullRef(id, r)
			rp := fmt.Sprintf("%s.refs[%d]", path, i)
			v, err := cc.named(full, id, rp)
			if err != nil {
				return err
			}
			switch v.kind {
			case kQuery, kProcedure, kSubscription, kPermissionSet:
				return &SchemaError{ID: id, Path: rp, Msg: fmt.Sprintf("union member %q is a %s", r, kindName(v.kind))}
			}
			n.variants[full] = v
			if !strings.Contains(full, "#") {
				n.variants[full+"#main"] = v
			}
		}
	case "record":
		n.kind = kRecord
		switch {
		case d.Key == "tid":
			n.key = keyTID
		case d.Key == "nsid":
			n.key = keyNSID
		case strings.HasPrefix(d.Key, "literal:"):
			n.key, n.literal = keyLiteral, strings.TrimPrefix(d.Key, "literal:")
		default:
			n.key = keyAny
		}
		b, err := cc.inline(d.Record, id, path+".record")
		if err != nil {
			return err
		}
		n.body = b
	case "query", "procedure", "subscription":
		switch d.Type {
		case "query":
			n.kind = kQuery
		case "procedure":
			n.kind = kProcedure
		default:
			n.kind = kSubscription
		}
		if d.Parameters != nil {
			p, err := cc.inline(d.Parameters, id, path+".parameters")
			if err != nil {
				return err
			}
			n.params = p
		}
		var err error
		if n.input, err = cc.body(d.Input, id, path+".input"); err != nil {
			return err
		}
		if n.output, err = cc.body(d.Output, id, path+".output"); err != nil {
			return err
		}
		if d.Message != nil && d.Message.Schema != nil {
			if n.message, err = cc.inline(d.Message.Schema, id, path+".message.schema"); err != nil {
				return err
			}
		}
		for _, e := range d.Errors {
			n.errors = append(n.errors, e.Name)
		}
	case "permission-set":
		n.kind = kPermissionSet
	default:
		return &SchemaError{ID: id, Path: path + ".type", Msg: fmt.Sprintf("type %q cannot be compiled here", d.Type)}
	}
	return nil
}

func (cc *compiler) body(b *Body, id, path string) (*body, error) {
	if b == nil {
		return nil, nil
	}
	out := &body{encoding: b.Encoding}
	if b.Schema != nil {
		s, err := cc.inline(b.Schema, id, path+".schema")
		if err != nil {
			return nil, err
		}
		out.schema = s
	}
	return out, nil
}

func (cc *compiler) object(n *node, d *Def, id, path string) error {
	required := make(map[string]bool, len(d.Required))
	for _, r := range d.Required {
		required[r] = true
	}
	nullable := make(map[string]bool, len(d.Nullable))
	for _, r := range d.Nullable {
		nullable[r] = true
	}
	n.props = make([]prop, 0, len(d.Properties))
	for name, pd := range d.Properties {
		pn, err := cc.inline(pd, id, path+".properties."+name)
		if err != nil {
			return err
		}
		n.props = append(n.props, prop{name: name, n: pn, required: required[name], nullable: nullable[name]})
		if required[name] {
			n.nRequired++
		}
	}
	sort.Slice(n.props, func(i, j int) bool { return n.props[i].name < n.props[j].name })
	if len(n.props) <= maxMergedProps {
		n.keyOrder = make([]uint8, len(n.props))
		for i := range n.keyOrder {
			n.keyOrder[i] = uint8(i)
		}
		sort.Slice(n.keyOrder, func(i, j int) bool {
			return drislKeyLess(n.props[n.keyOrder[i]].name, n.props[n.keyOrder[j]].name)
		})
	}
	return nil
}

// drislKeyLess reports whether map key a sorts before b in DRISL order:
// shorter first, then bytewise.
func drislKeyLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func kindName(k kind) string {
	switch k {
	case kBoolean:
		return "boolean"
	case kInteger:
		return "integer"
	case kString:
		return "string"
	case kBytes:
		return "bytes"
	case kCIDLink:
		return "cid-link"
	case kBlob:
		return "blob"
	case kNull:
		return "null"
	case kUnknown:
		return "unknown"
	case kArray:
		return "array"
	case kObject:
		return "object"
	case kUnion:
		return "union"
	case kToken:
		return "token"
	case kRecord:
		return "record"
	case kQuery:
		return "query"
	case kProcedure:
		return "procedure"
	case kSubscription:
		return "subscription"
	case kPermissionSet:
		return "permission-set"
	}
	return "?"
}
