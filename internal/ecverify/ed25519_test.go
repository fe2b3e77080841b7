package ecverify

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"filippo.io/edwards25519"
)

// edFuzzSeed is the seed of the fixed key of the Ed25519 tests (so that
// committed fuzz seeds stay valid).
var edFuzzSeed = []byte("townhall ucan ed25519 fuzz seed!")

// edTorsion returns the canonical encodings of the 8 points of small order
// (the identity, the point of order 2, two of order 4, four of order 8),
// computed as multiples of one point of order 8.
func edTorsion(t testing.TB) [][]byte {
	t8, err := new(edwards25519.Point).SetBytes(mustHexBytes(t, "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"))
	if err != nil {
		t.Fatal(err)
	}
	if new(edwards25519.Point).MultByCofactor(t8).Equal(edwards25519.NewIdentityPoint()) != 1 {
		t.Fatal("not of small order")
	}
	var out [][]byte
	p := edwards25519.NewIdentityPoint()
	for range 8 {
		out = append(out, p.Bytes())
		p.Add(p, t8)
	}
	return out
}

func mustHexBytes(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edNonCanonical returns the encodings whose y is p+c, c = 0..5 (y ≥ p,
// which Point.SetBytes reduces: y = 0 is a point of order 4, y = 1 the
// identity), with and without the sign bit, and the
// encodings of y = 1 and y = p−1 (x = 0) with the sign bit set.
func edNonCanonical() [][]byte {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	le := func(v *big.Int, sign bool) []byte {
		b := make([]byte, 32)
		v.FillBytes(b)
		for i := 0; i < 16; i++ {
			b[i], b[31-i] = b[31-i], b[i]
		}
		if sign {
			b[31] |= 0x80
		}
		return b
	}
	var out [][]byte
	for c := int64(0); c < 6; c++ {
		y := new(big.Int).Add(p, big.NewInt(c))
		out = append(out, le(y, false), le(y, true))
	}
	out = append(out, le(big.NewInt(1), true), le(new(big.Int).Sub(p, big.NewInt(1)), true))
	return out
}

// edCase is a public key, message and signature for the differential
// tests.
type edCase struct {
	name          string
	pub, msg, sig []byte
}

// edCases builds valid signatures and near misses of a real key, keys of
// small order and non-canonical key encodings with signatures crafted so
// that some verify, and a real key plus a point of small order with
// signatures that verify for some of the torsion components.
func edCases(t testing.TB) []edCase {
	priv := ed25519.NewKeyFromSeed(edFuzzSeed)
	pub := priv.Public().(ed25519.PublicKey)
	msg := []byte("ucan invocation payload")
	sig := ed25519.Sign(priv, msg)
	var cases []edCase
	add := func(name string, pub, msg, sig []byte) {
		cases = append(cases, edCase{name, pub, msg, sig})
	}
	add("valid", pub, msg, sig)
	add("valid empty", pub, nil, ed25519.Sign(priv, nil))
	long := make([]byte, 2000) // past digits' stack buffer
	add("valid long", pub, long, ed25519.Sign(priv, long))
	add("long, other msg", pub, long[1:], ed25519.Sign(priv, long))
	for i := 0; i < 64*8; i += 7 {
		c := append([]byte{}, sig...)
		c[i/8] ^= 1 << (i % 8)
		add(fmt.Sprintf("sig bit %d", i), pub, msg, c)
	}
	for i := 0; i < 32*8; i += 37 {
		c := append([]byte{}, pub...)
		c[i/8] ^= 1 << (i % 8)
		add(fmt.Sprintf("key bit %d", i), c, msg, sig)
	}
	add("other msg", pub, []byte("ucan invocation payloaD"), sig)
	// S + L: the same point, not canonical.
	l := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 252), mustBig(t, "14def9dea2f79cd65812631a5cf5d3ed"))
	s := leInt(sig[32:])
	add("S+L", pub, msg, append(append([]byte{}, sig[:32]...), leBytes(new(big.Int).Add(s, l))...))
	add("S=L", pub, msg, append(append([]byte{}, sig[:32]...), leBytes(l)...))
	hi := append([]byte{}, sig...)
	hi[63] |= 0x20
	add("S high bit", pub, msg, hi)
	add("short sig", pub, msg, sig[:63])
	add("long sig", pub, msg, append(append([]byte{}, sig...), 0))

	// Keys of small order and non-canonical encodings, with S = 0 and R
	// every small-order encoding: [0]B − [k]A = R holds for some.
	torsion := edTorsion(t)
	keys := append(append([][]byte{}, torsion...), edNonCanonical()...)
	rs := append(append([][]byte{}, torsion...), edNonCanonical()...)
	for i, a := range keys {
		for j, r := range rs {
			add(fmt.Sprintf("small key %d R %d S 0", i, j), a, msg, append(append([]byte{}, r...), make([]byte, 32)...))
		}
	}

	// A real key plus a point T of small order: with R = [r]B + T_j and
	// S = r + k·a, [S]B − [k](A+T) = [r]B − [k]T, which is R when
	// T_j = −[k]T.
	h := sha512.Sum512(edFuzzSeed)
	a, err := new(edwards25519.Scalar).SetBytesWithClamping(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	A := new(edwards25519.Point).ScalarBaseMult(a)
	rb := make([]byte, 32)
	rb[0] = 7
	r, err := new(edwards25519.Scalar).SetCanonicalBytes(rb)
	if err != nil {
		t.Fatal(err)
	}
	rB := new(edwards25519.Point).ScalarBaseMult(r)
	for i, tb := range torsion {
		T, _ := new(edwards25519.Point).SetBytes(tb)
		apub := new(edwards25519.Point).Add(A, T).Bytes()
		for j, tj := range torsion {
			Tj, _ := new(edwards25519.Point).SetBytes(tj)
			R := new(edwards25519.Point).Add(rB, Tj).Bytes()
			kh := sha512.New()
			kh.Write(R)
			kh.Write(apub)
			kh.Write(msg)
			k, _ := new(edwards25519.Scalar).SetUniformBytes(kh.Sum(nil))
			S := new(edwards25519.Scalar).MultiplyAdd(k, a, r)
			add(fmt.Sprintf("key+T%d R+T%d", i, j), apub, msg, append(R, S.Bytes()...))
		}
	}
	return cases
}

func mustBig(t testing.TB, s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		t.Fatal("bad constant")
	}
	return n
}

