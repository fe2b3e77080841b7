package repo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
)

// eventSeeds returns wire-encoded #commit events: the 4 real firehose
// vectors and events written here (creates, updates, deletes).
func eventSeeds(t testing.TB) [][]byte {
	var out [][]byte
	files, _ := filepath.Glob("testdata/indigo-firehose/*.json")
	for _, f := range files {
		if tt, ok := t.(*testing.T); ok {
			ev := loadFirehoseJSON(tt, f)
			b, _ := drisl.Marshal(ev)
			out = append(out, b)
		}
	}
	ctx := context.Background()
	r, res := postRepo(t, fixedKey(t), 20)
	res2, err := r.Apply(ctx, []Write{
		{Action: ActionUpdate, Collection: "app.bsky.feed.post", RKey: res.Results[3].RKey, Record: post(100)},
		{Action: ActionDelete, Collection: "app.bsky.feed.post", RKey: res.Results[4].RKey},
	}, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []*CommitEvent{res.Event, res2.Event} {
		b, _ := drisl.Marshal(ev)
		out = append(out, b)
	}
	return out
}

func writeSeeds(t *testing.T, name string, seeds [][]byte) {
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, "seed-"+strconv.Itoa(i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWriteEventFuzzCorpus regenerates the committed seed corpora of
// FuzzVerifyCommitEvent and FuzzVerifyRecordProof when REPO_WRITE_CORPUS=1.
func TestWriteEventFuzzCorpus(t *testing.T) {
	if os.Getenv("REPO_WRITE_CORPUS") != "1" {
		t.Skip("set REPO_WRITE_CORPUS=1 to rewrite the seed corpora")
	}
	writeSeeds(t, "FuzzVerifyCommitEvent", eventSeeds(t))
	ctx := context.Background()
	r, err := Create(ctx, NewMemStore(), testDID, fixedKey(t), Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	var ws []Write
	for i := 0; i < 20; i++ {
		ws = append(ws, Write{Action: ActionCreate, Collection: "app.bsky.feed.post", RKey: "3k0000000000" + strconv.Itoa(i%10) + string(rune('a'+i)), Record: post(i)})
	}
	if _, err := r.Apply(ctx, ws, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	var present, absent bytes.Buffer
	r.ProveRecord(ctx, &present, "app.bsky.feed.post", "3k00000000000a") //nolint:errcheck
	r.ProveRecord(ctx, &absent, "app.bsky.feed.post", "3kzzzzzzzzzzz")   //nolint:errcheck
	writeSeeds(t, "FuzzVerifyRecordProof", [][]byte{present.Bytes(), absent.Bytes()})
}

// FuzzVerifyCommitEvent decodes arbitrary bytes as a #commit body and
// verifies it: no panics, only typed errors.
func FuzzVerifyCommitEvent(f *testing.F) {
	pub, _ := fixedKey(f).PublicKey()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev CommitEvent
		if err := drisl.Unmarshal(data, &ev); err != nil {
			return
		}
		for _, opts := range []CommitCheckOptions{{Key: pub, DID: testDID, Now: consumerClock}, {InsecureSkipSignature: true, CAR: CAROptions{MaxCARBytes: 1 << 20}, Now: consumerClock}} {
			_, err := VerifyCommitEvent(ctx, &ev, opts)
			var ve *VerifyError
			if err != nil && !errors.As(err, &ve) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
		}
	})
}

// syncSeeds returns wire-encoded #sync events: valid ones written by
// EmitSync (signed by fixedKey) and near misses of each (other rev, other
// DID, truncated blocks, blocks rooted elsewhere, no blocks).
func syncSeeds(t testing.TB) [][]byte {
	ctx := context.Background()
	r, err := Create(ctx, NewMemStore(), testDID, fixedKey(t), Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*SyncEvent
	for i := 0; i < 2; i++ {
		if _, err := r.Apply(ctx, []Write{{Action: ActionCreate, Collection: "app.bsky.feed.post", Record: post(i)}}, ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		ev, err := r.EmitSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	var out [][]byte
	add := func(ev SyncEvent) {
		b, err := drisl.Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for _, ev := range evs {
		add(*ev)
	}
	ev := *evs[1]
	miss := ev
	miss.Rev = evs[0].Rev
	add(miss)
	miss = ev
	miss.DID = "did:plc:someoneelse"
	add(miss)
	miss = ev
	miss.Blocks = ev.Blocks[:len(ev.Blocks)-3]
	add(miss)
	miss = ev
	miss.Blocks = evs[0].Blocks
	add(miss)
	miss = ev
	miss.Blocks = nil
	add(miss)
	return out
}

// TestSyncSeedsVerify keeps the #sync seeds honest: the valid ones verify,
// every near miss fails.
func TestSyncSeedsVerify(t *testing.T) {
	pub, _ := fixedKey(t).PublicKey()
	for i, b := range syncSeeds(t) {
		var ev SyncEvent
		if err := drisl.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		_, err := VerifySyncEvent(context.Background(), &ev, SyncCheckOptions{Key: pub, DID: testDID, Now: consumerClock})
		if valid := i < 2; valid != (err == nil) {
			t.Errorf("seed %d: %v", i, err)
		}
	}
}

// TestWriteSyncFuzzCorpus regenerates the committed seed corpus of
// FuzzVerifySyncEvent when REPO_WRITE_CORPUS=1.
func TestWriteSyncFuzzCorpus(t *testing.T) {
	if os.Getenv("REPO_WRITE_CORPUS") != "1" {
		t.Skip("set REPO_WRITE_CORPUS=1 to rewrite testdata/fuzz/FuzzVerifySyncEvent")
	}
	writeSeeds(t, "FuzzVerifySyncEvent", syncSeeds(t))
}

// FuzzVerifySyncEvent decodes arbitrary bytes as a #sync body and verifies
// it: no panics, only typed errors, and whatever verifies names the commit
// its blocks hold, for the event's DID and rev.
func FuzzVerifySyncEvent(f *testing.F) {
	pub, _ := fixedKey(f).PublicKey()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev SyncEvent
		if err := drisl.Unmarshal(data, &ev); err != nil {
			return
		}
		for _, opts := range []SyncCheckOptions{
			{Key: pub, Now: consumerClock},
			{InsecureSkipSignature: true, CAR: CAROptions{MaxCARBytes: 1 << 16, MaxBlockBytes: 1 << 14, MaxBlocks: 64}, Now: consumerClock},
			{Key: pub, Known: &SyncState{DID: testDID, Rev: "3k2222222222a"}, Now: fakeClock()},
		} {
			st, err := VerifySyncEvent(ctx, &ev, opts)
			if err != nil {
				var ve *VerifyError
				if !errors.As(err, &ve) {
					t.Fatalf("untyped error %T: %v", err, err)
				}
				continue
			}
			if st.DID != ev.DID || st.Rev != ev.Rev || !st.Commit.Defined() {
				t.Fatalf("state %+v for event did %q rev %q", st, ev.DID, ev.Rev)
			}
			root, m, err := readCAR(bytes.NewReader(ev.Blocks), CAROptions{})
			if err != nil || root != st.Commit {
				t.Fatalf("verified, but the blocks are rooted at %v: %v", root, err)
			}
			c, err := DecodeCommit(m[root])
			if err != nil || c.DID != ev.DID || c.Rev != ev.Rev || c.Data != st.Data {
				t.Fatalf("verified, but the commit says otherwise: %v", err)
			}
		}
	})
}

// FuzzVerifyRecordProof checks arbitrary bytes as a getRecord CAR.
func FuzzVerifyRecordProof(f *testing.F) {
	pub, _ := fixedKey(f).PublicKey()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, rkey := range []string{"3k00000000000a", "3kzzzzzzzzzzz"} {
			_, _, err := VerifyRecordProof(ctx, bytes.NewReader(data), "app.bsky.feed.post", rkey, VerifyOptions{Key: pub, DID: testDID})
			var ve *VerifyError
			if err != nil && !errors.As(err, &ve) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
		}
	})
}
