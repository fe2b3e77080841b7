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

// An embedded directory, reached in process: Directory.Client returns a
// Client whose requests go to the directory's handler without a port, so
// code written against a remote directory (plc.directory) runs unchanged
// in tests and single-process deployments.
func ExampleNewDirectory() {
	ctx := context.Background()
	dir := plc.NewDirectory(plc.DirectoryOptions{})
	client := dir.Client(plc.ClientOptions{})

	_, recoveryDID := mustKey()
	host, hostDID := mustKey()
	_, signing := mustKey()
	genesis, did, err := plc.NewGenesis(plc.GenesisOptions{
		RecoveryKeys:    []string{recoveryDID},
		HostRotationKey: hostDID,
		SigningKey:      signing,
		Endpoint:        "https://host.example",
		Handle:          "gardeners.example",
	}, host)
	if err != nil {
		panic(err)
	}
	if err := client.Submit(ctx, did, genesis); err != nil {
		panic(err)
	}
	// The client validates the audit log it fetches; the directory answers
	// the same state in process.
	s, err := client.VerifiedState(ctx, did, plc.ValidateOptions{})
	if err != nil {
		panic(err)
	}
	local, err := dir.State(ctx, did)
	if err != nil {
		panic(err)
	}
	_, head := s.Head()
	_, localHead := local.Head()
	fmt.Println(s.Data().AlsoKnownAs[0], s.Data().PDSEndpoint(), head == localHead)
	// Output:
	// at://gardeners.example https://host.example true
}

// A cooperative move: the community's recovery key moves it from host A to
// host B on the head of its log (nothing is nullified). Move does not
// consult a clock; CheckNext says what the directory will make of the
// operation before it is submitted.
func ExampleMove() {
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

	now = now.Add(time.Hour)
	s, err := client.VerifiedState(ctx, did, plc.ValidateOptions{})
	if err != nil {
		panic(err)
	}
	_, signingB := mustKey()
	_, hostBDID := mustKey()
	op, err := plc.Move(s, plc.MoveOptions{
		NewSigningKey:      signingB,
		NewEndpoint:        "https://host-b.example",
		NewHostRotationKey: hostBDID,
	}, recovery)
	if err != nil {
		panic(err)
	}
	res, err := s.CheckNext(op, now)
	if err != nil {
		panic(err)
	}
	if err := client.Submit(ctx, did, op); err != nil {
		panic(err)
	}
	key, endpoint, err := plc.ResolveAtproto(ctx, client, did)
	if err != nil {
		panic(err)
	}
	s, _ = client.VerifiedState(ctx, did, plc.ValidateOptions{})
	rotation := s.Data().RotationKeys
	fmt.Println(len(res.Nullified), "nullified")
	fmt.Println(endpoint, key.DIDKey() == signingB)
	fmt.Println(rotation[0] == recoveryDID, rotation[len(rotation)-1] == hostBDID)
	// Output:
	// 0 nullified
	// https://host-b.example true
	// true true
}
