package tour_test

import (
	"crypto/ed25519"
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
	keys      map[string]*atcrypto.PrivateKeyP256
}

func newFakePDS() *fakePDS {
	return &fakePDS{Directory: identity.NewMockDirectory(), keys: map[string]*atcrypto.PrivateKeyP256{}}
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
	proof, _ := community.NewJoinProof(key, communityDID, did, jwt, time.Now().Add(time.Minute))
	return login{DID: did, Key: key, Join: community.JoinRequest{ServiceAuth: jwt, Proof: proof}}
}
