package plc

import (
	"encoding/base64"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"

	"filippo.io/nistec"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	secp256k1 "gitlab.com/yawning/secp256k1-voi"
)

// Sign signs op in place with key: it sets op.Sig to the unpadded base64url
// encoding of the raw, low-S r||s signature over op.UnsignedBytes().
func Sign(op *Op, key atcrypto.PrivateKey) error {
	msg, err := op.UnsignedBytes()
	if err != nil {
		return err
	}
	sig, err := key.HashAndSign(msg)
	if err != nil {
		return err
	}
	op.Sig = base64.RawURLEncoding.EncodeToString(sig)
	return nil
}

var strictB64 = base64.RawURLEncoding.Strict()

// decodeSig applies the encoding rules of the spec: unpadded base64url, no
// newlines (Go's decoder would skip them), zero trailing bits, 64 bytes.
func decodeSig(s string) ([]byte, error) {
	if s == "" {
		return nil, fieldErr("sig", ErrUnsigned, "")
	}
	if strings.ContainsAny(s, "\r\n") {
		return nil, fieldErr("sig", ErrSigNewline, "")
	}
	if strings.Contains(s, "=") {
		return nil, fieldErr("sig", ErrSigPadding, "")
	}
	if len(s) > 200 {
		return nil, fieldErr("sig", ErrSigLength, "signature string too long")
	}
	b, err := strictB64.DecodeString(s)
	if err != nil {
		return nil, fieldErr("sig", ErrSigEncoding, err.Error())
	}
	if len(b) != 64 {
		if looksDER(b) {
			return nil, fieldErr("sig", ErrSigDER, "")
		}
		return nil, fieldErr("sig", ErrSigLength, "")
	}
	if highForAll(b[32:]) {
		return nil, fieldErr("sig", ErrSigHighS, "")
	}
	return b, nil
}

// looksDER reports whether b is a well-formed DER ECDSA-Sig-Value
// (SEQUENCE of two INTEGERs with short-form lengths).
func looksDER(b []byte) bool {
	if len(b) < 8 || b[0] != 0x30 || int(b[1]) != len(b)-2 || b[2] != 0x02 {
		return false
	}
	rlen := int(b[3])
	if rlen == 0 || 4+rlen+2 > len(b) || b[4+rlen] != 0x02 {
		return false
	}
	slen := int(b[5+rlen])
	return slen > 0 && 6+rlen+slen == len(b)
}

var (
	orderP256    = mustHex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
	orderK256    = mustHex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
	halfP256     = new(big.Int).Rsh(orderP256, 1)
	halfK256     = new(big.Int).Rsh(orderK256, 1)
	halfMaxOrder = halfK256 // the larger of the two halves
)

func mustHex(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("plc: bad constant") // constant input, unreachable
	}
	return n
}

// highForAll reports whether s is high for every supported curve.
func highForAll(s []byte) bool {
	return new(big.Int).SetBytes(s).Cmp(halfMaxOrder) > 0
}

func isHighS(s []byte, k256 bool) bool {
	half := halfP256
	if k256 {
		half = halfK256
	}
	return new(big.Int).SetBytes(s).Cmp(half) > 0
}

// KeyCache holds parsed rotation keys so that each did:key string is decoded
// (and its curve point decompressed) once. It is safe for concurrent use and
// its zero value is ready; share one across validations of many logs. It
// holds at most MaxEntries keys (default 65536), dropping all when full.
// A key that has verified 32 signatures also gets a 768 KiB precomputed
// table that makes its verifications about 2.3 times cheaper; at most 32
// such tables (≈ 25 MiB) live in one cache.
type KeyCache struct {
	MaxEntries int

	mu     sync.RWMutex
	m      map[string]*rotationKey
	tables atomic.Int32 // K-256 tables built for keys in m
	gOnce  sync.Once
	gTable *k256Table // the generator's table, built with the first key table
}

type rotationKey struct {
	pub   atcrypto.PublicKey
	k256  bool
	err   error
	point *secp256k1.Point  // K-256 only
	p256  *nistec.P256Point // P-256 only

	uses   atomic.Int32
	once   sync.Once
	table  atomic.Pointer[k256Table]
	ptable atomic.Pointer[p256Table]
}

