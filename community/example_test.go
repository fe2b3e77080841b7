package community_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/townhall-dev/townhall/community"
	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// exampleWorld stands in for the network: a did:plc directory, members'
// PDSes (an identity directory and their signing keys), a host.
type exampleWorld struct {
	plc      *plc.Client
	ids      *identity.MockDirectory
	pds      map[string]*atcrypto.PrivateKeyP256
	recovery *atcrypto.PrivateKeyP256
	host     *community.Host
}

func newExampleWorld() *exampleWorld {
	w := &exampleWorld{ids: identity.NewMockDirectory(), pds: map[string]*atcrypto.PrivateKeyP256{}}
	// The directory is called in process (plc.HandlerTransport): no port.
	directory := plc.NewDirectory(plc.DirectoryOptions{})
	w.plc = directory.Client(plc.ClientOptions{})
	w.recovery, _ = atcrypto.GeneratePrivateKeyP256()
	signing, _ := atcrypto.GeneratePrivateKeyP256()
	rotation, _ := atcrypto.GeneratePrivateKeyP256()
	w.host, _ = community.NewHost(context.Background(), community.HostOptions{
		Store: repo.NewMemStore(), SigningKey: signing, RotationKey: rotation,
		Endpoint: "https://host.example", ServiceDID: "did:web:host.example",
		PLC: w.plc, Identity: w.ids,
	})
	return w
}

func (w *exampleWorld) close() { w.host.Close() }

// account registers an atproto account whose PDS signs with a new key.
func (w *exampleWorld) account(name string) string {
	did := "did:plc:" + (name + strings.Repeat("a", 24))[:24]
	k, _ := atcrypto.GeneratePrivateKeyP256()
	pub, _ := k.PublicKey()
	w.ids.Insert(identity.Identity{DID: syntax.DID(did), Handle: syntax.Handle(name + ".test"),
		Keys: map[string]identity.VerificationMethod{"atproto": {Type: "Multikey", PublicKeyMultibase: pub.Multibase()}}})
	w.pds[did] = k
	return did
}

// login is what a member's client does: get a service-auth JWT from the
// PDS, make a session key, and sign the join proof with it.
func (w *exampleWorld) login(member, aud, communityDID, lxm string) (community.JoinRequest, *ucan.KeySigner) {
	nsid := syntax.NSID(lxm)
	jwt, _ := auth.SignServiceAuth(syntax.DID(member), aud, time.Minute, &nsid, w.pds[member])
	_, priv, _ := ed25519.GenerateKey(nil)
	key, _ := ucan.NewEd25519Signer(priv)
	proof, _ := community.NewJoinProof(key, community.JoinProofFields{Community: communityDID, Member: member,
		ServiceAuth: jwt, Expiration: time.Now().Add(time.Minute)})
	return community.JoinRequest{ServiceAuth: jwt, Proof: proof}, key
}

func (w *exampleWorld) recoveryKey() string {
	pub, _ := w.recovery.PublicKey()
	return pub.DIDKey()
}

// create makes a community with one founder and an open "member" role.
func (w *exampleWorld) create() (*community.Community, *community.Session) {
	founder := w.account("founder")
	jr, key := w.login(founder, "did:web:host.example", "", community.LXMCreate)
	c, err := w.host.Create(context.Background(), community.CreateOptions{
		Name: "Gardeners", RecoveryKeys: []string{w.recoveryKey()}, Founders: []community.JoinRequest{jr},
		Roles:    []community.Role{{Name: "member", Collections: []string{"dev.townhall.chat.*"}}},
		JoinRole: "member",
	})
	if err != nil {
		panic(err)
	}
	m, _ := c.Membership(context.Background(), key.DID())
	s, _ := community.NewSession(m, key)
	return c, s
}

func (w *exampleWorld) join(c *community.Community, name string) (*community.Session, string) {
	did := w.account(name)
	jr, key := w.login(did, c.DID(), c.DID(), community.LXMJoin)
	m, err := c.Join(context.Background(), jr)
	if err != nil {
		panic(err)
	}
	s, _ := community.NewSession(m, key)
	return s, did
}

