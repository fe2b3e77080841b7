package tour_test

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/townhall-dev/townhall/community"
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
)

// newHost starts a host on an in-memory store (repo.OpenSQLite for a
// durable one), on the PDSes' clock.
func newHost(name string, dir *plc.Client, pds *fakePDS) *community.Host {
	signing, _ := atcrypto.GeneratePrivateKeyP256()
	rotation, _ := atcrypto.GeneratePrivateKeyP256()
	h, _ := community.NewHost(context.Background(), community.HostOptions{
		Store: repo.NewMemStore(), SigningKey: signing, RotationKey: rotation,
		Endpoint: "https://" + name, ServiceDID: "did:web:" + name,
		PLC: dir, Identity: pds.Directory, Now: pds.Now,
	})
	return h
}

// The README's tour: create, grant, write, verify, migrate.
func Example() {
	// The did:plc directory (here in process, called through
	// plc.HandlerTransport: no port) and the members' PDSes.
	directory := plc.NewDirectory(plc.DirectoryOptions{})
	plcClient := directory.Client(plc.ClientOptions{})
	pds := newFakePDS(time.Now) // the hosts' and the members' clock
	host1 := newHost("host1.example", plcClient, pds)
	ctx := context.Background()

	// BEGIN TOUR
	// Create: a did:plc whose first rotation key is the founders' recovery key.
	recovery, _ := atcrypto.GeneratePrivateKeyP256()
	recoveryPub, _ := recovery.PublicKey()
	mo := pds.Login("mo", "did:web:host1.example", "") // service-auth JWT + session key
	member := community.Role{Name: "member", Collections: []string{"dev.townhall.chat.*"}}
	c, err := host1.Create(ctx, community.CreateOptions{
		Name: "Gardeners", RecoveryKeys: []string{recoveryPub.DIDKey()},
		Founders: []community.JoinRequest{mo.Join}, Roles: []community.Role{member},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	moM, _ := c.Membership(ctx, mo.Key.DID())
	moSession, _ := community.NewSession(moM, mo.Key) // mo holds "/": a moderator

	// Grant: mo invites alice with the member role; alice joins.
	alice := pds.Login("alice", c.DID(), c.DID())
	alice.Join.Invite, _ = moSession.Invite(alice.Key.DID(), alice.DID, member, time.Time{})
	aliceM, err := c.Join(ctx, alice.Join)
	if err != nil {
		fmt.Println(err)
		return
	}
	aliceSession, _ := community.NewSession(aliceM, alice.Key)

	// Write: alice signs a /repo/create; the host checks it and commits it.
	msg := map[string]any{"$type": "dev.townhall.chat.message", "channel": "general",
		"text": "first tomatoes!", "createdAt": "2026-11-21T09:00:00.000Z"}
	req, _ := aliceSession.Create("dev.townhall.chat.message", "3m2abcdefgh22", msg)
	if _, err := c.Invoke(ctx, req); err != nil {
		fmt.Println(err)
		return
	}

	// Verify, as an outsider: the repo CAR and the DID's did:plc audit log,
	// which ResolveAtproto validates (signatures, prev chain) before reading
	// the key from it; nothing else.
	var car bytes.Buffer
	_ = c.Export(ctx, &car)
	key, _, _ := plc.ResolveAtproto(ctx, plcClient, c.DID())
	verified, err := repo.VerifyCAR(ctx, bytes.NewReader(car.Bytes()), repo.VerifyOptions{Key: key, DID: c.DID()})
	bundle, _ := c.Bundle(ctx, "dev.townhall.chat.message", "3m2abcdefgh22")
	who, err2 := community.VerifyBundle(ctx, bundle, community.VerifyOptions{Key: key, DID: c.DID()})
	fmt.Println(err == nil, err2 == nil, len(verified.Records) > 1, who.Author == alice.DID)

	// Migrate: host1 is gone; the recovery key moves the community to host2.
	host1.Close()
	host2 := newHost("host2.example", plcClient, pds)
	c2, err := host2.Migrate(ctx, c.DID(), community.MigrateOptions{
		Repo: bytes.NewReader(car.Bytes()), RecoveryKey: recovery,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	aliceSession.Membership, _ = c2.Membership(ctx, alice.Key.DID()) // chains re-issued by host2
	req, _ = aliceSession.Create("dev.townhall.chat.message", "3m2abcdefgh23", msg)
	_, err = c2.Invoke(ctx, req)
	_, endpoint, _ := plc.ResolveAtproto(ctx, plcClient, c.DID())
	fmt.Println(err == nil, endpoint)
	// END TOUR

	// Output:
	// true true true true
	// true https://host2.example
}
