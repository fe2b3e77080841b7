package plc

import (
	"crypto/sha256"
	"encoding/base32"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
)

// Operation types.
const (
	TypeOperation = "plc_operation" // a regular genesis or update operation
	TypeTombstone = "plc_tombstone" // deactivates the DID
	TypeCreate    = "create"        // legacy genesis format: read, never written
)

// MaxOpJSONBytes bounds the JSON text ParseOp accepts. It is far above the
// directory's 4000-byte limit on the DRISL encoding, and only bounds memory.
const MaxOpJSONBytes = 64 << 10

// Service is one entry of an operation's services map.
type Service struct {
	Type     string `json:"type"`
	Endpoint string `json:"endpoint"`
}

// Op is one did:plc operation of any of the three types. Which fields are
// meaningful depends on Type:
//
//   - TypeOperation: RotationKeys, VerificationMethods, AlsoKnownAs,
//     Services, Prev ("" for a genesis operation) and Sig;
//   - TypeTombstone: Prev and Sig;
//   - TypeCreate (legacy genesis): SigningKey, RecoveryKey, Handle,
//     ServiceURL and Sig; Prev is always null.
//
// Op values are plain data: build them with NewOperation or the migration
// helpers, sign with Sign, and read them with ParseOp (or json.Unmarshal,
// which calls the same strict parser).
type Op struct {
	Type                string
	RotationKeys        []string
	VerificationMethods map[string]string
	AlsoKnownAs         []string
	Services            map[string]Service
	Prev                string // CID string of the previous operation; "" is null
	Sig                 string // base64url (no padding) raw r||s signature; "" when unsigned

	// Legacy create fields.
	SigningKey  string
	RecoveryKey string
	Handle      string
	ServiceURL  string // the legacy "service" field
}

// IsGenesis reports whether op has no prev.
func (op *Op) IsGenesis() bool { return op.Prev == "" }

// clone returns a deep copy of op.
func (op *Op) clone() *Op {
	c := *op
	c.RotationKeys = slices.Clone(op.RotationKeys)
	c.AlsoKnownAs = slices.Clone(op.AlsoKnownAs)
	if op.VerificationMethods != nil {
		c.VerificationMethods = make(map[string]string, len(op.VerificationMethods))
		for k, v := range op.VerificationMethods {
			c.VerificationMethods[k] = v
		}
	}
	if op.Services != nil {
		c.Services = make(map[string]Service, len(op.Services))
		for k, v := range op.Services {
			c.Services[k] = v
		}
	}
	return &c
}

// ---- DRISL encoding ----

// UnsignedBytes returns the DRISL encoding of op without its sig field: the
// bytes a rotation key signs.
func (op *Op) UnsignedBytes() ([]byte, error) { return op.encode(nil, false) }

// SignedBytes returns the DRISL encoding of the whole operation, sig
// included: the bytes its CID and (for a genesis operation) its DID hash.
func (op *Op) SignedBytes() ([]byte, error) {
	if op.Sig == "" {
		return nil, fieldErr("sig", ErrUnsigned, "")
	}
	return op.encode(nil, true)
}

// CID returns the CID (CIDv1, dag-cbor, sha2-256) of the signed operation.
func (op *Op) CID() (cid.Cid, error) {
	b, err := op.SignedBytes()
	if err != nil {
		return cid.Undef, err
	}
	return drisl.SumCID(drisl.CodecDagCBOR, b), nil
}

