package ucan

import "bytes"

// Algorithm is a signature algorithm this package signs and verifies.
type Algorithm uint8

// The supported algorithms.
const (
	// Ed25519 is EdDSA over edwards25519 (SHA-512 inside the algorithm);
	// the signature covers the payload bytes.
	Ed25519 Algorithm = iota + 1
	// ES256 is ECDSA on P-256 over SHA-256 of the payload, raw r||s; S may
	// be high (written low).
	ES256
	// ES256K is ECDSA on secp256k1 over SHA-256 of the payload, raw r||s,
	// low-S.
	ES256K
)

// String returns the JOSE-style name of the algorithm.
func (a Algorithm) String() string {
	switch a {
	case Ed25519:
		return "Ed25519"
	case ES256:
		return "ES256"
	case ES256K:
		return "ES256K"
	}
	return "unknown"
}

// Varsig v1 headers (https://github.com/ChainAgnostic/varsig, common.md) for
// each algorithm, with DAG-CBOR (0x71) as the payload encoding:
//
//	0x34 0x01 | sig-alg varint | curve varint | hash varint | 0x71
var (
	headerEd25519 = []byte{0x34, 0x01, 0xed, 0x01, 0xed, 0x01, 0x13, 0x71}
	headerES256   = []byte{0x34, 0x01, 0xec, 0x01, 0x80, 0x24, 0x12, 0x71}
	headerES256K  = []byte{0x34, 0x01, 0xec, 0x01, 0xe7, 0x01, 0x12, 0x71}
)

// Header returns a copy of the varsig v1 header for a, or nil for an
// unknown algorithm.
func (a Algorithm) Header() []byte {
	var h []byte
	switch a {
	case Ed25519:
		h = headerEd25519
	case ES256:
		h = headerES256
	case ES256K:
		h = headerES256K
	default:
		return nil
	}
	return append([]byte(nil), h...)
}

// ParseVarsigHeader returns the algorithm of a varsig v1 header. Only the
// three headers above (DAG-CBOR payload encoding) are accepted: any other
// prefix, version, curve, hash or payload encoding is an error.
func ParseVarsigHeader(h []byte) (Algorithm, error) {
	switch {
	case bytes.Equal(h, headerEd25519):
		return Ed25519, nil
	case bytes.Equal(h, headerES256):
		return ES256, nil
	case bytes.Equal(h, headerES256K):
		return ES256K, nil
	}
	return 0, newErr(NameMalformedToken, RuleVarsig, -1, describeHeader(h))
}

func describeHeader(h []byte) string {
	switch {
	case len(h) == 0:
		return "empty header"
	case h[0] != 0x34:
		return "missing varsig prefix 0x34"
	case len(h) < 2 || h[1] != 0x01:
		return "not varsig version 1"
	case len(h) > 64:
		return "header too long"
	}
	return "header " + hexString(h) + " is not Ed25519, ES256 or ES256K over DAG-CBOR"
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
