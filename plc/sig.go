package plc

import (
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"filippo.io/nistec"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/mr-tron/base58"
	secp256k1 "gitlab.com/yawning/secp256k1-voi"

	"github.com/townhall-dev/townhall/internal/ecverify"
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
	if ecverify.HighS(b[32:], true) { // high for both curves
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

// Signature verification, here rather than through atcrypto (see the
// Performance section of the package doc, and internal/ecverify for the
// verifications themselves). K-256: every verification is ecverify's, on
// secp256k1-voi's arithmetic: one-shot keys with the scalars of a
// signature computed once per operation whichever keys are then tried, and
// the key decompressed from its did:key without the uncompressed
// re-encoding atcrypto's parser computes; hot keys with a precomputed table
// of the key and one of the generator. P-256: one-shot keys are atcrypto's
// (crypto/ecdsa underneath); hot keys get an ecverify table. Both under
// atproto's low-S rule.

const (
	tableThreshold = 32 // successful verifications by one key before its table is built
	maxTables      = 32 // key tables per KeyCache, to bound memory (≈ 26 MiB)
)

// KeyCache holds parsed rotation keys so that each did:key string is decoded
// (and its curve point decompressed) once. It is safe for concurrent use and
// its zero value is ready; share one across validations of many logs. It
// holds at most MaxEntries keys (default 65536), dropping all when full.
// A key that has verified 32 signatures (failed verifications do not
// count) also gets a precomputed table (832 KiB for K-256, 768 KiB for
// P-256) that makes its verifications about 2.5 (K-256) to 4 (P-256)
// times cheaper. At most 32 such tables (≈ 26 MiB, plus one of the K-256
// generator, plus those being built at the moment) live in one cache: a
// key that earns a table when all are taken takes the place of the least
// recently used, which must earn its table again.
type KeyCache struct {
	MaxEntries int

	mu     sync.RWMutex
	m      map[string]*rotationKey
	gOnce  sync.Once
	gTable *ecverify.K256Table // the generator's table, built with the first K-256 key table

	tmu   sync.Mutex
	hot   []*rotationKey // keys with a table, at most maxTables
	clock atomic.Int64   // ticks at each table verification (least recently used)
}

type rotationKey struct {
	k256  bool
	err   error
	point *secp256k1.Point        // K-256 only (verified by ecverify)
	p256  *atcrypto.PublicKeyP256 // P-256 only (verified by atcrypto)

	tries    atomic.Int32 // verifications attempted (TestVectorsOneVerificationPerOp)
	uses     atomic.Int32 // successful verifications since the key last lost its table
	building atomic.Bool  // a table is being built, or is in the cache's set
	lastUse  atomic.Int64 // the cache's clock at the last table verification
	table    atomic.Pointer[ecverify.K256Table]
	ptable   atomic.Pointer[ecverify.P256Table]
}

// sigCheck is one operation's signature on its way to being checked
// against candidate keys.
type sigCheck struct {
	msg, sig []byte
	k256     ecverify.K256Sig // prepared on the first K-256 key tried
}

func newSigCheck(msg, sig []byte) sigCheck {
	return sigCheck{msg: msg, sig: sig, k256: ecverify.NewK256Sig(msg, sig, ecverify.LowS)}
}

// verify reports whether sc is k's valid low-S signature. A key that keeps
// signing gets a precomputed table.
func (c *KeyCache) verify(k *rotationKey, sc *sigCheck) bool {
	k.tries.Add(1)
	var ok, table bool
	switch {
	case k.p256 != nil:
		if t := k.ptable.Load(); t != nil {
			ok, table = t.Verify(sc.msg, sc.sig, ecverify.LowS), true
		} else {
			ok = k.p256.HashAndVerify(sc.msg, sc.sig) == nil
		}
	case k.point != nil:
		if t := k.table.Load(); t != nil {
			ok, table = sc.k256.VerifyTables(c.gTable, t), true
		} else {
			ok = sc.k256.Verify(k.point)
		}
	}
	switch {
	case !ok:
	case table:
		k.lastUse.Store(c.clock.Add(1)) // for install's least recently used
	default:
		c.noteUse(k)
	}
	return ok
}

// noteUse counts a successful verification by k, which has no table; at
// the threshold k gets one. Only verifications that succeeded count, so
// that signatures that fail (junk, or a candidate key that is not the
// signer) earn no table.
func (c *KeyCache) noteUse(k *rotationKey) {
	if k.uses.Add(1) < tableThreshold || !k.building.CompareAndSwap(false, true) {
		return
	}
	if k.p256 != nil {
		pt, err := nistec.NewP256Point().SetBytes(k.p256.UncompressedBytes())
		if err != nil {
			return // building stays set: this key gets no table
		}
		k.ptable.Store(ecverify.NewP256Table(pt))
	} else {
		c.gOnce.Do(func() { c.gTable = ecverify.NewK256GeneratorTable() })
		k.table.Store(ecverify.NewK256Table(k.point))
	}
	c.install(k)
}

// install adds k, whose table is built, to the set of keys with a table,
// first dropping the table of the least recently used key if the set is
// full.
func (c *KeyCache) install(k *rotationKey) {
	k.lastUse.Store(c.clock.Add(1))
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if len(c.hot) >= maxTables {
		lru := 0
		for i, x := range c.hot {
			if x.lastUse.Load() < c.hot[lru].lastUse.Load() {
				lru = i
			}
		}
		c.hot[lru].drop()
		c.hot = slices.Delete(c.hot, lru, lru+1)
	}
	c.hot = append(c.hot, k)
}

// dropTables drops every key's table (when the key map is rebuilt).
func (c *KeyCache) dropTables() {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	for _, k := range c.hot {
		k.drop()
	}
	c.hot = nil
}

// drop forgets k's table; it must earn one again. Called with the cache's
// tmu held.
func (k *rotationKey) drop() {
	k.table.Store(nil)
	k.ptable.Store(nil)
	k.uses.Store(0)
	k.building.Store(false)
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
	if prev, ok := c.m[s]; ok {
		// Another goroutine parsed it meanwhile: keep one entry, so that
		// its use count (and the table it may earn) is not split.
		c.mu.Unlock()
		return prev
	}
	if c.m == nil || len(c.m) >= max {
		if c.m != nil {
			c.dropTables()
		}
		c.m = make(map[string]*rotationKey)
	}
	c.m[s] = k
	c.mu.Unlock()
	return k
}

// parseRotationKey parses a did:key as atcrypto.ParsePublicDIDKey does,
// accepting exactly what it accepts. A K-256 key (multicodec 0xe7, varint
// e7 01, then a 33-byte compressed point) is decompressed here with
// secp256k1-voi's SetCompressedBytes, the call atcrypto makes, but without
// the uncompressed encoding atcrypto then computes and never needs (a field
// inversion, 30% of the parse). Anything else goes to atcrypto itself.
// TestParseRotationKeyMatchesAtcrypto and FuzzParseRotationKey check the
// equivalence.
func parseRotationKey(s string) *rotationKey {
	if rest, ok := strings.CutPrefix(s, "did:key:z"); ok && rest != "" {
		if data, err := base58.Decode(rest); err == nil && len(data) >= 3 && data[0] == 0xe7 && data[1] == 0x01 {
			pt, err := secp256k1.NewIdentityPoint().SetCompressedBytes(data[2:])
			if err != nil {
				return &rotationKey{k256: true, err: fieldErr("rotationKeys", ErrUnsupportedKey, s)}
			}
			return &rotationKey{k256: true, point: pt}
		}
	}
	pub, err := atcrypto.ParsePublicDIDKey(s)
	if err != nil {
		return &rotationKey{err: fieldErr("rotationKeys", ErrUnsupportedKey, s)}
	}
	switch kp := pub.(type) {
	case *atcrypto.PublicKeyP256:
		return &rotationKey{p256: kp}
	case *atcrypto.PublicKeyK256:
		// Unreachable: every K-256 did:key takes the path above. Kept
		// so that a future atcrypto encoding still verifies.
		pt, err := secp256k1.NewIdentityPoint().SetCompressedBytes(kp.Bytes())
		if err != nil {
			return &rotationKey{k256: true, err: fieldErr("rotationKeys", ErrUnsupportedKey, s)}
		}
		return &rotationKey{k256: true, point: pt}
	}
	return &rotationKey{err: fieldErr("rotationKeys", ErrUnsupportedKey, s)}
}

// verifyAny finds the first of keys that verifies sig over msg and returns
// its index. hint, when in range, is tried first (see verifyAll for how
// callers guess); because distinct did:key strings are distinct keys, a hit
// there is mapped back to the first index holding the same string, which
// is what trying the keys in order would give. (Two distinct keys verify
// the same signature only if someone solved a discrete logarithm to make
// them.) A string that has failed is not tried again at a later index.
func verifyAny(cache *KeyCache, keys []string, msg, sig []byte, hint int) (int, error) {
	if len(keys) == 0 {
		return -1, ErrNoRotationKeys
	}
	sc := newSigCheck(msg, sig)
	failed := ""
	if hint >= 0 && hint < len(keys) {
		k := cache.get(keys[hint])
		if k.err == nil {
			if cache.verify(k, &sc) {
				// Any earlier key that fails to parse would have made
				// the in-order search fail first, as in the reference.
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
			failed = keys[hint]
		}
	}
	for i, s := range keys {
		if s == failed || slices.Contains(keys[:i], s) {
			continue // same string, same answer: it failed already
		}
		k := cache.get(s)
		if k.err != nil {
			return -1, k.err
		}
		if cache.verify(k, &sc) {
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
		if k.err == nil && ecverify.HighS(sig[32:], k.k256) {
			return ErrSigHighS
		}
	}
	return ErrSigInvalid
}
