package community

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
)

// TestMigrateForgedBackup: after turning hostile, the old host signs a
// forged "backup" (alice banned) with its pre-hostile key, which the DID's
// history still lists. Migrate refuses it because its rev is dated after
// the hostile operation replaced that key; pinned to the commit the
// founders trust, it refuses the forgery whatever its date, and accepts the
// real backup.
func TestMigrateForgedBackup(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h1 := w.newHost(memHost, "host1")
	tk := hostileTakeover(t, w, h1)
	c, alice, trusted, opCID := tk.c, tk.alice, tk.head, tk.op
	h1.Close()
	w.clock.Advance(time.Hour)

	// The forgery: the export, plus a ban of alice, signed with the old key
	// an hour after the hostile operation.
	oldPub := m(h1.opts.SigningKey.PublicKey()).must(t)
	fr, err := repo.Import(ctx, repo.NewMemStore(), bytes.NewReader(tk.backup), h1.opts.SigningKey,
		repo.VerifyOptions{Key: oldPub, DID: c.DID()}, repo.Options{Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fr.Apply(ctx, []repo.Write{{Action: repo.ActionCreate, Collection: NSIDBan, RKey: alice.did,
		Record: &banRecord{Type: NSIDBan, Member: alice.did, Reason: "forged", CreatedAt: timestamp(w.clock.Now())}}}, repo.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	var forged bytes.Buffer
	if err := fr.Export(ctx, &forged); err != nil {
		t.Fatal(err)
	}

	h2 := w.newHost(memHost, "host2")
	migrate := func(car []byte, pin bool) (*Community, error) {
		o := MigrateOptions{Repo: bytes.NewReader(car), RecoveryKey: w.recovery, Nullify: opCID}
		if pin {
			o.Commit = trusted
		}
		return h2.Migrate(ctx, c.DID(), o)
	}
	if _, err := migrate(forged.Bytes(), false); !errors.Is(err, ErrMigration) || !strings.Contains(err.Error(), "after operation "+opCID) {
		t.Fatalf("a backup signed with the replaced key after its replacement: %v", err)
	}
	if _, err := migrate(forged.Bytes(), true); !errors.Is(err, ErrMigration) || !errors.Is(err, repo.ErrWrongRoot) {
		t.Fatalf("a backup other than the pinned commit: %v", err)
	}
	c2, err := migrate(tk.backup, true)
	if err != nil {
		t.Fatalf("the pinned backup: %v", err)
	}
	alice.sess.Membership = m(c2.Membership(ctx, alice.key.DID())).must(t)
	if _, err := c2.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, newTID(), message("after")))); err != nil {
		t.Fatalf("alice after the migration: %v", err)
	}
}

// TestKeyHistory: the keys of an audit log with the times they were
// replaced, up to a nullified operation.
func TestKeyHistory(t *testing.T) {
	keys := make([]string, 3)
	for i := range keys {
		k, err := atcrypto.GeneratePrivateKeyP256()
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = m(k.PublicKey()).must(t).DIDKey()
	}
	entry := func(cid, key, at string, nullified bool) plc.LogEntry {
		e := plc.LogEntry{CID: cid, CreatedAt: at, Nullified: nullified}
		e.Operation.VerificationMethods = map[string]string{"atproto": key}
		return e
	}
	log := []plc.LogEntry{
		entry("a", keys[0], "2026-01-01T00:00:00.000Z", false),
		entry("b", keys[0], "2026-01-02T00:00:00.000Z", false), // another change, same key
		entry("x", keys[2], "2026-01-02T12:00:00.000Z", true),  // nullified: no effect
		entry("c", keys[1], "2026-01-03T00:00:00.000Z", false),
		entry("d", keys[2], "2026-01-04T00:00:00.000Z", false),
	}
	type want struct{ key, by string }
	for _, tc := range []struct {
		nullify string
		want    []want
	}{
		{"", []want{{keys[0], "c"}, {keys[1], "d"}, {keys[2], ""}}},
		{"d", []want{{keys[0], "c"}, {keys[1], "d"}}},
		{"c", []want{{keys[0], "c"}}},
	} {
		hist, err := keyHistory(log, tc.nullify)
		if err != nil {
			t.Fatal(err)
		}
		var got []want
		for _, hk := range hist {
			got = append(got, want{hk.key.DIDKey(), hk.by})
		}
		if len(got) != len(tc.want) {
			t.Fatalf("nullify %q: %d keys, want %d", tc.nullify, len(got), len(tc.want))
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("nullify %q: key %d replaced by %q, want %q", tc.nullify, i, got[i].by, tc.want[i].by)
			}
		}
	}
	// keys[0] was replaced by c at 2026-01-03: a commit up to the skew
	// after is its holder's, a later one is refused.
	hist, _ := keyHistory(log, "")
	replaced := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at time.Time
		ok bool
	}{
		{replaced.Add(-time.Hour), true},
		{replaced.Add(repo.DefaultMaxClockSkew), true},
		{replaced.Add(repo.DefaultMaxClockSkew + time.Second), false},
	} {
		rev := syntax.NewTIDFromTime(tc.at, 0).String()
		if err := hist[0].signedInTime(rev); (err == nil) != tc.ok {
			t.Errorf("rev dated %s for a key replaced at %s: %v", tc.at, replaced, err)
		}
		if err := hist[2].signedInTime(rev); err != nil {
			t.Errorf("the current key, rev dated %s: %v", tc.at, err)
		}
	}
}

