package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/townhall-dev/townhall/plc"
)

// The account command is the home's local test PDS: accounts with a
// did:plc in the local directory and a PDS signing key, which signs the
// service-auth JWTs members present to join (what
// com.atproto.server.getServiceAuth returns from a real PDS).

var accountName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

func runAccount(e *env, args []string) error {
	sub, args, err := subcommand("account", args, "create", "token", "list")
	if err != nil {
		return err
	}
	fs := newFlags("account " + sub)
	homeFlag := fs.String("home", "", "home directory (default $TOWNHALL_HOME or ~/.townhall)")
	asJSON := fs.Bool("json", false, "print JSON")
	aud := fs.String("aud", "", "token: the audience (a community DID)")
	lxm := fs.String("lxm", "dev.townhall.community.join", "token: the method the token is for")
	ttl := fs.Duration("ttl", time.Minute, "token: lifetime (negative: already expired, for tests)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dir, err := homeDir(*homeFlag)
	if err != nil {
		return err
	}
	h, err := openHome(e.ctx, dir, "")
	if err != nil {
		return err
	}
	defer h.close()
	switch sub {
	case "list":
		if *asJSON {
			if h.accounts == nil {
				h.accounts = []account{}
			}
			return writeJSON(e, h.accounts)
		}
		for _, a := range h.accounts {
			printf(e, "%-16s %s\n", a.Name, a.DID)
		}
		return nil
	case "create":
		if fs.NArg() != 1 || !accountName.MatchString(fs.Arg(0)) {
			return usageErr("account create needs one name (lower-case letters, digits, '-')")
		}
		name := fs.Arg(0)
		for _, a := range h.accounts {
			if a.Name == name {
				return usageErr("account %s exists (%s)", name, a.DID)
			}
		}
		if err := os.MkdirAll(filepath.Join(dir, "accounts"), 0o700); err != nil {
			return ioErr("cannot create %s: %v", filepath.Join(dir, "accounts"), unwrapPathErr(err))
		}
		k, err := atcrypto.GeneratePrivateKeyP256()
		if err != nil {
			return ioErr("cannot generate a key: %v", err)
		}
		pub, err := k.PublicKey()
		if err != nil {
			return invalidErr("%v", err)
		}
		op, did, err := plc.NewGenesis(plc.GenesisOptions{RecoveryKeys: []string{pub.DIDKey()}, HostRotationKey: pub.DIDKey(),
			SigningKey: pub.DIDKey(), Endpoint: "https://pds.townhall.localhost", Handle: name + ".townhall.localhost"}, k)
		if err != nil {
			return invalidErr("cannot make the account's did:plc: %v", err)
		}
		if err := h.plc.Submit(e.ctx, did, op); err != nil {
			return invalidErr("the local directory refused the account's did:plc: %v", err)
		}
		if err := writeKeyFile(filepath.Join(dir, "accounts", name+".key"), k); err != nil {
			return err
		}
		h.accounts = append(h.accounts, account{Name: name, DID: did})
		if err := writeJSONFile(filepath.Join(dir, "accounts.json"), h.accounts); err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e, account{Name: name, DID: did})
		}
		printf(e, "%s\n", did)
		return nil
	default: // token
		if fs.NArg() != 1 || *aud == "" {
			return usageErr("account token needs an account name and --aud DID")
		}
		a, k, err := h.account(fs.Arg(0))
		if err != nil {
			return err
		}
		// The audience is a service DID, with an optional #service id.
		d, _, _ := strings.Cut(*aud, "#")
		if _, err := syntax.ParseDID(d); err != nil {
			return usageErr("--aud %q is not a DID", *aud)
		}
		nsid, err := syntax.ParseNSID(*lxm)
		if err != nil {
			return usageErr("--lxm %q is not an NSID", *lxm)
		}
		tok, err := auth.SignServiceAuth(syntax.DID(a.DID), *aud, *ttl, &nsid, k)
		if err != nil {
			return invalidErr("cannot sign the token: %v", err)
		}
		if *asJSON {
			return writeJSON(e, map[string]string{"token": tok, "iss": a.DID, "aud": *aud, "lxm": *lxm})
		}
		printf(e, "%s\n", tok)
		return nil
	}
}
