package community

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// The fuzz targets of this file take a list of tokens (proofs) as one byte
// string: the DRISL encoding of the list, or, if the bytes are not one, the
// bytes themselves as a single token.
func tokensOf(b []byte) [][]byte {
	var ts [][]byte
	if drisl.Unmarshal(b, &ts) == nil {
		return ts
	}
	return [][]byte{b}
}

func tokensBytes(t testing.TB, ts [][]byte) []byte {
	return m(drisl.Marshal(ts)).must(t)
}

// typed fails t unless err is this package's *Error.
func typed(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("untyped error: %v", err)
	}
	return e
}

// joinSeed is a FuzzJoin input.
type joinSeed struct {
	jwt            string
	proof, inv, ps []byte
}

func joinSeedOf(t testing.TB, jr JoinRequest) joinSeed {
	s := joinSeed{jwt: jr.ServiceAuth, proof: jr.Proof}
	if jr.Invite != nil {
		s.inv, s.ps = jr.Invite.Invocation, tokensBytes(t, jr.Invite.Proofs)
	}
	return s
}

// joinSeeds returns a valid join request to c (an invitation of founder
// to a new member with testRoles[0]) and near misses of it.
func joinSeeds(t testing.TB, w *world, c *Community, founder *member) map[string]joinSeed {
	did, other := w.account("dave"), w.account("erin")
	key, key2 := sessionKey(t), sessionKey(t)
	exp := w.clock.Now().Add(time.Minute)
	inv := w.rq(founder.sess.Invite(key.DID(), did, testRoles[0], time.Time{}))
	jr := w.joinRequest(did, key, c.DID(), c.DID())
	jr.Invite = inv
	out := map[string]joinSeed{"valid-invite": joinSeedOf(t, jr)}
	add := func(name string, f func(s *joinSeed)) {
		s := joinSeedOf(t, jr)
		f(&s)
		out[name] = s
	}
	add("no-invite", func(s *joinSeed) { s.inv, s.ps = nil, nil })
	add("jwt-for-the-host", func(s *joinSeed) { s.jwt = w.jwt(did, "did:web:host1.example", LXMCreate) })
	add("jwt-truncated", func(s *joinSeed) { s.jwt = s.jwt[:len(s.jwt)-7] })
	add("proof-of-another-jwt", func(s *joinSeed) { s.jwt = w.jwt(did, c.DID(), LXMJoin) })
	add("proof-for-another-member", func(s *joinSeed) {
		s.jwt = w.jwt(other, c.DID(), LXMJoin)
		s.proof = m(NewJoinProof(key, JoinProofFields{Community: c.DID(), Member: did, ServiceAuth: s.jwt, Expiration: exp})).must(t)
	})
	add("proof-expired", func(s *joinSeed) {
		s.proof = m(NewJoinProof(key, JoinProofFields{Community: c.DID(), Member: did, ServiceAuth: s.jwt,
			Expiration: w.clock.Now().Add(-time.Minute)})).must(t)
	})
	add("proof-outliving-ttl", func(s *joinSeed) {
		s.proof = m(NewJoinProof(key, JoinProofFields{Community: c.DID(), Member: did, ServiceAuth: s.jwt,
			Expiration: w.clock.Now().Add(DefaultMaxInvocationTTL + time.Minute)})).must(t)
	})
	add("proof-self-issued", func(s *joinSeed) {
		s.proof = m(NewJoinProof(key, JoinProofFields{Member: did, ServiceAuth: s.jwt, Expiration: exp})).must(t)
	})
	add("proof-tampered", func(s *joinSeed) {
		s.proof = append([]byte(nil), s.proof...)
		s.proof[len(s.proof)-2] ^= 1
	})
	add("invite-for-another-key", func(s *joinSeed) {
		i := w.rq(founder.sess.Invite(key2.DID(), did, testRoles[0], time.Time{}))
		s.inv, s.ps = i.Invocation, tokensBytes(t, i.Proofs)
	})
	add("invite-without-its-grants", func(s *joinSeed) {
		// A fresh invitation: a refused join that passed authorisation
		// has spent its invitation's nonce.
		i := w.rq(founder.sess.Invite(key.DID(), did, testRoles[0], time.Time{}))
		s.inv, s.ps = i.Invocation, tokensBytes(t, i.Proofs[:1])
	})
	add("invite-is-a-write", func(s *joinSeed) {
		i := w.rq(founder.sess.Create(NSIDMessage, newTID(), message("not an invite")))
		s.inv, s.ps = i.Invocation, tokensBytes(t, i.Proofs)
	})
	return out
}