// verify reports whether sig is k's valid low-S signature over msg. A
// K-256 key that keeps signing gets a precomputed table (k256table.go).
func (c *KeyCache) verify(k *rotationKey, msg, sig []byte) bool {
	if k.p256 != nil {
		if t := k.ptable.Load(); t != nil {
			return t.verify(msg, sig)
		}
		if k.uses.Add(1) >= tableThreshold {
			k.once.Do(func() {
				if c.tables.Add(1) <= maxTables {
					k.ptable.Store(newP256Table(k.p256))
				}
			})
			if t := k.ptable.Load(); t != nil {
				return t.verify(msg, sig)
			}
		}
	}
	if k.point != nil {
		if t := k.table.Load(); t != nil {
			return verifyK256Tables(c.gTable, t, msg, sig)
		}
		if k.uses.Add(1) >= tableThreshold {
			k.once.Do(func() {
				if c.tables.Add(1) <= maxTables {
					c.gOnce.Do(func() { c.gTable = newK256Table(secp256k1.NewGeneratorPoint()) })
					k.table.Store(newK256Table(k.point))
				}
			})
			if t := k.table.Load(); t != nil {
				return verifyK256Tables(c.gTable, t, msg, sig)
			}
		}
	}
	return k.pub.HashAndVerify(msg, sig) == nil
}

func (c *KeyCache) get(s string) *rotationKey {
	c.mu.RLock()
	k, ok := c.m[s]
	c.mu.RUnlock()
	if ok {
		return k
	}
	k = parseRotationKey(s)
	c.mu.Lock()
	max := c.MaxEntries
	if max <= 0 {
		max = 1 << 16
	}
	if c.m == nil || len(c.m) >= max {
		c.m = make(map[string]*rotationKey)
		c.tables.Store(0)
	}
	c.m[s] = k
	c.mu.Unlock()
	return k
}

func parseRotationKey(s string) *rotationKey {
	pub, err := atcrypto.ParsePublicDIDKey(s)
	if err != nil {
		return &rotationKey{err: fieldErr("rotationKeys", ErrUnsupportedKey, s)}
	}
	rk := &rotationKey{pub: pub}
	if kp, ok := pub.(*atcrypto.PublicKeyP256); ok {
		if pt, err := nistec.NewP256Point().SetBytes(kp.UncompressedBytes()); err == nil {
			rk.p256 = pt
		}
	}
	if kp, ok := pub.(*atcrypto.PublicKeyK256); ok {
		rk.k256 = true
		if pt, err := secp256k1.NewPointFromBytes(kp.UncompressedBytes()); err == nil {
			rk.point = pt
		}
	}
	return rk
}

// verifyAny finds the first of keys that verifies sig over msg and returns
// its index. hint, when in range, is tried first (the signer of the previous
// operation usually signs the next one too); because distinct did:key
// strings are distinct keys, a hit there is mapped back to the first index
// holding the same string, which is what trying the keys in order would give.
func verifyAny(cache *KeyCache, keys []string, msg, sig []byte, hint int) (int, error) {
	if len(keys) == 0 {
		return -1, ErrNoRotationKeys
	}
	if hint >= 0 && hint < len(keys) {
		k := cache.get(keys[hint])
		if k.err == nil && cache.verify(k, msg, sig) {
			// Any earlier key that fails to parse would have made the
			// in-order search fail first, as in the reference.
			for i := 0; i < hint; i++ {
				if keys[i] == keys[hint] {
					return i, nil
				}
				if e := cache.get(keys[i]).err; e != nil {
					return -1, e
				}
			}
			return hint, nil
		}
	}
	for i, s := range keys {
		if i == hint {
			continue
		}
		k := cache.get(s)
		if k.err != nil {
			return -1, k.err
		}
		if cache.verify(k, msg, sig) {
			return i, nil
		}
	}
	return -1, classifySigFailure(cache, keys, sig)
}

// classifySigFailure names why no key verified sig: its shape (DER) or its
// S value (high for the curve of some candidate key), else plain mismatch.
func classifySigFailure(cache *KeyCache, keys []string, sig []byte) error {
	if looksDER(sig) {
		return ErrSigDER
	}
	for _, s := range keys {
		k := cache.get(s)
		if k.err == nil && isHighS(sig[32:], k.k256) {
			return ErrSigHighS
		}
	}
	return ErrSigInvalid
}