func leInt(b []byte) *big.Int {
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	return new(big.Int).SetBytes(be)
}

func leBytes(v *big.Int) []byte {
	b := make([]byte, 32)
	v.FillBytes(b)
	for i := 0; i < 16; i++ {
		b[i], b[31-i] = b[31-i], b[i]
	}
	return b
}

// edCheck compares Ed25519Key's verdict with tables with
// crypto/ed25519.Verify's; tables caches tables by key. It returns the
// standard library's verdict.
func edCheck(t testing.TB, g *Ed25519Table, tables map[string]*Ed25519Table, pub, msg, sig []byte) bool {
	k, err := NewEd25519Key(pub)
	if err != nil && !errors.Is(err, ErrEd25519Key) {
		t.Fatalf("NewEd25519Key: %v does not wrap ErrEd25519Key", err)
	}
	if len(pub) != ed25519.PublicKeySize {
		if err == nil {
			t.Fatalf("NewEd25519Key accepted %d bytes", len(pub))
		}
		return false
	}
	want := ed25519.Verify(pub, msg, sig)
	if err != nil {
		if want {
			t.Fatalf("key %x: NewEd25519Key: %v, but crypto/ed25519 verifies", pub, err)
		}
		return want
	}
	tbl := tables[string(pub)]
	if tbl == nil {
		tbl = k.NewTable()
		tables[string(pub)] = tbl
	}
	if got := k.VerifyTables(g, tbl, msg, sig); got != want {
		t.Fatalf("key %x sig %x: tables say %v, crypto/ed25519 %v", pub, sig, got, want)
	}
	return want
}

