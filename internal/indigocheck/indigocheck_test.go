package indigocheck

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	pathpkg "path"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/mr-tron/base58"

	"github.com/townhall-dev/townhall/internal/testvectors"
)

// parsers maps each syntax vector family to the indigo parser Townhall uses
// for it.
var parsers = map[string]func(string) error{
	"atidentifier": func(s string) error { _, err := syntax.ParseAtIdentifier(s); return err },
	"aturi":        func(s string) error { _, err := syntax.ParseATURI(s); return err },
	"cid":          func(s string) error { _, err := syntax.ParseCID(s); return err },
	"datetime":     func(s string) error { _, err := syntax.ParseDatetime(s); return err },
	"did":          func(s string) error { _, err := syntax.ParseDID(s); return err },
	"handle":       func(s string) error { _, err := syntax.ParseHandle(s); return err },
	"language":     func(s string) error { _, err := syntax.ParseLanguage(s); return err },
	"nsid":         func(s string) error { _, err := syntax.ParseNSID(s); return err },
	"recordkey":    func(s string) error { _, err := syntax.ParseRecordKey(s); return err },
	"tid":          func(s string) error { _, err := syntax.ParseTID(s); return err },
	"uri":          func(s string) error { _, err := syntax.ParseURI(s); return err },
}

// exceptions are vectors indigo's parsers do not decide as the vector
// files say, keyed by file and line content, with the reason. The test
// asserts that indigo still disagrees, so a fix upstream is noticed (and
// the exception removed).
//
// indigo's ParseLanguage (this version) is the regex
// ^(i|[a-z]{2,3})(-[a-zA-Z0-9]+)*$ and nothing more. So it accepts
// well-formed tags that RFC 5646 §2.2.9/§4.1 makes invalid by repeating a
// variant or extension singleton (language_parse_invalid.txt is newer than
// the copy of the vectors indigo tests with), and it rejects a private-use-only
// tag (x-... or X-...): its first subtag must be i or two or three letters.
// Townhall takes language tags as indigo parses them: lexicon's "language"
// format is a lenient check in atproto, and no signature or CID depends on it.
var exceptions = map[string]string{
	"language_parse_invalid.txt\tde-DE-1901-1901":               "indigo does not check repeated variant subtags",
	"language_parse_invalid.txt\ten-rozaj-ROZAJ":                "indigo does not check repeated variant subtags (case-insensitive)",
	"language_parse_invalid.txt\ten-a-foo-a-bar":                "indigo does not check repeated extension singletons",
	"language_parse_invalid.txt\ten-u-co-phonebk-U-ca-buddhist": "indigo does not check repeated extension singletons (case-insensitive)",
	"language_syntax_valid.txt\tX-fr-CH":                        "indigo's regex has no private-use-only form (x-..., any case)",
}

// TestSyntaxVectors runs every syntax vector file: *_syntax_valid.txt must
// parse, *_syntax_invalid.txt and *_parse_invalid.txt (well-formed but
// semantically invalid) must not.
func TestSyntaxVectors(t *testing.T) {
	vectors := testvectors.FS()
	files, err := fs.Glob(vectors, "syntax/*.txt")
	if err != nil || len(files) != 24 {
		t.Fatalf("want 24 syntax vector files, got %d (%v)", len(files), err)
	}
	total, excepted := 0, 0
	for _, path := range files {
		name := strings.TrimSuffix(pathpkg.Base(path), ".txt")
		family, kind, ok := strings.Cut(name, "_")
		parse := parsers[family]
		if !ok || parse == nil {
			t.Errorf("%s: no parser for family %q", path, family)
			continue
		}
		wantValid := strings.HasSuffix(kind, "_valid")
		for _, line := range testvectors.Lines(t, path) {
			total++
			err := parse(line)
			reason, isException := exceptions[pathpkg.Base(path)+"\t"+line]
			agrees := (err == nil) == wantValid
			switch {
			case isException && agrees:
				t.Errorf("%s %q: listed as an exception (%s) but indigo now agrees with the vector: remove the exception", name, line, reason)
			case isException:
				excepted++
			case !agrees && wantValid:
				t.Errorf("%s: indigo rejects valid %q: %v", name, line, err)
			case !agrees:
				t.Errorf("%s: indigo accepts invalid %q", name, line)
			}
		}
	}
	t.Logf("%d syntax vectors, %d documented exceptions", total, excepted)
}

