package repo

import (
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
)

// Version is the repository format version this package writes and reads.
const Version = 3

// Commit is a signed repository commit (https://atproto.com/specs/repository#commit-objects):
// the DID, the format version (3), the MST root (Data), the revision (a
// TID, strictly increasing) and Prev, always null in version 3. Sig is a
// low-S ECDSA signature over the DRISL encoding of the other fields.
type Commit struct {
	DID     string   `cbor:"did"`
	Version int64    `cbor:"version"`
	Data    cid.Cid  `cbor:"data"`
	Rev     string   `cbor:"rev"`
	Prev    *cid.Cid `cbor:"prev"` // encoded as null; never omitted
	Sig     []byte   `cbor:"sig,omitempty"`
}

// UnsignedBytes returns the DRISL encoding of the commit without Sig: the
// bytes the signature covers.
func (c *Commit) UnsignedBytes() ([]byte, error) {
	u := *c
	u.Sig = nil
	return drisl.Marshal(&u)
}

// Sign sets Sig to key's low-S signature of UnsignedBytes.
func (c *Commit) Sign(key atcrypto.PrivateKey) error {
	b, err := c.UnsignedBytes()
	if err != nil {
		return err
	}
	sig, err := key.HashAndSign(b)
	if err != nil {
		return err
	}
	c.Sig = sig
	return nil
}

// Encode returns the signed commit's block bytes and CID.
func (c *Commit) Encode() ([]byte, cid.Cid, error) {
	return drisl.MarshalCID(c)
}

// VerifySignature checks Sig against pub (low-S required). It returns an
// error wrapping ErrBadSignature on failure.
func (c *Commit) VerifySignature(pub atcrypto.PublicKey) error {
	if len(c.Sig) == 0 {
		return verr(ErrBadSignature, cid.Undef, "commit has no signature", nil)
	}
	b, err := c.UnsignedBytes()
	if err != nil {
		return verr(ErrBadCommit, cid.Undef, "cannot re-encode commit", err)
	}
	if err := pub.HashAndVerify(b, c.Sig); err != nil {
		return verr(ErrBadSignature, cid.Undef, "", err)
	}
	return nil
}

// checkStructure checks the fields of a decoded commit.
func (c *Commit) checkStructure(blk cid.Cid) error {
	switch {
	case c.Version != Version:
		return verr(ErrBadCommit, blk, "unsupported version", nil)
	case len(c.Sig) == 0:
		return verr(ErrBadCommit, blk, "missing signature", nil)
	case !c.Data.Defined():
		return verr(ErrBadCommit, blk, "missing data", nil)
	}
	if _, err := syntax.ParseDID(c.DID); err != nil {
		return verr(ErrBadCommit, blk, "bad did", err)
	}
	if _, err := syntax.ParseTID(c.Rev); err != nil {
		return verr(ErrBadCommit, blk, "bad rev", err)
	}
	return nil
}

// DecodeCommit decodes and structurally checks a commit block (strict DRISL,
// no unknown fields, version 3, DID and TID syntax, signature
// present). It does not verify the signature.
func DecodeCommit(data []byte) (*Commit, error) {
	var c Commit
	if err := (drisl.DecOptions{DisallowUnknownFields: true}).Unmarshal(data, &c); err != nil {
		return nil, verr(ErrBadCommit, cid.Undef, "", err)
	}
	if err := c.checkStructure(cid.Undef); err != nil {
		return nil, err
	}
	return &c, nil
}
