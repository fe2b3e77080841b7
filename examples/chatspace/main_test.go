package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/townhall-dev/townhall/community"
	"github.com/townhall-dev/townhall/ucan"
)

// TestChatspace runs the whole story and asserts what each step reports,
// independently of the step's own checks.
func TestChatspace(t *testing.T) {
	n := 1000
	if testing.Short() || raceEnabled {
		n = 160
	}
	var out bytes.Buffer
	rep, err := Run(context.Background(), Options{Dir: t.TempDir(), Messages: n, Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	wantSteps := []string{"create", "onboard", "write", "revoke", "export", "authorship", "migrate"}
	if len(rep.Steps) != len(wantSteps) {
		t.Fatalf("%d steps ran, want %d", len(rep.Steps), len(wantSteps))
	}
	for i, s := range rep.Steps {
		if s.Name != wantSteps[i] {
			t.Errorf("step %d is %s, want %s", i+1, s.Name, wantSteps[i])
		}
		if !strings.Contains(out.String(), s.Name+" (") {
			t.Errorf("step %s is not in the output", s.Name)
		}
	}
	if !strings.HasPrefix(rep.DID, "did:plc:") {
		t.Errorf("DID %q", rep.DID)
	}
	nPrivate := (n + 2) / 8 // messages i with i%8 == 5
	if rep.PublicMessages != n-nPrivate || rep.PrivateMessages != nPrivate {
		t.Errorf("messages: %d public, %d private; want %d, %d", rep.PublicMessages, rep.PrivateMessages, n-nPrivate, nPrivate)
	}
	if rep.Commits < 3 || rep.Commits > n+10 {
		t.Errorf("%d commits", rep.Commits)
	}
	if !errors.Is(rep.RevokedErr, community.ErrUnauthorized) || !errors.Is(rep.RevokedErr, ucan.ErrRevoked) {
		t.Errorf("revoked write: %v", rep.RevokedErr)
	}
	// Messages, their receipts, and the community's own records.
	if rep.CARRecords < 2*rep.PublicMessages || rep.CARBytes < 100*rep.PublicMessages || rep.PrivateInCAR {
		t.Errorf("export: %d records, %d bytes, private in CAR: %v", rep.CARRecords, rep.CARBytes, rep.PrivateInCAR)
	}
	if !strings.HasPrefix(rep.BundleAuthor, "did:plc:alice") || rep.BundleBytes == 0 || !errors.Is(rep.TamperErr, community.ErrBadBundle) {
		t.Errorf("authorship: %q, %d bytes, tamper: %v", rep.BundleAuthor, rep.BundleBytes, rep.TamperErr)
	}
	if rep.HostileOp == "" || rep.MigratedTo != "https://host2.example" || rep.NewHostWrites != 2 {
		t.Errorf("migration: hostile %q, to %q, %d writes", rep.HostileOp, rep.MigratedTo, rep.NewHostWrites)
	}
	if !strings.Contains(out.String(), "all 7 steps checked") {
		t.Errorf("no final line:\n%s", out.String())
	}
}

// TestRunOptions: the options are checked, not assumed.
func TestRunOptions(t *testing.T) {
	if _, err := Run(context.Background(), Options{}); err == nil {
		t.Fatal("Run without a directory succeeded")
	}
	for _, n := range []int{-1, 1, 5, MinMessages - 1} {
		if _, err := Run(context.Background(), Options{Dir: t.TempDir(), Messages: n}); err == nil {
			t.Fatalf("Run with %d messages succeeded", n)
		}
	}
}

// TestFlags: bad flags are a usage error (2).
func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-messages", "0"}, {"-messages", "5"}, {"-nope"}, {"extra"}} {
		if code := run(args); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
}

// TestChecksCatchFaults: when a step's action is sabotaged, its own check
// fails the run: the step prints FAILED, no success follows, and Run
// returns an error naming the step.
func TestChecksCatchFaults(t *testing.T) {
	for _, fault := range []string{"revoke", "export", "authorship", "migrate"} {
		t.Run(fault, func(t *testing.T) {
			var out bytes.Buffer
			_, err := Run(context.Background(), Options{Dir: t.TempDir(), Messages: 48, Out: &out, fault: fault})
			if err == nil || !strings.Contains(err.Error(), "step "+fault) {
				t.Fatalf("Run with the %s fault: %v\n%s", fault, err, out.String())
			}
			t.Log(err)
			if !strings.Contains(out.String(), fault+" FAILED") || strings.Contains(out.String(), "steps checked") {
				t.Fatalf("output with the %s fault:\n%s", fault, out.String())
			}
		})
	}
}

// TestChatspaceClock: the whole story follows Options.Now, an hour behind
// or ahead of the real time here: the directory's timestamps, the hosts'
// validation, and the clients' sessions and join proofs (which must
// neither expire by one clock's reckoning nor be dated by another).
func TestChatspaceClock(t *testing.T) {
	for _, offset := range []time.Duration{-time.Hour, time.Hour} {
		t.Run(offset.String(), func(t *testing.T) {
			now := func() time.Time { return time.Now().Add(offset) }
			var out bytes.Buffer
			rep, err := Run(context.Background(), Options{Dir: t.TempDir(), Messages: MinMessages, Out: &out, Now: now})
			if err != nil {
				t.Fatalf("Run on a clock %s off: %v\n%s", offset, err, out.String())
			}
			if len(rep.Steps) != 7 || rep.MigratedTo != "https://host2.example" {
				t.Fatalf("%d steps, migrated to %q\n%s", len(rep.Steps), rep.MigratedTo, out.String())
			}
		})
	}
}
