package community

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// staffBackup builds a community with a "staff" audience holding one
// private message and returns it, its founder, carol (an insider) and
// carol's audience CAR of staff.
func staffBackup(t *testing.T, w *world, h *Host) (*Community, *member, *member, []byte) {
	t.Helper()
	ctx := context.Background()
	c, founder := w.newCommunity(h, "member")
	carol := w.join(c, "carol", founder, testRoles[1])
	if _, err := c.Invoke(ctx, w.rq(founder.sess.CreateAudience("staff"))); err != nil {
		t.Fatal(err)
	}
	pm := message("secret")
	pm["nonce"] = NewNonce()
	if _, err := c.Invoke(ctx, w.rq(carol.sess.Private("staff", NSIDMessage, newTID(), pm))); err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if err := m(c.ReadAudience(ctx, w.rq(carol.sess.Read("staff")))).must(t).WriteCAR(&backup); err != nil {
		t.Fatal(err)
	}
	return c, founder, carol, backup.Bytes()
}

// TestVerifyAudienceCARBound: VerifyAudienceCAR reads at most
// VerifyOptions.MaxBytes and refuses a larger CAR with ErrRecordTooLarge
// (not a truncated parse); exactly MaxBytes verifies.
func TestVerifyAudienceCARBound(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	c, _, _, backup := staffBackup(t, w, w.newHost(memHost, "host1"))
	n := int64(len(backup))
	key := c.SigningKey()
	if _, err := VerifyAudienceCAR(ctx, bytes.NewReader(backup), c.DID(), "staff", VerifyOptions{Key: key, MaxBytes: n}); err != nil {
		t.Fatalf("a CAR of exactly MaxBytes: %v", err)
	}
	doc := m(w.plc.Resolve(ctx, c.DID())).must(t)
	if _, err := VerifyAudienceCAR(ctx, bytes.NewReader(backup), c.DID(), "staff", VerifyOptions{Document: doc}); err != nil {
		t.Fatalf("with the DID document: %v", err)
	}
	_, err := VerifyAudienceCAR(ctx, bytes.NewReader(backup), c.DID(), "staff", VerifyOptions{Key: key, MaxBytes: n - 1})
	if !errors.Is(err, ErrRecordTooLarge) || errors.Is(err, ErrBadBundle) {
		t.Fatalf("a CAR one byte over MaxBytes: %v, want ErrRecordTooLarge", err)
	}
	// The default bound: a stream longer than DefaultMaxMigrationBytes is
	// refused after reading DefaultMaxMigrationBytes+1 bytes, not parsed.
	r := &countingReader{r: io.MultiReader(bytes.NewReader(backup), zeros{})}
	_, err = VerifyAudienceCAR(ctx, r, c.DID(), "staff", VerifyOptions{Key: key})
	if !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("an endless CAR: %v, want ErrRecordTooLarge", err)
	}
	if r.n != DefaultMaxMigrationBytes+1 {
		t.Fatalf("read %d bytes of an endless CAR, want %d", r.n, DefaultMaxMigrationBytes+1)
	}
	// Other failures stay ErrBadBundle.
	other := *doc
	other.ID = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
	for name, opts := range map[string]VerifyOptions{"no key": {}, "another DID's document": {Document: &other}} {
		if _, err := VerifyAudienceCAR(ctx, bytes.NewReader(backup), c.DID(), "staff", opts); !errors.Is(err, ErrBadBundle) {
			t.Errorf("%s: %v, want ErrBadBundle", name, err)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestMigrateAudienceBound: Migrate applies MigrateOptions.MaxBytes to each
// audience CAR too (it once read them with the default bound, silently
// truncating), refusing a larger one with ErrRecordTooLarge before anything
// is written.
func TestMigrateAudienceBound(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	c, _, _, backup := staffBackup(t, w, w.newHost(memHost, "host1"))
	var car bytes.Buffer
	if err := c.Export(ctx, &car); err != nil {
		t.Fatal(err)
	}
	max := int64(max(car.Len(), len(backup)))
	// The backup followed by zeros, one byte over max: with the bound
	// ignored it reached the CAR parser; now it is refused for its size.
	padded := append(append([]byte(nil), backup...), make([]byte, max+1-int64(len(backup)))...)
	w.clock.Advance(time.Second)
	h2 := w.newHost(memHost, "host2")
	_, err := h2.Migrate(ctx, c.DID(), MigrateOptions{Repo: bytes.NewReader(car.Bytes()),
		Audiences: []io.Reader{bytes.NewReader(padded)}, RecoveryKey: w.recovery, MaxBytes: max})
	if !errors.Is(err, ErrRecordTooLarge) || !errors.Is(err, ErrMigration) {
		t.Fatalf("an audience CAR over MaxBytes: %v, want ErrMigration and ErrRecordTooLarge", err)
	}
	if _, err := h2.opts.Store.Head(ctx, c.DID()); err == nil {
		t.Fatal("the refused migration imported the repository")
	}
	// At the bound, the same migration goes through.
	c2, err := h2.Migrate(ctx, c.DID(), MigrateOptions{Repo: bytes.NewReader(car.Bytes()),
		Audiences: []io.Reader{bytes.NewReader(backup)}, RecoveryKey: w.recovery, MaxBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Repo().Head().Commit == c.Repo().Head().Commit {
		t.Fatal("the migrated community did not re-issue its roots")
	}
}

// TestMigrateManyAudiences: an audience CAR is parsed once and matched
// against every anchor of the repository (here the backup proves the second
// of three audiences, in name order); verifyAudienceBackup returns exactly
// the blocks of that one parse.
func TestMigrateManyAudiences(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	c, founder, _, backup := staffBackup(t, w, w.newHost(memHost, "host1"))
	for _, name := range []string{"alpha", "zeta"} {
		if _, err := c.Invoke(ctx, w.rq(founder.sess.CreateAudience(name))); err != nil {
			t.Fatal(err)
		}
	}
	// The staff backup predates alpha and zeta: re-read it at the head.
	var fresh bytes.Buffer
	view := m(c.ReadAudience(ctx, w.rq(founder.sess.Read("staff")))).must(t)
	if err := view.WriteCAR(&fresh); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(fresh.Bytes(), backup) {
		t.Fatal("the backup did not change with the head")
	}
	var car bytes.Buffer
	if err := c.Export(ctx, &car); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Second)
	h2 := w.newHost(memHost, "host2")
	c2, err := h2.Migrate(ctx, c.DID(), MigrateOptions{Repo: bytes.NewReader(car.Bytes()),
		Audiences: []io.Reader{bytes.NewReader(fresh.Bytes())}, RecoveryKey: w.recovery})
	if err != nil {
		t.Fatal(err)
	}
	founder.sess.Membership = m(c2.Membership(ctx, founder.key.DID())).must(t)
	got := m(c2.ReadAudience(ctx, w.rq(founder.sess.Read("staff")))).must(t)
	if len(got.Records) != 1 || got.Records[0].CID != view.Records[0].CID {
		t.Fatalf("staff after the move: %+v", got.Records)
	}
}