// TestEd25519MatchesStdlib checks VerifyTables against
// crypto/ed25519.Verify on valid signatures and near misses (every kind of
// bit flip, S + L, S = L, S with high bits set, wrong lengths), keys of
// small order and non-canonical encodings (y ≥ p, x = 0 with the sign bit),
// and keys with a torsion component. Among the crafted cases some must
// verify and some must not, or they test nothing.
func TestEd25519MatchesStdlib(t *testing.T) {
	g := NewEd25519GeneratorTable()
	tables := map[string]*Ed25519Table{}
	accepted := map[string]int{}
	for _, c := range edCases(t) {
		if edCheck(t, g, tables, c.pub, c.msg, c.sig) {
			accepted[c.name[:5]]++
		}
	}
	t.Logf("accepted: %v", accepted)
	if accepted["valid"] != 3 || accepted["small"] == 0 || accepted["key+T"] < 8 {
		t.Fatalf("crafted cases accepted: %v (want the 3 valid, some small-order, at least one per torsion key)", accepted)
	}
}

// TestEd25519RandomKeys checks random keys, messages and signatures (and
// one-bit changes of them) against crypto/ed25519.
func TestEd25519RandomKeys(t *testing.T) {
	g := NewEd25519GeneratorTable()
	tables := map[string]*Ed25519Table{}
	for i := range 4 {
		seed := sha512.Sum512([]byte{byte(i)})
		priv := ed25519.NewKeyFromSeed(seed[:32])
		pub := priv.Public().(ed25519.PublicKey)
		for j := range 16 {
			msg := seed[:j*4]
			sig := ed25519.Sign(priv, msg)
			if !edCheck(t, g, tables, pub, msg, sig) {
				t.Fatal("valid signature rejected")
			}
			bad := append([]byte{}, sig...)
			bad[(i*16+j)%64] ^= 1 << (j % 8)
			edCheck(t, g, tables, pub, msg, bad)
		}
	}
}

func TestSignedRadix256(t *testing.T) {
	for _, hx := range []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff1f",
		"8080808080808080808080808080808080808080808080808080808080808000",
		"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f10",
	} {
		x := mustHexBytes(t, hx)
		d := signedRadix256(x)
		sum := new(big.Int)
		for i := 31; i >= 0; i-- {
			sum.Lsh(sum, 8)
			sum.Add(sum, big.NewInt(int64(d[i])))
		}
		if sum.Cmp(leInt(x)) != 0 {
			t.Fatalf("%s: digits %v sum to %x", hx, d, sum)
		}
	}
}

// FuzzEd25519MatchesStdlib is a differential target: on any key,
// message and signature bytes, Ed25519Key.VerifyTables must give crypto/ed25519.Verify's verdict (and NewEd25519Key must refuse every
// key that is not 32 bytes). The seeds are the cases of
// TestEd25519MatchesStdlib and the committed corpus in
// testdata/fuzz/FuzzEd25519MatchesStdlib (small-order and non-canonical
// keys with signatures that verify).
func FuzzEd25519MatchesStdlib(f *testing.F) {
	for _, c := range edCases(f) {
		f.Add(c.pub, c.msg, c.sig)
	}
	g := NewEd25519GeneratorTable()
	tables := map[string]*Ed25519Table{}
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		if len(tables) > 64 {
			clear(tables)
		}
		edCheck(t, g, tables, pub, msg, sig)
	})
}

func BenchmarkEd25519(b *testing.B) {
	priv := ed25519.NewKeyFromSeed(edFuzzSeed)
	pub := priv.Public().(ed25519.PublicKey)
	msg := make([]byte, 400)
	sig := ed25519.Sign(priv, msg)
	k, err := NewEd25519Key(pub)
	if err != nil {
		b.Fatal(err)
	}
	g, tbl := NewEd25519GeneratorTable(), k.NewTable()
	b.Run("stdlib", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("table", func(b *testing.B) {
		for b.Loop() {
			if !k.VerifyTables(g, tbl, msg, sig) {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			k.NewTable()
		}
	})
}