func chatMessage(text string) map[string]any {
	return map[string]any{"$type": "dev.townhall.chat.message", "channel": "general", "text": text,
		"createdAt": "2026-11-20T12:00:00.000Z"}
}

// Create a community: a did:plc whose rotation keys put the founders'
// recovery key above the host's, a repository, a profile, roles, and a root
// delegation to the founder's session key.
func ExampleHost_Create() {
	w := newExampleWorld()
	defer w.close()
	ctx := context.Background()

	founder := w.account("founder")
	jr, key := w.login(founder, "did:web:host.example", "", community.LXMCreate)
	c, err := w.host.Create(ctx, community.CreateOptions{
		Name:         "Gardeners",
		RecoveryKeys: []string{w.recoveryKey()},
		Founders:     []community.JoinRequest{jr},
		Roles:        []community.Role{{Name: "member", Collections: []string{"dev.townhall.chat.*"}}},
		JoinRole:     "member",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	data, _ := w.plc.Data(ctx, c.DID())
	m, _ := c.Membership(ctx, key.DID())
	fmt.Println(strings.HasPrefix(c.DID(), "did:plc:"), data.PDSEndpoint())
	fmt.Println(len(data.RotationKeys), data.RotationKeys[0] == w.recoveryKey())
	fmt.Println(m.Member == founder, m.Grants[0].Command)
	// Output:
	// true https://host.example
	// 2 true
	// true /
}

// Join with an atproto account: the PDS's service-auth JWT and a session
// key's proof; the community's join role delegates to the session key.
func ExampleCommunity_Join() {
	w := newExampleWorld()
	defer w.close()
	c, _ := w.create()

	alice := w.account("alice")
	jr, key := w.login(alice, c.DID(), c.DID(), community.LXMJoin)
	m, err := c.Join(context.Background(), jr)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, g := range m.Grants {
		fmt.Println(g.Command, len(g.Chain))
	}
	fmt.Println(m.Member == alice, m.SessionKey == key.DID())
	// Output:
	// /repo 1
	// true true
}

// Write a record: the session signs a /repo/create invocation naming the
// record's CID; the host checks it and commits the record with its receipt.
func ExampleCommunity_Invoke() {
	w := newExampleWorld()
	defer w.close()
	ctx := context.Background()
	c, _ := w.create()
	alice, _ := w.join(c, "alice")

	req, err := alice.Create("dev.townhall.chat.message", "3kabcdefghi22", chatMessage("hello, gardeners"))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := c.Invoke(ctx, req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Paths[0])
	fmt.Println(res.Commit == c.Repo().Head().Commit)

	// A collection outside alice's grant is refused, and nothing is written.
	post := map[string]any{"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2026-11-20T12:00:00.000Z"}
	if _, err := alice.Create("app.bsky.feed.post", "3kabcdefghi23", post); err != nil {
		fmt.Println("refused:", err != nil)
	}
	// Output:
	// dev.townhall.chat.message/3kabcdefghi22
	// true
	// refused: true
}

// Verify who wrote a record, offline, with only the community's DID
// document: the commit signature, the MST proofs, the invocation and its
// delegation chain, and the author's binding.
func ExampleVerifyBundle() {
	w := newExampleWorld()
	defer w.close()
	ctx := context.Background()
	c, _ := w.create()
	alice, aliceDID := w.join(c, "alice")
	req, _ := alice.Create("dev.townhall.chat.message", "3kabcdefghi22", chatMessage("I wrote this"))
	if _, err := c.Invoke(ctx, req); err != nil {
		fmt.Println(err)
		return
	}

	bundle, _ := c.Bundle(ctx, "dev.townhall.chat.message", "3kabcdefghi22")
	data, _ := bundle.Marshal() // send it anywhere

	doc, _ := w.plc.Resolve(ctx, c.DID())
	b, _ := community.ParseBundle(data)
	a, err := community.VerifyBundle(ctx, b, community.VerifyOptions{Document: doc})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.Author == aliceDID, a.Command, len(a.Chain))

	// Any change to the evidence fails with ErrBadBundle.
	b.Record, _ = drisl.Marshal(chatMessage("I never wrote this"))
	_, err = community.VerifyBundle(ctx, b, community.VerifyOptions{Document: doc})
	fmt.Println(errors.Is(err, community.ErrBadBundle))
	// Output:
	// true /repo/create 1
	// true
}

// Move a community to another host with the founders' recovery key, from a
// backup of its repository, without the old host's help; members fetch
// their re-issued chains and keep writing.
func ExampleHost_Migrate() {
	w := newExampleWorld()
	defer w.close()
	ctx := context.Background()
	c, _ := w.create()
	alice, _ := w.join(c, "alice")
	req, _ := alice.Create("dev.townhall.chat.message", "3kabcdefghi22", chatMessage("before the move"))
	if _, err := c.Invoke(ctx, req); err != nil {
		fmt.Println(err)
		return
	}
	var backup bytes.Buffer // a member's backup: the public CAR
	if err := c.Export(ctx, &backup); err != nil {
		fmt.Println(err)
		return
	}
	w.host.Close() // the old host is gone

	signing, _ := atcrypto.GeneratePrivateKeyP256()
	rotation, _ := atcrypto.GeneratePrivateKeyP256()
	newHost, _ := community.NewHost(ctx, community.HostOptions{
		Store: repo.NewMemStore(), SigningKey: signing, RotationKey: rotation,
		Endpoint: "https://new-host.example", ServiceDID: "did:web:new-host.example",
		PLC: w.plc, Identity: w.ids,
	})
	defer newHost.Close()
	moved, err := newHost.Migrate(ctx, c.DID(), community.MigrateOptions{Repo: &backup, RecoveryKey: w.recovery})
	if err != nil {
		fmt.Println(err)
		return
	}
	data, _ := w.plc.Data(ctx, c.DID())
	fmt.Println(data.PDSEndpoint())

	alice.Membership, _ = moved.Membership(ctx, alice.Membership.SessionKey)
	req, _ = alice.Create("dev.townhall.chat.message", "3kabcdefghi23", chatMessage("after the move"))
	_, err = moved.Invoke(ctx, req)
	fmt.Println(err == nil)
	// Output:
	// https://new-host.example
	// true
}

// A Session is the client side of a membership: NewSession pairs the
// Membership that Join returned with the session key that signed the join
// proof, and the session then signs the requests the community executes,
// choosing a grant that covers each one. TTL sets the invocations' lifetime
// (DefaultInvocationTTL when zero) and Now the client's clock (time.Now
// when nil).
func ExampleNewSession() {
	w := newExampleWorld()
	defer w.close()
	ctx := context.Background()
	c, _ := w.create()
	bob := w.account("bob")
	jr, key := w.login(bob, c.DID(), c.DID(), community.LXMJoin)
	m, err := c.Join(ctx, jr)
	if err != nil {
		fmt.Println(err)
		return
	}

	// Only the key that signed the join proof can use the membership.
	_, priv, _ := ed25519.GenerateKey(nil)
	other, _ := ucan.NewEd25519Signer(priv)
	_, err = community.NewSession(m, other)
	fmt.Println("another key refused:", err != nil)

	s, err := community.NewSession(m, key)
	if err != nil {
		fmt.Println(err)
		return
	}
	s.TTL = time.Minute
	req, err := s.Create("dev.townhall.chat.message", "3kabcdefghi24", chatMessage("hello from bob"))
	if err != nil {
		fmt.Println(err)
		return
	}
	inv, _ := ucan.ParseInvocation(req.Invocation)
	fmt.Println(inv.Command, inv.Issuer == key.DID(), inv.Subject == c.DID())
	fmt.Println("lifetime:", time.Duration(*inv.Expiration-*inv.IssuedAt)*time.Second)
	res, err := c.Invoke(ctx, req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Paths[0])
	// Output:
	// another key refused: true
	// /repo/create true true
	// lifetime: 1m0s
	// dev.townhall.chat.message/3kabcdefghi24
}
