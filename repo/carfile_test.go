package repo

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestVerifyCARNeedsDID: one key may sign many repositories (a community
// host signs all of its communities with one key), so VerifyCAR and Import
// refuse options that give a key without the DID the CAR must hold, and
// report it, like a missing key, as a *VerifyError.
func TestVerifyCARNeedsDID(t *testing.T) {
	ctx := context.Background()
	key := fixedKey(t)
	pub, _ := key.PublicKey()
	good := goodRepoCAR(t, key)
	// Another repository signed by the same key verifies as itself only.
	const otherDID = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
	r, err := Create(ctx, NewMemStore(), otherDID, key, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(ctx, []Write{{Action: ActionCreate, Collection: "app.bsky.feed.post", Record: post(1)}}, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	var other bytes.Buffer
	if err := r.Export(ctx, &other); err != nil {
		t.Fatal(err)
	}
	if v, err := VerifyCAR(ctx, bytes.NewReader(good), VerifyOptions{Key: pub, DID: testDID}); err != nil || v.Commit.DID != testDID {
		t.Fatalf("good CAR: %v", err)
	}
	if _, err := VerifyCAR(ctx, bytes.NewReader(other.Bytes()), VerifyOptions{Key: pub, DID: otherDID}); err != nil {
		t.Fatalf("the other repository as itself: %v", err)
	}
	if _, err := VerifyCAR(ctx, bytes.NewReader(other.Bytes()), VerifyOptions{Key: pub, DID: testDID}); !errors.Is(err, ErrBadCommit) {
		t.Fatalf("the other repository as %s: %v, want ErrBadCommit", testDID, err)
	}
	for name, c := range map[string]struct {
		opts VerifyOptions
		want error
	}{
		"key without DID": {VerifyOptions{Key: pub}, ErrBadCommit},
		"no key":          {VerifyOptions{DID: testDID}, ErrBadSignature},
		"no key or DID":   {VerifyOptions{}, ErrBadSignature},
	} {
		for _, car := range [][]byte{good, other.Bytes()} {
			_, err := VerifyCAR(ctx, bytes.NewReader(car), c.opts)
			var ve *VerifyError
			if !errors.Is(err, c.want) || !errors.As(err, &ve) {
				t.Errorf("%s: VerifyCAR: %v (%T), want a *VerifyError wrapping %v", name, err, err, c.want)
			}
			s := NewMemStore()
			if _, err := Import(ctx, s, bytes.NewReader(car), nil, c.opts, Options{}); !errors.Is(err, c.want) {
				t.Errorf("%s: Import: %v, want %v", name, err, c.want)
			}
			for _, did := range []string{testDID, otherDID} {
				if _, err := s.Head(ctx, did); !errors.Is(err, ErrRepoNotFound) {
					t.Errorf("%s: Import stored %s", name, did)
				}
			}
		}
	}
}
