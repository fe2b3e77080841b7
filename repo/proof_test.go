package repo

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestVerifyRecordProofOptions: VerifyRecordProof takes the key, the DID,
// the expected commit and the CAR bounds from VerifyOptions, and, like
// VerifyCAR, refuses a key without the DID it binds.
func TestVerifyRecordProofOptions(t *testing.T) {
	ctx := context.Background()
	key := fixedKey(t)
	pub, _ := key.PublicKey()
	r, res := postRepo(t, key, 50)
	rkey := res.Results[17].RKey
	var proof bytes.Buffer
	if _, err := r.ProveRecord(ctx, &proof, "app.bsky.feed.post", rkey); err != nil {
		t.Fatal(err)
	}
	verify := func(opts VerifyOptions) error {
		_, _, err := VerifyRecordProof(ctx, bytes.NewReader(proof.Bytes()), "app.bsky.feed.post", rkey, opts)
		return err
	}
	good := VerifyOptions{Key: pub, DID: testDID}
	if err := verify(good); err != nil {
		t.Fatalf("good proof: %v", err)
	}
	withCommit := good
	withCommit.Commit = r.Head().Commit
	if err := verify(withCommit); err != nil {
		t.Fatalf("good proof at its commit: %v", err)
	}
	for name, c := range map[string]struct {
		opts VerifyOptions
		want error
	}{
		"key without DID": {VerifyOptions{Key: pub}, ErrBadCommit},
		"no key":          {VerifyOptions{DID: testDID}, ErrBadSignature},
		"other DID":       {VerifyOptions{Key: pub, DID: "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"}, ErrBadCommit},
		"other commit":    {VerifyOptions{Key: pub, DID: testDID, Commit: res.Results[0].CID}, ErrWrongRoot},
	} {
		err := verify(c.opts)
		var ve *VerifyError
		if !errors.Is(err, c.want) || !errors.As(err, &ve) {
			t.Errorf("%s: %v (%T), want a *VerifyError wrapping %v", name, err, err, c.want)
		}
	}
	// The caller's bounds replace the proof defaults.
	n := 0
	cr, err := NewCARReaderBytes(proof.Bytes(), CAROptions{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, _, err := cr.Next()
		if err != nil {
			break
		}
		n++
	}
	if n < 3 {
		t.Fatalf("proof has %d blocks", n)
	}
	tight := good
	tight.CAR = CAROptions{MaxBlocks: n - 1}
	if err := verify(tight); err == nil {
		t.Errorf("a proof of %d blocks verified with MaxBlocks %d", n, n-1)
	}
	tight.CAR = CAROptions{MaxCARBytes: int64(proof.Len() - 1)}
	if err := verify(tight); err == nil {
		t.Errorf("a proof of %d bytes verified with MaxCARBytes %d", proof.Len(), proof.Len()-1)
	}
	tight.CAR = CAROptions{MaxBlocks: n, MaxCARBytes: int64(proof.Len())}
	if err := verify(tight); err != nil {
		t.Errorf("a proof within its exact bounds: %v", err)
	}
}
