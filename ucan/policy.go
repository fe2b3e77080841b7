package ucan

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
)

// DefaultMaxPolicySteps bounds the work of one policy evaluation (selector
// segments, statements, compared values, one step per entry of every map
// whose values are iterated, and for a like statement one step per 256
// units of string length times the length of its unanchored literal parts,
// plus one). Nested quantifiers over large arguments would otherwise cost
// the product of their sizes.
const DefaultMaxPolicySteps = 1 << 20

// likeWorkPerStep is the work of a like statement (bytes of string times
// its cost factor) per evaluation step.
const likeWorkPerStep = 256

// maxPolicyDepth bounds the nesting of statements; a top-level statement
// is at depth 1.
const maxPolicyDepth = 32

// Policy is a parsed UCAN policy: a list of statements that must all hold
// (delegation spec, Policy). The zero value is the empty policy, which
// every argument map satisfies.
type Policy struct {
	stmts []statement
	raw   []any
}

// Value returns the policy in the IPLD data model, as it is encoded in a
// delegation's pol field.
func (p Policy) Value() []any {
	if p.raw == nil {
		return []any{}
	}
	return p.raw
}

// Len returns the number of top-level statements.
func (p Policy) Len() int { return len(p.stmts) }

type statement interface {
	eval(st *evalState, v any) bool
}

type evalState struct {
	steps, max int
	exceeded   bool
}

func (st *evalState) step() bool { return st.charge(1) }

// charge adds n steps; it reports false once the budget is exceeded.
func (st *evalState) charge(n int) bool {
	st.steps += n
	if st.steps > st.max {
		st.exceeded = true
		return false
	}
	return true
}

// children returns the elements of a list, or the values of a map in key
// order. Materialising a map's values costs one step per entry, so that
// statements over large maps cannot sort and copy them without bound.
func (st *evalState) children(v any) ([]any, bool) {
	switch c := v.(type) {
	case []any:
		return c, true
	case map[string]any:
		if !st.charge(len(c)) {
			return nil, false
		}
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = c[k]
		}
		return out, true
	case drisl.Map:
		// Sorted in DRISL order (length first): the values are taken in
		// the bytewise order of a map[string]any's.
		if !st.charge(len(c)) {
			return nil, false
		}
		sorted := slices.Clone(c)
		slices.SortStableFunc(sorted, func(a, b drisl.Entry) int { return strings.Compare(a.Key, b.Key) })
		out := make([]any, len(sorted))
		for i, e := range sorted {
			out[i] = e.Value
		}
		return out, true
	}
	return nil, false
}

// field selects key of a map, a map[string]any or a drisl.Map (a missing
// key selects null: spec, Validation); ok is false if v is not a map.
func field(v any, key string) (any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m[key], true
	case drisl.Map:
		x, _ := m.Get(key)
		return x, true
	}
	return nil, false
}

// entry returns the value of key in a map, a map[string]any or a
// drisl.Map, and whether it is present.
func entry(m any, key string) (any, bool) {
	switch m := m.(type) {
	case map[string]any:
		x, ok := m[key]
		return x, ok
	case drisl.Map:
		return m.Get(key)
	}
	return nil, false
}

// mapLen returns the number of entries of a map[string]any or a
// drisl.Map; ok is false for other values.
func mapLen(v any) (n int, ok bool) {
	switch m := v.(type) {
	case map[string]any:
		return len(m), true
	case drisl.Map:
		return len(m), true
	}
	return 0, false
}

// ParsePolicy parses a policy from the IPLD data model (the value of a
// delegation's pol field: a list of statements). Go integers of any width
// are accepted and normalised.
func ParsePolicy(v any) (Policy, error) {
	norm, err := normalise(v)
	if err != nil {
		return Policy{}, err
	}
	list, ok := norm.([]any)
	if !ok {
		return Policy{}, policyErr("policy is not a list")
	}
	return parsePolicyList(list)
}

// ParsePolicyJSON parses a policy written as JSON, such as
// `[["==", ".status", "draft"]]`. Numbers without a fraction or exponent
// are integers, others floats.
func ParsePolicyJSON(data []byte) (Policy, error) {
	v, err := jsonToIPLD(data)
	if err != nil {
		return Policy{}, policyWrap("", err)
	}
	return ParsePolicy(v)
}

func parsePolicyList(list []any) (Policy, error) {
	p := Policy{raw: list}
	for i, s := range list {
		stmt, err := parseStatement(s, 1)
		if err != nil {
			return Policy{}, policyWrap(fmt.Sprintf("statement %d", i), err)
		}
		p.stmts = append(p.stmts, stmt)
	}
	return p, nil
}

