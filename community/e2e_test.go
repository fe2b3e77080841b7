package community

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	indigorepo "github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/lexicon"
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
)

// verifyWithIndigo loads an exported CAR with indigo's loader, checks the
// commit signature with the DID document's key and compares every record.
func verifyWithIndigo(t *testing.T, c *Community, car []byte) {
	t.Helper()
	ctx := context.Background()
	icommit, irepo, err := indigorepo.LoadRepoFromCAR(ctx, bytes.NewReader(car))
	if err != nil {
		t.Fatalf("indigo LoadRepoFromCAR: %v", err)
	}
	if err := icommit.VerifySignature(c.SigningKey()); err != nil {
		t.Fatalf("indigo VerifySignature: %v", err)
	}
	n := 0
	err = c.Repo().Tree().Walk(ctx, func(k string, v cid.Cid) error {
		nsid, rkey, err := syntax.ParseRepoPath(k)
		if err != nil {
			return err
		}
		_, ic, err := irepo.GetRecordBytes(ctx, nsid, rkey)
		if err != nil || *ic != v {
			return fmt.Errorf("indigo record %s: %v", k, err)
		}
		n++
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("indigo walk: %d records, %v", n, err)
	}
}

func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h1 := w.newHost(sqliteHost, "host1")
	c, founder := w.newCommunity(h1, "member")

	// Onboarding: invited by the founder, by open join, a moderator, an insider.
	alice := w.join(c, "alice", founder, testRoles[0])
	bob := w.join(c, "bob", nil, Role{})
	mod := w.join(c, "mod", founder, testRoles[2])
	carol := w.join(c, "carol", mod, testRoles[1])

	// Writes, single and batched.
	rkA := newTID()
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, rkA, message("hi all")))); err != nil {
		t.Fatal(err)
	}
	rkB1, rkB2 := newTID(), newTID()
	if _, err := c.Invoke(ctx, w.rq(bob.sess.Batch([]Write{
		{Action: repo.ActionCreate, Collection: NSIDMessage, RKey: rkB1, Record: message("one")},
		{Action: repo.ActionCreate, Collection: NSIDChannel, RKey: "general", Record: map[string]any{"$type": NSIDChannel, "name": "general", "createdAt": "2026-01-01T00:00:00.000Z"}},
		{Action: repo.ActionCreate, Collection: NSIDMessage, RKey: rkB2, Record: message("two")},
	}))); err != nil {
		t.Fatal(err)
	}
	// The batch's receipts are one block naming its invocation, stored once.
	get := func(coll, rkey string) (cid.Cid, []byte) {
		t.Helper()
		c, data, err := c.GetRecord(ctx, coll, rkey)
		if err != nil {
			t.Fatal(err)
		}
		return c, data
	}
	rc1, rb1 := get(NSIDReceipt, ReceiptKey(NSIDMessage+"/"+rkB1))
	rc2, _ := get(NSIDReceipt, ReceiptKey(NSIDMessage+"/"+rkB2))
	if rc1 != rc2 {
		t.Fatalf("one batch, two receipt blocks: %s, %s", rc1, rc2)
	}
	var rcpt Receipt
	if err := drisl.Unmarshal(rb1, &rcpt); err != nil || rcpt.Author != bob.did {
		t.Fatalf("receipt %+v: %v", rcpt, err)
	}
	if _, ib := get(NSIDInvocation, InvocationKey(rcpt.Invocation)); !bytes.Contains(ib, []byte(rkB2)) {
		t.Fatal("the invocation record does not hold the batch's invocation")
	}

	// Moderation: the moderator deletes bob's message, then bans bob.
	if _, err := c.Invoke(ctx, w.rq(mod.sess.Moderate(NSIDMessage, rkB1, "", "spam"))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.GetRecord(ctx, NSIDMessage, rkB1); !errors.Is(err, repo.ErrRecordNotFound) {
		t.Fatalf("moderated record still there: %v", err)
	}
	if _, err := c.Invoke(ctx, w.rq(mod.sess.Ban(bob.did, "spam"))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoke(ctx, w.rq(bob.sess.Create(NSIDMessage, newTID(), message("still here?")))); !errors.Is(err, ErrBanned) {
		t.Fatalf("banned member wrote: %v", err)
	}
	if _, err := c.Join(ctx, w.joinRequest(bob.did, sessionKey(t), c.DID(), c.DID())); !errors.Is(err, ErrBanned) {
		t.Fatalf("banned member re-joined: %v", err)
	}

	// A private channel: the moderator creates the audience, carol writes.
	if _, err := c.Invoke(ctx, w.rq(mod.sess.CreateAudience("staff", "insider"))); err != nil {
		t.Fatal(err)
	}
	secret := "the secret plan"
	rkP := newTID()
	pm := message(secret)
	pm["nonce"] = NewNonce()
	pres, err := c.Invoke(ctx, w.rq(carol.sess.Private("staff", NSIDMessage, rkP, pm)))
	if err != nil {
		t.Fatal(err)
	}
	view, err := c.ReadAudience(ctx, w.rq(carol.sess.Read("staff")))
	if err != nil {
		t.Fatal(err)
	}
	if len(view.Records) != 1 || view.Records[0].CID != pres.CIDs[0] {
		t.Fatalf("audience view: %+v", view.Records)
	}
	if _, err := alice.sess.Read("staff"); err == nil {
		t.Fatal("alice's session found a grant to read staff")
	}
	pb, err := c.PrivateBundle(ctx, w.rq(carol.sess.Read("staff")), NSIDMessage, rkP)
	if err != nil {
		t.Fatal(err)
	}
	doc := m(w.plc.Resolve(ctx, c.DID())).must(t)
	if a, err := VerifyBundle(ctx, pb, VerifyOptions{Document: doc}); err != nil || a.Author != carol.did {
		t.Fatalf("private bundle: %v %+v", err, a)
	}
	var backup bytes.Buffer
	if err := view.WriteCAR(&backup); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyAudienceCAR(ctx, bytes.NewReader(backup.Bytes()), c.DID(), "staff", VerifyOptions{Key: c.SigningKey()}); err != nil {
		t.Fatal(err)
	}

	// Export: no private content; indigo accepts it.
	var car bytes.Buffer
	if err := c.Export(ctx, &car); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(car.Bytes(), []byte(secret)) || bytes.Contains(car.Bytes(), pres.CIDs[0].Bytes()) {
		t.Fatal("the export carries the private record")
	}
	verifyWithIndigo(t, c, car.Bytes())
	validateAll(t, c)
	verifyEvents(t, c, w.clock.Now)
	ab := m(c.Bundle(ctx, NSIDMessage, rkA)).must(t)
	if a, err := VerifyBundle(ctx, ab, VerifyOptions{Document: doc}); err != nil || a.Author != alice.did {
		t.Fatalf("bundle: %v", err)
	}

	// Migration to host2 with the recovery key, from the export and carol's
	// backup of the private channel; host1 is gone.
	h2 := w.newHost(sqliteHost, "host2")
	h1.Close()
	w.clock.Advance(time.Minute)
	c2, err := h2.Migrate(ctx, c.DID(), MigrateOptions{Repo: bytes.NewReader(car.Bytes()),
		Audiences: []io.Reader{bytes.NewReader(backup.Bytes())}, RecoveryKey: w.recovery})
	if err != nil {
		t.Fatal(err)
	}
	data, err := w.plc.Data(ctx, c.DID())
	if err != nil || data.PDSEndpoint() != "https://host2.example" || data.VerificationMethods["atproto"] != h2.SigningKeyDID() {
		t.Fatalf("DID not moved: %v %+v", err, data)
	}
	// The old host, restarted on its own store, refuses to write the
	// community that moved away.
	h1b, err := NewHost(ctx, h1.opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h1b.Open(ctx, c.DID()); !errors.Is(err, ErrMigration) {
		t.Fatalf("old host reopened the moved community: %v", err)
	}
	// Members refresh their chains (the roots were re-issued) and keep writing.
	for _, mb := range []*member{alice, carol, mod} {
		mb.sess.Membership = m(c2.Membership(ctx, mb.key.DID())).must(t)
	}
	if _, err := c2.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, newTID(), message("hello from host2")))); err != nil {
		t.Fatal(err)
	}
	pm2 := message("still secret")
	pm2["nonce"] = NewNonce()
	if _, err := c2.Invoke(ctx, w.rq(carol.sess.Private("staff", NSIDMessage, newTID(), pm2))); err != nil {
		t.Fatal(err)
	}
	view2, err := c2.ReadAudience(ctx, w.rq(carol.sess.Read("staff")))
	if err != nil || len(view2.Records) != 2 {
		t.Fatalf("private channel after migration: %v", err)
	}
	// Banned stays banned.
	if _, err := c2.Join(ctx, w.joinRequest(bob.did, sessionKey(t), c2.DID(), c2.DID())); !errors.Is(err, ErrBanned) {
		t.Fatalf("banned member joined host2: %v", err)
	}
	var car2 bytes.Buffer
	if err := c2.Export(ctx, &car2); err != nil {
		t.Fatal(err)
	}
	verifyWithIndigo(t, c2, car2.Bytes())
	doc2 := m(w.plc.Resolve(ctx, c2.DID())).must(t)
	log := m(w.plc.AuditLog(ctx, c2.DID())).must(t)
	// alice's first message was written under host1's root: it verifies with
	// the audit log's history of keys.
	ab2 := m(c2.Bundle(ctx, NSIDMessage, rkA)).must(t)
	if _, err := VerifyBundle(ctx, ab2, VerifyOptions{Document: doc2, AuditLog: log}); err != nil {
		t.Fatal(err)
	}
	// Without the history, or with a forged one, the old root does not verify.
	if _, err := VerifyBundle(ctx, ab2, VerifyOptions{Document: doc2}); !errors.Is(err, ErrBadBundle) {
		t.Fatalf("old chain verified with the new key alone: %v", err)
	}
	forged := append([]plc.LogEntry(nil), log...)
	evilKey, _ := atcrypto.GeneratePrivateKeyP256()
	evilPub, _ := evilKey.PublicKey()
	forged[0].Operation.VerificationMethods = map[string]string{"atproto": evilPub.DIDKey()}
	if _, err := VerifyBundle(ctx, ab2, VerifyOptions{Document: doc2, AuditLog: forged}); !errors.Is(err, ErrBadBundle) {
		t.Fatalf("forged audit log accepted: %v", err)
	}
}

