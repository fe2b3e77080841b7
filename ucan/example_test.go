package ucan_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/ucan"
)

func mustEd25519(seed byte) *ucan.KeySigner {
	s, err := ucan.NewEd25519Signer(ed25519.NewKeyFromSeed(make32(seed)))
	if err != nil {
		panic(err)
	}
	return s
}

func make32(b byte) []byte {
	out := make([]byte, 32)
	for i := range out {
		out[i] = b
	}
	return out
}

// A community delegates /repo/create for one collection to a member, who
// invokes it; the executor validates the invocation against the chain.
func Example() {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	community, member := mustEd25519(1), mustEd25519(2)

	policy, err := ucan.ParsePolicyJSON([]byte(`[["==", ".collection", "dev.townhall.chat.message"]]`))
	if err != nil {
		panic(err)
	}
	dlg, err := ucan.NewDelegation(community, ucan.DelegationFields{
		Audience:   member.DID(),
		Subject:    community.DID(),
		Command:    "/repo/create",
		Policy:     policy,
		Expiration: now.Add(24 * time.Hour),
	})
	if err != nil {
		panic(err)
	}
	proofs := ucan.NewMemoryProofStore()
	if _, err := proofs.Put(dlg.Bytes()); err != nil {
		panic(err)
	}

	inv, err := ucan.NewInvocation(member, ucan.InvocationFields{
		Subject:    community.DID(),
		Command:    "/repo/create",
		Args:       map[string]any{"collection": "dev.townhall.chat.message", "text": "hello"},
		Proofs:     []cid.Cid{dlg.CID()},
		Expiration: now.Add(time.Minute),
	})
	if err != nil {
		panic(err)
	}

	v := ucan.NewValidator(ucan.ValidatorOptions{
		Proofs: proofs,
		Now:    func() time.Time { return now },
	})
	got, err := v.Validate(ctx, inv.Bytes())
	fmt.Println(got.Command, got.Args["text"], err)

	// The same token again is a replay.
	_, err = v.Validate(ctx, inv.Bytes())
	fmt.Println(errors.Is(err, ucan.ErrReplayed))
	// Output:
	// /repo/create hello <nil>
	// true
}

type plcResolver map[string]ucan.PublicKey

func (r plcResolver) ResolveKey(_ context.Context, did string) (ucan.PublicKey, error) {
	if k, ok := r[did]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("unknown DID %s", did)
}

// A did:plc community signs with its atproto K-256 key; the validator
// asks a Resolver (supplied by the community layer) for that key.
func ExampleResolver() {
	key, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		panic(err)
	}
	signer, err := ucan.NewAtcryptoSigner(key)
	if err != nil {
		panic(err)
	}
	community := signer.WithDID("did:plc:ewvi7nxzyoun6zhxrhs64oiz")
	member := mustEd25519(3)
	dlg, _ := ucan.NewDelegation(community, ucan.DelegationFields{
		Audience: member.DID(), Subject: community.DID(), Command: "/repo", NoExpiration: true,
	})
	inv, _ := ucan.NewInvocation(member, ucan.InvocationFields{
		Subject: community.DID(), Command: "/repo/delete", Proofs: []cid.Cid{dlg.CID()}, NoExpiration: true,
	})
	v := ucan.NewValidator(ucan.ValidatorOptions{
		Resolver: plcResolver{community.DID(): signer.PublicKey()},
	})
	_, err = v.Validate(context.Background(), inv.Bytes(), dlg.Bytes())
	fmt.Println(dlg.Algorithm, err)
	// Output: ES256K <nil>
}

// Revocation: the community revokes the member's delegation; the member's
// next invocation fails with Revoked.
func ExampleValidator_Revoke() {
	ctx := context.Background()
	community, member := mustEd25519(4), mustEd25519(5)
	dlg, _ := ucan.NewDelegation(community, ucan.DelegationFields{
		Audience: member.DID(), Subject: community.DID(), Command: "/repo", NoExpiration: true,
	})
	v := ucan.NewValidator(ucan.ValidatorOptions{Revocations: ucan.NewMemoryRevocationStore()})

	rev, _ := ucan.NewRevocation(community, []*ucan.Delegation{dlg}, ucan.RevocationFields{NoExpiration: true})
	r, err := v.Revoke(ctx, rev.Bytes(), dlg.Bytes())
	fmt.Println(r.Delegation == dlg.CID(), err)

	inv, _ := ucan.NewInvocation(member, ucan.InvocationFields{
		Subject: community.DID(), Command: "/repo/create", Proofs: []cid.Cid{dlg.CID()}, NoExpiration: true,
	})
	_, err = v.Validate(ctx, inv.Bytes(), dlg.Bytes())
	fmt.Println(ucan.ErrorName(err))
	// Output:
	// true <nil>
	// Revoked
}

func ExamplePolicy_Match() {
	p, _ := ucan.ParsePolicyJSON([]byte(`[
		["==", ".from", "alice@example.com"],
		["any", ".to", ["like", ".", "*@example.com"]]
	]`))
	fmt.Println(p.Match(map[string]any{
		"from": "alice@example.com",
		"to":   []any{"bob@example.com", "carol@elsewhere.example.com"},
	}))
	fmt.Println(p.Match(map[string]any{
		"from": "alice@example.com",
		"to":   []any{"carol@elsewhere.example.com"},
	}))
	// Output:
	// true
	// false
}

func ExampleCommandCovers() {
	fmt.Println(ucan.CommandCovers("/repo", "/repo/create"), ucan.CommandCovers("/repo", "/repository"))
	// Output: true false
}