// FuzzJoin feeds arbitrary service-auth JWTs, join proofs and invitations
// to Community.Join: no panic, only this package's typed errors, and a
// refused join changes nothing (the head stays). The in-code seeds are a
// valid invitation of a new member (accepted once, then refused: the key is
// bound) and near misses of it; the committed corpus holds the same kinds,
// made in another world (TOWNHALL_WRITE_SEEDS=1 go test -run
// TestWriteFuzzSeed rewrites it).
func FuzzJoin(f *testing.F) {
	w := newWorld(f)
	h := w.newHost(memHost, "host1")
	c, founder := w.newCommunity(h, "")
	seeds := joinSeeds(f, w, c, founder)
	for _, name := range slices.Sorted(maps.Keys(seeds)) {
		s := seeds[name]
		f.Add(s.jwt, s.proof, s.inv, s.ps)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, jwt string, proof, inv, ps []byte) {
		jr := JoinRequest{ServiceAuth: jwt, Proof: proof}
		if len(inv) > 0 {
			jr.Invite = &Request{Invocation: inv, Proofs: tokensOf(ps)}
		}
		head := c.Repo().Head().Commit
		ms, err := c.Join(ctx, jr)
		if err == nil {
			if ms == nil || ms.Member == "" {
				t.Fatal("an accepted join returned no membership")
			}
			return
		}
		typed(t, err)
		if c.Repo().Head().Commit != head {
			t.Fatalf("a refused join moved the head: %v", err)
		}
	})
}

// readSeeds returns valid /audience/read requests to c (carol reading
// staff, whose one private message is at rkey) and near misses.
func readSeeds(t testing.TB, w *world, c *Community, founder, alice, carol *member, rkey string) map[string]*Request {
	valid := w.rq(carol.sess.Read("staff"))
	out := map[string]*Request{
		"valid":               valid,
		"founder-reads":       w.rq(founder.sess.Read("staff")),
		"founder-reads-board": w.rq(founder.sess.Read("board")),
		"no-such-audience":    w.rq(founder.sess.Read("nowhere")),
		"a-write":             w.rq(alice.sess.Create(NSIDMessage, rkey, message("not a read"))),
	}
	// carol's chain for staff, invoked for board.
	prf := make([]cid.Cid, len(valid.Proofs))
	for i, tok := range valid.Proofs {
		prf[i] = drisl.SumCID(drisl.CodecDagCBOR, tok)
	}
	now := w.clock.Now()
	other := m(ucan.NewInvocation(carol.key, ucan.InvocationFields{Subject: c.DID(), Command: CmdRead,
		Args: map[string]any{"audience": "board"}, Proofs: prf, Expiration: now.Add(time.Minute), IssuedAt: now})).must(t)
	out["another-audience"] = &Request{Invocation: other.Bytes(), Proofs: valid.Proofs}
	tampered := *valid
	tampered.Invocation = append([]byte(nil), valid.Invocation...)
	tampered.Invocation[len(tampered.Invocation)-2] ^= 1
	out["tampered"] = &tampered
	wrong := *valid
	wrong.Proofs = w.rq(alice.sess.Create(NSIDMessage, rkey, message("x"))).Proofs
	out["wrong-proof"] = &wrong
	return out
}

