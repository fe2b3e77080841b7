package community

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// TestAdversarial runs every attack of issue 9's acceptance list against one
// community: each must be refused with a typed error and leave the repo head
// where it was. It prints the table of attempts.
func TestAdversarial(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host1")
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	bob := w.join(c, "bob", founder, testRoles[0])
	mod := w.join(c, "mod", founder, testRoles[2])
	carol := w.join(c, "carol", mod, testRoles[1])
	eve := w.join(c, "eve", founder, testRoles[0])
	banned := w.join(c, "banned", founder, testRoles[0])

	rkAlice, rkAlice2 := newTID(), newTID()
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, rkAlice, message("alice's")))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, rkAlice2, message("alice's second")))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoke(ctx, w.rq(mod.sess.CreateAudience("staff", "insider"))); err != nil {
		t.Fatal(err)
	}
	secret := "private words nobody outside staff may read"
	pm := message(secret)
	pm["nonce"] = NewNonce()
	rkPriv := newTID()
	pres, err := c.Invoke(ctx, w.rq(carol.sess.Private("staff", NSIDMessage, rkPriv, pm)))
	if err != nil {
		t.Fatal(err)
	}
	privCID := pres.CIDs[0]
	if _, err := c.Invoke(ctx, w.rq(mod.sess.Ban(banned.did, "test"))); err != nil {
		t.Fatal(err)
	}
	// eve's grant is revoked by the moderator.
	eveGrant := eve.sess.Membership.Grants[0].Chain
	eveCID := drisl.SumCID(drisl.CodecDagCBOR, eveGrant[len(eveGrant)-1])
	if _, err := c.Invoke(ctx, w.rq(mod.sess.Revoke(eveCID, "test"))); err != nil {
		t.Fatal(err)
	}

	// A stranger: a did:key with no binding and no chain.
	stranger := sessionKey(t)
	strangerSess := &Session{Membership: &Membership{Community: c.DID(), SessionKey: stranger.DID(),
		Grants: alice.sess.Membership.Grants}, Signer: stranger, Now: w.clock.Now}

	// subDelegate: alice's key delegates its /repo grant onwards.
	subDelegate := func(to ucan.Signer, nbf time.Time) *Session {
		g := alice.sess.Membership.Grants[0]
		f := ucan.DelegationFields{Audience: to.DID(), Subject: c.DID(), Command: "/repo", NoExpiration: true, NotBefore: nbf}
		d, err := ucan.NewDelegation(alice.key, f)
		if err != nil {
			t.Fatal(err)
		}
		chain := append(append([][]byte{}, g.Chain...), d.Bytes())
		return &Session{Membership: &Membership{Community: c.DID(), SessionKey: to.DID(), Grants: []Grant{{Command: "/repo", Chain: chain}}},
			Signer: to, Now: w.clock.Now}
	}
	// sharedBatch sends alice's /repo/batch of one chat message's write
	// with the batch's arguments top and the write's own extra ones.
	sharedBatch := func(top, extra map[string]any) error {
		data, rc, err := drisl.MarshalCID(message("x"))
		if err != nil {
			return err
		}
		wr := map[string]any{"rkey": newTID(), "cid": rc}
		maps.Copy(wr, extra)
		args := map[string]any{"writes": []any{wr}}
		maps.Copy(args, top)
		return invoke(c, forceInvoke(t, alice.sess, CmdBatch, args, [][]byte{data}))
	}
	bigText := strings.Repeat("x", DefaultMaxRecordBytes)

	var car bytes.Buffer
	if err := c.Export(ctx, &car); err != nil {
		t.Fatal(err)
	}
	bundle := m(c.Bundle(ctx, NSIDMessage, rkAlice)).must(t)
	doc := m(w.plc.Resolve(ctx, c.DID())).must(t)
	if _, err := VerifyBundle(ctx, bundle, VerifyOptions{Document: doc}); err != nil {
		t.Fatal(err)
	}
	other := m(c.Bundle(ctx, NSIDMessage, rkAlice2)).must(t)
	tamper := func(f func(b *Bundle)) error {
		data := m(bundle.Marshal()).must(t)
		b := m(ParseBundle(data)).must(t)
		f(b)
		_, err := VerifyBundle(ctx, b, VerifyOptions{Document: doc})
		return err
	}
	flip := func(p []byte) []byte {
		q := append([]byte(nil), p...)
		q[len(q)-2] ^= 1
		return q
	}
	notLeaked := func(leaked bool, where string) error {
		if leaked {
			return nil
		}
		return errf(ErrRecordNotFound, -1, nil, "private record absent from %s", where)
	}
	var replay *Request

	cases := []struct {
		name  string
		setup func()
		run   func() error
		want  error
	}{
		{name: "non-member write (stranger with a member's chain)", want: ErrUnauthorized,
			run: func() error { return invoke(c, w.rq(strangerSess.Create(NSIDMessage, newTID(), message("x")))) }},
		{name: "non-member write (valid sub-delegation, unbound key)", want: ErrNotMember,
			run: func() error {
				return invoke(c, w.rq(subDelegate(sessionKey(t), time.Time{}).Create(NSIDMessage, newTID(), message("x"))))
			}},
		{name: "expired invocation", want: ucan.ErrExpired,
			run: func() error {
				s := *alice.sess
				s.Now = func() time.Time { return w.clock.Now().Add(-time.Hour) }
				return invoke(c, w.rq(s.Create(NSIDMessage, newTID(), message("x"))))
			}},
		{name: "invocation living longer than MaxInvocationTTL", want: ErrUnauthorized,
			run: func() error {
				s := *alice.sess
				s.TTL = 24 * time.Hour
				return invoke(c, w.rq(s.Create(NSIDMessage, newTID(), message("x"))))
			}},
		{name: "not-yet-valid delegation (nbf in an hour)", want: ucan.ErrTooEarly,
			run: func() error {
				return invoke(c, w.rq(subDelegate(sessionKey(t), w.clock.Now().Add(time.Hour)).Create(NSIDMessage, newTID(), message("x"))))
			}},
		{name: "revoked grant", want: ucan.ErrRevoked,
			run: func() error { return invoke(c, w.rq(eve.sess.Create(NSIDMessage, newTID(), message("x")))) }},
		{name: "replayed invocation", want: ucan.ErrReplayed,
			setup: func() {
				replay = w.rq(alice.sess.Create(NSIDMessage, newTID(), message("once")))
				if err := invoke(c, replay); err != nil {
					t.Fatal(err)
				}
			},
			run: func() error { return invoke(c, replay) }},
		{name: "member escalates: forged /community/invite with a /repo chain", want: ErrUnauthorized,
			run: func() error {
				k := sessionKey(t)
				d := m(ucan.NewDelegation(alice.key, ucan.DelegationFields{Audience: k.DID(), Subject: c.DID(), Command: "/", NoExpiration: true})).must(t)
				g := alice.sess.Membership.Grants[0]
				prf := []cid.Cid{drisl.SumCID(drisl.CodecDagCBOR, g.Chain[0]), drisl.SumCID(drisl.CodecDagCBOR, g.Chain[1])}
				inv := m(ucan.NewInvocation(alice.key, ucan.InvocationFields{Subject: c.DID(), Command: CmdInvite,
					Args: map[string]any{"sessionKey": k.DID(), "member": alice.did, "grants": []any{d.CID()}}, Proofs: prf,
					Expiration: w.clock.Now().Add(time.Minute)})).must(t)
				jr := w.joinRequest(alice.did, k, c.DID(), c.DID())
				jr.Invite = &Request{Invocation: inv.Bytes(), Proofs: append(append([][]byte{}, g.Chain...), d.Bytes())}
				_, err := c.Join(ctx, jr)
				return err
			}},
		{name: "member escalates: writes a grant record directly", want: ucan.ErrMatchError,
			run: func() error {
				rec := map[string]any{"$type": NSIDGrant}
				args, data, _ := encodeWrite(Write{Action: repo.ActionCreate, Collection: NSIDGrant, RKey: newTID(), Record: rec})
				return invoke(c, forceInvoke(t, alice.sess, CmdCreate, args, [][]byte{data}))
			}},
		{name: "member escalates: bans a moderator", want: ucan.ErrInvalidClaim,
			run: func() error {
				return invoke(c, forceInvoke(t, alice.sess, CmdBan, map[string]any{"member": mod.did}, nil))
			}},
		{name: "founder writes a reserved collection directly", want: ErrReservedCollection,
			run: func() error {
				return invoke(c, w.rq(founder.sess.Create(NSIDGrant, "x", map[string]any{"$type": NSIDGrant})))
			}},
		{name: "one request writing the public repo and an audience", want: ErrBadRequest,
			run: func() error {
				rec := message("x")
				rec["nonce"] = NewNonce()
				return invoke(c, w.rq(carol.sess.Batch([]Write{
					{Action: repo.ActionCreate, Collection: NSIDMessage, RKey: newTID(), Record: message("public")},
					{Action: repo.ActionCreate, Collection: NSIDMessage, RKey: newTID(), Audience: "staff", Record: rec},
				})))
			}},
		{name: "shared batch in a collection outside the grant", want: ucan.ErrMatchError,
			run: func() error {
				return sharedBatch(map[string]any{"collection": "app.bsky.feed.post", "action": "create"}, nil)
			}},
		{name: "shared batch into an audience outside the grant", want: ucan.ErrMatchError,
			run: func() error {
				return sharedBatch(map[string]any{"collection": NSIDMessage, "audience": "staff", "action": "create"}, nil)
			}},
		{name: "shared batch whose write names another collection", want: ErrBadRequest,
			run: func() error {
				return sharedBatch(map[string]any{"collection": NSIDMessage, "action": "create"}, map[string]any{"collection": "app.bsky.feed.post"})
			}},
		{name: "shared batch whose write names an audience", want: ErrBadRequest,
			run: func() error {
				return sharedBatch(map[string]any{"collection": NSIDMessage, "action": "create"}, map[string]any{"audience": "staff"})
			}},
		{name: "shared batch whose write names another action", want: ErrBadRequest,
			run: func() error {
				return sharedBatch(map[string]any{"collection": NSIDMessage, "action": "create"}, map[string]any{"action": "update"})
			}},
		{name: "batch sharing an audience without a collection", want: ErrBadRequest,
			run: func() error {
				return sharedBatch(map[string]any{"audience": "staff"}, map[string]any{"action": "create", "collection": NSIDMessage})
			}},
		{name: "shared batch with a bad shared action", want: ErrBadRequest,
			run: func() error { return sharedBatch(map[string]any{"collection": NSIDMessage, "action": "upsert"}, nil) }},
		{name: "shared batch whose write has no action to take", want: ErrBadRequest,
			run: func() error { return sharedBatch(map[string]any{"collection": NSIDMessage}, nil) }},
		{name: "moderator deletes an invocation record", want: ErrReservedCollection,
			run: func() error {
				invs, _, err := c.ListRecords(ctx, NSIDInvocation, repo.ListOptions{Limit: 1})
				if err != nil || len(invs) == 0 {
					return fmt.Errorf("no invocation record: %w", err)
				}
				return invoke(c, w.rq(mod.sess.Moderate(NSIDInvocation, invs[0].RKey, "", "")))
			}},
		{name: "collection outside the grant", want: ucan.ErrMatchError,
			run: func() error {
				s := *alice.sess
				rec := map[string]any{"$type": "app.bsky.feed.post", "text": "x", "createdAt": "2026-01-01T00:00:00.000Z"}
				args, data, _ := encodeWrite(Write{Action: repo.ActionCreate, Collection: "app.bsky.feed.post", RKey: newTID(), Record: rec})
				return invoke(c, forceInvoke(t, &s, CmdCreate, args, [][]byte{data}))
			}},
		{name: "audience outside the grant (alice writes to staff)", want: ucan.ErrMatchError,
			run: func() error {
				rec := message("x")
				rec["nonce"] = NewNonce()
				args, data, _ := encodeWrite(Write{Action: repo.ActionCreate, Collection: NSIDMessage, RKey: newTID(), Audience: "staff", Record: rec})
				return invoke(c, forceInvoke(t, alice.sess, CmdCreate, args, [][]byte{data}))
			}},
		{name: "update another member's record", want: ErrNotOwner,
			run: func() error { return invoke(c, w.rq(bob.sess.Update(NSIDMessage, rkAlice, message("bob was here")))) }},
		{name: "delete another member's record", want: ErrNotOwner,
			run: func() error { return invoke(c, w.rq(bob.sess.Delete(NSIDMessage, rkAlice))) }},
		{name: "impersonate: sign as another session key", want: ucan.ErrInvalidSignature,
			run: func() error {
				s := *bob.sess
				s.Signer = bob.key.WithDID(alice.key.DID())
				s.Membership = alice.sess.Membership
				return invoke(c, w.rq(s.Update(NSIDMessage, rkAlice, message("I am alice"))))
			}},
		{name: "impersonate: present another member's chain", want: ucan.ErrInvalidAudience,
			run: func() error {
				s := *bob.sess
				s.Membership = alice.sess.Membership
				return invoke(c, w.rq(s.Update(NSIDMessage, rkAlice, message("I am alice"))))
			}},
		{name: "record bytes differ from the invoked CID", want: ErrBadRequest,
			run: func() error {
				r := w.rq(alice.sess.Create(NSIDMessage, newTID(), message("signed")))
				r.Records[0] = m(drisl.Marshal(message("swapped"))).must(t)
				return invoke(c, r)
			}},
		{name: "invalid record per lexicon", want: ErrInvalidRecord,
			run: func() error {
				return invoke(c, w.rq(alice.sess.Create(NSIDMessage, newTID(), map[string]any{"$type": NSIDMessage, "channel": "general", "createdAt": "2026-01-01T00:00:00.000Z"})))
			}},
		{name: "private record without a nonce", want: ErrInvalidRecord,
			run: func() error {
				return invoke(c, w.rq(carol.sess.Private("staff", NSIDMessage, newTID(), message("no nonce"))))
			}},
		{name: "oversize record", want: ErrRecordTooLarge,
			run: func() error { return invoke(c, w.rq(alice.sess.Create(NSIDMessage, newTID(), message(bigText)))) }},
		{name: "banned member writes", want: ErrBanned,
			run: func() error { return invoke(c, w.rq(banned.sess.Create(NSIDMessage, newTID(), message("x")))) }},
		{name: "banned member re-joins with a new key", want: ErrBanned,
			run: func() error {
				_, err := c.Join(ctx, w.joinRequest(banned.did, sessionKey(t), c.DID(), c.DID()))
				return err
			}},
		{name: "join with a JWT for another audience", want: ErrServiceAuth,
			run: func() error {
				_, err := c.Join(ctx, w.joinRequest(w.account("zed"), sessionKey(t), "did:web:elsewhere.example", c.DID()))
				return err
			}},
		{name: "private leak: getRecord", want: repo.ErrRecordNotFound,
			run: func() error { _, _, err := c.GetRecord(ctx, NSIDMessage, rkPriv); return err }},
		{name: "private leak: listRecords", want: ErrRecordNotFound,
			run: func() error {
				recs, _, err := c.ListRecords(ctx, NSIDMessage, repo.ListOptions{Limit: 1000})
				if err != nil {
					return err
				}
				leaked := false
				for _, r := range recs {
					leaked = leaked || r.RKey == rkPriv || bytes.Contains(r.Value, []byte(secret))
				}
				return notLeaked(leaked, "listRecords")
			}},
		{name: "private leak: CAR export", want: ErrRecordNotFound,
			run: func() error {
				return notLeaked(bytes.Contains(car.Bytes(), []byte(secret)) || bytes.Contains(car.Bytes(), privCID.Bytes()), "the export")
			}},
		{name: "private leak: sync events", want: ErrRecordNotFound,
			run: func() error {
				evs, err := c.Events(ctx, EventsOptions{Limit: 10000})
				if err != nil {
					return err
				}
				leaked := false
				for _, e := range evs {
					f := m(e.Frame()).must(t)
					leaked = leaked || bytes.Contains(f, []byte(secret)) || bytes.Contains(f, privCID.Bytes()) || bytes.Contains(f, []byte(rkPriv))
				}
				return notLeaked(leaked, "the event log")
			}},
		{name: "private leak: public receipts and invocations", want: ErrRecordNotFound,
			run: func() error {
				recs, _, err := c.ListRecords(ctx, NSIDReceipt, repo.ListOptions{Limit: 1000})
				if err != nil {
					return err
				}
				invs, _, err := c.ListRecords(ctx, NSIDInvocation, repo.ListOptions{Limit: 1000})
				if err != nil {
					return err
				}
				recs = append(recs, invs...)
				leaked := false
				for _, r := range recs {
					leaked = leaked || bytes.Contains(r.Value, privCID.Bytes()) || bytes.Contains(r.Value, []byte(rkPriv))
				}
				return notLeaked(leaked, "receipts")
			}},
		{name: "private leak: audience read by a non-reader", want: ucan.ErrInvalidClaim,
			run: func() error {
				_, err := c.ReadAudience(ctx, forceInvoke(t, alice.sess, CmdRead, map[string]any{"audience": "staff"}, nil))
				return err
			}},
		{name: "private leak: private bundle for a non-reader", want: ErrUnauthorized,
			run: func() error {
				_, err := c.PrivateBundle(ctx, forceInvoke(t, alice.sess, CmdRead, map[string]any{"audience": "staff"}, nil), NSIDMessage, rkPriv)
				return err
			}},
		{name: "tampered bundle: record bytes", want: ErrBadBundle,
			run: func() error {
				return tamper(func(b *Bundle) { b.Record = m(drisl.Marshal(message("forged"))).must(t) })
			}},
		{name: "tampered bundle: commit signature", want: ErrBadBundle,
			run: func() error {
				return tamper(func(b *Bundle) {
					cm := m(repo.DecodeCommit(b.Commit)).must(t)
					cm.Sig[3] ^= 1
					data, _, err := cm.Encode()
					if err != nil {
						t.Fatal(err)
					}
					b.Commit = data
				})
			}},
		{name: "tampered bundle: receipt author", want: ErrBadBundle,
			run: func() error {
				return tamper(func(b *Bundle) {
					var rc Receipt
					_ = drisl.Unmarshal(b.Receipt, &rc)
					rc.Author = bob.did
					b.Receipt = m(drisl.Marshal(&rc)).must(t)
				})
			}},
		{name: "tampered bundle: invocation record bytes", want: ErrBadBundle,
			run: func() error { return tamper(func(b *Bundle) { b.Invocation = flip(b.Invocation) }) }},
		{name: "tampered bundle: invocation record dropped", want: ErrBadBundle,
			run: func() error { return tamper(func(b *Bundle) { b.Invocation = nil }) }},
		{name: "tampered bundle: another invocation of the author, proved", want: ErrBadBundle,
			run: func() error {
				return tamper(func(b *Bundle) {
					b.Invocation = other.Invocation
					b.Nodes = append(b.Nodes, other.Nodes...)
				})
			}},
		{name: "tampered bundle: another record's receipt, proved", want: ErrBadBundle,
			run: func() error {
				return tamper(func(b *Bundle) {
					b.Receipt, b.Invocation = other.Receipt, other.Invocation
					b.Nodes = append(b.Nodes, other.Nodes...)
				})
			}},
		{name: "tampered bundle: delegation chain dropped", want: ErrBadBundle,
			run: func() error { return tamper(func(b *Bundle) { b.Delegations = nil }) }},
		{name: "tampered bundle: another path", want: ErrBadBundle,
			run: func() error { return tamper(func(b *Bundle) { b.Path = NSIDMessage + "/" + newTID() }) }},
		{name: "tampered bundle: MST node", want: ErrBadBundle,
			run: func() error { return tamper(func(b *Bundle) { b.Nodes[0] = flip(b.Nodes[0]) }) }},
	}

	var table strings.Builder
	fmt.Fprintf(&table, "\n%-62s %-9s %s\n", "attempt", "rejected", "error")
	rejected := 0
	for _, tc := range cases {
		if tc.setup != nil {
			tc.setup()
		}
		head := c.Repo().Head().Commit
		err := tc.run()
		ok := err != nil && errors.Is(err, tc.want)
		if c.Repo().Head().Commit != head {
			t.Errorf("%s: the head moved", tc.name)
			ok = false
		}
		if !ok {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		} else {
			rejected++
		}
		msg := fmt.Sprint(err)
		if len(msg) > 90 {
			msg = msg[:90] + "..."
		}
		fmt.Fprintf(&table, "%-62s %-9v %s\n", tc.name, ok, msg)
	}
	fmt.Fprintf(&table, "%d attempts, %d rejected with the expected typed error, head unchanged\n", len(cases), rejected)
	t.Log(table.String())
}

func invoke(c *Community, r *Request) error {
	_, err := c.Invoke(context.Background(), r)
	return err
}

// forceInvoke signs an invocation with the session's first chain, even if
// the client-side check says it does not cover the command.
func forceInvoke(t *testing.T, s *Session, cmd string, args map[string]any, recs [][]byte) *Request {
	t.Helper()
	g := s.Membership.Grants[0]
	prf := make([]cid.Cid, len(g.Chain))
	for i, tok := range g.Chain {
		prf[i] = drisl.SumCID(drisl.CodecDagCBOR, tok)
	}
	inv, err := ucan.NewInvocation(s.Signer, ucan.InvocationFields{Subject: s.Membership.Community, Command: cmd, Args: args,
		Proofs: prf, Expiration: s.now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return &Request{Invocation: inv.Bytes(), Proofs: g.Chain, Records: recs}
}