func policyErr(detail string) error {
	return newErr(NameMalformedToken, RulePolicySyntax, -1, detail)
}

// policyWrap is policyErr with a cause, kept for errors.Is and errors.As.
func policyWrap(detail string, err error) error {
	e := wrapErr(NameMalformedToken, RulePolicySyntax, -1, err)
	e.Detail = detail
	return e
}

// normalise converts a Go value to the generic IPLD model drisl decodes
// (int64, float64, string, []byte, bool, nil, cid.Cid, []any,
// map[string]any) by encoding and decoding it.
func normalise(v any) (any, error) {
	switch v.(type) {
	case []any, map[string]any:
		b, err := drisl.Marshal(v)
		if err != nil {
			return nil, policyWrap("", err)
		}
		var out any
		if err := drisl.Unmarshal(b, &out); err != nil {
			return nil, policyWrap("", err)
		}
		return out, nil
	}
	return nil, policyErr(fmt.Sprintf("policy is %T, not a list", v))
}

type cmpOp uint8

const (
	opEq cmpOp = iota + 1
	opNe
	opLt
	opLe
	opGt
	opGe
)

type cmpStmt struct {
	op  cmpOp
	sel Selector
	val any
}

type likeStmt struct {
	sel   Selector
	parts []string // literal parts between unescaped '*'
	cost  int      // work per byte of string matched: 1 + len of the unanchored parts
}

type connStmt struct {
	and   bool
	stmts []statement
}

type notStmt struct{ stmt statement }

type quantStmt struct {
	all  bool
	sel  Selector
	stmt statement
}

func parseStatement(v any, depth int) (statement, error) {
	if depth > maxPolicyDepth {
		return nil, fmt.Errorf("statements nested deeper than %d", maxPolicyDepth)
	}
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return nil, errors.New("statement is not a non-empty list")
	}
	op, ok := l[0].(string)
	if !ok {
		return nil, errors.New("operator is not a string")
	}
	want := func(n int) error {
		if len(l) != n {
			return fmt.Errorf("%q takes %d elements, got %d", op, n, len(l))
		}
		return nil
	}
	sel := func() (Selector, error) {
		s, ok := l[1].(string)
		if !ok {
			return Selector{}, fmt.Errorf("%q selector is not a string", op)
		}
		return ParseSelector(s)
	}
	switch op {
	case "==", "!=", "<", "<=", ">", ">=":
		if err := want(3); err != nil {
			return nil, err
		}
		s, err := sel()
		if err != nil {
			return nil, err
		}
		c := &cmpStmt{sel: s, val: l[2]}
		switch op {
		case "==":
			c.op = opEq
		case "!=":
			c.op = opNe
		case "<":
			c.op = opLt
		case "<=":
			c.op = opLe
		case ">":
			c.op = opGt
		default:
			c.op = opGe
		}
		if c.op >= opLt && !isNumber(l[2]) {
			return nil, fmt.Errorf("%q needs a number", op)
		}
		return c, nil
	case "like":
		if err := want(3); err != nil {
			return nil, err
		}
		s, err := sel()
		if err != nil {
			return nil, err
		}
		pat, ok := l[2].(string)
		if !ok {
			return nil, errors.New("like pattern is not a string")
		}
		like := &likeStmt{sel: s, parts: splitGlob(pat), cost: 1}
		if n := len(like.parts); n > 2 {
			for _, p := range like.parts[1 : n-1] {
				like.cost += len(p)
			}
		}
		return like, nil
	case "and", "or":
		if err := want(2); err != nil {
			return nil, err
		}
		inner, ok := l[1].([]any)
		if !ok {
			return nil, fmt.Errorf("%q takes a list of statements", op)
		}
		c := &connStmt{and: op == "and"}
		for _, x := range inner {
			s, err := parseStatement(x, depth+1)
			if err != nil {
				return nil, err
			}
			c.stmts = append(c.stmts, s)
		}
		return c, nil
	case "not":
		if err := want(2); err != nil {
			return nil, err
		}
		s, err := parseStatement(l[1], depth+1)
		if err != nil {
			return nil, err
		}
		return &notStmt{stmt: s}, nil
	case "all", "any":
		if err := want(3); err != nil {
			return nil, err
		}
		s, err := sel()
		if err != nil {
			return nil, err
		}
		inner, err := parseStatement(l[2], depth+1)
		if err != nil {
			return nil, err
		}
		return &quantStmt{all: op == "all", sel: s, stmt: inner}, nil
	}
	return nil, fmt.Errorf("unknown operator %q", truncate(op))
}

