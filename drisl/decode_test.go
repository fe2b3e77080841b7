package drisl

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSyntaxErrors checks the rule and the offset of the failing head for
// each kind of malformed input, nested so that offsets are not all zero.
func TestSyntaxErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		hex  string
		opts DecOptions
		rule Rule
		off  int
	}{
		{"empty input", "", DecOptions{}, RuleTruncated, 0},
		{"truncated uint16 head", "82 01 19 01", DecOptions{}, RuleTruncated, 2},
		{"non-shortest in array", "83 01 02 18 03", DecOptions{}, RuleNonShortest, 3},
		{"non-shortest text length in map value", "a1 61 61 78 01 62", DecOptions{}, RuleNonShortest, 3},
		{"non-shortest map key length", "a1 78 01 61 00", DecOptions{}, RuleNonShortest, 1},
		{"reserved info 28", "82 01 1c", DecOptions{}, RuleReserved, 2},
		{"indefinite array inside", "81 9f ff", DecOptions{}, RuleIndefinite, 1},
		{"break code", "81 ff", DecOptions{}, RuleIndefinite, 1},
		{"unsorted keys (length first)", "a2 62 61 61 01 61 62 02", DecOptions{}, RuleMapKeyOrder, 5},
		{"unsorted keys (bytewise)", "a2 61 62 01 61 61 02", DecOptions{}, RuleMapKeyOrder, 4},
		{"duplicate keys", "a2 61 61 01 61 61 02", DecOptions{}, RuleMapKeyDuplicate, 4},
		{"byte string key", "a1 41 61 01", DecOptions{}, RuleMapKeyType, 1},
		{"tag 1", "81 c1 01", DecOptions{}, RuleTag, 1},
		{"tag 55799", "d9 d9 f7 01", DecOptions{}, RuleTag, 0},
		{"tag 42 in 2-byte form", "d9 00 2a 41 00", DecOptions{}, RuleNonShortest, 0},
		{"tag 42 on text", "d8 2a 61 61", DecOptions{}, RuleCID, 0},
		{"float32", "82 01 fa 3f 80 00 00", DecOptions{}, RuleFloatWidth, 2},
		{"float16", "f9 3c 00", DecOptions{}, RuleFloatWidth, 0},
		{"NaN", "81 fb 7f f8 00 00 00 00 00 00", DecOptions{}, RuleFloatValue, 1},
		{"-0.0", "fb 80 00 00 00 00 00 00 00", DecOptions{}, RuleFloatValue, 0},
		{"undefined", "81 f7", DecOptions{}, RuleSimple, 1},
		{"simple 255 two-byte", "f8 ff", DecOptions{}, RuleSimple, 0},
		{"invalid UTF-8", "a1 61 61 62 c3 28", DecOptions{}, RuleUTF8, 3},
		{"trailing bytes", "a0 00", DecOptions{}, RuleTrailingBytes, 1},
		{"depth limit", "81 81 81 00", DecOptions{MaxDepth: 2}, RuleDepth, 2},
		{"container limit", "83 01 02 03", DecOptions{MaxContainerLen: 2}, RuleContainerLen, 0},
		{"input limit", "83 01 02 03", DecOptions{MaxInputBytes: 3}, RuleInputLen, 0},
		{"array longer than input", "9a 00 01 00 00 00", DecOptions{}, RuleTruncated, 0},
		{"map longer than input", "b9 01 00 61 61 01", DecOptions{}, RuleTruncated, 0},
		{"string longer than input", "81 7a 00 01 00 00 61", DecOptions{}, RuleTruncated, 1},
	} {
		data := unhex(t, c.hex)
		for _, step := range []struct {
			name string
			err  error
		}{
			{"Validate", c.opts.Validate(data)},
			{"Unmarshal any", c.opts.Unmarshal(data, new(any))},
			{"Unmarshal Raw", c.opts.Unmarshal(data, new(Raw))},
		} {
			var se *SyntaxError
			if !errors.As(step.err, &se) {
				t.Errorf("%s: %s: got %v, want *SyntaxError", c.name, step.name, step.err)
				continue
			}
			if se.Rule != c.rule || se.Offset != c.off {
				t.Errorf("%s: %s: %q at %d, want %q at %d", c.name, step.name, se.Rule, se.Offset, c.rule, c.off)
			}
		}
	}
}

