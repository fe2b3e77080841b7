package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestImport runs a small import through the same path and checks the
// counts and that the report's verdicts follow from its figures.
// Both signer modes run: the importer's 400 messages in 50 batches of 8;
// the authors' in at least as many (an author's batch holds only theirs).
func TestImport(t *testing.T) {
	for _, signers := range []string{SignImporter, SignAuthors} {
		t.Run(signers, func(t *testing.T) { testImport(t, signers) })
	}
}

func testImport(t *testing.T, signers string) {
	var out, bar bytes.Buffer
	window := 0
	if signers == SignAuthors {
		window = 100
	}
	rep, err := Run(context.Background(), Options{Dir: t.TempDir(), Signers: signers, Messages: 400, Authors: 12, Batch: 8, Window: window, Writers: 4, Out: &out, Progress: &bar})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if rep.Records != 400 || rep.Requests < 400/8 || rep.Commits < 1 || rep.Commits > rep.Requests {
		t.Errorf("records %d, requests %d, commits %d", rep.Records, rep.Requests, rep.Commits)
	}
	if signers == SignImporter && rep.Requests != 400/8 {
		t.Errorf("the importer sent %d batches, want %d", rep.Requests, 400/8)
	}
	if !strings.Contains(out.String(), "signed by "+signers) {
		t.Errorf("output does not name its signers %q:\n%s", signers, out.String())
	}
	if rep.MetTime != (rep.ImportTime.Seconds() <= goalSeconds) || rep.MetMemory != (rep.RSSMeasured && rep.PeakRSSMiB <= goalMiB) {
		t.Errorf("verdicts do not follow from the figures: %+v", rep)
	}
	want := "goal ≤ 1.0 s import time: " + verdict(rep.MetTime)
	if !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
	if !strings.Contains(bar.String(), "400/400 messages") {
		t.Errorf("the progress bar never reached the end: %q", bar.String())
	}
}

// TestGenerate: the export is deterministic and shaped as documented.
func TestGenerate(t *testing.T) {
	a := generate(exportOptions{Messages: 2000, Authors: 50, Seed: 7})
	b := generate(exportOptions{Messages: 2000, Authors: 50, Seed: 7})
	seen := map[string]bool{}
	replies := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("message %d differs between two generations", i)
		}
		if seen[a[i].RKey] {
			t.Fatalf("rkey %s repeats", a[i].RKey)
		}
		seen[a[i].RKey] = true
		if i > 0 && !a[i].At.After(a[i-1].At) {
			t.Fatalf("timestamps do not increase at %d", i)
		}
		if a[i].ReplyTo != "" {
			replies++
		}
	}
	if replies < 200 || replies > 600 {
		t.Errorf("%d replies in 2000 messages", replies)
	}
}

func TestFlags(t *testing.T) {
	var so, se bytes.Buffer
	for _, args := range [][]string{{"-batch", "-1"}, {"-batch", "257"}, {"-writers", "-1"}, {"-signers", "moderators"}, {"-nope"}, {"x"}} {
		if code := run(args, &so, &se); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
	// A window with the importer is refused before anything runs.
	se.Reset()
	if code := run([]string{"-window", "100", "-messages", "10"}, &so, &se); code != 1 || !strings.Contains(se.String(), "authors only") {
		t.Errorf("-window with the importer: exit %d, %q", code, se.String())
	}
}

// TestDatetime checks the hand-written formatter against time.Format.
func TestDatetime(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2025, 3, 3, 8, 0, 1, 0, time.UTC),
		time.Date(2025, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(999, 1, 2, 3, 4, 5, 60_000_000, time.UTC),
		time.Unix(0, 0).UTC(),
	} {
		if got, want := datetime(at), at.Format("2006-01-02T15:04:05.000Z"); got != want {
			t.Errorf("datetime(%v) = %q, want %q", at, got, want)
		}
	}
}
