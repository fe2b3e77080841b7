package plc

import (
	"fmt"
	"strings"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// Data is the state of a DID after its latest operation, as the directory
// serves it at /:did/data.
type Data struct {
	DID                 string             `json:"did"`
	VerificationMethods map[string]string  `json:"verificationMethods"`
	RotationKeys        []string           `json:"rotationKeys"`
	AlsoKnownAs         []string           `json:"alsoKnownAs"`
	Services            map[string]Service `json:"services"`
}

// Document is a DID document as the reference directory renders it.
type Document struct {
	Context            []string             `json:"@context"`
	ID                 string               `json:"id"`
	AlsoKnownAs        []string             `json:"alsoKnownAs"`
	VerificationMethod []VerificationMethod `json:"verificationMethod"`
	Service            []DocService         `json:"service"`
}

// VerificationMethod is one key of a Document.
type VerificationMethod struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
}

// DocService is one service of a Document.
type DocService struct {
	ID              string `json:"id"`
	Type            string `json:"type"`
	ServiceEndpoint string `json:"serviceEndpoint"`
}

// Contexts of a DID document.
const (
	ContextDID       = "https://www.w3.org/ns/did/v1"
	ContextMultikey  = "https://w3id.org/security/multikey/v1"
	ContextP256      = "https://w3id.org/security/suites/ecdsa-2019/v1"
	ContextSecp256k1 = "https://w3id.org/security/suites/secp256k1-2019/v1"
)

// Normalize returns op in the regular plc_operation form. A legacy create
// operation becomes what the reference's normalizeOp makes of it: rotation
// keys [recoveryKey, signingKey], verification method atproto = signingKey,
// alsoKnownAs ["at://" + handle], service atproto_pds (https:// added when
// missing). Other operations are returned as a copy. The result keeps the
// original sig and prev, but its CID is not the original's: hash the
// original.
func (op *Op) Normalize() *Op {
	if op.Type != TypeCreate {
		return op.clone()
	}
	return &Op{
		Type:                TypeOperation,
		RotationKeys:        []string{op.RecoveryKey, op.SigningKey},
		VerificationMethods: map[string]string{"atproto": op.SigningKey},
		AlsoKnownAs:         []string{ensureAtprotoPrefix(op.Handle)},
		Services: map[string]Service{"atproto_pds": {
			Type:     "AtprotoPersonalDataServer",
			Endpoint: ensureHTTPPrefix(op.ServiceURL),
		}},
		Prev: op.Prev,
		Sig:  op.Sig,
	}
}

// rotationKeysOf returns the keys allowed to sign the next operation after
// op (and, for a genesis op, op itself).
func rotationKeysOf(op *Op) []string {
	switch op.Type {
	case TypeCreate:
		return []string{op.RecoveryKey, op.SigningKey}
	case TypeOperation:
		return op.RotationKeys
	}
	return nil
}

func ensureHTTPPrefix(s string) string {
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		return s
	}
	return "https://" + s
}

// ensureAtprotoPrefix mirrors the reference, including its replacement of
// the first "http://" and "https://" anywhere in the string.
func ensureAtprotoPrefix(s string) string {
	if strings.HasPrefix(s, "at://") {
		return s
	}
	s = strings.Replace(s, "http://", "", 1)
	s = strings.Replace(s, "https://", "", 1)
	return "at://" + s
}

// DataOf returns the DID data after op, or nil for a tombstone.
func DataOf(did string, op *Op) *Data {
	if op.Type == TypeTombstone {
		return nil
	}
	n := op.Normalize()
	d := &Data{DID: did, VerificationMethods: n.VerificationMethods, RotationKeys: n.RotationKeys,
		AlsoKnownAs: n.AlsoKnownAs, Services: n.Services}
	if d.VerificationMethods == nil {
		d.VerificationMethods = map[string]string{}
	}
	if d.Services == nil {
		d.Services = map[string]Service{}
	}
	if d.RotationKeys == nil {
		d.RotationKeys = []string{}
	}
	if d.AlsoKnownAs == nil {
		d.AlsoKnownAs = []string{}
	}
	return d
}

