package repo

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/ipfs/go-cid"
)

const crashEnv = "REPO_CRASH_CHILD_DB"

// crashStart is the child's clock, fixed: each rev steps one microsecond
// past the last (the child's tidClock reads the head's rev when it reopens),
// so the revs stay within seconds of it and the consumer checks them
// against crashStart plus an hour instead of the real clock.
var crashStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// crashChild applies random batches to the SQLite repository at path
// forever, printing "commit <cid> <rev>" after each one is durable.
func crashChild(path string, seed uint64) {
	ctx := context.Background()
	key, err := atcrypto.ParsePrivateBytesK256(bytes.Repeat([]byte{0x42}, 32)) // fixedKey
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	s, err := OpenSQLite(ctx, path, SQLiteOptions{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	opts := Options{Now: func() time.Time { return crashStart }}
	r, err := Open(ctx, s, testDID, key, opts)
	if err != nil {
		r, err = Create(ctx, s, testDID, key, opts)
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	fmt.Printf("commit %s %s\n", r.Head().Commit, r.Head().Rev)
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := 0; ; i++ {
		n := 1 + rng.IntN(60)
		if rng.IntN(3) == 0 {
			// 64 writes or more: the records are encoded in parallel
			// and written while the tree is built (startApply); under
			// 200, so that the commit is still a #commit event.
			n = 64 + rng.IntN(130)
		}
		ws := make([]Write, 0, n)
		seen := map[string]bool{}
		for j := 0; len(ws) < n && j < 4*n; j++ {
			rk := fmt.Sprintf("k%04d", rng.IntN(400))
			if seen[rk] {
				continue
			}
			seen[rk] = true
			_, _, err := r.GetRecord(ctx, "app.chat.message", rk)
			switch {
			case err != nil:
				ws = append(ws, Write{Action: ActionCreate, Collection: "app.chat.message", RKey: rk, Record: post(rng.IntN(1 << 30))})
			case rng.IntN(3) == 0:
				ws = append(ws, Write{Action: ActionDelete, Collection: "app.chat.message", RKey: rk})
			default:
				ws = append(ws, Write{Action: ActionUpdate, Collection: "app.chat.message", RKey: rk, Record: post(rng.IntN(1 << 30))})
			}
		}
		res, err := r.Apply(ctx, ws, ApplyOptions{})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Printf("commit %s %s\n", res.Commit, res.Rev)
	}
}

func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		var seed uint64
		fmt.Sscan(os.Getenv(crashEnv+"_SEED"), &seed)
		crashChild(path, seed)
		return
	}
	os.Exit(m.Run())
}

// TestCrashRecovery kills a child process with SIGKILL at random points while
// it applies batches to SQLite. After each kill the reopened repository
// verifies (CAR export, signature, MST, every event inductively) and its
// head is the last commit the child reported (including reports still in
// the pipe when it was killed), or the one after it if the kill came between
// the commit and the report.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	path := filepath.Join(t.TempDir(), "crash.db")
	ctx := context.Background()
	key := fixedKey(t)
	pub, _ := key.PublicKey()
	consumer := func() time.Time { return crashStart.Add(time.Hour) }
	for round := 0; round < 6; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+path, fmt.Sprintf("%s_SEED=%d", crashEnv, rng.Uint64()))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 1 + rng.IntN(12) // commits to see before the kill
		sc := bufio.NewScanner(out)
		var last []string
		for seen := 0; seen <= killAfter && sc.Scan(); seen++ {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != "commit" {
				t.Fatalf("child: %q %s", sc.Text(), stderr.String())
			}
			last = f
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// The child may have committed and reported more than was read
		// before the kill: its lines wait in the pipe. Drain them; a line
		// cut short by the kill is not a report.
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "commit" {
				if _, err := cid.Parse(f[1]); err == nil {
					last = f
				}
			}
		}
		cmd.Wait() //nolint:errcheck // killed
		if last == nil {
			t.Fatalf("child reported nothing: %s", stderr.String())
		}
		reported := cid.MustParse(last[1])

		s, err := OpenSQLite(ctx, path, SQLiteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(ctx, s, testDID, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		head := r.Head()
		var car bytes.Buffer
		if err := r.Export(ctx, &car); err != nil {
			t.Fatal(err)
		}
		v, err := VerifyCAR(ctx, bytes.NewReader(car.Bytes()), VerifyOptions{Key: pub, DID: testDID, Commit: head.Commit})
		if err != nil {
			t.Fatalf("round %d: reopened repo does not verify: %v", round, err)
		}
		// The record index equals the tree.
		n := 0
		for cursor := ""; ; {
			page, next, err := r.ListRecords(ctx, "app.chat.message", ListOptions{Limit: 100, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range page {
				if v.Records[n].RKey != rec.RKey || v.Records[n].CID != rec.CID {
					t.Fatalf("index and tree differ at %s", rec.RKey)
				}
				n++
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if n != len(v.Records) {
			t.Fatalf("index has %d records, tree %d", n, len(v.Records))
		}
		// Every event verifies inductively and ends at the head.
		var st *SyncState
		var commits []cid.Cid
		for cursor := int64(0); ; {
			evs, err := ReadEvents(ctx, s, EventsOptions{DID: testDID, Cursor: cursor, Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				if st, err = VerifyCommitEvent(ctx, ev.Commit, CommitCheckOptions{Key: pub, DID: testDID, Known: st, Now: consumer}); err != nil {
					t.Fatalf("round %d: event %d: %v", round, ev.Seq, err)
				}
				commits = append(commits, ev.Commit.Commit)
				cursor = ev.Seq
			}
		}
		if st.Commit != head.Commit {
			t.Fatalf("round %d: events end at %s, head is %s", round, st.Commit, head.Commit)
		}
		switch {
		case head.Commit == reported:
		case len(commits) >= 2 && commits[len(commits)-2] == reported:
			t.Logf("round %d: killed between commit and report", round)
		default:
			t.Fatalf("round %d: head %s is neither the reported commit %s nor its successor", round, head.Commit, reported)
		}
		s.Close()
	}
}
