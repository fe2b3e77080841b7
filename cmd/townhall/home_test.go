package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/townhall-dev/townhall/plc"
)

// TestHomeDirectoryTimestamps: the home's did:plc directory, on its own
// clock, stamps a burst of operations of one DID (well within a
// millisecond each) with strictly increasing timestamps, so every log it
// keeps validates, also when several DIDs are written at once (run with
// -race: the CLI's former strictClock was shared state without a lock).
func TestHomeDirectoryTimestamps(t *testing.T) {
	ctx := context.Background()
	h, err := openHome(ctx, filepath.Join(t.TempDir(), "home"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	const dids, updates = 4, 5
	var wg sync.WaitGroup
	errs := make([]error, dids)
	logs := make([]string, dids)
	for i := range dids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			logs[i], errs[i] = burst(ctx, h.plcDir, i, updates)
		}()
	}
	wg.Wait()
	for i := range dids {
		if errs[i] != nil {
			t.Fatalf("DID %d: %v", i, errs[i])
		}
		s, err := h.plcDir.State(ctx, logs[i])
		if err != nil {
			t.Fatal(err)
		}
		entries := s.Entries()
		if len(entries) != updates+1 {
			t.Fatalf("DID %d has %d operations, want %d", i, len(entries), updates+1)
		}
		if _, err := plc.ValidateAuditLog(logs[i], entries, plc.ValidateOptions{}); err != nil {
			t.Fatalf("DID %d: the log the home's directory keeps does not validate: %v", i, err)
		}
	}
}

// burst creates a DID in dir and updates it n times in a row, returning
// the DID.
func burst(ctx context.Context, dir *plc.Directory, i, n int) (string, error) {
	host, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		return "", err
	}
	rec, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		return "", err
	}
	hostPub, _ := host.PublicKey()
	recPub, _ := rec.PublicKey()
	g, did, err := plc.NewGenesis(plc.GenesisOptions{RecoveryKeys: []string{recPub.DIDKey()},
		HostRotationKey: hostPub.DIDKey(), SigningKey: hostPub.DIDKey(), Endpoint: "https://host.test"}, host)
	if err != nil {
		return "", err
	}
	if _, err := dir.Submit(ctx, did, g); err != nil {
		return "", err
	}
	for j := range n {
		s, err := dir.State(ctx, did)
		if err != nil {
			return "", err
		}
		op, err := plc.Update(s, plc.UpdateOptions{AlsoKnownAs: []string{fmt.Sprintf("at://%d-%d.test", i, j)}}, host)
		if err != nil {
			return "", err
		}
		if _, err := dir.Submit(ctx, did, op); err != nil {
			return "", fmt.Errorf("update %d: %w", j, err)
		}
	}
	return did, nil
}
