package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyValueNeverEchoed: a private key pasted where a public key, a
// did:key or a key file belongs is refused without being printed.
func TestKeyValueNeverEchoed(t *testing.T) {
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, home: filepath.Join(dir, "home")}
	c.keygen("k")
	b, err := os.ReadFile(c.path("k.key"))
	if err != nil {
		t.Fatal(err)
	}
	priv := strings.TrimSpace(string(b))
	c.save("x.car", "not a car")
	c.run(nil, 0, "did:plc:", "account", "create", "mo")
	for _, args := range [][]string{
		{"verify", "bundle", c.path("x.car"), "--key", priv, "--did", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"},
		{"car", "verify", c.path("x.car"), "--key", priv, "--did", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"},
		{"verify", "record", c.path("x.car"), "--key", priv, "--did", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "--collection", "a.b.c", "--rkey", "x"},
		{"community", "create", "--name", "G", "--account", "mo", "--key", c.path("k.key"), "--recovery", priv},
		{"community", "create", "--name", "G", "--account", "mo", "--key", priv, "--recovery", c.path("k.key")},
		{"community", "create", "--name", "G", "--account", "mo", "--key", c.path("k.key"), "--recovery", "did:key:" + priv},
	} {
		if args[0] == "community" {
			args = append(args, "--home", c.home)
		}
		r := townhall(t, nil, args...)
		if r.code == 0 {
			t.Errorf("townhall %v accepted a private key", args[:2])
		}
		if strings.Contains(r.stdout+r.stderr, priv) || strings.Contains(r.stdout+r.stderr, priv[1:20]) {
			t.Errorf("townhall %v printed the private key: %q", args[:2], r.stderr)
		}
		if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.HasPrefix(r.stderr, "townhall: ") {
			t.Errorf("townhall %v: error is not one line: %q", args[:2], r.stderr)
		}
	}
}
