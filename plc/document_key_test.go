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
	bad := &Document{ID: "did:plc:x", VerificationMethod: []VerificationMethod{{ID: "did:plc:x#atproto", PublicKeyMultibase: "zNotAKey"}}}
	if _, err := bad.SigningKey(); !errors.Is(err, ErrInvalidDIDKey) {
		t.Fatalf("bad key: %v, want ErrInvalidDIDKey", err)
	}
}

// TestDocumentSigningKeyExactID: only the document's own "#atproto" method
// (absolute or relative ID) is its signing key; a method of another DID, or
// one whose ID merely ends in "#atproto", is not, and two candidates are
// refused rather than the first one trusted.
func TestDocumentSigningKeyExactID(t *testing.T) {
	const did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
	mine, _ := atcrypto.GeneratePrivateKeyK256()
	minePub, _ := mine.PublicKey()
	other, _ := atcrypto.GeneratePrivateKeyK256()
	otherPub, _ := other.PublicKey()
	vm := func(id string, pub atcrypto.PublicKey) VerificationMethod {
		return VerificationMethod{ID: id, Type: "Multikey", Controller: did, PublicKeyMultibase: pub.Multibase()}
	}
	for _, tc := range []struct {
		name string
		vms  []VerificationMethod
		want error // nil: minePub
	}{
		{"absolute", []VerificationMethod{vm(did+"#atproto", minePub)}, nil},
		{"relative", []VerificationMethod{vm("#atproto", minePub)}, nil},
		{"other DID first", []VerificationMethod{vm("did:plc:bbbbbbbbbbbbbbbbbbbbbbbb#atproto", otherPub), vm(did+"#atproto", minePub)}, nil},
		{"suffix only", []VerificationMethod{vm(did+"x#atproto", otherPub), vm("x#atproto", otherPub)}, ErrMissingField},
		{"only another DID's", []VerificationMethod{vm("did:plc:bbbbbbbbbbbbbbbbbbbbbbbb#atproto", otherPub)}, ErrMissingField},
		{"absolute and relative", []VerificationMethod{vm(did+"#atproto", minePub), vm("#atproto", otherPub)}, ErrDuplicateKey},
		{"twice", []VerificationMethod{vm(did+"#atproto", minePub), vm(did+"#atproto", otherPub)}, ErrDuplicateKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := &Document{ID: did, VerificationMethod: tc.vms}
			got, err := doc.SigningKey()
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("SigningKey = %v, %v; want an error wrapping %v", got, err, tc.want)
				}
				return
			}
			if err != nil || !got.Equal(minePub) {
				t.Fatalf("SigningKey = %v, %v; want the document's own key", got, err)
			}
		})
	}
}
