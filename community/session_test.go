package community

import (
	"errors"
	"slices"
	"testing"
)

// TestSessionChainCache: a session parses its grants once, but notices
// when its Membership is replaced or a chain's bytes change.
func TestSessionChainCache(t *testing.T) {
	w := newWorld(t)
	h := w.newHost(memHost, "host")
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	s := alice.sess
	g := s.Membership.Grants[0]
	for range 2 {
		req := w.rq(s.Create(NSIDMessage, newTID(), message("hi")))
		if len(req.Proofs) != len(g.Chain) || !slices.EqualFunc(req.Proofs, g.Chain, slices.Equal) {
			t.Fatal("the request does not carry the grant's chain")
		}
	}
	if s.chains == nil || s.chains.p.Load() == nil {
		t.Fatal("NewSession's session caches nothing")
	}
	// A membership without grants: nothing to sign with.
	saved := s.Membership
	s.Membership = &Membership{Community: saved.Community, Member: saved.Member, SessionKey: saved.SessionKey}
	if _, err := s.Create(NSIDMessage, newTID(), message("hi")); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("signed with the grants of a replaced membership: %v", err)
	}
	s.Membership = saved
	w.rq(s.Create(NSIDMessage, newTID(), message("hi"))) // cached again
	// A chain token changed in place no longer parses: no grant covers.
	tok := s.Membership.Grants[0].Chain[0]
	orig := slices.Clone(tok)
	for i := range s.Membership.Grants {
		for _, t := range s.Membership.Grants[i].Chain {
			t[0] ^= 0xff
		}
	}
	if _, err := s.Create(NSIDMessage, newTID(), message("hi")); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("signed with a cached chain whose bytes changed: %v", err)
	}
	for i := range s.Membership.Grants {
		for _, t := range s.Membership.Grants[i].Chain {
			t[0] ^= 0xff
		}
	}
	if !slices.Equal(tok, orig) {
		t.Fatal("test bug: token not restored")
	}
	if _, err := c.Invoke(t.Context(), w.rq(s.Create(NSIDMessage, newTID(), message("hi")))); err != nil {
		t.Fatalf("after restoring the chain: %v", err)
	}
	// A copy of the session signs too, and a session built without
	// NewSession (no cache) as well.
	cp := *s
	lit := &Session{Membership: s.Membership, Signer: s.Signer, Now: s.Now}
	for _, x := range []*Session{&cp, lit} {
		if _, err := c.Invoke(t.Context(), w.rq(x.Create(NSIDMessage, newTID(), message("hi")))); err != nil {
			t.Fatal(err)
		}
	}
}
