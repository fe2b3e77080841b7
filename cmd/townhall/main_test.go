package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// The tests run the built binary, as a user or a script would.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "townhall-cli")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "townhall")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building townhall: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code   int
	stdout string
	stderr string
}

func townhall(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running townhall %v: %v", args, err)
	}
	return result{code, so.String(), se.String()}
}

// fixtures holds files made with the library for the CLI to read.
type fixtures struct {
	dir                                string
	car                                string
	did                                string
	signerKey                          string // did:key of the repo signing key
	otherKey                           string // a did:key that did not sign
	doc                                string // DID document file
	delegation, invocation, expiredInv string
	genesis                            string
	audit                              string
	lexDir                             string
}

func makeFixtures(t *testing.T) *fixtures {
	t.Helper()
	ctx := context.Background()
	f := &fixtures{dir: t.TempDir()}
	write := func(name string, b []byte) string {
		p := filepath.Join(f.dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// A did:plc genesis for the repo, and its document.
	signKey, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		t.Fatal(err)
	}
	signPub, _ := signKey.PublicKey()
	recovery, _ := atcrypto.GeneratePrivateKeyK256()
	recPub, _ := recovery.PublicKey()
	other, _ := atcrypto.GeneratePrivateKeyP256()
	otherPub, _ := other.PublicKey()
	f.signerKey, f.otherKey = signPub.DIDKey(), otherPub.DIDKey()
	op, did, err := plc.NewGenesis(plc.GenesisOptions{
		RecoveryKeys: []string{recPub.DIDKey()}, HostRotationKey: signPub.DIDKey(),
		SigningKey: signPub.DIDKey(), Endpoint: "https://host.example",
	}, recovery)
	if err != nil {
		t.Fatal(err)
	}
	f.did = did
	opJSON, err := json.Marshal(op)
	if err != nil {
		t.Fatal(err)
	}
	f.genesis = write("genesis.json", opJSON)
	c, _ := op.CID()
	entry := plc.LogEntry{DID: did, Operation: *op, CID: c.String(), CreatedAt: "2026-11-20T12:00:00.000Z"}
	logJSON, _ := json.Marshal([]plc.LogEntry{entry})
	f.audit = write("audit.json", logJSON)
	docJSON, _ := json.Marshal(plc.DataOf(did, op).Document())
	f.doc = write("did.json", docJSON)

	// A repo with a few records, exported as CAR.
	r, err := repo.Create(ctx, repo.NewMemStore(), did, signKey, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var writes []repo.Write
	for i := 0; i < 20; i++ {
		writes = append(writes, repo.Write{Action: repo.ActionCreate, Collection: "dev.townhall.chat.message",
			Record: map[string]any{"$type": "dev.townhall.chat.message", "channel": "general", "text": fmt.Sprintf("hello %d", i), "createdAt": "2026-11-20T12:00:00.000Z"}})
	}
	if _, err := r.Apply(ctx, writes, repo.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	var car bytes.Buffer
	if err := r.Export(ctx, &car); err != nil {
		t.Fatal(err)
	}
	f.car = write("repo.car", car.Bytes())

	// A delegation and invocations.
	root, _ := ucan.NewAtcryptoSigner(signKey)
	member, _ := ucan.NewAtcryptoSigner(other)
	now := time.Now()
	dlg, err := ucan.NewDelegation(root, ucan.DelegationFields{Audience: member.DID(), Subject: root.DID(), Command: "/repo", Expiration: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	f.delegation = write("dlg.ucan", dlg.Bytes())
	inv, err := ucan.NewInvocation(member, ucan.InvocationFields{Subject: root.DID(), Command: "/repo/create", Args: map[string]any{"collection": "dev.townhall.chat.message"}, Proofs: []cid.Cid{dlg.CID()}, Expiration: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	f.invocation = write("inv.ucan", inv.Bytes())
	old, err := ucan.NewInvocation(member, ucan.InvocationFields{Subject: root.DID(), Command: "/repo/create", Args: map[string]any{}, Proofs: []cid.Cid{dlg.CID()}, Expiration: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	f.expiredInv = write("expired.ucan", old.Bytes())

	wd, _ := os.Getwd()
	f.lexDir = filepath.Join(wd, "..", "..", "community", "lexicons")
	return f
}

func TestCLI(t *testing.T) {
	f := makeFixtures(t)
	keyFile := filepath.Join(f.dir, "member.key")
	badJSON := []byte(`{"text": "unterminated`)
	record := []byte(`{"$type":"dev.townhall.chat.message","channel":"general","text":"hi","createdAt":"2026-11-20T12:00:00.000Z"}`)
	badRecord := []byte(`{"$type":"dev.townhall.chat.message","channel":"general","createdAt":"2026-11-20T12:00:00.000Z"}`)
	corruptCAR := func() string {
		b, _ := os.ReadFile(f.car)
		b = b[:len(b)-7]
		p := filepath.Join(f.dir, "truncated.car")
		os.WriteFile(p, b, 0o600)
		return p
	}()

	absentCID := drisl.SumCID(drisl.CodecDagCBOR, []byte{0xa0}).String() // an empty map: no MST node of the CAR
	wrongDIDLog := func() []byte {
		b, _ := os.ReadFile(f.audit)
		return bytes.Replace(b, []byte(`"did":"`+f.did+`"`), []byte(`"did":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"`), 1)
	}()
	if !bytes.Contains(wrongDIDLog, []byte("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")) {
		t.Fatal("the wrong-DID audit log names the right DID")
	}

	cases := []struct {
		name  string
		stdin []byte
		args  []string
		code  int
		out   string // substring of stdout
		err   string // substring of stderr
	}{
		{"help", nil, []string{"help"}, 0, "commands:", ""},
		{"no command", nil, nil, 2, "", "no command"},
		{"unknown command", nil, []string{"frobnicate"}, 2, "", "unknown command"},
		{"key gen", nil, []string{"key", "gen", "-o", keyFile}, 0, "did:key:z", ""},
		{"key gen no overwrite", nil, []string{"key", "gen", "-o", keyFile}, 3, "", "never overwritten"},
		{"key did", nil, []string{"key", "did", keyFile, "--json"}, 0, `"did": "did:key:z`, ""},
		{"drisl encode+decode", record, []string{"drisl", "encode", "--hex"}, 0, "a4", "cid bafyrei"},
		{"drisl decode bad", []byte("a2616201616100"), []string{"drisl", "decode", "--hex"}, 1, "", "map keys not sorted"},
		{"drisl encode bad json", badJSON, []string{"drisl", "encode"}, 1, "", "not atproto JSON"},
		{"car inspect", nil, []string{"car", "inspect", f.car}, 0, "dev.townhall.chat.message", ""},
		{"car inspect json", nil, []string{"car", "inspect", "--json", f.car}, 0, `"records": 20`, ""},
		{"car verify key", nil, []string{"car", "verify", f.car, "--key", f.signerKey, "--did", f.did}, 0, "verified", ""},
		{"car verify key without did", nil, []string{"car", "verify", f.car, "--key", f.signerKey}, 2, "", "--key needs --did"},
		{"car verify key other did", nil, []string{"car", "verify", f.car, "--key", f.signerKey, "--did", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"}, 1, "", "verification failed"},
		{"car verify doc", nil, []string{"car", "verify", f.car, "--did-doc", f.doc, "--json"}, 0, `"verified": true`, ""},
		{"car verify wrong key", nil, []string{"car", "verify", f.car, "--key", f.otherKey, "--did", f.did}, 1, "", "verification failed"},
		{"car verify no key", nil, []string{"car", "verify", f.car}, 2, "", "needs the signing key"},
		{"car malformed", nil, []string{"car", "inspect", corruptCAR}, 1, "", "not a valid CAR"},
		{"car verify malformed", nil, []string{"car", "verify", corruptCAR, "--key", f.signerKey, "--did", f.did}, 1, "", "verification failed"},
		{"car missing file", nil, []string{"car", "inspect", filepath.Join(f.dir, "nope.car")}, 3, "", "cannot read"},
		{"mst inspect", nil, []string{"mst", "inspect", f.car, "--json"}, 0, `"keys": 20`, ""},
		{"mst inspect malformed", nil, []string{"mst", "inspect", corruptCAR}, 1, "", "not a valid CAR"},
		{"mst inspect bad root", nil, []string{"mst", "inspect", f.car, "--root", "not-a-cid"}, 2, "", "is not a CID"},
		{"mst inspect missing root", nil, []string{"mst", "inspect", f.car, "--root", absentCID}, 1, "", "MST does not load"},
		{"mst inspect no file", nil, []string{"mst", "inspect"}, 2, "", "needs one CAR file"},
		{"ucan inspect delegation", nil, []string{"ucan", "inspect", f.delegation}, 0, "delegation", ""},
		{"ucan inspect invocation json", nil, []string{"ucan", "inspect", "--json", f.invocation}, 0, `"kind": "invocation"`, ""},
		{"ucan verify", nil, []string{"ucan", "verify", f.invocation, "--proof", f.delegation}, 0, "valid:", ""},
		{"ucan verify expired", nil, []string{"ucan", "verify", f.expiredInv, "--proof", f.delegation}, 1, "", "Expired"},
		{"ucan verify missing proof", nil, []string{"ucan", "verify", f.invocation}, 1, "", "UnavailableProof"},
		{"ucan inspect garbage", []byte("not a token"), []string{"ucan", "inspect", "-"}, 1, "", "neither"},
		{"plc inspect genesis", nil, []string{"plc", "inspect", f.genesis}, 0, f.did, ""},
		{"plc audit", nil, []string{"plc", "audit", f.audit, "--json"}, 0, `"valid": true`, ""},
		{"plc inspect bad json", badJSON, []string{"plc", "inspect", "-"}, 1, "", "not a valid did:plc operation"},
		{"plc audit bad json", badJSON, []string{"plc", "audit", "-"}, 1, "", "not an audit log"},
		{"plc audit empty", []byte("[]"), []string{"plc", "audit", "-"}, 1, "", "the audit log is empty"},
		{"plc audit wrong did", wrongDIDLog, []string{"plc", "audit", "-"}, 1, "", "audit log rejected"},
		{"plc audit missing file", nil, []string{"plc", "audit", filepath.Join(f.dir, "nope.json")}, 3, "", "cannot read"},
		{"lexicon validate", record, []string{"lexicon", "validate", "--dir", f.lexDir, "-"}, 0, "valid dev.townhall.chat.message", ""},
		{"lexicon validate invalid", badRecord, []string{"lexicon", "validate", "--dir", f.lexDir, "-"}, 1, "", "text"},
		{"lexicon validate no dir", record, []string{"lexicon", "validate", "-"}, 2, "", "needs --dir"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := townhall(t, tc.stdin, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.out) {
				t.Errorf("stdout %q does not contain %q", r.stdout, tc.out)
			}
			if !strings.Contains(r.stderr, tc.err) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tc.err)
			}
			if tc.code != 0 && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("error is not one line: %q", r.stderr)
			}
		})
	}
}

func TestKeyFilePermissions(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	if r := townhall(t, nil, "key", "gen", "-type", "k256", "-o", key); r.code != 0 {
		t.Fatalf("key gen: %+v", r)
	}
	st, err := os.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %o, want 600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(key)
	r := townhall(t, nil, "key", "did", key)
	if strings.Contains(r.stdout+r.stderr, strings.TrimSpace(string(b))) {
		t.Fatal("the private key was printed")
	}
	os.Chmod(key, 0o644)
	if r := townhall(t, nil, "key", "did", key); r.code != 2 || !strings.Contains(r.stderr, "chmod 600") {
		t.Fatalf("a world-readable key file was accepted: %+v", r)
	}
}