// FuzzReadAudience feeds arbitrary /audience/read requests to ReadAudience
// and (with bundle set) PrivateBundle: no panic, only typed errors, the
// head never moves, and whatever they return verifies: a view as an
// audience CAR (VerifyAudienceCAR), a bundle with VerifyBundle.
func FuzzReadAudience(f *testing.F) {
	ctx := context.Background()
	w := newWorld(f)
	h := w.newHost(memHost, "host1")
	c, founder, alice, carol := w.audienceCommunity(h, "member")
	rk := newTID()
	pm := message("secret")
	pm["nonce"] = NewNonce()
	if _, err := c.Invoke(ctx, w.rq(carol.sess.Private("staff", NSIDMessage, rk, pm))); err != nil {
		f.Fatal(err)
	}
	for _, bundle := range []bool{false, true} {
		seeds := readSeeds(f, w, c, founder, alice, carol, rk)
		for _, name := range slices.Sorted(maps.Keys(seeds)) {
			r := seeds[name]
			f.Add(r.Invocation, tokensBytes(f, r.Proofs), NSIDMessage+"/"+rk, bundle)
		}
	}
	key := c.SigningKey()
	f.Fuzz(func(t *testing.T, inv, ps []byte, path string, bundle bool) {
		req := &Request{Invocation: inv, Proofs: tokensOf(ps)}
		head := c.Repo().Head().Commit
		defer func() {
			if c.Repo().Head().Commit != head {
				t.Fatal("a read moved the head")
			}
		}()
		if bundle {
			coll, rkey, _ := strings.Cut(path, "/")
			b, err := c.PrivateBundle(ctx, req, coll, rkey)
			if err != nil {
				typed(t, err)
				return
			}
			if _, err := VerifyBundle(ctx, b, VerifyOptions{Key: key, DID: c.DID()}); err != nil {
				t.Fatalf("a private bundle that does not verify: %v", err)
			}
			return
		}
		v, err := c.ReadAudience(ctx, req)
		if err != nil {
			typed(t, err)
			return
		}
		var car bytes.Buffer
		if err := v.WriteCAR(&car); err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyAudienceCAR(ctx, &car, c.DID(), v.Audience, VerifyOptions{Key: key}); err != nil {
			t.Fatalf("a view that does not verify: %v", err)
		}
	})
}

// fuzzCARMax is the bound FuzzVerifyAudienceCAR verifies under.
const fuzzCARMax = 1 << 20

// FuzzVerifyAudienceCAR feeds arbitrary audience CARs, DIDs and audience
// names to VerifyAudienceCAR (key: fuzzKey, MaxBytes fuzzCARMax): no panic;
// ErrRecordTooLarge exactly for inputs over the bound, else ErrBadBundle or
// a view of that DID and audience that verifies again once re-written; and
// Migrate's check of an audience backup (verifyAudienceBackup) agrees. The
// committed corpus holds a valid CAR of a community whose host key is
// fuzzKey and near misses (TOWNHALL_WRITE_SEEDS=1 go test -run
// TestWriteFuzzSeed rewrites it).
func FuzzVerifyAudienceCAR(f *testing.F) {
	ctx := context.Background()
	pub := m(fuzzKey(f).PublicKey()).must(f)
	f.Fuzz(func(t *testing.T, data []byte, did, audience string) {
		v, err := VerifyAudienceCAR(ctx, bytes.NewReader(data), did, audience, VerifyOptions{Key: pub, MaxBytes: fuzzCARMax})
		anchors := map[string]cid.Cid{audience: cid.Undef}
		if err != nil {
			e := typed(t, err)
			if over := len(data) > fuzzCARMax; over != (e.Kind == ErrRecordTooLarge) || (!over && e.Kind != ErrBadBundle) {
				t.Fatalf("%d bytes: %v", len(data), err)
			}
			if _, err := verifyAudienceBackup(ctx, bytes.NewReader(data), did, pub, anchors, fuzzCARMax); err == nil {
				t.Fatal("Migrate accepts an audience CAR that VerifyAudienceCAR refuses")
			}
			return
		}
		if v.DID != did || v.Audience != audience || !v.Commit.Defined() || !v.Root.Defined() {
			t.Fatalf("verified view of another CAR: %+v", v)
		}
		var again bytes.Buffer
		if err := v.WriteCAR(&again); err != nil {
			t.Fatal(err)
		}
		v2, err := VerifyAudienceCAR(ctx, &again, did, audience, VerifyOptions{Key: pub, MaxBytes: fuzzCARMax})
		if err != nil || v2.Root != v.Root || len(v2.Records) != len(v.Records) {
			t.Fatalf("the re-written view: %v", err)
		}
		anchors[audience] = v.Root
		blocks, err := verifyAudienceBackup(ctx, bytes.NewReader(data), did, pub, anchors, fuzzCARMax)
		if err != nil || len(blocks) != len(v.Blocks) {
			t.Fatalf("Migrate refuses an audience CAR that VerifyAudienceCAR accepts: %v", err)
		}
	})
}

