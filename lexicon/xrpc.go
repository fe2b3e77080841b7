package lexicon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// xrpcDef returns the compiled query, procedure or subscription nsid.
func (c *Catalog) xrpcDef(ctx context.Context, nsid string, kinds ...kind) (*node, error) {
	if strings.Contains(nsid, "#") {
		return nil, fmt.Errorf("%w: %s has a fragment", ErrWrongKind, quote(nsid))
	}
	n, err := c.lookup(ctx, nsid)
	if err != nil {
		return nil, err
	}
	for _, k := range kinds {
		if n.kind == k {
			return n, nil
		}
	}
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = kindName(k)
	}
	return nil, fmt.Errorf("%w: %s is a %s, not a %s", ErrWrongKind, nsid, kindName(n.kind), strings.Join(names, " or "))
}

// ValidateParams validates the parameters of the query, procedure or
// subscription nsid, given as typed values (bool, int64, string, or []any of
// these for array parameters). Parameters the schema does not declare are
// accepted unchecked.
func (c *Catalog) ValidateParams(ctx context.Context, nsid string, params map[string]any, opts ValidateOptions) error {
	n, err := c.xrpcDef(ctx, nsid, kQuery, kProcedure, kSubscription)
	if err != nil {
		return err
	}
	if n.params == nil {
		return nil
	}
	if params == nil {
		params = map[string]any{}
	}
	v := c.newValidator(ctx, &opts)
	if e := v.object(n.params, object{m: params}, 1); e != nil {
		return e.finish()
	}
	return nil
}

// ParseParams converts the URL query parameters of an XRPC call to typed
// values according to the schema of nsid (integers, booleans "true" and
// "false", repeated keys for arrays), validates them, and returns them.
// Parameters the schema does not declare are returned as strings (or []any
// of strings when repeated).
func (c *Catalog) ParseParams(ctx context.Context, nsid string, query url.Values, opts ValidateOptions) (map[string]any, error) {
	n, err := c.xrpcDef(ctx, nsid, kQuery, kProcedure, kSubscription)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(query))
	// In name order, so that the first fault reported is the same each run.
	for _, name := range slices.Sorted(maps.Keys(query)) {
		vals := query[name]
		p := findProp(n.params, name)
		if p == nil {
			if len(vals) == 1 {
				out[name] = vals[0]
			} else {
				out[name] = stringsToAny(vals)
			}
			continue
		}
		if p.n.kind == kArray {
			arr := make([]any, len(vals))
			for i, s := range vals {
				x, e := parseParam(p.n.items, s)
				if e != nil {
					return nil, e.index(i).field(name).finish()
				}
				arr[i] = x
			}
			out[name] = arr
			continue
		}
		if len(vals) != 1 {
			return nil, fail(ConstraintType, fmt.Sprintf("parameter given %d times", len(vals))).field(name).finish()
		}
		x, e := parseParam(p.n, vals[0])
		if e != nil {
			return nil, e.field(name).finish()
		}
		out[name] = x
	}
	if n.params != nil {
		v := c.newValidator(ctx, &opts)
		if e := v.object(n.params, object{m: out}, 1); e != nil {
			return nil, e.finish()
		}
	}
	return out, nil
}

