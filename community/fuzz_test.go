package community

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/townhall-dev/townhall/repo"
)

// fuzzKey is the fixed host signing key of the committed seed bundle.
func fuzzKey(t testing.TB) *atcrypto.PrivateKeyP256 {
	k, err := atcrypto.ParsePrivateBytesP256([]byte("townhall community fuzz seed key"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// FuzzVerifyBundle feeds arbitrary bytes to ParseBundle and VerifyBundle:
// they must return a typed error or a verified authorship, never panic.
// The committed corpus holds a valid bundle signed by fuzzKey
// (TOWNHALL_WRITE_SEEDS=1 go test -run TestWriteFuzzSeed rewrites it).
func FuzzVerifyBundle(f *testing.F) {
	f.Add([]byte{0xa0})
	k := fuzzKey(f)
	pub, err := k.PublicKey()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBundle(data)
		if err != nil {
			return
		}
		a, err := VerifyBundle(context.Background(), b, VerifyOptions{Key: pub})
		if err == nil && (a.Author == "" || !a.Record.Defined()) {
			t.Fatal("verified an empty authorship")
		}
	})
}

func TestWriteFuzzSeed(t *testing.T) {
	if os.Getenv("TOWNHALL_WRITE_SEEDS") == "" {
		t.Skip("set TOWNHALL_WRITE_SEEDS=1 to rewrite the committed fuzz seed")
	}
	ctx := context.Background()
	w := newWorld(t)
	w.hostKey, w.hostRot = fuzzKey(t), fuzzKey(t)
	h := newHostOn(t, w, repo.NewMemStore(), NewMemPrivateStore())
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	rk := newTID()
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, rk, message("seed")))); err != nil {
		t.Fatal(err)
	}
	b := m(c.Bundle(ctx, NSIDMessage, rk)).must(t)
	data := m(b.Marshal()).must(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzVerifyBundle")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
	if err := os.WriteFile(filepath.Join(dir, "valid-bundle"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
