package ecverify

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"fmt"
	"unsafe"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// ErrEd25519Key is returned (wrapped, with the reason) by NewEd25519Key
// for bytes that are not 32 bytes or not the encoding of a point
// (crypto/ed25519 rejects every signature of such a key).
var ErrEd25519Key = errors.New("ecverify: not an ed25519 public key")

// Ed25519Key is an Ed25519 public key A whose point is decoded once, for
// verification with tables (VerifyTables; a one-shot verification is best
// left to crypto/ed25519, whose field arithmetic is faster than
// filippo.io/edwards25519's). Its verifications accept and reject exactly
// what crypto/ed25519.Verify does (RFC 8032 §5.1.7 as Go reads it): a
// 64-byte signature R||S with S < L (canonical), A decoded as
// filippo.io/edwards25519's Point.SetBytes decodes it (which accepts a
// non-reduced y and x = 0 with the sign bit set, like the standard
// library, which runs the same code), k = SHA-512(R||A||M) mod L over the
// key's bytes as given, and the canonical encoding of [S]B − [k]A equal
// to R byte for byte (so a non-canonical R never verifies). No cofactor
// is applied.
type Ed25519Key struct {
	enc  [32]byte           // A as received: hashed into k
	negA edwards25519.Point // −A
}

// NewEd25519Key decodes a 32-byte Ed25519 public key.
func NewEd25519Key(pub []byte) (*Ed25519Key, error) {
	if len(pub) != 32 {
		return nil, fmt.Errorf("%w: %d bytes, not 32", ErrEd25519Key, len(pub))
	}
	a, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: not the encoding of a point", ErrEd25519Key)
	}
	k := &Ed25519Key{}
	k.negA.Negate(a)
	copy(k.enc[:], pub)
	return k, nil
}

// digits returns the signed radix-256 digits of k = SHA-512(R||A||msg)
// mod L and of S, or ok false if sig is not 64 bytes or S is not
// canonical. It allocates nothing for messages up to 960 bytes.
func (k *Ed25519Key) digits(msg, sig []byte) (kd, sd [32]int8, ok bool) {
	if len(sig) != 64 || sig[63]&0xe0 != 0 {
		return kd, sd, false
	}
	var s edwards25519.Scalar
	if _, err := s.SetCanonicalBytes(sig[32:]); err != nil {
		return kd, sd, false
	}
	var sum [64]byte
	var buf [1024]byte
	if len(msg) <= len(buf)-64 {
		sum = sha512.Sum512(append(append(append(buf[:0], sig[:32]...), k.enc[:]...), msg...))
	} else {
		d := sha512.New()
		d.Write(sig[:32])
		d.Write(k.enc[:])
		d.Write(msg)
		d.Sum(sum[:0])
	}
	var h edwards25519.Scalar
	if _, err := h.SetUniformBytes(sum[:]); err != nil {
		return kd, sd, false // 64 bytes: unreachable
	}
	return signedRadix256(h.Bytes()), signedRadix256(sig[32:]), true
}

// Ed25519Table holds j·256^i·P, in affine Niels form, for the 32 byte
// positions i of a scalar and the digit magnitudes j = 1..128 (t[i][j-1]):
// with signed radix-256 digits, [x]P costs at most 32 mixed additions and
// no doubling.
type Ed25519Table [32][128]edNiels

// edNiels is an affine point (x, y) as y+x, y−x and 2d·x·y.
type edNiels struct {
	ypx, ymx, xy2d field.Element
}

// Ed25519TableBytes is the memory one Ed25519Table holds (4096 points).
const Ed25519TableBytes = unsafe.Sizeof(Ed25519Table{})

// NewTable computes the table of −A for k (VerifyTables' a): 4096 point
// additions, 32 doublings and one batched inversion.
func (k *Ed25519Key) NewTable() *Ed25519Table {
	return newEd25519Table(&k.negA)
}

// NewEd25519GeneratorTable computes the table of the base point B
// (VerifyTables' g), which every key's verification shares.
func NewEd25519GeneratorTable() *Ed25519Table {
	return newEd25519Table(edwards25519.NewGeneratorPoint())
}

// edD2 is 2d, d = −121665/121666 the constant of the curve equation.
var edD2 = func() *field.Element {
	var n, den field.Element
	n.Mult32(new(field.Element).One(), 121665)
	n.Negate(&n)
	den.Mult32(new(field.Element).One(), 121666)
	den.Invert(&den)
	n.Multiply(&n, &den)
	return n.Add(&n, &n)
}()

