package community

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
)

const crashChildEnv = "TOWNHALL_COMMUNITY_CRASH_DIR"

// crashKeys are the host's fixed keys, so that the parent can reopen what
// the child wrote.
func crashKeys(t testing.TB) (*atcrypto.PrivateKeyP256, *atcrypto.PrivateKeyP256) {
	s, err := atcrypto.ParsePrivateBytesP256([]byte("townhall community crash signing"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := atcrypto.ParsePrivateBytesP256([]byte("townhall community crash rotation"[:32]))
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}

// crashWorld is a world whose did:plc directory lives in SQLite under dir.
// Parent and child each run their own in-process directory over that file
// (no socket between them): the parent reads what the child wrote.
func crashWorld(t *testing.T, dir string) *world {
	ctx := context.Background()
	st, err := plc.OpenSQLite(ctx, filepath.Join(dir, "plc.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := newWorld(t)
	w.dir = plc.NewDirectory(plc.DirectoryOptions{Storage: st, Now: w.clock.Now})
	w.plc = inProcessPLC(w.dir)
	w.hostKey, w.hostRot = crashKeys(t)
	return w
}

func crashStores(t *testing.T, dir string) (repo.Store, PrivateStore) {
	s, p, closeStores := openSQLiteStores(t, dir)
	t.Cleanup(closeStores)
	return s, p
}

// TestCrashChild is the child process of TestCrash: it creates a community
// on SQLite and writes until it is killed, printing each acknowledged write.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("child process of TestCrash")
	}
	ctx := context.Background()
	w := crashWorld(t, dir)
	s, p := crashStores(t, dir)
	h := newHostOn(t, w, s, p)
	c, founder := w.newCommunity(h, "member")
	fmt.Printf("did %s\n", c.DID())
	for i := 0; ; i++ {
		rk := newTID()
		if _, err := c.Invoke(ctx, w.rq(founder.sess.Create(NSIDMessage, rk, message(fmt.Sprint(i))))); err != nil {
			fmt.Printf("error %v\n", err)
			return
		}
		fmt.Printf("ack %s\n", rk)
	}
}

// TestCrash kills a writing host process with SIGKILL and reopens its
// files: every acknowledged write is there, the repository verifies in
// full, and the community keeps working.
func TestCrash(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var did string
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 40 {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "did "):
			did = strings.TrimPrefix(line, "did ")
		case strings.HasPrefix(line, "ack "):
			acked = append(acked, strings.TrimPrefix(line, "ack "))
		case strings.HasPrefix(line, "error "):
			t.Fatal(line)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if did == "" || len(acked) < 40 {
		t.Fatalf("child wrote %d acknowledged records (did %q)", len(acked), did)
	}

	ctx := context.Background()
	w := crashWorld(t, dir)
	s, p := crashStores(t, dir)
	h := newHostOn(t, w, s, p)
	c, err := h.Open(ctx, did)
	if err != nil {
		t.Fatal(err)
	}
	for _, rk := range acked {
		if _, _, err := c.GetRecord(ctx, NSIDMessage, rk); err != nil {
			t.Fatalf("acknowledged write %s lost: %v", rk, err)
		}
	}
	var car bytes.Buffer
	if err := c.Export(ctx, &car); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.VerifyCAR(ctx, bytes.NewReader(car.Bytes()), repo.VerifyOptions{Key: c.SigningKey(), DID: did}); err != nil {
		t.Fatalf("repository after the crash: %v", err)
	}
	// The founder's session key was in the child; a new member joins and
	// writes on the reopened host.
	w.clock.Advance(time.Second)
	bob := w.join(c, "bob", nil, Role{})
	if _, err := c.Invoke(ctx, w.rq(bob.sess.Create(NSIDMessage, newTID(), message("after the crash")))); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged writes survived SIGKILL", len(acked))
}
