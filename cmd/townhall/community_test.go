package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cli runs townhall with a home directory, checks the exit code and that
// a failure is one non-empty line on stderr holding want, and returns
// stdout.
type cli struct {
	t    *testing.T
	dir  string
	home string
}

func (c *cli) run(stdin []byte, code int, want string, args ...string) string {
	c.t.Helper()
	if args[0] == "account" || args[0] == "community" {
		args = append(args, "--home", c.home)
	}
	r := townhall(c.t, stdin, args...)
	if r.code != code {
		c.t.Fatalf("townhall %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	if code != 0 {
		if want == "" {
			c.t.Errorf("townhall %s: a failure case must name the reason it expects", strings.Join(args, " "))
		}
		if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.HasPrefix(r.stderr, "townhall: ") {
			c.t.Errorf("townhall %s: error is not one line: %q", strings.Join(args, " "), r.stderr)
		}
		if !strings.Contains(r.stderr, want) {
			c.t.Errorf("townhall %s: stderr %q does not contain %q", strings.Join(args, " "), r.stderr, want)
		}
	} else if !strings.Contains(r.stdout, want) {
		c.t.Errorf("townhall %s: stdout %q does not contain %q", strings.Join(args, " "), r.stdout, want)
	}
	return r.stdout
}

func (c *cli) path(name string) string { return filepath.Join(c.dir, name) }

func (c *cli) keygen(name string) string {
	c.t.Helper()
	r := townhall(c.t, nil, "key", "gen", "-o", c.path(name+".key"))
	if r.code != 0 {
		c.t.Fatalf("key gen: %+v", r)
	}
	return strings.TrimSpace(r.stdout)
}

func (c *cli) save(name, content string) string {
	c.t.Helper()
	if err := os.WriteFile(c.path(name), []byte(content), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return c.path(name)
}

// TestCommunityCLI plays a community's life through the binary: accounts,
// create, join (open and invited), write, list, get, info, proofs and
// bundles verified offline, revoke, ban, export and import (migration into
// a second home), with bad input at each step.
func TestCommunityCLI(t *testing.T) {
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, home: filepath.Join(dir, "home")}
	msg := func(text string) []byte {
		return []byte(`{"$type":"dev.townhall.chat.message","channel":"general","text":"` + text + `","createdAt":"2026-11-21T09:00:00.000Z"}`)
	}
	const nsid = "dev.townhall.chat.message"

	// Accounts of the local test PDS.
	c.run(nil, 0, "did:plc:", "account", "create", "mo")
	aliceDID := strings.TrimSpace(c.run(nil, 0, "did:plc:", "account", "create", "alice"))
	bobDID := strings.TrimSpace(c.run(nil, 0, "did:plc:", "account", "create", "bob"))
	c.run(nil, 0, "did:plc:", "account", "create", "carol")
	c.run(nil, 2, "exists", "account", "create", "mo")
	c.run(nil, 2, "needs one name", "account", "create", "Not A Name")
	c.run(nil, 0, `"name": "alice"`, "account", "list", "--json")
	if st, err := os.Stat(filepath.Join(c.home, "accounts", "mo.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("account key file: %v %v", err, st)
	}
	for _, k := range []string{"host-signing.key", "host-rotation.key"} {
		if st, err := os.Stat(filepath.Join(c.home, k)); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v", k, err)
		}
	}
	c.keygen("mo")
	c.keygen("rec")
	aliceKey := c.keygen("alice")
	bobKey := c.keygen("bob")
	c.keygen("carol")
	c.keygen("stranger")

	// Create.
	c.run(nil, 2, "needs --name", "community", "create", "--account", "mo", "--key", c.path("mo.key"))
	c.run(nil, 2, "no account", "community", "create", "--name", "G", "--account", "nobody", "--key", c.path("mo.key"), "--recovery", c.path("rec.key"))
	out := c.run(nil, 0, `"did": "did:plc:`, "community", "create", "--name", "Gardeners", "--account", "mo", "--key", c.path("mo.key"),
		"--recovery", c.path("rec.key"), "--join-role", "member", "--json")
	var created struct{ DID string }
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	did := created.DID

	// Join: alice by the open role; bob invited by mo; carol with an expired token.
	c.run(nil, 0, "grant /repo", "community", "join", "--account", "alice", "--key", c.path("alice.key"))
	c.run(nil, 2, "pass --key", "community", "grant", "--to", bobKey, "--member", bobDID, "--role", "member", "-o", c.path("invite.json"))
	c.run(nil, 0, "invitation", "community", "grant", "--key", c.path("mo.key"), "--to", bobKey, "--member", bobDID, "--role", "member", "-o", c.path("invite.json"))
	c.run(nil, 1, "no role", "community", "grant", "--key", c.path("mo.key"), "--to", bobKey, "--member", bobDID, "--role", "nope", "-o", c.path("invite2.json"))
	c.run(nil, 1, "not an invitation", "community", "join", "--account", "bob", "--key", c.path("bob.key"), "--invite", c.save("bad.json", `{"invocation": "unterminated`))
	c.run(nil, 0, `"member": "`+bobDID, "community", "join", "--account", "bob", "--key", c.path("bob.key"), "--invite", c.path("invite.json"), "--json")
	expired := strings.TrimSpace(c.run(nil, 0, "ey", "account", "token", "carol", "--aud", did, "--ttl", "-1m"))
	c.run(nil, 1, "service auth", "community", "join", "--account", "carol", "--key", c.path("carol.key"), "--service-auth", expired)
	wrongAud := strings.TrimSpace(c.run(nil, 0, "ey", "account", "token", "carol", "--aud", "did:web:elsewhere.example"))
	c.run(nil, 2, "needs an account name and --aud", "account", "token", "carol")
	c.run(nil, 2, "no account", "account", "token", "nobody", "--aud", did)
	c.run(nil, 2, "is not a DID", "account", "token", "carol", "--aud", "not a did")
	c.run(nil, 2, "is not an NSID", "account", "token", "carol", "--aud", did, "--lxm", "not an nsid")
	c.run(nil, 0, "ey", "account", "token", "carol", "--aud", "did:web:elsewhere.example#townhall")
	c.run(nil, 1, "service auth", "community", "join", "--account", "carol", "--key", c.path("carol.key"), "--service-auth", wrongAud)

	// Write, as members; bad input refused.
	out = c.run(msg("hello gardeners"), 0, `"paths"`, "community", "write", "--key", c.path("alice.key"), "--collection", nsid, "--rkey", "3m2abcdefgh22", "--json")
	if !strings.Contains(out, nsid+"/3m2abcdefgh22") {
		t.Fatalf("write output: %s", out)
	}
	c.run(msg("from bob"), 0, "commit", "community", "write", "--key", c.path("bob.key"), "--collection", nsid)
	c.run([]byte(`{"text": "unterminated`), 1, "not atproto JSON", "community", "write", "--key", c.path("alice.key"), "--collection", nsid)
	c.run([]byte(`{"$type":"dev.townhall.chat.message","channel":"general","createdAt":"2026-11-21T09:00:00.000Z"}`), 1, "write refused", "community", "write", "--key", c.path("alice.key"), "--collection", nsid)
	c.run(msg("hi"), 1, "holds no grant", "community", "write", "--key", c.path("stranger.key"), "--collection", nsid)
	c.run(msg("hi"), 2, "--key", "community", "write", "--collection", nsid)
	c.run(msg("again"), 1, "already exists", "community", "write", "--key", c.path("bob.key"), "--collection", nsid, "--rkey", "3m2abcdefgh22")
	c.run(msg("not yours"), 1, "another member", "community", "write", "--key", c.path("bob.key"), "--collection", nsid, "--rkey", "3m2abcdefgh22", "--update")

	// Read.
	c.run(nil, 0, `"text": "hello gardeners"`, "community", "list", "--collection", nsid, "--json")
	c.run(nil, 0, nsid+"/3m2abcdefgh22", "community", "list", "--collection", nsid)
	c.run(nil, 0, `"cid": "bafyrei`, "community", "get", "--collection", nsid, "--rkey", "3m2abcdefgh22", "--json")
	c.run(nil, 1, "no record", "community", "get", "--collection", nsid, "--rkey", "3m2abcdefgh99")
	c.run(nil, 0, `"members": 3`, "community", "info", "--json")
	c.run(nil, 2, "unknown subcommand", "community", "frobnicate")
	c.run(nil, 1, "cannot open community", "community", "info", "--community", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")

	// Evidence, verified offline against the DID document.
	doc := c.save("did.json", c.run(nil, 0, `"id": "`+did, "community", "did-doc"))
	c.run(nil, 2, "takes flags only", "community", "did-doc", "extra")
	c.run(nil, 1, "cannot open community", "community", "did-doc", "--community", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
	c.run(nil, 1, "cannot open community", "community", "audit-log", "--community", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
	c.run(nil, 2, "needs --collection NSID --rkey KEY -o PROOF.car", "community", "prove", "--collection", nsid, "--rkey", "3m2abcdefgh22")
	c.run(nil, 1, "character not allowed", "community", "prove", "--collection", "Not An NSID", "--rkey", "3m2abcdefgh99", "-o", c.path("none.car"))
	c.run(nil, 1, "more than one '/'", "community", "prove", "--collection", nsid, "--rkey", "a/b", "-o", c.path("none.car"))
	c.run(nil, 0, "written", "community", "prove", "--collection", nsid, "--rkey", "3m2abcdefgh22", "-o", c.path("proof.car"))
	c.run(nil, 3, "exists", "community", "prove", "--collection", nsid, "--rkey", "3m2abcdefgh22", "-o", c.path("proof.car"))
	// A missing record gets a proof of its absence (as com.atproto.sync.getRecord), said so.
	c.run(nil, 0, `"exists": false`, "community", "prove", "--collection", nsid, "--rkey", "3m2abcdefgh99", "-o", c.path("absent.car"), "--json")
	c.run(nil, 0, "absence of "+nsid+"/3m2abcdefgh98", "community", "prove", "--collection", nsid, "--rkey", "3m2abcdefgh98", "-o", c.path("absent2.car"))
	c.run(nil, 0, `"verified": true`, "verify", "record", c.path("proof.car"), "--did-doc", doc, "--collection", nsid, "--rkey", "3m2abcdefgh22", "--json")
	c.run(nil, 1, "does not verify", "verify", "record", c.path("proof.car"), "--key", aliceKey, "--did", did, "--collection", nsid, "--rkey", "3m2abcdefgh22")
	proof, _ := os.ReadFile(c.path("proof.car"))
	c.run(nil, 1, "does not verify", "verify", "record", c.save("cut.car", string(proof[:len(proof)-9])), "--did-doc", doc, "--collection", nsid, "--rkey", "3m2abcdefgh22")
	c.run(nil, 2, "needs --collection NSID --rkey KEY -o BUNDLE.drisl", "community", "bundle", "--rkey", "3m2abcdefgh22", "-o", c.path("bundle.drisl"))
	c.run(nil, 1, "cannot build the bundle", "community", "bundle", "--collection", nsid, "--rkey", "3m2abcdefgh99", "-o", c.path("none.drisl"))
	c.run(nil, 1, "cannot build the bundle", "community", "bundle", "--collection", "dev.townhall.community.profile", "--rkey", "self", "-o", c.path("none.drisl"))
	c.run(nil, 0, `"delegations": 1`, "community", "bundle", "--collection", nsid, "--rkey", "3m2abcdefgh22", "-o", c.path("bundle.drisl"), "--json")
	c.run(nil, 0, `"author": "`+aliceDID, "verify", "bundle", c.path("bundle.drisl"), "--did-doc", doc, "--json")
	c.run(nil, 1, "does not verify", "verify", "bundle", c.path("bundle.drisl"), "--key", aliceKey, "--did", did)
	c.run(nil, 2, "--key needs --did", "verify", "bundle", c.path("bundle.drisl"), "--key", aliceKey)
	c.run(nil, 1, "not an authorship bundle", "verify", "bundle", c.save("junk.drisl", "junk"), "--did-doc", doc)
	c.run(nil, 2, "signing key", "verify", "bundle", c.path("bundle.drisl"))

	// Moderation: a member cannot revoke; mo revokes alice and bans bob.
	c.run(nil, 1, "unauthorised", "community", "ban", "--key", c.path("alice.key"), "--member", bobDID)
	c.run(nil, 0, "revoke recorded", "community", "revoke", "--key", c.path("mo.key"), "--session", aliceKey, "--reason", "spam")
	c.run(msg("still here?"), 1, "holds no grant", "community", "write", "--key", c.path("alice.key"), "--collection", nsid)
	c.run(nil, 0, "ban recorded", "community", "ban", "--key", c.path("mo.key"), "--member", bobDID)
	c.run(msg("banned?"), 1, "banned", "community", "write", "--key", c.path("bob.key"), "--collection", nsid)
	c.run(nil, 2, "needs --session", "community", "revoke", "--key", c.path("mo.key"))

	// Export, and import into a second home: a migration with the recovery key.
	c.run(nil, 0, "commit", "community", "export", "-o", c.path("g.car"), "--audit-log", c.path("audit.json"))
	c.run(nil, 3, "exists", "community", "export", "-o", c.path("g.car"))
	c.run(nil, 0, `"verified": true`, "car", "verify", c.path("g.car"), "--did-doc", doc, "--json")
	c.run(nil, 0, `"did": "`+did, "community", "audit-log")
	c2 := &cli{t: t, dir: dir, home: filepath.Join(dir, "home2")}
	car, _ := os.ReadFile(c.path("g.car"))
	c2.run(nil, 1, "import refused", "community", "import", c.save("bad.car", string(car[:len(car)/2])), "--audit-log", c.path("audit.json"), "--recovery", c.path("rec.key"), "--endpoint", "https://host2.example")
	c2.run(nil, 1, "import refused", "community", "import", c.path("g.car"), "--audit-log", c.path("audit.json"), "--recovery", c.path("stranger.key"))
	c2.run(nil, 1, "not a did:plc audit log", "community", "import", c.path("g.car"), "--audit-log", c.path("bad.json"), "--recovery", c.path("rec.key"))
	// --commit pins the commit the founders trust: another root is refused.
	var head struct{ Commit string }
	if err := json.Unmarshal([]byte(c.run(nil, 0, `"commit": "bafy`, "community", "info", "--json")), &head); err != nil {
		t.Fatal(err)
	}
	c2.run(nil, 2, "--commit", "community", "import", c.path("g.car"), "--audit-log", c.path("audit.json"), "--recovery", c.path("rec.key"), "--commit", "not-a-cid")
	c2.run(nil, 1, "wrong CAR root", "community", "import", c.path("g.car"), "--audit-log", c.path("audit.json"), "--recovery", c.path("rec.key"),
		"--commit", "bafyreie5l3bistolyxqiydsmqrli3qfb2yhudanbz44dnzmxwfzdhl7q3i")
	c2.run(nil, 0, "now hosted here (https://host2.example)", "community", "import", c.path("g.car"), "--audit-log", c.path("audit.json"), "--recovery", c.path("rec.key"), "--commit", head.Commit)
	c2.run(nil, 0, `"endpoint": "https://host2.example"`, "community", "info", "--json")
	c2.run(msg("hello from host2"), 0, "commit", "community", "write", "--key", c.path("mo.key"), "--collection", nsid)
	c2.run(msg("banned here too"), 1, "banned", "community", "write", "--key", c.path("bob.key"), "--collection", nsid)
	// The old bundle still verifies on the new host with the audit log.
	doc2 := c.save("did2.json", c2.run(nil, 0, "https://host2.example", "community", "did-doc"))
	c2.run(nil, 0, "written", "community", "bundle", "--collection", nsid, "--rkey", "3m2abcdefgh22", "-o", c.path("bundle2.drisl"))
	log2 := c.save("audit2.json", c2.run(nil, 0, "nullified", "community", "audit-log"))
	c2.run(nil, 0, "verified: "+aliceDID, "verify", "bundle", c.path("bundle2.drisl"), "--did-doc", doc2, "--audit-log", log2)

	// One host key signs every community of a home: with --key, the
	// evidence of a second community verifies only as that community's,
	// and --did is required.
	var info struct{ SigningKey string }
	if err := json.Unmarshal([]byte(c.run(nil, 0, `"signingKey": "did:key:`, "community", "info", "--json")), &info); err != nil {
		t.Fatal(err)
	}
	out = c.run(nil, 0, `"did": "did:plc:`, "community", "create", "--name", "Second", "--account", "carol", "--key", c.path("carol.key"),
		"--recovery", c.path("rec.key"), "--json")
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	did2 := created.DID
	c.run(nil, 0, info.SigningKey, "community", "info", "--community", did2)
	c.run(msg("second"), 0, "commit", "community", "write", "--community", did2, "--key", c.path("carol.key"), "--collection", nsid, "--rkey", "3m2abcdefgh33")
	c.run(nil, 0, "written", "community", "bundle", "--community", did2, "--collection", nsid, "--rkey", "3m2abcdefgh33", "-o", c.path("second.drisl"))
	c.run(nil, 0, "commit", "community", "export", "--community", did2, "-o", c.path("second.car"))
	for _, cmd := range [][]string{{"verify", "bundle", c.path("second.drisl")}, {"car", "verify", c.path("second.car")}} {
		c.run(nil, 2, "--key needs --did", append(cmd, "--key", info.SigningKey)...)
		c.run(nil, 1, did2, append(cmd, "--key", info.SigningKey, "--did", did)...)
		c.run(nil, 0, "verified", append(cmd, "--key", info.SigningKey, "--did", did2)...)
	}
}