// Match reports whether args satisfy every statement of the policy. It
// never fails: an unresolvable selector makes its statement false, and an
// evaluation that exceeds DefaultMaxPolicySteps is false.
//
// args are values of the data model drisl decodes (map[string]any or, in
// the ordered model, drisl.Map, []any, string, []byte, bool, nil, cid.Cid
// and numbers); Go integers of any width
// and float32 compare as they will once encoded, but other Go types (a
// []string, a struct) are not converted and match nothing.
func (p Policy) Match(args any) bool {
	ok, _ := p.MatchLimit(args, DefaultMaxPolicySteps)
	return ok
}

// MatchLimit is Match with a bound on evaluation steps; exceeded reports
// that the bound was hit (and the result is then false).
func (p Policy) MatchLimit(args any, maxSteps int) (ok, exceeded bool) {
	if maxSteps <= 0 {
		maxSteps = DefaultMaxPolicySteps
	}
	return p.match(&evalState{max: maxSteps}, args)
}

// match is MatchLimit with st, whose budget the caller sets (Validate
// evaluates every policy of a chain with one evalState, reset for each,
// which escapes to the heap once instead of once per policy).
func (p Policy) match(st *evalState, args any) (ok, exceeded bool) {
	for _, s := range p.stmts {
		if !s.eval(st, args) || st.exceeded {
			return false, st.exceeded
		}
	}
	return true, false
}

// selectOne is selectPath with the usual selector, one field (".key"),
// taken inline: a comparison or a like over each of a batch's writes. Its
// switch is field's, written out: field is not inlined, and calling it
// here cost +1.2 % instructions on community's BenchmarkInvokeChecks
// (callgrind, GOMAXPROCS=1 GOGC=off, both sub-benchmarks; tried and
// reverted in ba62b89).
func (st *evalState) selectOne(segs []segment, v any) (any, bool) {
	if len(segs) != 1 || segs[0].kind != segField {
		return st.selectPath(segs, v)
	}
	if !st.step() {
		return nil, false
	}
	switch m := v.(type) {
	case map[string]any:
		return m[segs[0].key], true // a missing key selects null
	case drisl.Map:
		x, _ := m.Get(segs[0].key)
		return x, true
	}
	if !segs[0].optional {
		return nil, false
	}
	return nil, true
}

func (c *cmpStmt) eval(st *evalState, v any) bool {
	if !st.step() {
		return false
	}
	x, ok := st.selectOne(c.sel.segs, v)
	if !ok {
		return false
	}
	switch c.op {
	case opEq:
		return st.equal(x, c.val)
	case opNe:
		return !st.equal(x, c.val) && !st.exceeded
	}
	r, ok := compareNumbers(x, c.val)
	if !ok {
		return false
	}
	switch c.op {
	case opLt:
		return r < 0
	case opLe:
		return r <= 0
	case opGt:
		return r > 0
	default:
		return r >= 0
	}
}

func (l *likeStmt) eval(st *evalState, v any) bool {
	if !st.step() {
		return false
	}
	x, ok := st.selectOne(l.sel.segs, v)
	if !ok {
		return false
	}
	s, ok := x.(string)
	if !ok {
		return false
	}
	// A few bytes of pattern can scan a long string, and each unanchored
	// part can cost its length per byte of string (strings.Index): pay for
	// that work.
	if !st.charge(len(s) * l.cost / likeWorkPerStep) {
		return false
	}
	return matchGlob(l.parts, s)
}

func (c *connStmt) eval(st *evalState, v any) bool {
	if !st.step() {
		return false
	}
	if len(c.stmts) == 0 {
		return true // both and [] and or [] are true
	}
	for _, s := range c.stmts {
		r := s.eval(st, v)
		if st.exceeded {
			return false
		}
		if c.and && !r {
			return false
		}
		if !c.and && r {
			return true
		}
	}
	return c.and
}

func (n *notStmt) eval(st *evalState, v any) bool {
	if !st.step() {
		return false
	}
	r := n.stmt.eval(st, v)
	return !r && !st.exceeded
}

func (q *quantStmt) eval(st *evalState, v any) bool {
	if !st.step() {
		return false
	}
	x, ok := st.selectPath(q.sel.segs, v)
	if !ok {
		return false
	}
	items, ok := st.children(x)
	if !ok {
		return false
	}
	for _, it := range items {
		r := q.stmt.eval(st, it)
		if st.exceeded {
			return false
		}
		if q.all && !r {
			return false
		}
		if !q.all && r {
			return true
		}
	}
	return q.all
}

