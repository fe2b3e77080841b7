package ucan

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/mr-tron/base58"
)

// PublicKey verifies signatures of one principal.
type PublicKey interface {
	// Algorithm is the signature algorithm of the key.
	Algorithm() Algorithm
	// Verify checks sig over payload, exactly as the varsig header of
	// Algorithm prescribes (ECDSA: SHA-256 of payload, raw r||s; ES256K
	// low-S, ES256 either S).
	Verify(payload, sig []byte) error
	// DIDKey is the did:key form of the key.
	DIDKey() string
}

// Signer signs tokens as one principal.
type Signer interface {
	// DID is the issuer DID written into tokens: a did:key, or another DID
	// (such as a did:plc) whose verification key is this signer's key.
	DID() string
	Algorithm() Algorithm
	Sign(payload []byte) ([]byte, error)
}

// Resolver finds the signing key of a DID. The validator resolves did:key
// itself and asks the Resolver for every other method; for did:plc the
// community layer supplies one that returns the atproto signing key from
// the DID document. DIDs are passed without a fragment.
type Resolver interface {
	ResolveKey(ctx context.Context, did string) (PublicKey, error)
}

// ErrUnsupportedKey is returned for keys of a type this package cannot use.
var ErrUnsupportedKey = errors.New("ucan: unsupported key type")

// ErrInvalidDIDKey is wrapped by the errors of ParseDIDKey for a string
// that is not a well-formed did:key (prefix, base58btc, length); a
// well-formed did:key of an unsupported key type is ErrUnsupportedKey.
var ErrInvalidDIDKey = errors.New("ucan: invalid did:key")

type ed25519Key struct {
	pub    ed25519.PublicKey
	didKey string
}

func (k *ed25519Key) Algorithm() Algorithm { return Ed25519 }
func (k *ed25519Key) DIDKey() string       { return k.didKey }
func (k *ed25519Key) Verify(payload, sig []byte) error {
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(k.pub, payload, sig) {
		return atcrypto.ErrInvalidSignature
	}
	return nil
}

type atKey struct {
	alg Algorithm
	pub atcrypto.PublicKey
	// p256 is pub as a crypto/ecdsa key (ES256 only), converted once.
	p256 *ecdsa.PublicKey
}

func (k *atKey) Algorithm() Algorithm { return k.alg }
func (k *atKey) DIDKey() string       { return k.pub.DIDKey() }
func (k *atKey) Verify(payload, sig []byte) error {
	if len(sig) != 64 {
		return atcrypto.ErrInvalidSignature
	}
	// Both hash with SHA-256. UCAN does not require low-S, and WebCrypto
	// signs ES256 with either S (see the package doc); K-256 signers
	// normalise S, and the low-S rule is kept for them.
	if k.p256 != nil {
		// What atcrypto's HashAndVerifyLenient does, without its
		// conversions on every call (r and s to big.Int and back to
		// ASN.1, the key from big.Int coordinates to bytes):
		// crypto/ecdsa checks r and s in [1, n-1] and the equation.
		h := sha256.Sum256(payload)
		var der [maxP256DER]byte
		if !ecdsa.VerifyASN1(k.p256, h[:], p256DER(der[:0], sig)) {
			return atcrypto.ErrInvalidSignature
		}
		return nil
	}
	return k.pub.HashAndVerify(payload, sig)
}

// maxP256DER is the longest DER encoding of a P-256 signature: a SEQUENCE
// of two INTEGERs of at most 33 bytes (a zero byte before a high bit).
const maxP256DER = 2 + 2*(2+33)

// p256DER appends the DER form (SEQUENCE { INTEGER r, INTEGER s }, what
// crypto/ecdsa.VerifyASN1 reads) of a raw 64-byte r||s signature to dst.
func p256DER(dst, sig []byte) []byte {
	dst = append(dst, 0x30, 0)
	start := len(dst)
	for _, x := range [2][]byte{sig[:32], sig[32:]} {
		// Minimal encoding: no leading zero bytes (one is kept for zero),
		// and a zero byte before a set high bit, which would make the
		// INTEGER negative.
		for len(x) > 1 && x[0] == 0 {
			x = x[1:]
		}
		if x[0]&0x80 != 0 {
			dst = append(dst, 0x02, byte(len(x)+1), 0)
		} else {
			dst = append(dst, 0x02, byte(len(x)))
		}
		dst = append(dst, x...)
	}
	dst[start-1] = byte(len(dst) - start)
	return dst
}

// PublicKeyFromAtcrypto wraps a P-256 or K-256 key from indigo's atcrypto
// (for instance the atproto signing key of a did:plc document).
func PublicKeyFromAtcrypto(k atcrypto.PublicKey) (PublicKey, error) {
	switch p := k.(type) {
	case *atcrypto.PublicKeyP256:
		ec, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), p.UncompressedBytes())
		if err != nil {
			return nil, fmt.Errorf("ucan: p-256 key: %w", err)
		}
		return &atKey{alg: ES256, pub: k, p256: ec}, nil
	case *atcrypto.PublicKeyK256:
		return &atKey{alg: ES256K, pub: k}, nil
	}
	return nil, ErrUnsupportedKey
}

