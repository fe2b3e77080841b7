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
	r, err := Create(ctx, NewMemStore(), testDID, fixedKey(t), Options{Clock: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	var ws []Write
	for i := 0; i < 20; i++ {
		ws = append(ws, Write{Action: ActionCreate, Collection: "app.bsky.feed.post", Record: post(i)})
	}
	res, err := r.Apply(ctx, ws, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
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
	r, err := Create(ctx, NewMemStore(), testDID, fixedKey(t), Options{Clock: fakeClock()})
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
		for _, opts := range []CommitCheckOptions{{Key: pub}, {InsecureSkipSignature: true, CAR: CAROptions{MaxCARBytes: 1 << 20}}} {
			_, err := VerifyCommitEvent(ctx, &ev, opts)
			var ve *VerifyError
			if err != nil && !errors.As(err, &ve) {
				t.Fatalf("untyped error %T: %v", err, err)
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
			_, _, err := VerifyRecordProof(ctx, bytes.NewReader(data), testDID, pub, "app.bsky.feed.post", rkey)
			var ve *VerifyError
			if err != nil && !errors.As(err, &ve) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
		}
	})
}
