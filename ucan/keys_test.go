package ucan

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/mr-tron/base58"
)

func TestParseDIDKey(t *testing.T) {
	// The fixture principals: base64(varint(0x1300) || ed25519 seed).
	for name, b64key := range map[string]string{
		"alice": "gCa9UfZv+yI5/rvUIt21DaGI7EZJlzFO1uDc5AyJ30c6/w==",
		"bob":   "gCZfj9+RzU2U518TMBNK/fjdGQz34sB4iKE6z+9lQDpCIQ==",
	} {
		raw, err := base64.StdEncoding.DecodeString(b64key)
		if err != nil || raw[0] != 0x80 || raw[1] != 0x26 {
			t.Fatalf("%s: %x %v", name, raw, err)
		}
		s, err := NewEd25519Signer(ed25519.NewKeyFromSeed(raw[2:]))
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParseDIDKey(s.DID())
		if err != nil || k.DIDKey() != s.DID() {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Bob is the issuer of the fixture delegation.
	raw, _ := base64.StdEncoding.DecodeString("gCZfj9+RzU2U518TMBNK/fjdGQz34sB4iKE6z+9lQDpCIQ==")
	bob, _ := NewEd25519Signer(ed25519.NewKeyFromSeed(raw[2:]))
	if bob.DID() != "did:key:z6MkmT9j6fVZqzXV8u2wVVSu49gYSRYGSQnduWXF6foAJrqz" {
		t.Fatalf("bob is %s", bob.DID())
	}
	for bad, want := range map[string]error{
		"":                                     ErrInvalidDIDKey,
		"did:key:":                             ErrInvalidDIDKey,
		"did:key:z":                            ErrInvalidDIDKey,
		"did:plc:abc":                          ErrInvalidDIDKey,
		"did:key:zzzz0OIl":                     ErrInvalidDIDKey,
		"did:key:z" + strings.Repeat("1", 129): ErrInvalidDIDKey,
		"did:key:z6Mkp":                        ErrUnsupportedKey, // multicodec 0xff3
		"did:key:z" + base58.Encode(append([]byte{0xed, 0x01}, make([]byte, 31)...)):                               ErrInvalidDIDKey,  // truncated ed25519
		"did:key:z2J9gaYxrKVpdoG9A4gRnmpnRCcxU6agDtFVVBVdn1JedouoZN7SzcyREXXzWgt3gGiwpoHq7K68X4m32D8HgzG8wv3sY5j7": ErrUnsupportedKey, // P-384
		"did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBmX":                                                ErrInvalidDIDKey,  // bad K-256 point
	} {
		if _, err := ParseDIDKey(bad); !errors.Is(err, want) {
			t.Errorf("ParseDIDKey(%q): %v, want %v", bad, err, want)
		}
	}
	if _, err := NewEd25519Signer(make([]byte, 10)); err == nil {
		t.Error("short ed25519 key accepted")
	}
	if _, err := PublicKeyFromEd25519(make([]byte, 10)); err == nil {
		t.Error("short ed25519 public key accepted")
	}
}

func TestCacheBound(t *testing.T) {
	w := newWorld(t, Ed25519, 3, "/")
	v := w.validator(ValidatorOptions{CacheSize: 2})
	for i := 0; i < 2; i++ {
		if _, err := v.Validate(ctx, w.invoke("/x", nil).Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.CachedDelegations(); n != 2 {
		t.Fatalf("%d cached, want 2", n)
	}
}

// TestES256VerifyAgreesWithAtcrypto checks the ES256 verification (crypto/ecdsa
// on a key converted once, the signature re-encoded as DER) against atcrypto's
// HashAndVerifyLenient on valid signatures with either S, on r and s with
// leading zero bytes and high bits (the DER corner cases), and on tampered
// and out-of-range signatures.
func TestES256VerifyAgreesWithAtcrypto(t *testing.T) {
	k, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewAtcryptoSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	key := s.PublicKey()
	oracle := key.(*atKey).pub.(*atcrypto.PublicKeyP256)
	n := p256N.FillBytes(make([]byte, 32))
	check := func(name string, msg, sig []byte) bool {
		t.Helper()
		got := key.Verify(msg, sig) == nil
		if want := oracle.HashAndVerifyLenient(msg, sig) == nil; got != want {
			t.Fatalf("%s: sig %x: verified %v, atcrypto %v", name, sig, got, want)
		}
		return got
	}
	// twin replaces S by n-S.
	twin := func(sig []byte) []byte {
		c := append([]byte(nil), sig...)
		sv := new(big.Int).SetBytes(c[32:])
		new(big.Int).Sub(p256N, sv).FillBytes(c[32:])
		return c
	}
	var seen [4]bool // r with a zero first byte, r with a high bit, the same for s
	for i := 0; i < 2000 && !(seen[0] && seen[1] && seen[2] && seen[3]); i++ {
		msg := []byte(fmt.Sprintf("message %d", i))
		sig, err := s.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !check("valid", msg, sig) || !check("twin", msg, twin(sig)) {
			t.Fatalf("signature %d does not verify", i)
		}
		for _, x := range [][]byte{sig, twin(sig)} {
			for j := 0; j < 2; j++ {
				seen[2*j] = seen[2*j] || x[32*j] == 0
				seen[2*j+1] = seen[2*j+1] || x[32*j]&0x80 != 0
			}
		}
		if check("other message", append(msg, '!'), sig) {
			t.Fatal("signature verified another message")
		}
		bad := append([]byte(nil), sig...)
		bad[i%64] ^= 1 << (i % 8)
		if check("bit flip", msg, bad) {
			t.Fatal("tampered signature verified")
		}
	}
	if !seen[0] || !seen[1] || !seen[2] || !seen[3] {
		t.Fatalf("DER corner cases not reached: %v", seen)
	}
	msg := []byte("m")
	sig, err := s.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 32)
	for name, bad := range map[string][]byte{
		"r = 0":     append(append([]byte(nil), zero...), sig[32:]...),
		"s = 0":     append(append([]byte(nil), sig[:32]...), zero...),
		"r = n":     append(append([]byte(nil), n...), sig[32:]...),
		"s = n":     append(append([]byte(nil), sig[:32]...), n...),
		"all ones":  bytes.Repeat([]byte{0xff}, 64),
		"all zeros": make([]byte, 64),
	} {
		if check(name, msg, bad) {
			t.Fatalf("%s verified", name)
		}
	}
	for _, l := range []int{0, 63, 65} {
		if key.Verify(msg, make([]byte, l)) == nil {
			t.Fatalf("%d-byte signature verified", l)
		}
	}
}
