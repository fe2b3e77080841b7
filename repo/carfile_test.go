package repo

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
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

// TestImportFutureRev: VerifyCAR and Import refuse a commit whose rev is
// dated more than the clock skew after the verifier's time
// (ErrFutureRev): imported, a repository dated 2200 makes its clock date
// every later commit in 2200, which every consumer refuses. A negative
// skew (archives) turns the check off; Import's clock defaults to the
// repository's.
func TestImportFutureRev(t *testing.T) {
	ctx := context.Background()
	key := fixedKey(t)
	pub, _ := key.PublicKey()
	exportAt := func(at time.Time) []byte {
		t.Helper()
		r, err := Create(ctx, NewMemStore(), testDID, key, Options{Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		var car bytes.Buffer
		if err := r.Export(ctx, &car); err != nil {
			t.Fatal(err)
		}
		return car.Bytes()
	}
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	future := exportAt(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))

	s := NewMemStore()
	_, err := Import(ctx, s, bytes.NewReader(future), key, VerifyOptions{Key: pub, DID: testDID}, Options{Now: clock})
	var ve *VerifyError
	if !errors.Is(err, ErrFutureRev) || !errors.As(err, &ve) || !strings.Contains(err.Error(), "dated in the future") {
		t.Fatalf("Import of a repository dated 2200 at 2026: %v, want a *VerifyError wrapping ErrFutureRev", err)
	}
	if _, err := s.Head(ctx, testDID); !errors.Is(err, ErrRepoNotFound) {
		t.Fatalf("the refused import stored a head: %v", err)
	}
	if _, err := VerifyCAR(ctx, bytes.NewReader(future), VerifyOptions{Key: pub, DID: testDID}); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("VerifyCAR at time.Now: %v, want ErrFutureRev", err)
	}
	// VerifyOptions.Now wins over the repository's clock.
	late := func() time.Time { return time.Date(2200, 1, 1, 0, 1, 0, 0, time.UTC) }
	if _, err := Import(ctx, NewMemStore(), bytes.NewReader(future), key, VerifyOptions{Key: pub, DID: testDID, Now: late}, Options{Now: clock}); err != nil {
		t.Fatalf("Import with VerifyOptions.Now in 2200: %v", err)
	}

	// Archives: a negative skew imports it.
	r, err := Import(ctx, NewMemStore(), bytes.NewReader(future), key, VerifyOptions{Key: pub, DID: testDID, MaxClockSkew: -1}, Options{Now: clock})
	if err != nil {
		t.Fatalf("Import with a negative skew: %v", err)
	}
	if r.Head().Rev == "" {
		t.Fatal("no head after the import")
	}

	// The bound is the skew: DefaultMaxClockSkew, or MaxClockSkew.
	for _, c := range []struct {
		ahead, skew time.Duration
		ok          bool
	}{
		{DefaultMaxClockSkew - time.Second, 0, true},
		{DefaultMaxClockSkew + time.Second, 0, false},
		{time.Hour - time.Second, time.Hour, true},
		{time.Hour + time.Second, time.Hour, false},
		{-24 * time.Hour, 0, true},
	} {
		car := exportAt(now.Add(c.ahead))
		_, err := VerifyCAR(ctx, bytes.NewReader(car), VerifyOptions{Key: pub, DID: testDID, Now: clock, MaxClockSkew: c.skew})
		if c.ok && err != nil || !c.ok && !errors.Is(err, ErrFutureRev) {
			t.Errorf("rev %s ahead, skew %s: %v", c.ahead, c.skew, err)
		}
	}
}