// Document renders d as the reference directory does: contexts DID v1 and
// Multikey v1, plus ecdsa-2019 or secp256k1-2019 once per key type found;
// verification methods "did#id" of type Multikey; services "#id". Map
// entries appear in DRISL key order (shorter ids first, then bytewise),
// which is the order plc.directory serves them in.
func (d *Data) Document() *Document {
	doc := &Document{
		Context:            []string{ContextDID, ContextMultikey},
		ID:                 d.DID,
		AlsoKnownAs:        d.AlsoKnownAs,
		VerificationMethod: []VerificationMethod{},
		Service:            []DocService{},
	}
	if doc.AlsoKnownAs == nil {
		doc.AlsoKnownAs = []string{}
	}
	for _, id := range sortedKeys(d.VerificationMethods) {
		key := d.VerificationMethods[id]
		if ctx := keyContext(key); ctx != "" && !contains(doc.Context, ctx) {
			doc.Context = append(doc.Context, ctx)
		}
		doc.VerificationMethod = append(doc.VerificationMethod, VerificationMethod{
			ID:                 d.DID + "#" + id,
			Type:               "Multikey",
			Controller:         d.DID,
			PublicKeyMultibase: strings.TrimPrefix(key, "did:key:"),
		})
	}
	for _, id := range sortedKeys(d.Services) {
		s := d.Services[id]
		doc.Service = append(doc.Service, DocService{ID: "#" + id, Type: s.Type, ServiceEndpoint: s.Endpoint})
	}
	return doc
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func keyContext(didKey string) string {
	pub, err := atcrypto.ParsePublicDIDKey(didKey)
	if err != nil {
		return ""
	}
	switch pub.(type) {
	case *atcrypto.PublicKeyP256:
		return ContextP256
	case *atcrypto.PublicKeyK256:
		return ContextSecp256k1
	}
	return ""
}

// SigningKey returns the atproto signing key of d: its "atproto"
// verification method, parsed.
func (d *Data) SigningKey() (atcrypto.PublicKey, error) {
	k, ok := d.VerificationMethods["atproto"]
	if !ok {
		return nil, fieldErr("verificationMethods.atproto", ErrMissingField, "")
	}
	pub, err := atcrypto.ParsePublicDIDKey(k)
	if err != nil {
		return nil, fieldErr("verificationMethods.atproto", ErrInvalidDIDKey, err.Error())
	}
	return pub, nil
}

// SigningKey returns the atproto signing key of a DID document: the
// publicKeyMultibase of its verification method "#atproto", whose ID is
// exactly d.ID+"#atproto" or the relative "#atproto" (a method of another
// DID, such as "did:plc:other#atproto", does not count). It is what an
// outsider holding only the document verifies a repository's commits with.
// No such method gives an error wrapping ErrMissingField, two of them one
// wrapping ErrDuplicateKey.
func (d *Document) SigningKey() (atcrypto.PublicKey, error) {
	found := -1
	for i, vm := range d.VerificationMethod {
		if vm.ID != d.ID+"#atproto" && vm.ID != "#atproto" {
			continue
		}
		if found >= 0 {
			return nil, fieldErr("verificationMethod#atproto", ErrDuplicateKey,
				fmt.Sprintf("methods %d (%s) and %d (%s) are both the atproto key", found, d.VerificationMethod[found].ID, i, vm.ID))
		}
		found = i
	}
	if found < 0 {
		return nil, fieldErr("verificationMethod#atproto", ErrMissingField, "no method "+d.ID+"#atproto")
	}
	pub, err := atcrypto.ParsePublicMultibase(d.VerificationMethod[found].PublicKeyMultibase)
	if err != nil {
		return nil, fieldErr("verificationMethod#atproto", ErrInvalidDIDKey, err.Error())
	}
	return pub, nil
}

// PDSEndpoint returns the endpoint of d's atproto_pds service, or "".
func (d *Data) PDSEndpoint() string {
	return d.Services["atproto_pds"].Endpoint
}