// TestFuzzSeedsReach: the in-code seeds of FuzzJoin and FuzzReadAudience
// are what their names say: the valid ones are accepted, each near miss is
// refused for its own reason, and nothing refused moves the head.
func TestFuzzSeedsReach(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host1")
	c, founder, alice, carol := w.audienceCommunity(h, "")
	rk := newTID()
	pm := message("secret")
	pm["nonce"] = NewNonce()
	if _, err := c.Invoke(ctx, w.rq(carol.sess.Private("staff", NSIDMessage, rk, pm))); err != nil {
		t.Fatal(err)
	}
	joins := map[string]error{"no-invite": ErrUnauthorized, "jwt-for-the-host": ErrServiceAuth,
		"jwt-truncated": ErrServiceAuth, "proof-of-another-jwt": ErrServiceAuth, "proof-for-another-member": ErrServiceAuth,
		"proof-expired": ErrServiceAuth, "proof-outliving-ttl": ErrServiceAuth, "proof-self-issued": ErrServiceAuth, "proof-tampered": ErrServiceAuth,
		"invite-for-another-key": ErrUnauthorized, "invite-without-its-grants": ErrBadRequest, "invite-is-a-write": ErrBadRequest}
	seeds := joinSeeds(t, w, c, founder)
	for _, name := range slices.Sorted(maps.Keys(seeds)) {
		s := seeds[name]
		jr := JoinRequest{ServiceAuth: s.jwt, Proof: s.proof}
		if len(s.inv) > 0 {
			jr.Invite = &Request{Invocation: s.inv, Proofs: tokensOf(s.ps)}
		}
		head := c.Repo().Head().Commit
		_, err := c.Join(ctx, jr)
		if name == "valid-invite" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if !errors.Is(err, joins[name]) {
			t.Errorf("%s: %v, want %v", name, err, joins[name])
		}
		if c.Repo().Head().Commit != head {
			t.Errorf("%s moved the head", name)
		}
	}
	reads := map[string]error{"valid": nil, "founder-reads": nil, "founder-reads-board": nil, "another-audience": ErrUnauthorized,
		"no-such-audience": ErrNoAudience, "a-write": ErrBadRequest, "tampered": ErrUnauthorized, "wrong-proof": ErrUnauthorized}
	rs := readSeeds(t, w, c, founder, alice, carol, rk)
	for _, name := range slices.Sorted(maps.Keys(rs)) {
		_, err := c.ReadAudience(ctx, rs[name])
		if want := reads[name]; (want == nil && err != nil) || (want != nil && !errors.Is(err, want)) {
			t.Errorf("read %s: %v, want %v", name, err, want)
		}
	}
	rs = readSeeds(t, w, c, founder, alice, carol, rk)
	if _, err := c.PrivateBundle(ctx, rs["valid"], NSIDMessage, rk); err != nil {
		t.Errorf("private bundle: %v", err)
	}
	invokes := map[string]error{"tampered-signature": ErrUnauthorized, "wrong-proof": ErrUnauthorized,
		"record-not-the-cid": ErrBadRequest, "another-audience": ErrUnauthorized, "not-a-member": ErrUnauthorized,
		"reserved-collection": ErrReservedCollection, "expired": ErrUnauthorized,
		"shared-batch-own-collection": ErrBadRequest, "shared-batch-other-collection": ErrUnauthorized}
	is := invokeSeeds(t, w, c, founder, alice, carol)
	for _, name := range slices.Sorted(maps.Keys(is)) {
		head := c.Repo().Head().Commit
		if _, err := c.Invoke(ctx, is[name]); !errors.Is(err, invokes[name]) {
			t.Errorf("invoke %s: %v, want %v", name, err, invokes[name])
		}
		if c.Repo().Head().Commit != head {
			t.Errorf("invoke %s moved the head", name)
		}
	}
}

