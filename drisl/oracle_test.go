package drisl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// randomValue builds a generic value without floats or links, which
// fxamacker's Core Deterministic encoding writes exactly as DRISL does
// (shortest heads; for text keys shorter than 256 bytes its bytewise order
// of encoded keys is DRISL's length-first order).
func randomValue(r *rand.Rand, depth int) any {
	k := r.IntN(9)
	if depth > 3 {
		k = r.IntN(5)
	}
	switch k {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return r.Int64() >> r.IntN(64) * int64(1-2*r.IntN(2))
	case 3:
		return string(bytes.Repeat([]byte("aé🦋"), r.IntN(4)))
	case 4:
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	case 5, 6:
		a := make([]any, r.IntN(6))
		for i := range a {
			a[i] = randomValue(r, depth+1)
		}
		return a
	default:
		// Sizes on both sides of the stack-sorted small-map limit.
		n := r.IntN(smallMap + 4)
		if depth == 0 {
			n = r.IntN(3 * smallMap)
		}
		m := make(map[string]any, n)
		for range n {
			m[fmt.Sprintf("%x", r.Uint64()>>r.IntN(64))] = randomValue(r, depth+1)
		}
		return m
	}
}

func TestEncodeMatchesCanonicalOracle(t *testing.T) {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	long := map[string]any{}
	for i := range 3 * smallMap {
		long[strings.Repeat("k", 50+i%30)+fmt.Sprint(i%7)] = int64(i)
	}
	for i := range 301 {
		v := randomValue(r, 0)
		if i == 300 {
			v = long // keys over 64 bytes: the generic sort
		}
		got, err := Marshal(v)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		want, err := em.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d: townhall %x\nfxamacker %x", i, got, want)
		}
		if err := Validate(got); err != nil {
			t.Fatalf("%d: own output invalid: %v", i, err)
		}
		// AppendMarshal appends the same bytes.
		app, err := AppendMarshal([]byte{0xff}, v)
		if err != nil || !bytes.Equal(app[1:], got) || app[0] != 0xff {
			t.Fatalf("%d: AppendMarshal: %x %v", i, app, err)
		}
	}
}

func TestReflectKinds(t *testing.T) {
	type kinds struct {
		I8   int8              `cbor:"i8"`
		U16  uint16            `cbor:"u16"`
		F32  float32           `cbor:"f32"`
		Arr  [2]byte           `cbor:"arr"`
		Ints [3]int            `cbor:"ints"`
		M    map[string]uint   `cbor:"m"`
		Any  any               `cbor:"any"`
		Ptr  *string           `cbor:"ptr"`
		Big  map[string]string `cbor:"big"`
		Neg  NegInt            `cbor:"neg"`
	}
	s := "x"
	big := map[string]string{}
	for i := range 40 {
		big[fmt.Sprint("key", i)] = fmt.Sprint(i)
	}
	in := kinds{I8: -3, U16: 65535, F32: 0.5, Arr: [2]byte{1, 2}, Ints: [3]int{1, -1, 1000}, M: map[string]uint{"b": 2, "a": 1}, Any: []any{"x"}, Ptr: &s, Big: big, Neg: NegInt(math.MaxUint64)}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out kinds
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	b2, err := Marshal(out)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("reflect roundtrip differs: %v", err)
	}
	var generic any
	if err := Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	b3, _ := Marshal(generic)
	if !bytes.Equal(b, b3) {
		t.Fatal("struct and generic encodings differ")
	}
	// Out-of-range integers and wrong kinds are RuleMismatch errors.
	for _, c := range []struct {
		v    any
		into any
	}{
		{int64(300), new(int8)},
		{int64(-1), new(uint)},
		{int64(70000), new(uint16)},
		{uint64(math.MaxUint64), new(int64)},
		{int64(5), new(NegInt)},
		{int64(1), new(float64)},
		{"x", new(int)},
		{[]byte{1}, new([3]byte)},
		{[]any{int64(1)}, new([2]int)},
		{map[string]any{}, new([]int)},
		{SumCID(CodecRaw, nil), new(string)},
		{true, new(string)},
		{1.5, new(bool)},
		{map[string]any{"a": int64(1)}, new(map[string]string)},
		{int64(1), new(fmt.Stringer)},
	} {
		b := mustMarshal(t, c.v)
		err := Unmarshal(b, c.into)
		var se *SyntaxError
		if !errors.As(err, &se) || se.Rule != RuleMismatch {
			t.Errorf("%#v into %T: %v", c.v, c.into, err)
		}
	}
}

// writerRecord stands for a cbor-gen type such as indigo's bsky.FeedPost.
type writerRecord struct{ out []byte }

func (w *writerRecord) MarshalCBOR(wr io.Writer) error {
	_, err := wr.Write(w.out)
	return err
}

func TestWriterMarshaler(t *testing.T) {
	good := &writerRecord{out: []byte{0xa1, 0x61, 'a', 0x01}}
	b, err := Marshal(map[string]any{"r": good})
	if err != nil || !bytes.Equal(b, []byte{0xa1, 0x61, 'r', 0xa1, 0x61, 'a', 0x01}) {
		t.Fatalf("%x %v", b, err)
	}
	// As a struct field by value, its pointer method is found too.
	type holder struct {
		R writerRecord `cbor:"r"`
	}
	h := &holder{R: *good}
	if b2, err := Marshal(h); err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("field: %x %v", b2, err)
	}
	var nilRecord *writerRecord
	if b, err := Marshal(map[string]any{"r": nilRecord}); err != nil || !bytes.Equal(b, []byte{0xa1, 0x61, 'r', 0xf6}) {
		t.Fatalf("nil marshaler: %x %v", b, err)
	}
	bad := &writerRecord{out: []byte{0xa2, 0x61, 'b', 0x01, 0x61, 'a', 0x01}}
	var ee *EncodeError
	if _, err := Marshal([]any{bad}); !errors.As(err, &ee) || ee.Rule != RuleMapKeyOrder || ee.Path != "[0]" {
		t.Fatalf("bad: %v", err)
	}
	if ee.Error() == "" || !strings.Contains(ee.Error(), "[0]") {
		t.Fatalf("message %q", ee.Error())
	}
	var de *DataModelError
	if err := CheckAtproto(map[string]any{"x": []any{1.5}}); !errors.As(err, &de) || !strings.Contains(de.Error(), "x[0]") {
		t.Fatalf("%v", err)
	}
}