// TestHugeLengthRejectedBeforeAllocation: ten bytes that claim a 4 GB
// string, array or map fail without allocating anything near that size.
func TestHugeLengthRejectedBeforeAllocation(t *testing.T) {
	for _, h := range []string{
		"7a ff ff ff ff 61 61 61 61 61", // text string of 4 GiB - 1
		"5a ff ff ff ff 61 61 61 61 61", // byte string
		"9a ff ff ff ff 01 01 01 01 01", // array
		"ba ff ff ff ff 61 61 01 61 62", // map
		"7b 00 00 00 01 00 00 00 00 61", // text string of 4 GiB
	} {
		data := unhex(t, h)
		if len(data) != 10 {
			t.Fatalf("%s is %d bytes", h, len(data))
		}
		var v any
		var r Raw
		var s struct {
			A []string `cbor:"a"`
		}
		var sl []int
		allocs := testing.AllocsPerRun(50, func() {
			if Unmarshal(data, &v) == nil || Unmarshal(data, &r) == nil || Validate(data) == nil ||
				Unmarshal(data, &s) == nil || Unmarshal(data, &sl) == nil {
				panic("accepted " + h)
			}
		})
		// The errors themselves allocate a little (the *SyntaxError and
		// reflection on the target); a 4 GB buffer would show in bytes, which
		// the check below bounds.
		if allocs > 20 {
			t.Errorf("%s: %v allocations per run", h, allocs)
		}
		var ms1, ms2 = memStats(), 0.0
		for range 20 {
			_ = Unmarshal(data, &v)
		}
		ms2 = memStats()
		if ms2-ms1 > 1<<20 {
			t.Errorf("%s: %.0f bytes allocated for 20 rejections", h, ms2-ms1)
		}
	}
}

func TestLimitsDefaults(t *testing.T) {
	// Nesting one past the default depth fails, at the default it works.
	deep := func(n int) []byte { return append(bytes.Repeat([]byte{0x81}, n), 0x00) }
	if err := Validate(deep(DefaultMaxDepth)); err != nil {
		t.Errorf("depth %d: %v", DefaultMaxDepth, err)
	}
	var se *SyntaxError
	if err := Validate(deep(DefaultMaxDepth + 1)); !errors.As(err, &se) || se.Rule != RuleDepth || se.Offset != DefaultMaxDepth {
		t.Errorf("depth %d: %v", DefaultMaxDepth+1, err)
	}
	// Depth bounds recursion: a million nested arrays is an error, not a
	// stack overflow.
	if err := Validate(deep(1 << 20)); !errors.As(err, &se) || se.Rule != RuleDepth {
		t.Errorf("deep input: %v", err)
	}
	// Even a huge configured limit stops at MaxDepthLimit.
	if err := (DecOptions{MaxDepth: 1 << 40}).Validate(deep(1 << 20)); !errors.As(err, &se) || se.Rule != RuleDepth || se.Offset != MaxDepthLimit {
		t.Errorf("capped depth: %v", err)
	}
	big := make([]byte, DefaultMaxInputBytes+1)
	if err := Validate(big); !errors.As(err, &se) || se.Rule != RuleInputLen {
		t.Errorf("big input: %v", err)
	}
	if err := (DecOptions{MaxInputBytes: len(big)}).Validate(big); !errors.As(err, &se) || se.Rule != RuleTrailingBytes {
		t.Errorf("big input with a raised limit: %v", err)
	}
}

func TestGenericValues(t *testing.T) {
	link := SumCID(CodecRaw, []byte("hello"))
	v := map[string]any{
		"n":     int64(-5),
		"big":   uint64(math.MaxUint64),
		"neg":   NegInt(math.MaxUint64),
		"f":     1.5,
		"s":     "héllo",
		"b":     []byte{0, 1},
		"l":     link,
		"a":     []any{nil, true, false},
		"m":     map[string]any{},
		"mixed": []any{int64(1), "x"},
	}
	b, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back any
	if err := Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, err := Marshal(back)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("re-encode differs: %x vs %x (%v)", b, b2, err)
	}
	m := back.(map[string]any)
	if m["neg"] != NegInt(math.MaxUint64) || m["big"] != uint64(math.MaxUint64) || m["l"] != link || m["n"] != int64(-5) {
		t.Fatalf("%#v", m)
	}
}

