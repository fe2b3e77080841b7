package tour_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/townhall-dev/townhall/community"
	"github.com/townhall-dev/townhall/ucan"
)

// fakePDS stands in for the members' PDSes: it knows each account's
// signing key and publishes it in an identity directory, so that the
// service-auth JWTs it signs verify.
type fakePDS struct {
	Directory *identity.MockDirectory
	// Now is the tour's clock: join proofs expire a minute after it, and
	// newHost gives it to the hosts. Service-auth JWTs follow the real
	// time (indigo signs and checks them).
	Now  func() time.Time
	keys map[string]*atcrypto.PrivateKeyP256
}

func newFakePDS(now func() time.Time) *fakePDS {
	return &fakePDS{Directory: identity.NewMockDirectory(), Now: now, keys: map[string]*atcrypto.PrivateKeyP256{}}
}

// login is what a member's client does: create the account if needed, get
// a service-auth JWT from the PDS (aud: the community, or the host's
// service DID to create one), make a fresh session key, and sign the join
// proof with it.
type login struct {
	DID  string
	Key  *ucan.KeySigner
	Join community.JoinRequest
}

func (p *fakePDS) Login(name, aud, communityDID string) login {
	did := "did:plc:" + (name + "aaaaaaaaaaaaaaaaaaaaaaaa")[:24]
	if p.keys[did] == nil {
		k, _ := atcrypto.GeneratePrivateKeyP256()
		pub, _ := k.PublicKey()
		p.Directory.Insert(identity.Identity{DID: syntax.DID(did), Handle: syntax.Handle(name + ".test"),
			Keys: map[string]identity.VerificationMethod{"atproto": {Type: "Multikey", PublicKeyMultibase: pub.Multibase()}}})
		p.keys[did] = k
	}
	lxm := syntax.NSID(community.LXMJoin)
	if communityDID == "" {
		lxm = community.LXMCreate
	}
	jwt, _ := auth.SignServiceAuth(syntax.DID(did), aud, time.Minute, &lxm, p.keys[did])
	_, priv, _ := ed25519.GenerateKey(nil)
	key, _ := ucan.NewEd25519Signer(priv)
	proof, _ := community.NewJoinProof(key, community.JoinProofFields{Community: communityDID, Member: did,
		ServiceAuth: jwt, Expiration: p.Now().Add(time.Minute)})
	return login{DID: did, Key: key, Join: community.JoinRequest{ServiceAuth: jwt, Proof: proof}}
}

// TestLoginProofExpiry: the join proof expires a minute after the tour's
// clock, not the real time's.
func TestLoginProofExpiry(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	pds := newFakePDS(func() time.Time { return at })
	l := pds.Login("ada", "did:web:host1.example", "")
	inv, err := ucan.ParseInvocation(l.Join.Proof)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Expiration == nil {
		t.Fatal("join proof without exp")
	}
	if got, want := *inv.Expiration, at.Add(time.Minute).Unix(); got != want {
		t.Fatalf("join proof expires at %d, want %d (a minute after the clock)", got, want)
	}
}
