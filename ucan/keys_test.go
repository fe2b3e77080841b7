package ucan

import (
	"crypto/ed25519"
	"encoding/base64"
	"testing"
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
	for _, bad := range []string{
		"", "did:key:", "did:key:z", "did:plc:abc", "did:key:zzzz0OIl",
		"did:key:z6Mkp", // truncated ed25519
		"did:key:z2J9gaYxrKVpdoG9A4gRnmpnRCcxU6agDtFVVBVdn1JedouoZN7SzcyREXXzWgt3gGiwpoHq7K68X4m32D8HgzG8wv3sY5j7", // P-384, unsupported
		"did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBmX",                                                // bad K-256 point
	} {
		if _, err := ParseDIDKey(bad); err == nil {
			t.Errorf("%q parsed", bad)
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