// TestHostileHost: the old host points the DID to its own key; the
// founders nullify that operation with the recovery key within 72 h and
// move to host2, from a member's backup. After 72 h it is too late.
func TestHostileHost(t *testing.T) {
	ctx := context.Background()
	for _, late := range []bool{false, true} {
		w := newWorld(t)
		h1 := w.newHost(memHost, "host1")
		tk := hostileTakeover(t, w, h1)
		c, alice := tk.c, tk.alice
		h1.Close()
		if late {
			w.clock.Advance(73 * time.Hour)
		} else {
			w.clock.Advance(71 * time.Hour)
		}
		h2 := w.newHost(memHost, "host2")
		c2, err := h2.Migrate(ctx, c.DID(), MigrateOptions{Repo: bytes.NewReader(tk.backup), RecoveryKey: w.recovery, Nullify: tk.op})
		if late {
			if !errors.Is(err, ErrMigration) || !errors.Is(err, plc.ErrLateRecovery) {
				t.Fatalf("late recovery: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		data := m(w.plc.Data(ctx, c.DID())).must(t)
		if data.VerificationMethods["atproto"] != h2.SigningKeyDID() {
			t.Fatal("the DID does not point to host2")
		}
		alice.sess.Membership = m(c2.Membership(ctx, alice.key.DID())).must(t)
		if _, err := c2.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, newTID(), message("after")))); err != nil {
			t.Fatal(err)
		}
	}
}

