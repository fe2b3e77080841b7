package main

import (
	"os"
	"strings"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// Key files hold one private key as a multibase string (the form atproto
// tools use), on one line, with permissions 0600. They are never printed.

func runKey(e *env, args []string) error {
	sub, args, err := subcommand("key", args, "gen", "did")
	if err != nil {
		return err
	}
	switch sub {
	case "gen":
		fs := newFlags("key gen")
		typ := fs.String("type", "p256", "key type: p256 or k256")
		out := fs.String("o", "", "key file to write (required; never overwritten)")
		asJSON := fs.Bool("json", false, "print JSON")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if *out == "" {
			return usageErr("key gen needs -o FILE: the private key is written there with mode 0600, never printed")
		}
		var priv atcrypto.PrivateKeyExportable
		switch *typ {
		case "p256":
			priv, err = atcrypto.GeneratePrivateKeyP256()
		case "k256":
			priv, err = atcrypto.GeneratePrivateKeyK256()
		default:
			return usageErr("unknown key type %q: use p256 or k256", *typ)
		}
		if err != nil {
			return ioErr("cannot generate key: %v", err)
		}
		if err := writeKeyFile(*out, priv); err != nil {
			return err
		}
		return printDID(e, priv, *asJSON)
	default: // did
		fs := newFlags("key did")
		asJSON := fs.Bool("json", false, "print JSON")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usageErr("key did needs one key file")
		}
		priv, err := readKeyFile(fs.Arg(0))
		if err != nil {
			return err
		}
		return printDID(e, priv, *asJSON)
	}
}

func printDID(e *env, priv atcrypto.PrivateKey, asJSON bool) error {
	pub, err := priv.PublicKey()
	if err != nil {
		return invalidErr("cannot derive the public key: %v", err)
	}
	if asJSON {
		return writeJSON(e, map[string]string{"did": pub.DIDKey(), "publicKeyMultibase": pub.Multibase()})
	}
	printf(e, "%s\n", pub.DIDKey())
	return nil
}

func writeKeyFile(path string, priv atcrypto.PrivateKeyExportable) error {
	return createFile(path, []byte(priv.Multibase()+"\n"), privateFile, "keys are never overwritten; choose another path")
}

// readKeyFile reads a private key file, refusing files others can read.
func readKeyFile(path string) (atcrypto.PrivateKeyExportable, error) {
	st, err := os.Stat(path)
	if err != nil {
		if _, perr := atcrypto.ParsePrivateMultibase(strings.TrimSpace(path)); perr == nil {
			return nil, usageErr("a private key was given where a key file path belongs (not echoed): write it to a 0600 file ('townhall key gen' makes one)")
		}
		return nil, ioErr("cannot read key file %s: %v", path, unwrapPathErr(err))
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, usageErr("key file %s has mode %o: run 'chmod 600 %s' (keys must not be readable by others)", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, ioErr("cannot read key file %s: %v", path, unwrapPathErr(err))
	}
	priv, err := atcrypto.ParsePrivateMultibase(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, invalidErr("%s is not a key file (want one multibase private key, as 'townhall key gen' writes)", path)
	}
	return priv, nil
}

// parsePublicKey reads a public key given as a did:key or a multibase string.
func parsePublicKey(s string) (atcrypto.PublicKey, error) {
	if strings.HasPrefix(s, "did:key:") {
		return atcrypto.ParsePublicDIDKey(s)
	}
	return atcrypto.ParsePublicMultibase(s)
}
