package lexicon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// SchemaFile is one Lexicon schema file (language version 1): an NSID and its
// named definitions. Obtain one with ParseSchema, which also checks it.
type SchemaFile struct {
	Lexicon     int             `json:"lexicon"`
	ID          string          `json:"id"`
	Revision    int             `json:"revision,omitempty"`
	Description string          `json:"description,omitempty"`
	Defs        map[string]*Def `json:"defs"`
}

// Def is one schema definition of any type. Which fields are meaningful
// depends on Type ("record", "query", "procedure", "subscription",
// "permission-set", "permission", "token", "object", "params", "array",
// "string", "integer", "boolean", "bytes", "cid-link", "blob", "null",
// "unknown", "ref", "union"); ParseSchema rejects fields that do not belong
// to the definition's type.
type Def struct {
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`

	// record
	Key    string `json:"key,omitempty"`
	Record *Def   `json:"record,omitempty"`

	// query, procedure, subscription
	Parameters *Def       `json:"parameters,omitempty"`
	Input      *Body      `json:"input,omitempty"`
	Output     *Body      `json:"output,omitempty"`
	Message    *Message   `json:"message,omitempty"`
	Errors     []ErrorDef `json:"errors,omitempty"`

	// permission-set
	Title       string            `json:"title,omitempty"`
	TitleLang   map[string]string `json:"title:lang,omitempty"`
	Detail      string            `json:"detail,omitempty"`
	DetailLang  map[string]string `json:"detail:lang,omitempty"`
	Permissions []*Def            `json:"permissions,omitempty"`

	// permission
	Resource   string   `json:"resource,omitempty"`
	Collection []string `json:"collection,omitempty"`
	Action     []string `json:"action,omitempty"`
	LXM        []string `json:"lxm,omitempty"`
	Aud        string   `json:"aud,omitempty"`
	InheritAud *bool    `json:"inheritAud,omitempty"`

	// object, params
	Properties map[string]*Def `json:"properties,omitempty"`
	Required   []string        `json:"required,omitempty"`
	Nullable   []string        `json:"nullable,omitempty"`

	// array
	Items *Def `json:"items,omitempty"`

	// string (lengths in UTF-8 bytes), bytes, array (lengths in elements)
	MinLength *int64 `json:"minLength,omitempty"`
	MaxLength *int64 `json:"maxLength,omitempty"`

	// string
	Format       string   `json:"format,omitempty"`
	MinGraphemes *int64   `json:"minGraphemes,omitempty"`
	MaxGraphemes *int64   `json:"maxGraphemes,omitempty"`
	KnownValues  []string `json:"knownValues,omitempty"`

	// string, integer, boolean: typed according to Type
	Enum    json.RawMessage `json:"enum,omitempty"`
	Const   json.RawMessage `json:"const,omitempty"`
	Default json.RawMessage `json:"default,omitempty"`

	// integer
	Minimum *int64 `json:"minimum,omitempty"`
	Maximum *int64 `json:"maximum,omitempty"`

	// blob
	Accept  []string `json:"accept,omitempty"`
	MaxSize *int64   `json:"maxSize,omitempty"`

	// ref, union
	Ref    string   `json:"ref,omitempty"`
	Refs   []string `json:"refs,omitempty"`
	Closed *bool    `json:"closed,omitempty"`

	// filled by check: typed forms of Enum and Const
	enumStr   []string
	enumInt   []int64
	constStr  *string
	constInt  *int64
	constBool *bool
}

// Body describes the input or output body of a query or procedure.
type Body struct {
	Description string `json:"description,omitempty"`
	Encoding    string `json:"encoding"`
	Schema      *Def   `json:"schema,omitempty"` // object, ref or union
}

// Message describes the messages of a subscription.
type Message struct {
	Description string `json:"description,omitempty"`
	Schema      *Def   `json:"schema"` // union
}

// ErrorDef names an error a query, procedure or subscription may return.
type ErrorDef struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// DefaultMaxSchemaBytes is the size limit of one schema file when
// CatalogOptions.MaxSchemaBytes is zero.
const DefaultMaxSchemaBytes = 1 << 20

// ParseSchema parses one Lexicon schema file from JSON and checks it against
// the rules of the Lexicon language. References to other schemas are not
// resolved here (see Catalog.CheckRefs). Faults are reported as *SchemaError
// with the JSON path of the fault.
func ParseSchema(data []byte) (*SchemaFile, error) {
	if len(data) > DefaultMaxSchemaBytes {
		return nil, &SchemaError{Msg: fmt.Sprintf("file is %d bytes, more than %d", len(data), DefaultMaxSchemaBytes)}
	}
	return parseSchema(data)
}

func parseSchema(data []byte) (*SchemaFile, error) {
	var sf SchemaFile
	if err := json.Unmarshal(data, &sf); err != nil {
		se := &SchemaError{Msg: err.Error()}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			se.Path = jsonPathAt(data, te.Offset)
			se.Msg = fmt.Sprintf("JSON %s where %s is expected", te.Value, te.Type)
		}
		// best effort: name the file if its id is readable
		var head struct {
			ID any `json:"id"`
		}
		if json.Unmarshal(data, &head) == nil {
			if s, ok := head.ID.(string); ok {
				se.ID = s
			}
		}
		return nil, se
	}
	if err := sf.check(); err != nil {
		return nil, err
	}
	return &sf, nil
}

// jsonPathAt returns the path ("defs.main.record.properties.text",
// "knownValues[1]") of the JSON value that ends at or after byte offset in
// data, which must be well-formed JSON. encoding/json's own field paths
// leave out map keys, which are most of a schema's path.
func jsonPathAt(data []byte, offset int64) string {
	type frame struct {
		array bool
		key   string
		index int
		want  bool // object: next string token is a key
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.array {
				fmt.Fprintf(&b, "[%d]", f.index-1)
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		}
		return b.String()
	}
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			if !top.array && top.want {
				if d, ok := tok.(json.Delim); !ok || d != '}' {
					top.key, _ = tok.(string)
					top.want = false
					continue
				}
			}
		}
		// tok starts a value (or closes a container)
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && !stack[len(stack)-1].array {
				stack[len(stack)-1].want = true
			}
			continue
		}
		if len(stack) > 0 && stack[len(stack)-1].array {
			stack[len(stack)-1].index++
		}
		if before < offset && dec.InputOffset() >= offset {
			return path()
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, frame{array: d == '[', want: d == '{'})
			continue
		}
		if len(stack) > 0 && !stack[len(stack)-1].array {
			stack[len(stack)-1].want = true
		}
	}
}
