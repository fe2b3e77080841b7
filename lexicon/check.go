package lexicon

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// checker walks a parsed schema file and reports the first rule it breaks,
// with the JSON path of the fault.
type checker struct {
	id string
}

func (c *checker) errf(path, format string, args ...any) error {
	return &SchemaError{ID: c.id, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// check checks the whole file and fills the typed forms of enum and const.
func (sf *SchemaFile) check() error {
	c := &checker{id: sf.ID}
	if sf.Lexicon != 1 {
		return c.errf("lexicon", "language version must be 1, not %d", sf.Lexicon)
	}
	if _, err := syntax.ParseNSID(sf.ID); err != nil {
		c.id = ""
		return c.errf("id", "invalid NSID %q", sf.ID)
	}
	if len(sf.Defs) == 0 {
		return c.errf("defs", "a schema needs at least one definition")
	}
	for _, name := range sortedKeys(sf.Defs) {
		def := sf.Defs[name]
		path := "defs." + name
		if !validDefName(name) {
			return c.errf(path, "invalid definition name %q", name)
		}
		if def == nil {
			return c.errf(path, "definition is null")
		}
		switch def.Type {
		case "record", "query", "procedure", "subscription", "permission-set":
			if name != "main" {
				return c.errf(path, "primary type %q must be named main", def.Type)
			}
		case "unknown", "ref", "union", "params", "permission":
			return c.errf(path, "type %q cannot be a named definition", def.Type)
		}
		if err := c.def(def, path); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validDefName accepts what the reference implementations accept: a
// non-empty name without '#', '.' or white space, of at most 128 bytes.
func validDefName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '#', c == '.', c == '/', c <= ' ', c == 0x7f:
			return false
		}
	}
	return true
}

// validRef accepts "#name", "nsid" and "nsid#name".
func validRef(ref string) bool {
	nsid, frag, hasFrag := strings.Cut(ref, "#")
	if hasFrag && !validDefName(frag) {
		return false
	}
	if nsid == "" {
		return hasFrag
	}
	_, err := syntax.ParseNSID(nsid)
	return err == nil
}

// fieldTypes are the types allowed for object properties and array items.
var fieldTypes = map[string]bool{
	"boolean": true, "integer": true, "string": true, "bytes": true, "cid-link": true,
	"blob": true, "null": true, "array": true, "object": true, "ref": true, "union": true, "unknown": true,
}

// allowed lists, per type, the type-specific fields a definition may carry
// (type and description are always allowed).
var allowed = map[string]string{
	"record":         "key record",
	"query":          "parameters output errors",
	"procedure":      "parameters input output errors",
	"subscription":   "parameters message errors",
	"permission-set": "title title:lang detail detail:lang permissions",
	"permission":     "resource collection action lxm aud inheritAud",
	"token":          "",
	"object":         "properties required nullable",
	"params":         "properties required",
	"array":          "items minLength maxLength",
	"string":         "format minLength maxLength minGraphemes maxGraphemes knownValues enum const default",
	"integer":        "minimum maximum enum const default",
	"boolean":        "const default",
	"bytes":          "minLength maxLength",
	"cid-link":       "",
	"blob":           "accept maxSize",
	"null":           "",
	"unknown":        "",
	"ref":            "ref",
	"union":          "refs closed",
}

// present lists the type-specific fields set in d.
func (d *Def) present() []string {
	var p []string
	add := func(set bool, name string) {
		if set {
			p = append(p, name)
		}
	}
	add(d.Key != "", "key")
	add(d.Record != nil, "record")
	add(d.Parameters != nil, "parameters")
	add(d.Input != nil, "input")
	add(d.Output != nil, "output")
	add(d.Message != nil, "message")
	add(d.Errors != nil, "errors")
	add(d.Title != "", "title")
	add(d.TitleLang != nil, "title:lang")
	add(d.Detail != "", "detail")
	add(d.DetailLang != nil, "detail:lang")
	add(d.Permissions != nil, "permissions")
	add(d.Resource != "", "resource")
	add(d.Collection != nil, "collection")
	add(d.Action != nil, "action")
	add(d.LXM != nil, "lxm")
	add(d.Aud != "", "aud")
	add(d.InheritAud != nil, "inheritAud")
	add(d.Properties != nil, "properties")
	add(d.Required != nil, "required")
	add(d.Nullable != nil, "nullable")
	add(d.Items != nil, "items")
	add(d.MinLength != nil, "minLength")
	add(d.MaxLength != nil, "maxLength")
	add(d.Format != "", "format")
	add(d.MinGraphemes != nil, "minGraphemes")
	add(d.MaxGraphemes != nil, "maxGraphemes")
	add(d.KnownValues != nil, "knownValues")
	add(d.Enum != nil, "enum")
	add(d.Const != nil, "const")
	add(d.Default != nil, "default")
	add(d.Minimum != nil, "minimum")
	add(d.Maximum != nil, "maximum")
	add(d.Accept != nil, "accept")
	add(d.MaxSize != nil, "maxSize")
	add(d.Ref != "", "ref")
	add(d.Refs != nil, "refs")
	add(d.Closed != nil, "closed")
	return p
}

// def checks one definition at path.
func (c *checker) def(d *Def, path string) error {
	if d == nil {
		return c.errf(path, "definition is null")
	}
	fields, ok := allowed[d.Type]
	if !ok {
		if d.Type == "" {
			return c.errf(path+".type", "missing type")
		}
		return c.errf(path+".type", "unknown type %q", d.Type)
	}
	for _, f := range d.present() {
		if !strings.Contains(" "+fields+" ", " "+f+" ") {
			return c.errf(path+"."+f, "field not allowed in type %q", d.Type)
		}
	}
	switch d.Type {
	case "record":
		return c.record(d, path)
	case "query", "procedure", "subscription":
		return c.xrpc(d, path)
	case "permission-set":
		return c.permissionSet(d, path)
	case "permission":
		return c.permission(d, path)
	case "object", "params":
		return c.object(d, path)
	case "array":
		if d.Items == nil {
			return c.errf(path+".items", "array needs items")
		}
		if !fieldTypes[d.Items.Type] {
			return c.errf(path+".items.type", "type %q not allowed as array items", d.Items.Type)
		}
		if err := c.bounds(path, "minLength", d.MinLength, "maxLength", d.MaxLength); err != nil {
			return err
		}
		return c.def(d.Items, path+".items")
	case "string":
		return c.str(d, path)
	case "integer":
		return c.integer(d, path)
	case "boolean":
		if d.Const != nil {
			var b bool
			if err := json.Unmarshal(d.Const, &b); err != nil {
				return c.errf(path+".const", "const must be a boolean")
			}
			d.constBool = &b
		}
		if d.Default != nil {
			var b bool
			if err := json.Unmarshal(d.Default, &b); err != nil {
				return c.errf(path+".default", "default must be a boolean")
			}
		}
		if d.Const != nil && d.Default != nil {
			return c.errf(path, "const and default are exclusive")
		}
	case "bytes":
		return c.bounds(path, "minLength", d.MinLength, "maxLength", d.MaxLength)
	case "blob":
		for i, a := range d.Accept {
			if !validAcceptPattern(a) {
				return c.errf(fmt.Sprintf("%s.accept[%d]", path, i), "invalid MIME type pattern %q", a)
			}
		}
		if d.MaxSize != nil && *d.MaxSize < 0 {
			return c.errf(path+".maxSize", "negative maxSize")
		}
	case "ref":
		if !validRef(d.Ref) {
			return c.errf(path+".ref", "invalid reference %q", d.Ref)
		}
	case "union":
		if d.Refs == nil {
			return c.errf(path+".refs", "union needs refs")
		}
		if len(d.Refs) == 0 && d.Closed != nil && *d.Closed {
			return c.errf(path+".refs", "a closed union needs at least one ref")
		}
		seen := make(map[string]bool, len(d.Refs))
		for i, r := range d.Refs {
			if !validRef(r) {
				return c.errf(fmt.Sprintf("%s.refs[%d]", path, i), "invalid reference %q", r)
			}
			full := fullRef(c.id, r)
			if seen[full] {
				return c.errf(fmt.Sprintf("%s.refs[%d]", path, i), "duplicate reference %q", r)
			}
			seen[full] = true
		}
	}
	return nil
}

func (c *checker) bounds(path, minName string, min *int64, maxName string, max *int64) error {
	if min != nil && *min < 0 {
		return c.errf(path+"."+minName, "negative %s", minName)
	}
	if max != nil && *max < 0 {
		return c.errf(path+"."+maxName, "negative %s", maxName)
	}
	if min != nil && max != nil && *min > *max {
		return c.errf(path+"."+minName, "%s %d greater than %s %d", minName, *min, maxName, *max)
	}
	return nil
}

func (c *checker) record(d *Def, path string) error {
	switch {
	case d.Key == "":
		return c.errf(path+".key", "record needs a key type")
	case d.Key == "tid", d.Key == "nsid", d.Key == "any":
	case strings.HasPrefix(d.Key, "literal:"):
		if _, err := syntax.ParseRecordKey(strings.TrimPrefix(d.Key, "literal:")); err != nil {
			return c.errf(path+".key", "literal key is not a valid record key: %q", d.Key)
		}
	default:
		return c.errf(path+".key", "unknown record key type %q", d.Key)
	}
	if d.Record == nil {
		return c.errf(path+".record", "record needs a record schema")
	}
	if d.Record.Type != "object" {
		return c.errf(path+".record.type", "record schema must be of type object, not %q", d.Record.Type)
	}
	return c.def(d.Record, path+".record")
}

func (c *checker) xrpc(d *Def, path string) error {
	if d.Parameters != nil {
		if d.Parameters.Type != "params" {
			return c.errf(path+".parameters.type", "parameters must be of type params, not %q", d.Parameters.Type)
		}
		if err := c.def(d.Parameters, path+".parameters"); err != nil {
			return err
		}
	}
	for _, b := range []struct {
		name string
		body *Body
	}{{"input", d.Input}, {"output", d.Output}} {
		if b.body == nil {
			continue
		}
		bp := path + "." + b.name
		if b.body.Encoding == "" {
			return c.errf(bp+".encoding", "body needs an encoding")
		}
		if b.body.Schema != nil {
			switch b.body.Schema.Type {
			case "object", "ref", "union":
			default:
				return c.errf(bp+".schema.type", "body schema must be object, ref or union, not %q", b.body.Schema.Type)
			}
			if err := c.def(b.body.Schema, bp+".schema"); err != nil {
				return err
			}
		}
	}
	if d.Type == "subscription" && d.Message != nil {
		mp := path + ".message.schema"
		if d.Message.Schema == nil {
			return c.errf(mp, "message needs a schema")
		}
		if d.Message.Schema.Type != "union" {
			return c.errf(mp+".type", "message schema must be a union, not %q", d.Message.Schema.Type)
		}
		if err := c.def(d.Message.Schema, mp); err != nil {
			return err
		}
	}
	for i, e := range d.Errors {
		if e.Name == "" || strings.ContainsAny(e.Name, " \t\r\n") {
			return c.errf(fmt.Sprintf("%s.errors[%d].name", path, i), "invalid error name %q", e.Name)
		}
	}
	return nil
}

func (c *checker) permissionSet(d *Def, path string) error {
	for _, lang := range sortedKeys(d.TitleLang) {
		if _, err := syntax.ParseLanguage(lang); err != nil {
			return c.errf(path+".title:lang."+lang, "invalid language tag")
		}
	}
	for _, lang := range sortedKeys(d.DetailLang) {
		if _, err := syntax.ParseLanguage(lang); err != nil {
			return c.errf(path+".detail:lang."+lang, "invalid language tag")
		}
	}
	for i, p := range d.Permissions {
		pp := fmt.Sprintf("%s.permissions[%d]", path, i)
		if p == nil || p.Type != "permission" {
			return c.errf(pp+".type", "permission-set entries must be of type permission")
		}
		if err := c.def(p, pp); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) permission(d *Def, path string) error {
	switch d.Resource {
	case "repo":
		if len(d.Collection) == 0 {
			return c.errf(path+".collection", "repo permission needs collection")
		}
		for i, coll := range d.Collection {
			if _, err := syntax.ParseNSID(coll); err != nil {
				return c.errf(fmt.Sprintf("%s.collection[%d]", path, i), "invalid NSID %q (no wildcard in a permission set)", coll)
			}
		}
		for i, act := range d.Action {
			if act != "create" && act != "update" && act != "delete" {
				return c.errf(fmt.Sprintf("%s.action[%d]", path, i), "unknown action %q", act)
			}
		}
	case "rpc":
		if len(d.LXM) == 0 {
			return c.errf(path+".lxm", "rpc permission needs lxm")
		}
		for i, lxm := range d.LXM {
			if lxm == "*" {
				if d.Aud == "*" {
					return c.errf(fmt.Sprintf("%s.lxm[%d]", path, i), "lxm and aud cannot both be wildcards")
				}
				continue
			}
			if _, err := syntax.ParseNSID(lxm); err != nil {
				return c.errf(fmt.Sprintf("%s.lxm[%d]", path, i), "invalid NSID %q", lxm)
			}
		}
		inherit := d.InheritAud != nil && *d.InheritAud
		if inherit == (d.Aud != "") {
			return c.errf(path+".aud", "rpc permission needs exactly one of aud and inheritAud")
		}
		if d.Aud != "" && d.Aud != "*" {
			return c.errf(path+".aud", "a permission set cannot name a service DID as aud")
		}
	case "":
		return c.errf(path+".resource", "permission needs a resource")
	default:
		return c.errf(path+".resource", "resource %q not allowed in a permission set", d.Resource)
	}
	return nil
}

func (c *checker) object(d *Def, path string) error {
	for _, name := range sortedKeys(d.Properties) {
		p := d.Properties[name]
		pp := path + ".properties." + name
		if name == "" {
			return c.errf(path+".properties", "empty property name")
		}
		if p == nil {
			return c.errf(pp, "property is null")
		}
		if d.Type == "params" {
			t := p.Type
			if t == "array" && p.Items != nil {
				t = p.Items.Type
				if t == "unknown" {
					t = ""
				}
			}
			switch t {
			case "boolean", "integer", "string", "unknown":
			default:
				return c.errf(pp+".type", "params properties must be boolean, integer, string, unknown or arrays of these")
			}
		} else if !fieldTypes[p.Type] {
			return c.errf(pp+".type", "type %q not allowed as an object property", p.Type)
		}
		if err := c.def(p, pp); err != nil {
			return err
		}
	}
	for i, r := range d.Required {
		if _, ok := d.Properties[r]; !ok {
			return c.errf(fmt.Sprintf("%s.required[%d]", path, i), "required field %q is not a property", r)
		}
	}
	for i, r := range d.Nullable {
		if _, ok := d.Properties[r]; !ok {
			return c.errf(fmt.Sprintf("%s.nullable[%d]", path, i), "nullable field %q is not a property", r)
		}
	}
	return nil
}

var knownFormats = map[string]bool{
	"did": true, "handle": true, "at-identifier": true, "nsid": true, "at-uri": true, "cid": true,
	"datetime": true, "tid": true, "record-key": true, "uri": true, "language": true,
}

func (c *checker) str(d *Def, path string) error {
	if d.Format != "" && !knownFormats[d.Format] {
		return c.errf(path+".format", "unknown string format %q", d.Format)
	}
	if err := c.bounds(path, "minLength", d.MinLength, "maxLength", d.MaxLength); err != nil {
		return err
	}
	if err := c.bounds(path, "minGraphemes", d.MinGraphemes, "maxGraphemes", d.MaxGraphemes); err != nil {
		return err
	}
	return scalarValues(c, d, path, "a string", "strings", &d.enumStr, &d.constStr, c.strAllowed)
}

func (c *checker) integer(d *Def, path string) error {
	if d.Minimum != nil && d.Maximum != nil && *d.Minimum > *d.Maximum {
		return c.errf(path+".minimum", "minimum %d greater than maximum %d", *d.Minimum, *d.Maximum)
	}
	return scalarValues(c, d, path, "an integer", "integers", &d.enumInt, &d.constInt, c.intAllowed)
}

// scalarValues parses the enum, const and default of a string or integer
// definition into enum and konst (the default is only checked), checks
// const and default against the definition's own bounds and enum with
// allowed, and that const and default are exclusive. one and many name
// the type in messages ("a string", "strings").
func scalarValues[T int64 | string](c *checker, d *Def, path, one, many string, enum *[]T, konst **T, allowed func(*Def, T, string) error) error {
	if d.Enum != nil {
		if err := json.Unmarshal(d.Enum, enum); err != nil || *enum == nil {
			return c.errf(path+".enum", "enum must be an array of %s", many)
		}
	}
	if d.Const != nil {
		var v T
		if err := json.Unmarshal(d.Const, &v); err != nil {
			return c.errf(path+".const", "const must be %s", one)
		}
		*konst = &v
	}
	if d.Default != nil {
		var v T
		if err := json.Unmarshal(d.Default, &v); err != nil {
			return c.errf(path+".default", "default must be %s", one)
		}
		if err := allowed(d, v, path+".default"); err != nil {
			return err
		}
	}
	if *konst != nil {
		if err := allowed(d, **konst, path+".const"); err != nil {
			return err
		}
	}
	if d.Const != nil && d.Default != nil {
		return c.errf(path, "const and default are exclusive")
	}
	return nil
}

// intAllowed checks that a default or const value meets the integer's own
// bounds and enum.
func (c *checker) intAllowed(d *Def, n int64, path string) error {
	if (d.Minimum != nil && n < *d.Minimum) || (d.Maximum != nil && n > *d.Maximum) {
		return c.errf(path, "%d is outside minimum/maximum", n)
	}
	if d.enumInt != nil && !slices.Contains(d.enumInt, n) {
		return c.errf(path, "%d is not in enum", n)
	}
	return nil
}

// strAllowed checks that a default or const value meets the string's own
// byte-length bounds and enum.
func (c *checker) strAllowed(d *Def, s string, path string) error {
	if (d.MinLength != nil && int64(len(s)) < *d.MinLength) || (d.MaxLength != nil && int64(len(s)) > *d.MaxLength) {
		return c.errf(path, "%q is outside minLength/maxLength", s)
	}
	if d.enumStr != nil && !slices.Contains(d.enumStr, s) {
		return c.errf(path, "%q is not in enum", s)
	}
	return nil
}

// validAcceptPattern accepts "*/*", "type/*" and "type/subtype".
func validAcceptPattern(p string) bool {
	typ, sub, ok := strings.Cut(p, "/")
	if !ok || typ == "" || sub == "" || strings.Contains(sub, "/") {
		return false
	}
	if typ == "*" {
		return sub == "*"
	}
	return !strings.ContainsAny(p, " \t\r\n,;")
}

// fullRef expands a reference found in schema id: "#x" becomes "id#x",
// "nsid#main" becomes "nsid".
func fullRef(id, ref string) string {
	if strings.HasPrefix(ref, "#") {
		ref = id + ref
	}
	return strings.TrimSuffix(ref, "#main")
}
