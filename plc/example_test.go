package plc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/townhall-dev/townhall/plc"
)

// Validate a real audit log (a legacy create operation and four updates)
// and read the DID's current state.
func ExampleValidateAuditLog() {
	data, err := os.ReadFile("testdata/didplc/log_legacy_dholms.json")
	if err != nil {
		panic(err)
	}
	var log []plc.LogEntry
	if err := json.Unmarshal(data, &log); err != nil {
		panic(err)
	}
	s, err := plc.ValidateAuditLog("did:plc:yk4dd2qkboz2yv6tpubpc6co", log, plc.ValidateOptions{})
	if err != nil {
		panic(err)
	}
	d := s.Data()
	fmt.Println(d.AlsoKnownAs[0], d.PDSEndpoint())
	fmt.Println(d.Document().VerificationMethod[0].ID)
	// Output:
	// at://dholms.xyz https://bsky.social
	// did:plc:yk4dd2qkboz2yv6tpubpc6co#atproto
}

// Strict parsing names the rule an operation breaks.
func ExampleParseOp() {
	_, err := plc.ParseOp([]byte(`{"type":"plc_tombstone","prev":"bafyreihqa4o4gsyai22ydms6j4cua6yr6tuc7trq2temvnycadk2daniru","sig":"AAAA==","extra":1}`))
	fmt.Println(errors.Is(err, plc.ErrUnknownField), err)
	// Output:
	// true plc: unknown field (extra)
}

func mustKey() (atcrypto.PrivateKeyExportable, string) {
	k, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		panic(err)
	}
	pub, _ := k.PublicKey()
	return k, pub.DIDKey()
}

// A community is created on host A; host A goes rogue and removes the
// community's recovery key; two days later the recovery key nullifies that
// and moves the community to host B. The directory runs in-process with a
// fake clock, reached through HandlerTransport: no port is opened.
func ExampleNullify() {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dir := plc.NewDirectory(plc.DirectoryOptions{Now: func() time.Time { return now }})
	client := dir.Client(plc.ClientOptions{})

	recovery, recoveryDID := mustKey()
	hostA, hostADID := mustKey()
	_, signingA := mustKey()
	genesis, did, err := plc.NewGenesis(plc.GenesisOptions{
		RecoveryKeys:    []string{recoveryDID},
		HostRotationKey: hostADID,
		SigningKey:      signingA,
		Endpoint:        "https://host-a.example",
	}, hostA)
	if err != nil {
		panic(err)
	}
	if err := client.Submit(ctx, did, genesis); err != nil {
		panic(err)
	}

	// Host A goes rogue.
	now = now.Add(time.Hour)
	s, _ := client.VerifiedState(ctx, did, plc.ValidateOptions{})
	rogue, _ := plc.Update(s, plc.UpdateOptions{RotationKeys: []string{hostADID}}, hostA)
	if err := client.Submit(ctx, did, rogue); err != nil {
		panic(err)
	}
	rogueCID, _ := rogue.CID()

	// Two days later, the community recovers and moves to host B.
	now = now.Add(48 * time.Hour)
	s, _ = client.VerifiedState(ctx, did, plc.ValidateOptions{})
	_, signingB := mustKey()
	_, hostBDID := mustKey()
	rec, res, err := plc.Nullify(s, plc.MoveOptions{
		NewSigningKey:      signingB,
		NewEndpoint:        "https://host-b.example",
		NewHostRotationKey: hostBDID,
		Hostile:            rogueCID.String(),
	}, recovery, now)
	if err != nil {
		panic(err)
	}
	if err := client.Submit(ctx, did, rec); err != nil {
		panic(err)
	}
	key, endpoint, err := plc.ResolveAtproto(ctx, client, did)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(res.Nullified), "operation nullified")
	fmt.Println(endpoint, key.DIDKey() == signingB)
	// Output:
	// 1 operation nullified
	// https://host-b.example true
}