func TestEncodeErrors(t *testing.T) {
	type inner struct {
		When time.Time `cbor:"when"`
	}
	type outer struct {
		Items []inner `cbor:"items"`
	}
	for _, c := range []struct {
		name string
		v    any
		rule Rule
		path string
	}{
		{"NaN", math.NaN(), RuleFloatValue, ""},
		{"+Inf in map", map[string]any{"x": math.Inf(1)}, RuleFloatValue, "x"},
		{"-0.0 in array", []any{int64(1), math.Copysign(0, -1)}, RuleFloatValue, "[1]"},
		{"float32 Inf", float32(math.Inf(-1)), RuleFloatValue, ""},
		{"time.Time deep", outer{Items: []inner{{}, {}}}, RuleType, "items[0].when"},
		{"big.Int", big.NewInt(5), RuleType, ""},
		{"int keys", map[int]string{1: "a"}, RuleMapKeyType, ""},
		{"channel", make(chan int), RuleType, ""},
		{"bad UTF-8", map[string]any{"k": "\xff"}, RuleUTF8, "k"},
		{"bad UTF-8 key", map[string]any{"\xff": 1}, RuleUTF8, `"\xff"`},
		{"undefined CID", cid.Undef, RuleCID, ""},
		{"CIDv0", cid.NewCidV0(SumCID(CodecRaw, nil).Hash()), RuleCID, ""},
		{"invalid Raw", map[string]any{"r": Raw{0x18, 0x01}}, RuleNonShortest, "r"},
	} {
		_, err := Marshal(c.v)
		var ee *EncodeError
		if !errors.As(err, &ee) {
			t.Errorf("%s: got %v, want *EncodeError", c.name, err)
			continue
		}
		if ee.Rule != c.rule || ee.Path != c.path {
			t.Errorf("%s: %q at %q, want %q at %q", c.name, ee.Rule, ee.Path, c.rule, c.path)
		}
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: does not wrap ErrUnsupported", c.name)
		}
	}
	// float32 widens to float64.
	b, err := Marshal(float32(1.5))
	if err != nil || !bytes.Equal(b, unhex(t, "fb 3ff8000000000000")) {
		t.Errorf("float32: %x %v", b, err)
	}
	// BLAKE3 links need the option on both sides.
	blake := unhex(t, "d82a58250001551e208e4c7c1b99dbfd50e7a95185fead5ee1448fa904a2fdd778eaf5f2dbfd629a99")
	var c cid.Cid
	if err := (DecOptions{AllowBLAKE3: true}).Unmarshal(blake, &c); err != nil {
		t.Fatal(err)
	}
	if _, err := Marshal(c); err == nil {
		t.Error("Marshal wrote a BLAKE3 link by default")
	}
	if out, err := (EncOptions{AllowBLAKE3: true}).Marshal(c); err != nil || !bytes.Equal(out, blake) {
		t.Errorf("BLAKE3 with the option: %x %v", out, err)
	}
}

type taggedPost struct {
	Type      string   `cbor:"$type"`
	Text      string   `cbor:"text"`
	CreatedAt string   `cbor:"createdAt"`
	Langs     []string `cbor:"langs,omitempty"`
	Reply     *cid.Cid `cbor:"reply,omitempty"`
	Skipped   int      `cbor:"-"`
	Count     int64    `cbor:"count"`
	hidden    int
}

func TestStructs(t *testing.T) {
	link := SumCID(CodecDagCBOR, []byte("parent"))
	p := taggedPost{Type: "app.bsky.feed.post", Text: "hi", CreatedAt: "2024-01-01T00:00:00Z", Reply: &link, Skipped: 7, Count: -3, hidden: 1}
	b, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	// Same bytes as the generic map.
	g, err := Marshal(map[string]any{"$type": p.Type, "text": p.Text, "createdAt": p.CreatedAt, "reply": link, "count": int64(-3)})
	if err != nil || !bytes.Equal(b, g) {
		t.Fatalf("struct %x, map %x (%v)", b, g, err)
	}
	var back taggedPost
	if err := Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Text != p.Text || back.Reply == nil || *back.Reply != link || back.Count != -3 || back.Skipped != 0 {
		t.Fatalf("%+v", back)
	}
	// Unknown fields are skipped unless disallowed; a type mismatch is a
	// typed error.
	extra, _ := Marshal(map[string]any{"text": "x", "zzzzzzzzzzz": int64(1)})
	if err := Unmarshal(extra, &back); err != nil {
		t.Fatal(err)
	}
	var se *SyntaxError
	if err := (DecOptions{DisallowUnknownFields: true}).Unmarshal(extra, &back); !errors.As(err, &se) || se.Rule != RuleMismatch {
		t.Fatalf("DisallowUnknownFields: %v", err)
	}
	wrong, _ := Marshal(map[string]any{"text": int64(1)})
	if err := Unmarshal(wrong, &back); !errors.As(err, &se) || se.Rule != RuleMismatch || se.Offset != 6 {
		t.Fatalf("mismatch: %v", err)
	}
	if err := Unmarshal(b, back); !errors.Is(err, ErrTarget) {
		t.Fatalf("Unmarshal into a non-pointer: %v", err)
	}
}

func TestMarshalerOutputIsValidated(t *testing.T) {
	if b, err := Marshal(goodMarshaler{}); err != nil || !bytes.Equal(b, []byte{0x81, 0x01}) {
		t.Fatalf("good: %x %v", b, err)
	}
	var ee *EncodeError
	if _, err := Marshal([]any{badMarshaler{}}); !errors.As(err, &ee) || ee.Rule != RuleNonShortest || ee.Path != "[0]" {
		t.Fatalf("bad: %v", err)
	}
}

