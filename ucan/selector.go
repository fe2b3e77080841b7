package ucan

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxSelectorBytes bounds the length of one selector.
const MaxSelectorBytes = 1024

type segKind uint8

const (
	segField segKind = iota + 1 // .name or ["name"]
	segIndex                    // [i], [-i]
	segIter                     // []
	segSlice                    // [a:b], [a:], [:b]
)

type segment struct {
	kind           segKind
	key            string
	index          int
	from, to       int
	hasFrom, hasTo bool
	optional       bool
}

// Selector is a parsed jq-like policy selector (delegation spec,
// Selectors): ".", ".foo", `["key"]`, "[]", "[i]", "[-i]", "[a:b]", each
// optionally followed by "?".
type Selector struct {
	src  string
	segs []segment
}

// String returns the selector as written.
func (s Selector) String() string { return s.src }

// ParseSelector parses a selector. It must begin with a single dot; ".."
// is never allowed; repeated "?" count as one.
func ParseSelector(src string) (Selector, error) {
	fail := func(at int, why string) (Selector, error) {
		return Selector{}, newErr(NameMalformedToken, RulePolicySyntax, -1, fmt.Sprintf("selector %q at %d: %s", truncate(src), at, why))
	}
	if len(src) > MaxSelectorBytes {
		return fail(0, "too long")
	}
	if !utf8.ValidString(src) {
		return fail(0, "invalid UTF-8")
	}
	if src == "" || src[0] != '.' {
		return fail(0, "must begin with a dot")
	}
	sel := Selector{src: src}
	if src == "." {
		return sel, nil
	}
	i := 0
	for i < len(src) {
		var seg segment
		switch src[i] {
		case '.':
			i++
			if i == len(src) {
				return fail(i, "trailing dot")
			}
			if src[i] == '.' {
				return fail(i, "multiple dots")
			}
			if src[i] == '[' {
				continue
			}
			if src[i] == '?' && i == 1 {
				// ".?" is the identity, optional: a no-op.
				for i < len(src) && src[i] == '?' {
					i++
				}
				continue
			}
			start := i
			for i < len(src) && isIdentByte(src[i], i == start) {
				i++
			}
			if i == start {
				return fail(i, "expected a field name")
			}
			seg = segment{kind: segField, key: src[start:i]}
		case '[':
			i++
			if i < len(src) && src[i] == '"' {
				key, n, ok := scanQuoted(src[i:])
				if !ok {
					return fail(i, "bad quoted key")
				}
				i += n
				if i >= len(src) || src[i] != ']' {
					return fail(i, "expected ]")
				}
				i++
				seg = segment{kind: segField, key: key}
				break
			}
			end := strings.IndexByte(src[i:], ']')
			if end < 0 {
				return fail(i, "missing ]")
			}
			body := src[i : i+end]
			i += end + 1
			switch {
			case body == "":
				seg = segment{kind: segIter}
			case strings.Contains(body, ":"):
				a, b, _ := strings.Cut(body, ":")
				seg = segment{kind: segSlice}
				if a != "" {
					n, err := parseInt(a)
					if err != nil {
						return fail(i, "bad slice start")
					}
					seg.from, seg.hasFrom = n, true
				}
				if b != "" {
					n, err := parseInt(b)
					if err != nil {
						return fail(i, "bad slice end")
					}
					seg.to, seg.hasTo = n, true
				}
			default:
				n, err := parseInt(body)
				if err != nil {
					return fail(i, "bad index")
				}
				seg = segment{kind: segIndex, index: n}
			}
		default:
			return fail(i, "unexpected character")
		}
		for i < len(src) && src[i] == '?' {
			seg.optional = true
			i++
		}
		sel.segs = append(sel.segs, seg)
	}
	return sel, nil
}

func isIdentByte(c byte, first bool) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9')
}

func parseInt(s string) (int, error) {
	if len(s) > 10 || s == "-" || s == "+" || strings.HasPrefix(s, "+") {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.Atoi(s)
	return n, err
}

// scanQuoted reads a JSON-style quoted string at the start of s, returning
// its value and the number of bytes consumed.
func scanQuoted(s string) (string, int, bool) {
	for j := 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			v, err := strconv.Unquote(s[:j+1])
			if err != nil {
				return "", 0, false
			}
			return v, j + 1, true
		}
	}
	return "", 0, false
}

// Select resolves the selector against v. ok is false when the selector
// cannot be resolved; then every statement using it is false.
func (s Selector) Select(v any) (any, bool) {
	st := &evalState{max: DefaultMaxPolicySteps}
	return st.selectPath(s.segs, v)
}

func (st *evalState) selectPath(segs []segment, v any) (any, bool) {
	for i, seg := range segs {
		if !st.step() {
			return nil, false
		}
		var ok bool
		switch seg.kind {
		case segField:
			var x any
			if x, ok = field(v, seg.key); ok {
				v = x
			}
		case segIndex:
			v, ok = indexValue(v, seg.index)
		case segSlice:
			v, ok = sliceValue(v, seg)
		case segIter:
			var children []any
			children, ok = st.children(v)
			if st.exceeded {
				return nil, false
			}
			if ok {
				rest := segs[i+1:]
				if len(rest) == 0 {
					return children, true
				}
				out := make([]any, 0, len(children))
				for _, c := range children {
					r, ok := st.selectPath(rest, c)
					if !ok {
						return nil, false
					}
					out = append(out, r)
				}
				return out, true
			}
		}
		if !ok {
			if !seg.optional {
				return nil, false
			}
			v = nil
		}
	}
	return v, true
}

func indexValue(v any, i int) (any, bool) {
	switch c := v.(type) {
	case []any:
		if i < 0 {
			i += len(c)
		}
		if i < 0 || i >= len(c) {
			return nil, false
		}
		return c[i], true
	case []byte:
		if i < 0 {
			i += len(c)
		}
		if i < 0 || i >= len(c) {
			return nil, false
		}
		return int64(c[i]), true
	}
	return nil, false
}

func sliceBounds(n int, seg segment) (int, int) {
	from, to := 0, n
	if seg.hasFrom {
		from = seg.from
	}
	if seg.hasTo {
		to = seg.to
	}
	if from < 0 {
		from += n
	}
	if to < 0 {
		to += n
	}
	from = max(0, min(from, n))
	to = max(0, min(to, n))
	if to < from {
		to = from
	}
	return from, to
}

func sliceValue(v any, seg segment) (any, bool) {
	switch c := v.(type) {
	case []any:
		a, b := sliceBounds(len(c), seg)
		return c[a:b], true
	case []byte:
		a, b := sliceBounds(len(c), seg)
		return c[a:b], true
	}
	return nil, false
}