// splitGlob splits a like pattern at unescaped '*'; "\*" is a literal star.
func splitGlob(pat string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(pat); i++ {
		switch {
		case pat[i] == '\\' && i+1 < len(pat) && pat[i+1] == '*':
			cur.WriteByte('*')
			i++
		case pat[i] == '*':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(pat[i])
		}
	}
	return append(parts, cur.String())
}

// matchGlob matches s against literal parts separated by wildcards that
// stand for zero or more characters.
func matchGlob(parts []string, s string) bool {
	if len(parts) == 1 {
		return s == parts[0]
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	mid := s[len(first) : len(s)-len(last)]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(mid, p)
		if i < 0 {
			return false
		}
		mid = mid[i+len(p):]
	}
	return true
}

func isNumber(v any) bool {
	_, ok := number(v)
	return ok
}

// number returns v as one of the numeric types of the data model drisl
// decodes (int64; uint64 above math.MaxInt64; drisl.NegInt; float64), so
// that Go integers and floats of any width or named type, which callers of
// Match may pass, compare as they will once encoded.
func number(v any) (any, bool) {
	switch n := v.(type) {
	case int64, float64, drisl.NegInt:
		return v, true
	case uint64:
		if n <= math.MaxInt64 {
			return int64(n), true
		}
		return n, true
	case nil, string, bool, []any, map[string]any, drisl.Map, []byte:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return number(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	}
	return nil, false
}

// compareNumbers compares two numbers exactly, regardless of integer or
// float type (1 == 1.0, and 2^63 as a uint64 is above math.MaxInt64 as an
// int64); ok is false if either is not a number or is NaN.
func compareNumbers(a, b any) (int, bool) {
	a, okA := number(a)
	b, okB := number(b)
	if !okA || !okB {
		return 0, false
	}
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			return cmp.Compare(x, y), true
		}
	case float64:
		if y, ok := b.(float64); ok && !math.IsNaN(x) && !math.IsNaN(y) {
			return cmp.Compare(x, y), true
		}
	}
	x, y := exact(a), exact(b)
	if x == nil || y == nil {
		return 0, false
	}
	return x.Cmp(y), true
}

// exact returns a number as an exact big.Float, or nil for NaN.
func exact(v any) *big.Float {
	switch n := v.(type) {
	case int64:
		return new(big.Float).SetInt64(n)
	case uint64:
		return new(big.Float).SetUint64(n)
	case drisl.NegInt:
		// -1 - n, which needs 65 bits.
		f := new(big.Float).SetUint64(uint64(n))
		return f.Neg(f.Add(f, big.NewFloat(1)))
	case float64:
		if math.IsNaN(n) {
			return nil
		}
		return new(big.Float).SetFloat64(n)
	}
	return nil
}

// equal is deep IPLD equality, with numbers compared by value.
func (st *evalState) equal(a, b any) bool {
	if !st.step() {
		return false
	}
	// The usual literals first: a string equals only the same string and
	// null only null (neither is a number, so numbers never equal them).
	switch y := b.(type) {
	case string:
		x, ok := a.(string)
		return ok && x == y
	case nil:
		return a == nil
	}
	if isNumber(a) || isNumber(b) {
		r, ok := compareNumbers(a, b)
		return ok && r == 0
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case cid.Cid:
		y, ok := b.(cid.Cid)
		return ok && x.Equals(y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !st.equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		if n, ok := mapLen(b); !ok || n != len(x) {
			return false
		}
		for k, xv := range x {
			yv, ok := entry(b, k)
			if !ok || !st.equal(xv, yv) {
				return false
			}
		}
		return true
	case drisl.Map:
		if n, ok := mapLen(b); !ok || n != len(x) {
			return false
		}
		for _, e := range x {
			yv, ok := entry(b, e.Key)
			if !ok || !st.equal(e.Value, yv) {
				return false
			}
		}
		return true
	}
	return false
}

// jsonToIPLD decodes JSON into the generic IPLD model: integers as int64,
// other numbers as float64.
func jsonToIPLD(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after JSON value")
	}
	return fromJSON(v)
}

func fromJSON(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if !strings.ContainsAny(string(x), ".eE") {
			if n, err := x.Int64(); err == nil {
				return n, nil
			}
		}
		f, err := x.Float64()
		if err != nil {
			return nil, err
		}
		return f, nil
	case []any:
		out := make([]any, len(x))
		for i := range x {
			var err error
			if out[i], err = fromJSON(x[i]); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := fromJSON(e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	}
	return v, nil
}