// failingPrivate is a PrivateStore whose writes fail while fail is set.
type failingPrivate struct {
	PrivateStore
	fail atomic.Bool
}

func (f *failingPrivate) PutPrivateBlocks(ctx context.Context, did string, blocks []repo.Block) error {
	if f.fail.Load() {
		return errors.New("disk full")
	}
	return f.PrivateStore.PutPrivateBlocks(ctx, did, blocks)
}

// TestMigratePrivateBlocksFirst: Migrate stores the audiences' private
// blocks before it imports the repository, so a failure to store them
// leaves no imported repository whose anchors name missing trees; the
// retry succeeds.
func TestMigratePrivateBlocksFirst(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h1 := w.newHost(memHost, "host1")
	c, _, _, carol := w.audienceCommunity(h1, "member")
	pm := message("secret")
	pm["nonce"] = NewNonce()
	if _, err := c.Invoke(ctx, w.rq(carol.sess.Private("staff", NSIDMessage, newTID(), pm))); err != nil {
		t.Fatal(err)
	}
	var backup, car bytes.Buffer
	if err := m(c.ReadAudience(ctx, w.rq(carol.sess.Read("staff")))).must(t).WriteCAR(&backup); err != nil {
		t.Fatal(err)
	}
	if err := c.Export(ctx, &car); err != nil {
		t.Fatal(err)
	}
	h1.Close()

	store := repo.NewMemStore()
	priv := &failingPrivate{PrivateStore: NewMemPrivateStore()}
	priv.fail.Store(true)
	sk := m(atcrypto.GeneratePrivateKeyP256()).must(t)
	rk := m(atcrypto.GeneratePrivateKeyP256()).must(t)
	h2, err := NewHost(ctx, HostOptions{Store: store, Private: priv, SigningKey: sk, RotationKey: rk,
		Endpoint: "https://host2.example", ServiceDID: "did:web:host2.example", PLC: w.plc, Identity: w.ids, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	migrate := func() (*Community, error) {
		return h2.Migrate(ctx, c.DID(), MigrateOptions{Repo: bytes.NewReader(car.Bytes()),
			Audiences: []io.Reader{bytes.NewReader(backup.Bytes())}, RecoveryKey: w.recovery})
	}
	if _, err := migrate(); !errors.Is(err, ErrMigration) || !strings.Contains(err.Error(), "audience blocks") {
		t.Fatalf("migration with a failing private store: %v", err)
	}
	if _, err := store.Head(ctx, c.DID()); !errors.Is(err, repo.ErrRepoNotFound) {
		t.Fatalf("the repository was imported before its private blocks were stored: %v", err)
	}
	priv.fail.Store(false)
	c2, err := migrate()
	if err != nil {
		t.Fatal(err)
	}
	carol.sess.Membership = m(c2.Membership(ctx, carol.key.DID())).must(t)
	if v, err := c2.ReadAudience(ctx, w.rq(carol.sess.Read("staff"))); err != nil || len(v.Records) != 1 {
		t.Fatalf("the private record after the migration: %v", err)
	}
}
