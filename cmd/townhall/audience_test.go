package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAudienceCLI: a private channel through the binary: the moderator
// creates it, an insider writes and reads it and backs it up, the backup
// verifies offline, the public export carries none of it, an outsider
// cannot read it, and the backup carries it to a new host.
func TestAudienceCLI(t *testing.T) {
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, home: filepath.Join(dir, "home")}
	const nsid = "dev.townhall.chat.message"
	secret := `{"$type":"dev.townhall.chat.message","channel":"staff","text":"the secret plan","createdAt":"2026-11-21T09:00:00.000Z"}`
	for _, n := range []string{"mo", "alice", "carol"} {
		c.run(nil, 0, "did:plc:", "account", "create", n)
		c.keygen(n)
	}
	c.keygen("rec")
	c.run(nil, 2, "--role-def", "community", "create", "--name", "G", "--account", "mo", "--key", c.path("mo.key"), "--recovery", c.path("rec.key"), "--role-def", "nonsense")
	did := strings.TrimSpace(c.run(nil, 0, "did:plc:", "community", "create", "--name", "G", "--account", "mo", "--key", c.path("mo.key"), "--recovery", c.path("rec.key"),
		"--role-def", "insider=dev.townhall.chat.*@staff", "--role-def", "member=dev.townhall.chat.*", "--role-def", "mod=moderator", "--join-role", "member"))
	aliceKey := c.keygen("alice2")
	c.run(nil, 0, "invitation", "community", "grant", "--key", c.path("mo.key"), "--to", aliceKey, "--member", accountDID(t, c, "alice"), "--role", "insider", "-o", c.path("invite.json"))
	c.run(nil, 0, "grant /audience/read", "community", "join", "--account", "alice", "--key", c.path("alice2.key"), "--invite", c.path("invite.json"))
	c.run(nil, 0, "grant /repo", "community", "join", "--account", "carol", "--key", c.path("carol.key"))

	c.run(nil, 1, "unauthorised", "community", "audience", "--key", c.path("carol.key"), "--audience", "staff", "--readers", "insider")
	c.run(nil, 0, "audience staff created", "community", "audience", "--key", c.path("mo.key"), "--audience", "staff", "--readers", "insider")
	c.run([]byte(secret), 0, "audience:staff/"+nsid, "community", "write", "--key", c.path("alice2.key"), "--collection", nsid, "--audience", "staff")
	c.run([]byte(secret), 1, "no grant of this session covers /repo/create", "community", "write", "--key", c.path("carol.key"), "--collection", nsid, "--audience", "staff")
	c.run(nil, 0, `"text": "the secret plan"`, "community", "read", "--key", c.path("alice2.key"), "--audience", "staff", "--json", "-o", c.path("staff.car"))
	c.run(nil, 1, "no grant of this session covers /audience/read", "community", "read", "--key", c.path("carol.key"), "--audience", "staff")
	c.run(nil, 0, "", "community", "list", "--collection", nsid)

	doc := c.save("did.json", c.run(nil, 0, did, "community", "did-doc"))
	c.run(nil, 0, `"records": 1`, "verify", "audience", c.path("staff.car"), "--audience", "staff", "--did-doc", doc, "--json")
	c.run(nil, 1, "does not verify", "verify", "audience", c.path("staff.car"), "--audience", "other", "--did-doc", doc)
	c.run(nil, 0, "commit", "community", "export", "-o", c.path("g.car"), "--audit-log", c.path("audit.json"))
	car, _ := os.ReadFile(c.path("g.car"))
	if strings.Contains(string(car), "the secret plan") {
		t.Fatal("the public export carries the private message")
	}
	c2 := &cli{t: t, dir: dir, home: filepath.Join(dir, "home2")}
	c2.run(nil, 0, "now hosted here", "community", "import", c.path("g.car"), "--audit-log", c.path("audit.json"), "--recovery", c.path("rec.key"), "--audience-car", c.path("staff.car"))
	c2.run(nil, 0, `"text": "the secret plan"`, "community", "read", "--key", c.path("alice2.key"), "--audience", "staff", "--json")
}

// accountDID returns a local account's DID from 'account list --json'.
func accountDID(t *testing.T, c *cli, name string) string {
	t.Helper()
	out := c.run(nil, 0, name, "account", "list")
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == name {
			return f[1]
		}
	}
	t.Fatalf("no account %s in %q", name, out)
	return ""
}
