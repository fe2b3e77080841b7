package bench

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/townhall-dev/townhall/community"
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// BenchmarkCommunity measures authorised single-record writes per second
// into one community on SQLite (synchronous=FULL: every commit is on disk
// when its writers return), with 1 and 32 members writing concurrently.
// Each write is a /repo/create invocation (Ed25519 session key, a 2-token
// chain from the community through a founder) validated by package ucan,
// its record checked against its lexicon, and committed with its receipt;
// concurrent writes are group-committed by the community's writer. The
// invocations are signed before the timer starts (that is the clients'
// work); the timer covers the host: validation, checks and durable commits.
// There is no peer: no other implementation of community repos exists.
//
// The batch=32 variant sends /repo/batch invocations of 32 writes instead
// (what a bulk importer such as examples/import sends): one signature, one
// verification and one invocation record per 32 writes. b.N counts writes
// either way.
func BenchmarkCommunity(b *testing.B) {
	for _, members := range []int{1, 32} {
		b.Run(fmt.Sprintf("townhall/members=%d", members), func(b *testing.B) {
			benchCommunityWrites(b, members, 1)
		})
	}
	b.Run("townhall/members=32/batch=32", func(b *testing.B) {
		benchCommunityWrites(b, 32, 32)
	})
}

func benchCommunityWrites(b *testing.B, members, batch int) {
	ctx := context.Background()
	dir := plc.NewDirectory(plc.DirectoryOptions{})
	// The directory is called in process (plc.HandlerTransport): no port.
	plcClient := dir.Client(plc.ClientOptions{})
	store, err := repo.OpenSQLite(ctx, filepath.Join(b.TempDir(), "community.db"), repo.SQLiteOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	ids := identity.NewMockDirectory()
	signing, _ := atcrypto.GeneratePrivateKeyP256()
	rotation, _ := atcrypto.GeneratePrivateKeyP256()
	recovery, _ := atcrypto.GeneratePrivateKeyP256()
	recPub, _ := recovery.PublicKey()
	h, err := community.NewHost(ctx, community.HostOptions{Store: store, SigningKey: signing, RotationKey: rotation,
		Endpoint: "https://host.example", ServiceDID: "did:web:host.example", PLC: plcClient,
		Identity: ids})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()

	account := func(i int) (string, *atcrypto.PrivateKeyP256) {
		did := fmt.Sprintf("did:plc:member%017d", i)
		k, _ := atcrypto.GeneratePrivateKeyP256()
		pub, _ := k.PublicKey()
		ids.Insert(identity.Identity{DID: syntax.DID(did), Handle: syntax.Handle(fmt.Sprintf("m%d.test", i)),
			Keys: map[string]identity.VerificationMethod{"atproto": {Type: "Multikey", PublicKeyMultibase: pub.Multibase()}}})
		return did, k
	}
	joinReq := func(did string, pds *atcrypto.PrivateKeyP256, key ucan.Signer, aud, communityDID, lxm string) community.JoinRequest {
		nsid := syntax.NSID(lxm)
		jwt, err := auth.SignServiceAuth(syntax.DID(did), aud, time.Minute, &nsid, pds)
		if err != nil {
			b.Fatal(err)
		}
		proof, err := community.NewJoinProof(key, community.JoinProofFields{Community: communityDID, Member: did,
			ServiceAuth: jwt, Expiration: time.Now().Add(time.Minute)})
		if err != nil {
			b.Fatal(err)
		}
		return community.JoinRequest{ServiceAuth: jwt, Proof: proof}
	}
	newKey := func() *ucan.KeySigner {
		_, priv, _ := ed25519.GenerateKey(nil)
		s, _ := ucan.NewEd25519Signer(priv)
		return s
	}
	fdid, fpds := account(0)
	fkey := newKey()
	c, err := h.Create(ctx, community.CreateOptions{Name: "bench", RecoveryKeys: []string{recPub.DIDKey()},
		Founders: []community.JoinRequest{joinReq(fdid, fpds, fkey, "did:web:host.example", "", community.LXMCreate)},
		Roles:    []community.Role{{Name: "member", Collections: []string{"dev.townhall.chat.*"}}}})
	if err != nil {
		b.Fatal(err)
	}
	fm, err := c.Membership(ctx, fkey.DID())
	if err != nil {
		b.Fatal(err)
	}
	founder, _ := community.NewSession(fm, fkey)

	sessions := make([]*community.Session, members)
	for i := range sessions {
		did, pds := account(i + 1)
		key := newKey()
		jr := joinReq(did, pds, key, c.DID(), c.DID(), community.LXMJoin)
		jr.Invite, err = founder.Invite(key.DID(), did, community.Role{Name: "member", Collections: []string{"dev.townhall.chat.*"}}, time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		m, err := c.Join(ctx, jr)
		if err != nil {
			b.Fatal(err)
		}
		sessions[i], _ = community.NewSession(m, key)
	}

	// Sign every member's share of b.N writes before the timer starts.
	tids := syntax.NewTIDClock(7)
	reqs := make([][]*community.Request, members)
	for i := 0; i < b.N; i += batch {
		m := (i / batch) % members
		s := sessions[m]
		var ws []community.Write
		for j := i; j < min(i+batch, b.N); j++ {
			rec := map[string]any{"$type": "dev.townhall.chat.message", "channel": "general",
				"text": fmt.Sprintf("message %d from member %d", j, m), "createdAt": "2026-11-20T00:00:00.000Z"}
			ws = append(ws, community.Write{Action: repo.ActionCreate, Collection: "dev.townhall.chat.message",
				RKey: tids.Next().String(), Record: rec})
		}
		var r *community.Request
		var err error
		if batch == 1 {
			r, err = s.Create(ws[0].Collection, ws[0].RKey, ws[0].Record)
		} else {
			r, err = s.Batch(ws)
		}
		if err != nil {
			b.Fatal(err)
		}
		reqs[m] = append(reqs[m], r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, members)
	for i := 0; i < members; i++ {
		wg.Add(1)
		go func(rs []*community.Request) {
			defer wg.Done()
			for _, r := range rs {
				if _, err := c.Invoke(ctx, r); err != nil {
					errs <- err
					return
				}
			}
		}(reqs[i])
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
