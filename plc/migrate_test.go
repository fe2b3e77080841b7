package plc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

type testKey struct {
	priv atcrypto.PrivateKeyExportable
	did  string
}

func newKey(t testing.TB, k256 bool) testKey {
	t.Helper()
	var priv atcrypto.PrivateKeyExportable
	var err error
	if k256 {
		priv, err = atcrypto.GeneratePrivateKeyK256()
	} else {
		priv, err = atcrypto.GeneratePrivateKeyP256()
	}
	if err != nil {
		t.Fatal(err)
	}
	pub, err := priv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return testKey{priv: priv, did: pub.DIDKey()}
}

// rogueHost sets up a community on host A, lets A go rogue one hour later
// (it removes the community's recovery key and swaps the signing key), and
// returns the directory, its clock, the client and the keys.
func rogueHost(t *testing.T) (c *Client, clock *fakeClock, did, hostile string, recovery, hostA testKey) {
	ctx := context.Background()
	_, clock, srv := newTestDirectory(t, nil)
	c = srv.client(ClientOptions{})
	recovery, hostA = newKey(t, true), newKey(t, false)
	signingA, evil := newKey(t, true), newKey(t, true)

	genesis, did, err := NewGenesis(GenesisOptions{
		RecoveryKeys:    []string{recovery.did},
		HostRotationKey: hostA.did,
		SigningKey:      signingA.did,
		Endpoint:        "https://host-a.example",
		Handle:          "chess.example",
	}, hostA.priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Submit(ctx, did, genesis); err != nil {
		t.Fatal(err)
	}

	// One hour later host A goes rogue.
	clock.Add(time.Hour)
	s, err := c.VerifiedState(ctx, did, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := Update(s, UpdateOptions{
		RotationKeys:        []string{hostA.did},
		VerificationMethods: map[string]string{"atproto": evil.did},
	}, hostA.priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Submit(ctx, did, bad); err != nil {
		t.Fatal(err)
	}
	badCID, _ := bad.CID()
	return c, clock, did, badCID.String(), recovery, hostA
}

func moveToB(t *testing.T) (MoveOptions, testKey) {
	hostB, signingB := newKey(t, false), newKey(t, true)
	return MoveOptions{NewSigningKey: signingB.did, NewEndpoint: "https://host-b.example", NewHostRotationKey: hostB.did}, signingB
}

// TestRogueHostStory plays the adversarial migration against the
// embeddable directory with an injected clock.
func TestRogueHostStory(t *testing.T) {
	ctx := context.Background()

	t.Run("within 72h the recovery key nullifies and moves to host B", func(t *testing.T) {
		c, clock, did, hostile, recovery, hostA := rogueHost(t)
		// The rogue op is live: the recovery key can no longer sign on the head.
		s, err := c.VerifiedState(ctx, did, ValidateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		opts, signingB := moveToB(t)
		if _, err := Move(s, opts, recovery.priv); !errors.Is(err, ErrNotRecoveryKey) {
			t.Fatalf("move on the rogue head: %v", err)
		}
		clock.Add(71 * time.Hour)
		opts.Hostile = hostile
		rec, res, err := Nullify(s, opts, recovery.priv, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Nullified) != 1 || res.Nullified[0] != hostile {
			t.Fatalf("nullifies %v, want [%s]", res.Nullified, hostile)
		}
		if err := c.Submit(ctx, did, rec); err != nil {
			t.Fatal(err)
		}
		key, endpoint, err := ResolveAtproto(ctx, c, did)
		if err != nil || key.DIDKey() != signingB.did || endpoint != "https://host-b.example" {
			t.Fatalf("after recovery: %v %s %v", key, endpoint, err)
		}
		log, err := c.AuditLog(ctx, did)
		if err != nil || len(log) != 3 || !log[1].Nullified || log[2].Nullified {
			t.Fatalf("audit log after recovery: %+v %v", log, err)
		}
		// Host A cannot fight back: its key no longer appears in the
		// head, and on the genesis it is outranked by the recovery key
		// that signed the fork.
		s, err = c.VerifiedState(ctx, did, ValidateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Minute)
		counter, err := Update(s, UpdateOptions{}, hostA.priv)
		if !errors.Is(err, ErrNotRecoveryKey) || counter != nil {
			t.Fatalf("host A update on the new head: %v", err)
		}
		genesisOp, genesisCID := mustLookupFirst(t, s)
		fork := genesisOp.clone()
		fork.Prev, fork.Sig = genesisCID, ""
		if err := Sign(fork, hostA.priv); err != nil {
			t.Fatal(err)
		}
		if err := c.Submit(ctx, did, fork); !errors.Is(err, ErrRejected) {
			t.Fatalf("host A fork from genesis: %v", err)
		}
		if _, err := s.CheckNext(fork, clock.Now()); !errors.Is(err, ErrNullifyUnauthorized) {
			t.Fatalf("host A fork, locally: %v", err)
		}
	})

	t.Run("exactly 72h is still inside the window", func(t *testing.T) {
		c, clock, did, hostile, recovery, _ := rogueHost(t)
		s, _ := c.VerifiedState(ctx, did, ValidateOptions{})
		clock.Add(RecoveryWindow)
		opts, _ := moveToB(t)
		opts.Hostile = hostile
		rec, _, err := Nullify(s, opts, recovery.priv, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Submit(ctx, did, rec); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("after 72h the same attempt is rejected", func(t *testing.T) {
		c, clock, did, hostile, recovery, _ := rogueHost(t)
		s, _ := c.VerifiedState(ctx, did, ValidateOptions{})
		clock.Add(RecoveryWindow + time.Millisecond)
		opts, _ := moveToB(t)
		opts.Hostile = hostile
		if _, _, err := Nullify(s, opts, recovery.priv, clock.Now()); !errors.Is(err, ErrLateRecovery) {
			t.Fatalf("local check: %v", err)
		}
		// Built anyway (Move does not check against the clock) and
		// submitted, the directory refuses it too.
		rec, err := Move(s, opts, recovery.priv)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Prev != mustPrev(t, s, hostile) {
			t.Fatalf("Move with Hostile builds on %s, not the hostile operation's prev", rec.Prev)
		}
		var he *HTTPError
		if err := c.Submit(ctx, did, rec); !errors.Is(err, ErrRejected) || !errors.As(err, &he) || he.Status != 400 {
			t.Fatalf("directory: %v", err)
		}
		if _, endpoint, err := ResolveAtproto(ctx, c, did); err != nil || endpoint != "https://host-a.example" {
			t.Fatalf("endpoint %s: %v", endpoint, err)
		}
	})

	t.Run("a cooperative move needs no nullification", func(t *testing.T) {
		_, clock, srv := newTestDirectory(t, nil)
		c := srv.client(ClientOptions{})
		recovery, hostA := newKey(t, false), newKey(t, true)
		signingA := newKey(t, true)
		g, did, err := NewGenesis(GenesisOptions{RecoveryKeys: []string{recovery.did}, HostRotationKey: hostA.did,
			SigningKey: signingA.did, Endpoint: "https://host-a.example"}, hostA.priv)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Submit(ctx, did, g); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Hour)
		s, _ := c.VerifiedState(ctx, did, ValidateOptions{})
		opts, signingB := moveToB(t)
		mv, err := Move(s, opts, recovery.priv)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Submit(ctx, did, mv); err != nil {
			t.Fatal(err)
		}
		if key, _, err := ResolveAtproto(ctx, c, did); err != nil || key.DIDKey() != signingB.did {
			t.Fatalf("key %v: %v", key, err)
		}
		// and the community can later deactivate itself
		clock.Add(time.Hour)
		s, _ = c.VerifiedState(ctx, did, ValidateOptions{})
		ts, err := Tombstone(s, recovery.priv)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Submit(ctx, did, ts); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Resolve(ctx, did); !errors.Is(err, ErrGone) {
			t.Fatalf("after tombstone: %v", err)
		}
	})
}

func mustLookupFirst(t *testing.T, s *AuditState) (*Op, string) {
	t.Helper()
	e := s.Entries()[0]
	return &e.Operation, e.CID
}

func mustPrev(t *testing.T, s *AuditState, c string) string {
	op, _, _, ok := s.Lookup(c)
	if !ok {
		t.Fatal("not found")
	}
	return op.Prev
}

// TestNullifyOptions: Nullify needs MoveOptions.Hostile, Hostile excludes
// From, and it must name an active operation after the genesis.
func TestNullifyOptions(t *testing.T) {
	ctx := context.Background()
	c, clock, did, hostile, recovery, _ := rogueHost(t)
	s, err := c.VerifiedState(ctx, did, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, genesis := mustLookupFirst(t, s)
	base, _ := moveToB(t)
	cases := []struct {
		name    string
		hostile string
		from    string
		want    error
	}{
		{"no Hostile", "", "", ErrMissingField},
		{"Hostile and From", hostile, genesis, ErrInvalidOptions},
		{"unknown Hostile", "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm", "", ErrPrevNotFound},
		{"genesis", genesis, "", ErrNothingToNullify},
	}
	for _, tc := range cases {
		opts := base
		opts.Hostile, opts.From = tc.hostile, tc.from
		if op, _, err := Nullify(s, opts, recovery.priv, clock.Now()); !errors.Is(err, tc.want) || op != nil {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestGenesisErrors(t *testing.T) {
	k := newKey(t, true)
	other := newKey(t, false)
	if _, _, err := NewGenesis(GenesisOptions{HostRotationKey: k.did, SigningKey: k.did, Endpoint: "https://x"}, k.priv); !errors.Is(err, ErrMissingField) {
		t.Fatal(err)
	}
	if _, _, err := NewGenesis(GenesisOptions{RecoveryKeys: []string{"did:key:zNope"}, HostRotationKey: k.did, SigningKey: k.did, Endpoint: "https://x"}, k.priv); !errors.Is(err, ErrUnsupportedKey) {
		t.Fatal(err)
	}
	if _, _, err := NewGenesis(GenesisOptions{RecoveryKeys: []string{k.did}, HostRotationKey: k.did, SigningKey: k.did, Endpoint: "https://x"}, other.priv); !errors.Is(err, ErrNotRecoveryKey) {
		t.Fatal(err)
	}
}

// TestResolveAtproto resolves the same DID through the client and through
// the directory itself.
func TestResolveAtproto(t *testing.T) {
	ctx := context.Background()
	dir, _, srv := newTestDirectory(t, nil)
	c := srv.client(ClientOptions{})
	log := loadLog(t, "log_bskyapp.json")
	if err := dir.Import(ctx, log); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]Resolver{"client": c, "directory": dir} {
		key, endpoint, err := ResolveAtproto(ctx, r, log[0].DID)
		if err != nil || key.DIDKey() != log[1].Operation.VerificationMethods["atproto"] || endpoint != "https://bsky.social" {
			t.Fatalf("%s: %v %s %v", name, key, endpoint, err)
		}
		if _, _, err := ResolveAtproto(ctx, r, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s unknown DID: %v", name, err)
		}
	}
	tomb := loadLog(t, "log_tombstone.json")
	if err := dir.Import(ctx, tomb); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ResolveAtproto(ctx, dir, tomb[0].DID); !errors.Is(err, ErrGone) {
		t.Fatalf("tombstoned: %v", err)
	}
	if _, _, err := ResolveAtproto(ctx, c, tomb[0].DID); !errors.Is(err, ErrGone) {
		t.Fatalf("tombstoned via client: %v", err)
	}
}
