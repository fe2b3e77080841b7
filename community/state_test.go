package community

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// TestReopen: the authorisation state is rebuilt from the repository's
// records when a host restarts on the same SQLite files.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	dir := t.TempDir()
	open := func() (*Host, func()) {
		s, p, closeStores := openSQLiteStores(t, dir)
		return newHostOn(t, w, s, p), closeStores
	}
	h, closeStores := open()
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	bob := w.join(c, "bob", nil, Role{})
	carol := w.join(c, "carol", founder, testRoles[1])
	if _, err := c.Invoke(ctx, w.rq(founder.sess.CreateAudience("staff"))); err != nil {
		t.Fatal(err)
	}
	pm := message("secret")
	pm["nonce"] = NewNonce()
	if _, err := c.Invoke(ctx, w.rq(carol.sess.Private("staff", NSIDMessage, newTID(), pm))); err != nil {
		t.Fatal(err)
	}
	rk := newTID()
	before := w.rq(alice.sess.Create(NSIDMessage, newTID(), message("before restart")))
	if _, err := c.Invoke(ctx, before); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, rk, message("before restart")))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoke(ctx, w.rq(founder.sess.Ban(bob.did, ""))); err != nil {
		t.Fatal(err)
	}
	did := c.DID()
	h.Close()
	closeStores()

	h2, closeStores2 := open()
	defer closeStores2()
	c2, err := h2.Open(ctx, did)
	if err != nil {
		t.Fatal(err)
	}
	// The replay guard is rebuilt from the receipts of the last TTL.
	if _, err := c2.Invoke(ctx, before); !errors.Is(err, ucan.ErrReplayed) {
		t.Fatalf("replay after restart: %v", err)
	}
	if _, err := c2.Invoke(ctx, w.rq(alice.sess.Update(NSIDMessage, rk, message("after restart")))); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Invoke(ctx, w.rq(bob.sess.Create(NSIDMessage, newTID(), message("x")))); !errors.Is(err, ErrBanned) {
		t.Fatalf("ban forgotten: %v", err)
	}
	if _, err := c2.Invoke(ctx, w.rq(alice.sess.Delete(NSIDMessage, rk))); err != nil {
		t.Fatal(err)
	}
	view, err := c2.ReadAudience(ctx, w.rq(carol.sess.Read("staff")))
	if err != nil || len(view.Records) != 1 {
		t.Fatalf("audience after restart: %v", err)
	}
	pm2 := message("secret 2")
	pm2["nonce"] = NewNonce()
	if _, err := c2.Invoke(ctx, w.rq(carol.sess.Private("staff", NSIDMessage, newTID(), pm2))); err != nil {
		t.Fatal(err)
	}
}