type signatureFixture struct {
	Comment            string `json:"comment"`
	MessageBase64      string `json:"messageBase64"`
	Algorithm          string `json:"algorithm"`
	DIDDocSuite        string `json:"didDocSuite"`
	PublicKeyDID       string `json:"publicKeyDid"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
	SignatureBase64    string `json:"signatureBase64"`
	ValidSignature     bool   `json:"validSignature"`
}

// TestSignatureVectors: valid low-S signatures verify; high-S and DER
// signatures, which atproto forbids, do not; the did:key and the multibase
// key are the same key.
func TestSignatureVectors(t *testing.T) {
	var fixtures []signatureFixture
	readJSON(t, "testdata/crypto/signature-fixtures.json", &fixtures)
	if len(fixtures) != 6 {
		t.Fatalf("got %d signature fixtures, want 6", len(fixtures))
	}
	for _, f := range fixtures {
		pub, err := atcrypto.ParsePublicDIDKey(f.PublicKeyDID)
		if err != nil {
			t.Errorf("%s: did:key: %v", f.Comment, err)
			continue
		}
		if pub.DIDKey() != f.PublicKeyDID {
			t.Errorf("%s: did:key re-encodes as %s", f.Comment, pub.DIDKey())
		}
		raw, err := base58.Decode(strings.TrimPrefix(f.PublicKeyMultibase, "z"))
		if err != nil {
			t.Fatal(err)
		}
		var fromBytes atcrypto.PublicKey
		switch f.DIDDocSuite {
		case "EcdsaSecp256r1VerificationKey2019":
			fromBytes, err = atcrypto.ParsePublicBytesP256(raw)
		case "EcdsaSecp256k1VerificationKey2019":
			fromBytes, err = atcrypto.ParsePublicBytesK256(raw)
		default:
			t.Fatalf("%s: unknown suite %s", f.Comment, f.DIDDocSuite)
		}
		if err != nil {
			t.Errorf("%s: multibase key: %v", f.Comment, err)
			continue
		}
		if !fromBytes.Equal(pub) {
			t.Errorf("%s: multibase key and did:key differ", f.Comment)
		}
		msg, err := base64.RawStdEncoding.DecodeString(f.MessageBase64)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := base64.RawStdEncoding.DecodeString(f.SignatureBase64)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []atcrypto.PublicKey{pub, fromBytes} {
			err := k.HashAndVerify(msg, sig)
			if f.ValidSignature && err != nil {
				t.Errorf("%s: valid signature rejected: %v", f.Comment, err)
			}
			if !f.ValidSignature && err == nil {
				t.Errorf("%s: invalid signature accepted", f.Comment)
			}
		}
	}
}

// TestDIDKeyVectors: each private key yields the listed did:key, and a
// signature made with it verifies under the parsed did:key.
func TestDIDKeyVectors(t *testing.T) {
	for _, c := range []struct {
		file  string
		parse func([]byte) (atcrypto.PrivateKeyExportable, error)
		count int
	}{
		{"testdata/crypto/w3c_didkey_K256.json", func(b []byte) (atcrypto.PrivateKeyExportable, error) { return atcrypto.ParsePrivateBytesK256(b) }, 5},
		{"testdata/crypto/w3c_didkey_P256.json", func(b []byte) (atcrypto.PrivateKeyExportable, error) { return atcrypto.ParsePrivateBytesP256(b) }, 1},
	} {
		var rows []struct {
			PrivateKeyBytesHex    string `json:"privateKeyBytesHex"`
			PrivateKeyBytesBase58 string `json:"privateKeyBytesBase58"`
			PublicDIDKey          string `json:"publicDidKey"`
		}
		readJSON(t, c.file, &rows)
		if len(rows) != c.count {
			t.Fatalf("%s: %d rows, want %d", c.file, len(rows), c.count)
		}
		for _, row := range rows {
			var raw []byte
			var err error
			if row.PrivateKeyBytesHex != "" {
				raw, err = hex.DecodeString(row.PrivateKeyBytesHex)
			} else {
				raw, err = base58.Decode(row.PrivateKeyBytesBase58)
			}
			if err != nil {
				t.Fatal(err)
			}
			priv, err := c.parse(raw)
			if err != nil {
				t.Errorf("%s: private key: %v", row.PublicDIDKey, err)
				continue
			}
			pub, err := priv.PublicKey()
			if err != nil {
				t.Fatal(err)
			}
			if pub.DIDKey() != row.PublicDIDKey {
				t.Errorf("did:key %s, want %s", pub.DIDKey(), row.PublicDIDKey)
			}
			parsed, err := atcrypto.ParsePublicDIDKey(row.PublicDIDKey)
			if err != nil {
				t.Errorf("%s: %v", row.PublicDIDKey, err)
				continue
			}
			msg := []byte("townhall signs DRISL bytes")
			sig, err := priv.HashAndSign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := parsed.HashAndVerify(msg, sig); err != nil {
				t.Errorf("%s: own signature does not verify: %v", row.PublicDIDKey, err)
			}
			if err := parsed.HashAndVerify(append(msg, '!'), sig); err == nil {
				t.Errorf("%s: signature verifies over other bytes", row.PublicDIDKey)
			}
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