func newEd25519Table(p *edwards25519.Point) *Ed25519Table {
	const n = 32 * 128
	pts := make([]edwards25519.Point, n)
	base := new(edwards25519.Point).Set(p)
	for i := 0; i < 32; i++ {
		row := pts[i*128 : (i+1)*128]
		row[0].Set(base)
		for j := 1; j < 128; j++ {
			row[j].Add(&row[j-1], base)
		}
		base.Double(&row[127]) // 256·256^i·P
	}
	// Montgomery's trick: one inversion for every Z (never zero: the
	// addition law is complete).
	zs := make([]field.Element, n)
	pre := make([]field.Element, n)
	for i := range pts {
		_, _, z, _ := pts[i].ExtendedCoordinates()
		zs[i].Set(z)
		if i == 0 {
			pre[0].Set(z)
		} else {
			pre[i].Multiply(&pre[i-1], z)
		}
	}
	var inv field.Element
	inv.Invert(&pre[n-1])
	for i := n - 1; i >= 0; i-- {
		zinv := &pre[i] // pre[i] is no longer needed once read
		if i > 0 {
			zinv.Multiply(&inv, &pre[i-1])
			inv.Multiply(&inv, &zs[i])
		} else {
			zinv.Set(&inv)
		}
	}
	t := new(Ed25519Table)
	for i := range pts {
		X, Y, _, _ := pts[i].ExtendedCoordinates()
		var x, y field.Element
		x.Multiply(X, &pre[i])
		y.Multiply(Y, &pre[i])
		e := &t[i/128][i%128]
		e.ypx.Add(&y, &x)
		e.ymx.Subtract(&y, &x)
		e.xy2d.Multiply(&x, &y)
		e.xy2d.Multiply(&e.xy2d, edD2)
	}
	return t
}

// VerifyTables reports whether sig is a valid signature of msg by k, with
// g, the generator's table (NewEd25519GeneratorTable), and a, k's table
// (k.NewTable): [S]B − [k]A as at most 64 mixed additions. The caller
// pairs a with k.
func (k *Ed25519Key) VerifyTables(g, a *Ed25519Table, msg, sig []byte) bool {
	hd, sd, ok := k.digits(msg, sig)
	if !ok {
		return false
	}
	var acc edP3
	acc.Y.One()
	acc.Z.One()
	for i := 0; i < 32; i++ {
		acc.addDigit(&g[i], sd[i])
		acc.addDigit(&a[i], hd[i])
	}
	return acc.encodes(sig[:32])
}

// signedRadix256 returns digits d[i] in [−128, 127] with x = Σ d[i]·256^i,
// for a little-endian scalar x < 2^255 (reduced scalars are < 2^253).
func signedRadix256(x []byte) [32]int8 {
	var d [32]int8
	carry := 0
	for i := 0; i < 32; i++ {
		v := int(x[i]) + carry
		carry = (v + 128) >> 8
		d[i] = int8(v - carry<<8)
	}
	return d
}

// edP3 is a point in extended coordinates: x = X/Z, y = Y/Z, xy = T/Z.
type edP3 struct {
	X, Y, Z, T field.Element
}

// addDigit adds d times the row's base point (d = 0 adds nothing).
func (p *edP3) addDigit(row *[128]edNiels, d int8) {
	switch {
	case d > 0:
		p.addNiels(&row[d-1], false)
	case d < 0:
		p.addNiels(&row[-int(d)-1], true)
	}
}

// addNiels sets p = p + q, or p − q if neg: the unified addition of
// Hisil, Wong, Carter and Dawson 2008 (§3.1, a = −1, with Z2 = 1), which is
// complete on edwards25519.
func (p *edP3) addNiels(q *edNiels, neg bool) {
	qp, qm := &q.ypx, &q.ymx
	if neg { // −(x, y) = (−x, y): swaps y+x and y−x and negates 2dxy
		qp, qm = qm, qp
	}
	var a, b, c, d, e, f, g, h field.Element
	a.Subtract(&p.Y, &p.X)
	a.Multiply(&a, qm)
	b.Add(&p.Y, &p.X)
	b.Multiply(&b, qp)
	c.Multiply(&p.T, &q.xy2d)
	d.Add(&p.Z, &p.Z)
	e.Subtract(&b, &a)
	h.Add(&b, &a)
	if neg {
		f.Add(&d, &c)
		g.Subtract(&d, &c)
	} else {
		f.Subtract(&d, &c)
		g.Add(&d, &c)
	}
	p.X.Multiply(&e, &f)
	p.Y.Multiply(&g, &h)
	p.T.Multiply(&e, &h)
	p.Z.Multiply(&f, &g)
}

// encodes reports whether r is the canonical encoding of p (RFC 8032
// §5.1.2: y, with the sign of x in the top bit).
func (p *edP3) encodes(r []byte) bool {
	var zinv, x, y field.Element
	zinv.Invert(&p.Z)
	x.Multiply(&p.X, &zinv)
	y.Multiply(&p.Y, &zinv)
	var enc [32]byte
	copy(enc[:], y.Bytes())
	enc[31] |= byte(x.IsNegative() << 7)
	return bytes.Equal(r, enc[:])
}