// DID returns the did:plc identifier a signed genesis operation creates:
// "did:plc:" followed by the first 24 characters of the lower-case base32
// encoding of the SHA-256 of its signed DRISL bytes.
func (op *Op) DID() (string, error) {
	if !op.IsGenesis() || op.Type == TypeTombstone {
		return "", fieldErr("prev", ErrGenesisPrev, "only a genesis operation names a DID")
	}
	b, err := op.SignedBytes()
	if err != nil {
		return "", err
	}
	return didFromSigned(b), nil
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func didFromSigned(signed []byte) string {
	sum := sha256.Sum256(signed)
	var out [56]byte
	b32.Encode(out[:], sum[:])
	return "did:plc:" + string(out[:24])
}

// DRISL encoding by hand: an operation is a map of strings, string arrays
// and string maps, so the bytes are written directly in DRISL key order
// (length first, then bytewise) instead of going through reflection. The
// result equals drisl.Marshal of the same map; op_test.go checks that.

func appendHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return append(b, m|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendText(b []byte, s string) []byte {
	b = appendHead(b, 3, uint64(len(s)))
	return append(b, s...)
}

func appendTexts(b []byte, ss []string) []byte {
	b = appendHead(b, 4, uint64(len(ss)))
	for _, s := range ss {
		b = appendText(b, s)
	}
	return b
}

// compareKeys orders map keys as DRISL does: shorter first, then bytewise.
func compareKeys(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	return keys
}

func (op *Op) encode(dst []byte, withSig bool) ([]byte, error) {
	if !validUTF8Op(op) {
		return nil, fieldErr("", ErrFieldType, "string is not valid UTF-8")
	}
	// Keys in DRISL order: sig, prev and type (lengths 3, 4, 4) lead in
	// every type; the rest depend on it.
	var rest uint64
	switch op.Type {
	case TypeOperation, TypeCreate:
		rest = 4
	case TypeTombstone:
	default:
		return nil, fieldErr("type", ErrUnknownOpType, op.Type)
	}
	n := 2 + rest
	if withSig {
		n++
	}
	b := appendHead(dst, 5, n)
	if withSig {
		b = appendText(append(b, 0x63, 's', 'i', 'g'), op.Sig)
	}
	b = append(b, 0x64, 'p', 'r', 'e', 'v')
	if op.Prev == "" {
		b = append(b, 0xf6)
	} else {
		b = appendText(b, op.Prev)
	}
	b = append(b, 0x64, 't', 'y', 'p', 'e')
	b = appendText(b, op.Type)
	switch op.Type {
	case TypeOperation:
		b = appendText(b, "services")
		keys := sortedKeys(op.Services)
		b = appendHead(b, 5, uint64(len(keys)))
		for _, k := range keys {
			s := op.Services[k]
			b = appendText(b, k)
			b = append(b, 0xa2, 0x64, 't', 'y', 'p', 'e')
			b = appendText(b, s.Type)
			b = appendText(b, "endpoint")
			b = appendText(b, s.Endpoint)
		}
		b = appendText(b, "alsoKnownAs")
		b = appendTexts(b, op.AlsoKnownAs)
		b = appendText(b, "rotationKeys")
		b = appendTexts(b, op.RotationKeys)
		b = appendText(b, "verificationMethods")
		keys = sortedKeys(op.VerificationMethods)
		b = appendHead(b, 5, uint64(len(keys)))
		for _, k := range keys {
			b = appendText(b, k)
			b = appendText(b, op.VerificationMethods[k])
		}
	case TypeCreate:
		b = appendText(b, "handle")
		b = appendText(b, op.Handle)
		b = appendText(b, "service")
		b = appendText(b, op.ServiceURL)
		b = appendText(b, "signingKey")
		b = appendText(b, op.SigningKey)
		b = appendText(b, "recoveryKey")
		b = appendText(b, op.RecoveryKey)
	}
	return b, nil
}

func validUTF8Op(op *Op) bool {
	ok := func(s string) bool { return utf8.ValidString(s) }
	if !ok(op.Type) || !ok(op.Prev) || !ok(op.Sig) || !ok(op.SigningKey) || !ok(op.RecoveryKey) || !ok(op.Handle) || !ok(op.ServiceURL) {
		return false
	}
	for _, s := range op.RotationKeys {
		if !ok(s) {
			return false
		}
	}
	for _, s := range op.AlsoKnownAs {
		if !ok(s) {
			return false
		}
	}
	for k, v := range op.VerificationMethods {
		if !ok(k) || !ok(v) {
			return false
		}
	}
	for k, v := range op.Services {
		if !ok(k) || !ok(v.Type) || !ok(v.Endpoint) {
			return false
		}
	}
	return true
}