type goodMarshaler struct{}

func (goodMarshaler) MarshalCBOR() ([]byte, error) { return []byte{0x81, 0x01}, nil }

type badMarshaler struct{}

func (badMarshaler) MarshalCBOR() ([]byte, error) { return []byte{0x18, 0x01}, nil }

func memStats() float64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.TotalAlloc)
}

func TestUnmarshalFirst(t *testing.T) {
	header := mustMarshal(t, map[string]any{"op": int64(1), "t": "#commit"})
	body := mustMarshal(t, map[string]any{"seq": int64(42)})
	frame := append(append([]byte{}, header...), body...)
	var h struct {
		Op int64  `cbor:"op"`
		T  string `cbor:"t"`
	}
	rest, err := UnmarshalFirst(frame, &h)
	if err != nil || h.T != "#commit" || !bytes.Equal(rest, body) {
		t.Fatalf("header: %+v, rest %x, %v", h, rest, err)
	}
	var b any
	rest, err = UnmarshalFirst(rest, &b)
	if err != nil || len(rest) != 0 || b.(map[string]any)["seq"] != int64(42) {
		t.Fatalf("body: %v, rest %x, %v", b, rest, err)
	}
	// Errors report offsets from the start of the sequence given.
	var se *SyntaxError
	if _, err := UnmarshalFirst([]byte{0x01, 0x18, 0x01}, new(any)); err != nil {
		t.Fatal(err)
	}
	if _, err := UnmarshalFirst([]byte{0x82, 0x01, 0x18, 0x01}, new(any)); !errors.As(err, &se) || se.Offset != 2 || se.Rule != RuleNonShortest {
		t.Fatalf("%v", err)
	}
	if _, err := UnmarshalFirst(nil, new(any)); !errors.As(err, &se) || se.Rule != RuleTruncated {
		t.Fatalf("%v", err)
	}
}

func TestEncodeDepth(t *testing.T) {
	var v any = int64(1)
	for range DefaultMaxDepth {
		v = []any{v}
	}
	b, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(b); err != nil {
		t.Fatal(err)
	}
	var ee *EncodeError
	if _, err := Marshal([]any{v}); !errors.As(err, &ee) || ee.Rule != RuleDepth {
		t.Fatalf("depth %d: %v", DefaultMaxDepth+1, err)
	}
	if _, err := (EncOptions{MaxDepth: DefaultMaxDepth + 1}).Marshal([]any{v}); err != nil {
		t.Fatal(err)
	}
	// A cycle is an error, not a stack overflow.
	m := map[string]any{}
	m["self"] = m
	if _, err := Marshal(m); !errors.As(err, &ee) || ee.Rule != RuleDepth {
		t.Fatalf("cycle: %v", err)
	}
	type node struct {
		Next *node `cbor:"next"`
	}
	n := &node{}
	n.Next = n
	if _, err := Marshal(n); !errors.As(err, &ee) || ee.Rule != RuleDepth {
		t.Fatalf("struct cycle: %v", err)
	}
}

func TestUnmarshalGenericContainers(t *testing.T) {
	b := mustMarshal(t, map[string]any{"a": []any{int64(1), "x"}, "m": map[string]any{"k": nil}})
	var m map[string]any
	if err := Unmarshal(b, &m); err != nil || m["m"].(map[string]any)["k"] != nil || len(m["a"].([]any)) != 2 {
		t.Fatalf("%#v %v", m, err)
	}
	var s struct {
		A []any          `cbor:"a"`
		M map[string]any `cbor:"m"`
	}
	if err := Unmarshal(b, &s); err != nil || s.A[1] != "x" || s.M == nil {
		t.Fatalf("%#v %v", s, err)
	}
	var se *SyntaxError
	if err := Unmarshal(mustMarshal(t, []any{}), &m); !errors.As(err, &se) || se.Rule != RuleMismatch {
		t.Fatalf("array into map: %v", err)
	}
	if err := Unmarshal([]byte{0xf6}, &m); err != nil || m != nil {
		t.Fatalf("null into map: %v %v", m, err)
	}
}

var errFailingMarshaler = errors.New("the value refuses")

type failingMarshaler struct{}

func (failingMarshaler) MarshalCBOR() ([]byte, error) { return nil, errFailingMarshaler }

// TestMarshalerErrorIsKept: the error of a value's own MarshalCBOR stays
// reachable with errors.Is, beside ErrUnsupported.
func TestMarshalerErrorIsKept(t *testing.T) {
	_, err := Marshal(map[string]any{"a": failingMarshaler{}})
	var ee *EncodeError
	if !errors.As(err, &ee) || ee.Path != "a" || !errors.Is(err, errFailingMarshaler) || !errors.Is(err, ErrUnsupported) {
		t.Fatalf("got %v", err)
	}
}