// forge signs an invocation of cmd with args by mb's key, attaching chain
// whatever it covers: the requests a client's Session refuses to build.
func forge(t testing.TB, w *world, c *Community, key ucan.Signer, chain [][]byte, cmd string, args map[string]any, records [][]byte) *Request {
	prf := make([]cid.Cid, len(chain))
	for i, tok := range chain {
		prf[i] = drisl.SumCID(drisl.CodecDagCBOR, tok)
	}
	now := w.clock.Now()
	inv := m(ucan.NewInvocation(key, ucan.InvocationFields{Subject: c.DID(), Command: cmd, Args: args, Proofs: prf,
		Expiration: now.Add(time.Minute), IssuedAt: now})).must(t)
	return &Request{Invocation: inv.Bytes(), Proofs: chain, Records: records}
}

// invokeSeeds returns requests to c that must be refused: founder (root),
// alice (role
// member) and carol (insider, reader of staff) are members; board is an
// audience carol does not write.
func invokeSeeds(t testing.TB, w *world, c *Community, founder, alice, carol *member) map[string]*Request {
	out := map[string]*Request{}
	v := w.rq(alice.sess.Create(NSIDMessage, newTID(), message("tampered")))
	v.Invocation = append([]byte(nil), v.Invocation...)
	v.Invocation[len(v.Invocation)-2] ^= 1
	out["tampered-signature"] = v
	// alice's invocation naming carol's chain (attaching alice's own would
	// not matter: the community resolves named proofs from its grants).
	args, data, _ := encodeWrite(Write{Action: repo.ActionCreate, Collection: NSIDMessage, RKey: newTID(), Record: message("wrong proof")})
	out["wrong-proof"] = forge(t, w, c, alice.key, w.rq(carol.sess.Create(NSIDMessage, newTID(), message("carol"))).Proofs,
		"/repo/create", args, [][]byte{data})
	v = w.rq(alice.sess.Create(NSIDMessage, newTID(), message("one text")))
	v.Records = [][]byte{m(drisl.Marshal(message("another text"))).must(t)}
	out["record-not-the-cid"] = v
	pm := message("to the board")
	pm["nonce"] = NewNonce()
	staff := w.rq(carol.sess.Private("staff", NSIDMessage, newTID(), pm))
	args, data, _ = encodeWrite(Write{Action: repo.ActionCreate, Collection: NSIDMessage, RKey: newTID(), Audience: "board", Record: pm})
	out["another-audience"] = forge(t, w, c, carol.key, staff.Proofs, "/repo/create", args, [][]byte{data})
	args, data, _ = encodeWrite(Write{Action: repo.ActionCreate, Collection: NSIDMessage, RKey: newTID(), Record: message("stranger")})
	out["not-a-member"] = forge(t, w, c, sessionKey(t), staff.Proofs, "/repo/create", args, [][]byte{data})
	args, data, _ = encodeWrite(Write{Action: repo.ActionCreate, Collection: NSIDProfile, RKey: "self", Record: message("reserved")})
	out["reserved-collection"] = forge(t, w, c, founder.key, w.rq(founder.sess.Read("staff")).Proofs, "/repo/create", args, [][]byte{data})
	old := *alice.sess
	old.Now = func() time.Time { return w.clock.Now().Add(-time.Hour) }
	out["expired"] = w.rq(old.Create(NSIDMessage, newTID(), message("late")))
	// Batches in the shared form (batchShared): one whose write names its
	// own collection, one whose shared collection the grant does not cover.
	post := map[string]any{"$type": "app.bsky.feed.post", "text": "x", "createdAt": "2026-01-01T00:00:00.000Z"}
	data, rc, err := drisl.MarshalCID(post)
	if err != nil {
		t.Fatal(err)
	}
	chain := alice.sess.Membership.Grants[0].Chain // her only grant
	out["shared-batch-own-collection"] = forge(t, w, c, alice.key, chain, CmdBatch, map[string]any{"collection": NSIDMessage,
		"action": "create", "writes": []any{map[string]any{"rkey": newTID(), "cid": rc, "collection": "app.bsky.feed.post"}}}, [][]byte{data})
	out["shared-batch-other-collection"] = forge(t, w, c, alice.key, chain, CmdBatch, map[string]any{"collection": "app.bsky.feed.post",
		"action": "create", "writes": []any{map[string]any{"rkey": newTID(), "cid": rc}}}, [][]byte{data})
	return out
}