// takeover is what a hostile-host test starts from (see hostileTakeover).
type takeover struct {
	c      *Community
	alice  *member
	backup []byte  // a member's export, before the hostile operation
	head   cid.Cid // the commit of backup
	op     string  // the CID of the hostile operation
}

// hostileTakeover creates a community on h1 where alice writes one
// message, backs it up, and an hour later has h1 point the DID's atproto
// key to a key of its own (a plain PLC update with its rotation key).
func hostileTakeover(t *testing.T, w *world, h1 *Host) takeover {
	t.Helper()
	ctx := context.Background()
	c, founder := w.newCommunity(h1, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, newTID(), message("before")))); err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if err := c.Export(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	head := c.Repo().Head().Commit
	w.clock.Advance(time.Hour)
	state := m(w.plc.VerifiedState(ctx, c.DID(), plc.ValidateOptions{})).must(t)
	hpub := m(w.pds[w.account("evil")].PublicKey()).must(t)
	op, err := plc.Update(state, plc.UpdateOptions{VerificationMethods: map[string]string{"atproto": hpub.DIDKey()}}, h1.opts.RotationKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.plc.Submit(ctx, c.DID(), op); err != nil {
		t.Fatal(err)
	}
	return takeover{c: c, alice: alice, backup: backup.Bytes(), head: head, op: m(op.CID()).must(t).String()}
}

// validateAll checks every record of the repository, the community's own
// included, against the embedded lexicons.
func validateAll(t *testing.T, c *Community) {
	t.Helper()
	ctx := context.Background()
	colls, err := c.Repo().Store().Collections(ctx, c.DID())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, coll := range colls {
		recs, _, err := c.ListRecords(ctx, coll, repo.ListOptions{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			var v any
			if err := drisl.Unmarshal(r.Value, &v); err != nil {
				t.Fatal(err)
			}
			if err := c.host.Catalog().ValidateRecord(ctx, coll, r.RKey, v, lexicon.ValidateOptions{}); err != nil {
				t.Errorf("%s/%s: %v", coll, r.RKey, err)
			}
			n++
		}
	}
	if n < 10 {
		t.Fatalf("only %d records validated", n)
	}
}

// verifyEvents replays the community's #commit events through the sync 1.1
// consumer check (repo.VerifyCommitEvent), as a relay would, chaining the
// consumer state from one event to the next. now is the consumer's clock:
// the world's, which dated the revs, not the machine's.
func verifyEvents(t *testing.T, c *Community, now func() time.Time) {
	t.Helper()
	ctx := context.Background()
	evs, err := c.Events(ctx, EventsOptions{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	var known *repo.SyncState
	n := 0
	for _, e := range evs {
		if e.Commit == nil {
			continue
		}
		st, err := repo.VerifyCommitEvent(ctx, e.Commit, repo.CommitCheckOptions{Key: c.SigningKey(), DID: c.DID(), Known: known, Now: now})
		if err != nil {
			t.Fatalf("event %d: %v", e.Seq, err)
		}
		known = st
		n++
	}
	if n < 10 || known.Commit != c.Repo().Head().Commit {
		t.Fatalf("%d events verified; last state %v, head %v", n, known, c.Repo().Head().Commit)
	}
}

// TestMigrationRefusals: a forged repository, a tampered or stale audience
// backup, or a key that is not a recovery key: Migrate refuses and writes
// nothing (no repository on the new host, the DID unchanged).
func TestMigrationRefusals(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h1 := w.newHost(memHost, "host1")
	c, _, carol, stale := staffBackup(t, w, h1)
	pm2 := message("later")
	pm2["nonce"] = NewNonce()
	if _, err := c.Invoke(ctx, w.rq(carol.sess.Private("staff", NSIDMessage, newTID(), pm2))); err != nil {
		t.Fatal(err)
	}
	var car, backup bytes.Buffer
	if err := c.Export(ctx, &car); err != nil {
		t.Fatal(err)
	}
	if err := m(c.ReadAudience(ctx, w.rq(carol.sess.Read("staff")))).must(t).WriteCAR(&backup); err != nil {
		t.Fatal(err)
	}
	// A repository of the same DID signed by some other key.
	evilStore := repo.NewMemStore()
	evilKey, _ := atcrypto.GeneratePrivateKeyP256()
	evil := m(repo.Create(ctx, evilStore, c.DID(), evilKey, repo.Options{})).must(t)
	var forged bytes.Buffer
	if err := evil.Export(ctx, &forged); err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), backup.Bytes()...)
	tampered[len(tampered)-3] ^= 1
	notRecovery, _ := atcrypto.GeneratePrivateKeyP256()
	before := m(w.plc.AuditLog(ctx, c.DID())).must(t)
	cases := []struct {
		name string
		opts MigrateOptions
	}{
		{"forged repository", MigrateOptions{Repo: bytes.NewReader(forged.Bytes()), RecoveryKey: w.recovery}},
		{"tampered audience backup", MigrateOptions{Repo: bytes.NewReader(car.Bytes()), Audiences: []io.Reader{bytes.NewReader(tampered)}, RecoveryKey: w.recovery}},
		{"stale audience backup", MigrateOptions{Repo: bytes.NewReader(car.Bytes()), Audiences: []io.Reader{bytes.NewReader(stale)}, RecoveryKey: w.recovery}},
		{"not a recovery key", MigrateOptions{Repo: bytes.NewReader(car.Bytes()), RecoveryKey: notRecovery}},
	}
	for _, tc := range cases {
		w.clock.Advance(time.Second)
		h2 := w.newHost(memHost, "host2")
		_, err := h2.Migrate(ctx, c.DID(), tc.opts)
		if !errors.Is(err, ErrMigration) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if _, err := h2.opts.Store.Head(ctx, c.DID()); !errors.Is(err, repo.ErrRepoNotFound) {
			t.Errorf("%s: the new host holds a repository: %v", tc.name, err)
		}
		if after := m(w.plc.AuditLog(ctx, c.DID())).must(t); len(after) != len(before) {
			t.Errorf("%s: the DID changed", tc.name)
		}
		t.Logf("%-26s refused: %v", tc.name, err)
	}
}
