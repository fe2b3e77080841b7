package plc

import (
	"errors"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

func TestDocumentSigningKey(t *testing.T) {
	priv, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := priv.PublicKey()
	data := &Data{DID: "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", VerificationMethods: map[string]string{"atproto": pub.DIDKey()}}
	got, err := data.Document().SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(pub) {
		t.Fatalf("SigningKey = %s, want %s", got.DIDKey(), pub.DIDKey())
	}
	if _, err := (&Document{}).SigningKey(); !errors.Is(err, ErrMissingField) {
		t.Fatalf("document without #atproto: %v, want ErrMissingField", err)
	}
	bad := &Document{VerificationMethod: []VerificationMethod{{ID: "did:plc:x#atproto", PublicKeyMultibase: "zNotAKey"}}}
	if _, err := bad.SigningKey(); !errors.Is(err, ErrInvalidDIDKey) {
		t.Fatalf("bad key: %v, want ErrInvalidDIDKey", err)
	}
}
