package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrivateFileModes: what carries private data (an audience backup, a
// bundle, a record proof, an invitation) is written 0600 whatever the
// umask lets through; the public export and audit log 0644; the home's
// databases 0600; and a home others can enter is refused.
func TestPrivateFileModes(t *testing.T) {
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, home: filepath.Join(dir, "home")}
	const nsid = "dev.townhall.chat.message"
	secret := `{"$type":"dev.townhall.chat.message","channel":"staff","text":"private","createdAt":"2026-11-21T09:00:00.000Z"}`
	for _, n := range []string{"mo", "alice"} {
		c.run(nil, 0, "did:plc:", "account", "create", n)
		c.keygen(n)
	}
	c.keygen("rec")
	aliceKey := c.keygen("alice2")
	c.run(nil, 0, "did:plc:", "community", "create", "--name", "G", "--account", "mo", "--key", c.path("mo.key"), "--recovery", c.path("rec.key"),
		"--role-def", "insider=dev.townhall.chat.*@staff", "--role-def", "mod=moderator")
	c.run(nil, 0, "invitation", "community", "grant", "--key", c.path("mo.key"), "--to", aliceKey, "--member", accountDID(t, c, "alice"), "--role", "insider", "-o", c.path("invite.json"))
	c.run(nil, 0, "grant", "community", "join", "--account", "alice", "--key", c.path("alice2.key"), "--invite", c.path("invite.json"))
	c.run(nil, 0, "audience staff created", "community", "audience", "--key", c.path("mo.key"), "--audience", "staff", "--readers", "insider")
	c.run([]byte(secret), 0, "audience:staff/", "community", "write", "--key", c.path("alice2.key"), "--collection", nsid, "--audience", "staff", "--rkey", "3m2abcdefgh22")
	c.run([]byte(strings.Replace(secret, "staff", "general", 1)), 0, "commit", "community", "write", "--key", c.path("mo.key"), "--collection", nsid, "--rkey", "3m2abcdefgh23")
	c.run(nil, 0, "1 records", "community", "read", "--key", c.path("alice2.key"), "--audience", "staff", "-o", c.path("staff.car"))
	c.run(nil, 0, "written", "community", "bundle", "--collection", nsid, "--rkey", "3m2abcdefgh23", "-o", c.path("bundle.drisl"))
	c.run(nil, 0, "written", "community", "prove", "--collection", nsid, "--rkey", "3m2abcdefgh23", "-o", c.path("proof.car"))
	c.run(nil, 0, "commit", "community", "export", "-o", c.path("g.car"), "--audit-log", c.path("audit.json"))
	umask := umaskOf(t, dir)
	for name, want := range map[string]os.FileMode{"invite.json": 0o600, "staff.car": 0o600, "bundle.drisl": 0o600, "proof.car": 0o600,
		"g.car": 0o644, "audit.json": 0o644,
		"home/repo.db": 0o600, "home/private.db": 0o600, "home/plc.db": 0o600} {
		st, err := os.Stat(c.path(name))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want&^umask {
			t.Errorf("%s has mode %o, want %o", name, got, want&^umask)
		}
	}

	// A home others can enter is refused, with the fix; nothing in it is
	// read.
	if err := os.Chmod(c.home, 0o755); err != nil {
		t.Fatal(err)
	}
	c.run(nil, 2, "chmod 700", "community", "info")
	c.run(nil, 2, "chmod 700", "account", "list")
	if err := os.Chmod(c.home, 0o700); err != nil {
		t.Fatal(err)
	}
	c.run(nil, 0, "community did:plc:", "community", "info")
}

// umaskOf returns the process's umask as the modes of a file created with
// 0666 in dir show it (the tests must not change the umask: other tests
// run in parallel).
func umaskOf(t *testing.T, dir string) os.FileMode {
	t.Helper()
	p := filepath.Join(dir, ".umask-probe")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return 0o666 &^ st.Mode().Perm()
}