func newHostOn(t testing.TB, w *world, s repo.Store, p PrivateStore) *Host {
	t.Helper()
	if w.hostKey == nil {
		w.hostKey, _ = atcrypto.GeneratePrivateKeyP256()
		w.hostRot, _ = atcrypto.GeneratePrivateKeyP256()
	}
	h, err := NewHost(context.Background(), HostOptions{Store: s, Private: p, SigningKey: w.hostKey, RotationKey: w.hostRot,
		Endpoint: "https://host1.example", ServiceDID: "did:web:host1.example", PLC: w.plc, Identity: w.ids, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestConcurrentWriters: 32 members write at once; every write lands (no
// lost update), in fewer commits than writes (group commit), and requests
// touching the same record are serialised.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host1")
	c, founder := w.newCommunity(h, "member")
	const members, each = 32, 8
	ms := make([]*member, members)
	for i := range ms {
		ms[i] = w.join(c, fmt.Sprintf("m%d", i), founder, testRoles[0])
	}
	start := c.Repo().Head().Rev
	// Each member writes `each` records, plus everyone updates one shared
	// record of their own several times.
	reqs := make([][]*Request, members)
	for i, m := range ms {
		for j := 0; j < each; j++ {
			reqs[i] = append(reqs[i], w.rq(m.sess.Create(NSIDMessage, newTID(), message(fmt.Sprintf("%d/%d", i, j)))))
		}
	}
	var wg sync.WaitGroup
	commits := sync.Map{}
	errs := make(chan error, members*each)
	for i := range ms {
		wg.Add(1)
		go func(rs []*Request) {
			defer wg.Done()
			for _, r := range rs {
				res, err := c.Invoke(ctx, r)
				if err != nil {
					errs <- err
					return
				}
				commits.Store(res.Commit, true)
			}
		}(reqs[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	recs, _, err := c.ListRecords(ctx, NSIDMessage, repo.ListOptions{Limit: 1000})
	if err != nil || len(recs) != members*each {
		t.Fatalf("%d records, want %d (%v)", len(recs), members*each, err)
	}
	n := 0
	commits.Range(func(k, v any) bool { n++; return true })
	if n >= members*each {
		t.Fatalf("%d commits for %d writes: no group commit", n, members*each)
	}
	t.Logf("%d writes in %d commits (since rev %s)", members*each, n, start)
	_ = cid.Undef
}

// TestRevokeUCAN: the issuer of a member's delegation revokes it with a
// standard /ucan/revoke; someone outside the chain cannot.
func TestRevokeUCAN(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host1")
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	bob := w.join(c, "bob", founder, testRoles[0])
	chain := alice.sess.Membership.Grants[0].Chain
	var ds []*ucan.Delegation
	for _, tok := range chain {
		ds = append(ds, m(ucan.ParseDelegation(tok)).must(t))
	}
	exp := w.clock.Now().Add(time.Minute)
	forged := m(ucan.NewRevocation(bob.key, ds, ucan.RevocationFields{Expiration: exp}))
	if forged.err == nil {
		if _, err := c.RevokeUCAN(ctx, forged.v.Bytes(), chain...); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("bob revoked alice's grant: %v", err)
		}
	}
	rv := m(ucan.NewRevocation(founder.key, ds, ucan.RevocationFields{Expiration: exp})).must(t)
	if _, err := c.RevokeUCAN(ctx, rv.Bytes(), chain...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, newTID(), message("x")))); !errors.Is(err, ucan.ErrRevoked) {
		t.Fatalf("revoked grant still writes: %v", err)
	}
	if _, _, err := c.GetRecord(ctx, NSIDRevocation, ds[len(ds)-1].CID().String()); err != nil {
		t.Fatalf("revocation not recorded: %v", err)
	}
}

// TestPLCResolver: a third party validates a member's invocation with the
// community's key resolved from the directory's audit log.
func TestPLCResolver(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host1")
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	r := &PLCResolver{PLC: w.plc}
	k, err := r.ResolveKey(ctx, c.DID())
	if err != nil || k.DIDKey() != h.SigningKeyDID() {
		t.Fatalf("resolved %v, %v", k, err)
	}
	v := ucan.NewValidator(ucan.ValidatorOptions{Resolver: r, Now: w.clock.Now})
	req := w.rq(alice.sess.Create(NSIDMessage, newTID(), message("x")))
	if _, err := v.Validate(ctx, req.Invocation, req.Proofs...); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ResolveKey(ctx, "did:web:nobody.example"); !errors.Is(err, ucan.ErrUnresolvableDID) {
		t.Fatalf("did:web: %v", err)
	}
}

// TestHostResolver: the community's validator resolves its own DID to the
// community key and hands any other non-did:key principal to
// HostOptions.Resolver; with no Resolver such a principal is unresolvable.
func TestHostResolver(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host1")
	c, _ := w.newCommunity(h, "member")
	r := communityResolver{c}
	const web = "did:web:member.example"
	if _, err := r.ResolveKey(ctx, web); !errors.Is(err, ucan.ErrUnresolvableDID) {
		t.Fatalf("no Resolver: %v", err)
	}
	want := sessionKey(t).PublicKey()
	h.opts.Resolver = staticResolver{did: web, key: want}
	k, err := r.ResolveKey(ctx, web)
	if err != nil || k.DIDKey() != want.DIDKey() {
		t.Fatalf("Resolver: %v, %v", k, err)
	}
	if k, err := r.ResolveKey(ctx, c.DID()); err != nil || k.DIDKey() != h.SigningKeyDID() {
		t.Fatalf("community DID: %v, %v", k, err)
	}
}
