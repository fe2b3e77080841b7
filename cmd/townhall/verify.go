package main

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/townhall-dev/townhall/community"
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
)

// runVerify checks evidence offline against a DID document or a key: a
// record proof (a getRecord CAR, 'townhall community prove'), an
// authorship bundle ('townhall community bundle') or an audience backup
// ('townhall community read -o'). Whole repository CARs
// are 'townhall car verify'.
func runVerify(e *env, args []string) error {
	sub, args, err := subcommand("verify", args, "record", "bundle", "audience")
	if err != nil {
		return err
	}
	fs := newFlags("verify " + sub)
	asJSON := fs.Bool("json", false, "print JSON")
	keyArg := fs.String("key", "", "the community's signing key, as did:key or multibase")
	docArg := fs.String("did-doc", "", "the community's DID document (JSON), holding its #atproto key")
	didArg := fs.String("did", "", "the DID the evidence must belong to (required with --key; default: the DID document's)")
	collection := fs.String("collection", "", "record: the collection NSID")
	rkey := fs.String("rkey", "", "record: the record key")
	auditLog := fs.String("audit-log", "", "bundle: the DID's audit log, to accept chains signed by an earlier host")
	audience := fs.String("audience", "", "audience: the audience's name")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("verify %s needs one file ('-' for stdin)", sub)
	}
	key, did, err := verificationKey(e, *keyArg, *docArg, *didArg)
	if err != nil {
		return err
	}
	data, err := readInput(e, fs.Arg(0))
	if err != nil {
		return err
	}
	if sub == "record" {
		if *collection == "" || *rkey == "" || did == "" {
			return usageErr("verify record needs --collection, --rkey and the DID (--did, or --did-doc)")
		}
		c, rec, err := repo.VerifyRecordProof(e.ctx, bytes.NewReader(data), *collection, *rkey, repo.VerifyOptions{Key: key, DID: did})
		if err != nil {
			return invalidErr("record proof does not verify: %v", err)
		}
		v, err := valueJSON(rec)
		if err != nil {
			return invalidErr("the proved record is not valid DRISL: %v", err)
		}
		uri := "at://" + did + "/" + *collection + "/" + *rkey
		if *asJSON {
			return writeJSON(e, map[string]any{"verified": true, "uri": uri, "cid": c.String(), "value": v})
		}
		printf(e, "verified: %s %s is in the repo head signed by the DID's key\n", uri, c)
		return nil
	}
	if sub == "audience" {
		if *audience == "" || did == "" {
			return usageErr("verify audience needs --audience NAME and the DID (--did, or --did-doc)")
		}
		view, err := community.VerifyAudienceCAR(e.ctx, bytes.NewReader(data), did, *audience, community.VerifyOptions{Key: key, DID: did})
		if err != nil {
			return invalidErr("audience CAR does not verify: %v", err)
		}
		if *asJSON {
			return writeJSON(e, map[string]any{"verified": true, "did": view.DID, "audience": view.Audience,
				"commit": view.Commit.String(), "root": view.Root.String(), "records": len(view.Records)})
		}
		printf(e, "verified: audience %s of %s, %d records under root %s, anchored in commit %s\n",
			view.Audience, view.DID, len(view.Records), view.Root, view.Commit)
		return nil
	}
	b, err := community.ParseBundle(data)
	if err != nil {
		return invalidErr("not an authorship bundle: %v", err)
	}
	opts := community.VerifyOptions{Key: key, DID: did}
	if *docArg != "" {
		raw, err := readInput(e, *docArg)
		if err != nil {
			return err
		}
		var doc plc.Document
		if err := json.Unmarshal(raw, &doc); err != nil {
			return invalidErr("%s is not a DID document: %v", *docArg, err)
		}
		opts = community.VerifyOptions{Document: &doc, DID: did}
	}
	if *auditLog != "" {
		raw, err := readInput(e, *auditLog)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &opts.AuditLog); err != nil {
			return invalidErr("%s is not a did:plc audit log: %v", *auditLog, err)
		}
	}
	if did != "" && b.DID != did {
		return invalidErr("the bundle is for %s, not %s", b.DID, did)
	}
	a, err := community.VerifyBundle(e.ctx, b, opts)
	if err != nil {
		return invalidErr("bundle does not verify: %v", err)
	}
	if *asJSON {
		chain := make([]string, len(a.Chain))
		for i, c := range a.Chain {
			chain[i] = c.String()
		}
		return writeJSON(e, map[string]any{"verified": true, "did": a.DID, "path": a.Path, "audience": a.Audience,
			"record": a.Record.String(), "author": a.Author, "sessionKey": a.SessionKey, "command": a.Command,
			"invocation": a.Invocation.String(), "chain": chain, "writtenAt": a.WrittenAt.UTC().Format(time.RFC3339),
			"commit": a.Commit.String(), "rev": a.Rev})
	}
	printf(e, "verified: %s wrote at://%s/%s (%s)\n", a.Author, a.DID, a.Path, a.Record)
	printf(e, "  with session key %s, %s, a chain of %d delegation(s) from the community, at %s\n",
		a.SessionKey, a.Command, len(a.Chain), a.WrittenAt.UTC().Format(time.RFC3339))
	return nil
}