func findProp(obj *node, name string) *prop {
	if obj == nil {
		return nil
	}
	for i := range obj.props {
		if obj.props[i].name == name {
			return &obj.props[i]
		}
	}
	return nil
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func parseParam(n *node, s string) (any, *verr) {
	switch n.kind {
	case kInteger:
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			// A *strconv.NumError holds the whole input: keep only its cause.
			var ne *strconv.NumError
			if errors.As(err, &ne) {
				err = ne.Err
			}
			return nil, &verr{constraint: ConstraintType, detail: quote(s) + " is not an integer", err: err}
		}
		return x, nil
	case kBoolean:
		switch s {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fail(ConstraintType, quote(s)+" is not a boolean (true or false)")
	}
	return s, nil
}

// ValidateInput validates the input body of procedure nsid: its encoding
// (a MIME type; parameters such as "; charset=utf-8" are ignored) must match
// the schema's, and when the schema describes the body, body (decoded from
// JSON into the data model) must match it. For a procedure without input,
// encoding must be "" and body nil.
func (c *Catalog) ValidateInput(ctx context.Context, nsid, encoding string, body any, opts ValidateOptions) error {
	n, err := c.xrpcDef(ctx, nsid, kProcedure)
	if err != nil {
		return err
	}
	return c.validateBody(ctx, n.input, "input", encoding, body, &opts)
}

// ValidateOutput validates the output body of query or procedure nsid, like
// ValidateInput.
func (c *Catalog) ValidateOutput(ctx context.Context, nsid, encoding string, body any, opts ValidateOptions) error {
	n, err := c.xrpcDef(ctx, nsid, kQuery, kProcedure)
	if err != nil {
		return err
	}
	return c.validateBody(ctx, n.output, "output", encoding, body, &opts)
}

func (c *Catalog) validateBody(ctx context.Context, b *body, which, encoding string, data any, opts *ValidateOptions) error {
	if b == nil {
		if encoding != "" || data != nil {
			return fail(ConstraintEncoding, "the schema declares no "+which).finish()
		}
		return nil
	}
	mt, _, _ := strings.Cut(encoding, ";")
	mt = strings.TrimSpace(mt)
	if !mimeAccepted([]string{b.encoding}, mt) {
		return fail(ConstraintEncoding, fmt.Sprintf("%s encoding %s does not match %q", which, quote(encoding), b.encoding)).finish()
	}
	if b.schema == nil {
		return nil
	}
	v := c.newValidator(ctx, opts)
	if e := v.value(b.schema, data, 1); e != nil {
		return e.finish()
	}
	return nil
}

// ValidateMessage validates a message of subscription nsid. msgType is the
// message's type from the event-stream frame header ("#commit", or a full
// reference); if it is "", the body's $type is used. The type must be a
// member of the subscription's message union (open unions follow
// opts.StrictUnions).
func (c *Catalog) ValidateMessage(ctx context.Context, nsid, msgType string, body any, opts ValidateOptions) error {
	n, err := c.xrpcDef(ctx, nsid, kSubscription)
	if err != nil {
		return err
	}
	if n.message == nil {
		return fmt.Errorf("%w: subscription %s declares no message schema", ErrWrongKind, nsid)
	}
	if strings.HasPrefix(msgType, "#") {
		msgType = nsid + msgType
	}
	v := c.newValidator(ctx, &opts)
	if e := v.union(n.message, body, msgType, 1); e != nil {
		return e.finish()
	}
	return nil
}

// ValidateErrorBody validates the JSON body of an XRPC error response
// (https://atproto.com/specs/xrpc): an object whose "error" is a non-empty
// ASCII name without whitespace and whose optional "message" is a string.
// The name need not be one the method declares: generic errors
// (InvalidRequest, AuthenticationRequired, ...) apply to every method; see
// DeclaresError.
func ValidateErrorBody(body any) error {
	m, ok := asObject(body)
	if !ok {
		return wrongType("object", body).finish()
	}
	ev, _ := m.get("error")
	name, ok := ev.(string)
	if !ok || name == "" {
		return fail(ConstraintRequired, "error must be a non-empty string").field("error").finish()
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f {
			return fail(ConstraintFormat, "error name "+quote(name)+" is not ASCII without whitespace").field("error").finish()
		}
	}
	if msg, present := m.get("message"); present {
		if _, ok := msg.(string); !ok {
			return wrongType("string", msg).field("message").finish()
		}
	}
	return nil
}

// DeclaresError reports whether the query, procedure or subscription nsid
// declares the error name in its schema.
func (c *Catalog) DeclaresError(ctx context.Context, nsid, name string) (bool, error) {
	n, err := c.xrpcDef(ctx, nsid, kQuery, kProcedure, kSubscription)
	if err != nil {
		return false, err
	}
	for _, e := range n.errors {
		if e == name {
			return true, nil
		}
	}
	return false, nil
}