// PublicKeyFromEd25519 wraps an Ed25519 public key.
func PublicKeyFromEd25519(pub ed25519.PublicKey) (PublicKey, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("ucan: ed25519 public key of %d bytes: %w", len(pub), ErrUnsupportedKey)
	}
	p := append(ed25519.PublicKey(nil), pub...)
	return &ed25519Key{pub: p, didKey: "did:key:z" + base58.Encode(append([]byte{0xed, 0x01}, p...))}, nil
}

// ParseDIDKey parses a did:key for Ed25519 (multicodec 0xed), P-256
// (0x1200) or secp256k1 (0xe7) into a PublicKey. A malformed did:key is an
// error wrapping ErrInvalidDIDKey; another key type, ErrUnsupportedKey.
func ParseDIDKey(did string) (PublicKey, error) {
	mb, ok := strings.CutPrefix(did, "did:key:z")
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a base58btc did:key", ErrInvalidDIDKey, truncate(did))
	}
	if len(mb) > 128 {
		return nil, fmt.Errorf("%w: longer than 128 characters after did:key:z", ErrInvalidDIDKey)
	}
	raw, err := base58.Decode(mb)
	if err != nil || len(raw) < 3 {
		return nil, fmt.Errorf("%w: not valid base58btc or shorter than 3 bytes", ErrInvalidDIDKey)
	}
	switch {
	case raw[0] == 0xed && raw[1] == 0x01:
		if len(raw) != 2+ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: ed25519 key of %d bytes, want %d", ErrInvalidDIDKey, len(raw)-2, ed25519.PublicKeySize)
		}
		return &ed25519Key{pub: ed25519.PublicKey(raw[2:]), didKey: did}, nil
	case raw[0] == 0x80 && raw[1] == 0x24, raw[0] == 0xe7 && raw[1] == 0x01:
		k, err := atcrypto.ParsePublicDIDKey(did)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidDIDKey, err)
		}
		return PublicKeyFromAtcrypto(k)
	}
	return nil, fmt.Errorf("ucan: did:key multicodec %x: %w", raw[:2], ErrUnsupportedKey)
}

// KeySigner is a Signer holding a private key in memory.
type KeySigner struct {
	did string
	alg Algorithm
	ed  ed25519.PrivateKey
	at  atcrypto.PrivateKey
	pub PublicKey
}

// NewEd25519Signer returns a signer whose DID is the did:key of priv.
func NewEd25519Signer(priv ed25519.PrivateKey) (*KeySigner, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("ucan: ed25519 private key of %d bytes", len(priv))
	}
	pub, err := PublicKeyFromEd25519(priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return &KeySigner{did: pub.DIDKey(), alg: Ed25519, ed: priv, pub: pub}, nil
}

// NewAtcryptoSigner returns a signer for a P-256 (ES256) or K-256 (ES256K)
// private key from indigo's atcrypto, whose DID is the key's did:key.
func NewAtcryptoSigner(priv atcrypto.PrivateKey) (*KeySigner, error) {
	p, err := priv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("ucan: %w", err)
	}
	pub, err := PublicKeyFromAtcrypto(p)
	if err != nil {
		return nil, err
	}
	return &KeySigner{did: pub.DIDKey(), alg: pub.Algorithm(), at: priv, pub: pub}, nil
}

// WithDID returns a copy of s that signs as did (for example the
// community's did:plc, whose atproto signing key is this key).
func (s *KeySigner) WithDID(did string) *KeySigner {
	c := *s
	c.did = did
	return &c
}

// DID returns the issuer DID.
func (s *KeySigner) DID() string { return s.did }

// Algorithm returns the signature algorithm.
func (s *KeySigner) Algorithm() Algorithm { return s.alg }

// PublicKey returns the verification key.
func (s *KeySigner) PublicKey() PublicKey { return s.pub }

// Sign signs payload (Ed25519 directly; ECDSA over its SHA-256, low-S).
func (s *KeySigner) Sign(payload []byte) ([]byte, error) {
	if s.ed != nil {
		return ed25519.Sign(s.ed, payload), nil
	}
	if s.at == nil {
		return nil, fmt.Errorf("ucan: empty KeySigner")
	}
	return s.at.HashAndSign(payload)
}

// stripFragment removes a DID URL fragment: principal alignment ignores
// fragments (delegation spec, Principal Alignment).
func stripFragment(did string) string {
	if i := strings.IndexByte(did, '#'); i >= 0 {
		return did[:i]
	}
	return did
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
