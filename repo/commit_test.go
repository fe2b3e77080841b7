package repo

import (
	"errors"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	indigorepo "github.com/bluesky-social/indigo/atproto/repo"

	"github.com/townhall-dev/townhall/drisl"
)

func testKeys(t testing.TB) map[string]atcrypto.PrivateKey {
	p, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		t.Fatal(err)
	}
	k, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]atcrypto.PrivateKey{"P-256": p, "K-256": k}
}

func TestCommitSignVerify(t *testing.T) {
	for name, key := range testKeys(t) {
		t.Run(name, func(t *testing.T) {
			pub, err := key.PublicKey()
			if err != nil {
				t.Fatal(err)
			}
			c := &Commit{DID: "did:plc:abcdefghijklmnopqrstuvwx", Version: 3, Data: blk("root").CID, Rev: "3lhhvdkcby3e2"}
			if err := c.Sign(key); err != nil {
				t.Fatal(err)
			}
			if err := c.VerifySignature(pub); err != nil {
				t.Fatal(err)
			}
			data, id, err := c.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if drisl.SumCID(drisl.CodecDagCBOR, data) != id {
				t.Fatal("CID mismatch")
			}
			dec, err := DecodeCommit(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := dec.VerifySignature(pub); err != nil {
				t.Fatal(err)
			}
			// indigo agrees on the bytes and the signature.
			var ic indigorepo.Commit
			if err := ic.UnmarshalCBOR(bytesReader(data)); err != nil {
				t.Fatal(err)
			}
			if err := ic.VerifySignature(pub); err != nil {
				t.Fatalf("indigo: %v", err)
			}
			// Another key, or a changed field, fails with ErrBadSignature.
			other := testKeys(t)[name]
			opub, _ := other.PublicKey()
			if err := dec.VerifySignature(opub); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("wrong key: %v", err)
			}
			dec.Rev = "3lhhvdkcby3e3"
			if err := dec.VerifySignature(pub); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("changed rev: %v", err)
			}
		})
	}
}

func TestDecodeCommitRejects(t *testing.T) {
	good := Commit{DID: "did:plc:abcdefghijklmnopqrstuvwx", Version: 3, Data: blk("root").CID, Rev: "3lhhvdkcby3e2", Sig: []byte{1}}
	cases := map[string]func(c *Commit){
		"version": func(c *Commit) { c.Version = 2 },
		"did":     func(c *Commit) { c.DID = "nope" },
		"rev":     func(c *Commit) { c.Rev = "x" },
		"sig":     func(c *Commit) { c.Sig = nil },
	}
	for name, mut := range cases {
		c := good
		mut(&c)
		b, err := drisl.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeCommit(b); !errors.Is(err, ErrBadCommit) {
			t.Errorf("%s: %v", name, err)
		}
	}
	extra, _ := drisl.Marshal(map[string]any{"did": good.DID, "version": int64(3), "data": good.Data, "rev": good.Rev, "prev": nil, "sig": []byte{1}, "x": int64(1)})
	if _, err := DecodeCommit(extra); !errors.Is(err, ErrBadCommit) {
		t.Errorf("unknown field: %v", err)
	}
}
