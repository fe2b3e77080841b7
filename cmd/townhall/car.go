package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sort"
	"strings"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/mst"
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
)

// carContents is a CAR read into memory without any signature check.
type carContents struct {
	Roots  []cid.Cid
	Blocks *mst.MemBlocks
	Count  int
	Bytes  int
}

func loadCAR(e *env, name string) (*carContents, error) {
	data, err := readInput(e, name)
	if err != nil {
		return nil, err
	}
	cr, err := repo.NewCARReader(bytes.NewReader(data), repo.CAROptions{MaxCARBytes: maxInputBytes})
	if err != nil {
		return nil, invalidErr("%s is not a valid CAR: %v", name, err)
	}
	out := &carContents{Roots: cr.Roots, Blocks: &mst.MemBlocks{}}
	for {
		c, b, err := cr.Next()
		if err != nil {
			if isEOF(err) {
				break
			}
			return nil, invalidErr("%s is not a valid CAR: %v", name, err)
		}
		if err := out.Blocks.PutBlock(e.ctx, c, b); err != nil {
			return nil, invalidErr("%s: %v", name, err)
		}
		out.Count++
		out.Bytes += len(b)
	}
	return out, nil
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

type carSummary struct {
	Roots       []string       `json:"roots"`
	Blocks      int            `json:"blocks"`
	BlockBytes  int            `json:"blockBytes"`
	DID         string         `json:"did,omitempty"`
	Rev         string         `json:"rev,omitempty"`
	Data        string         `json:"data,omitempty"`
	Records     int            `json:"records"`
	Collections map[string]int `json:"collections,omitempty"`
	Verified    bool           `json:"verified"`
}

func runCAR(e *env, args []string) error {
	sub, args, err := subcommand("car", args, "inspect", "verify")
	if err != nil {
		return err
	}
	fs := newFlags("car " + sub)
	asJSON := fs.Bool("json", false, "print JSON")
	keyArg := fs.String("key", "", "verify: the repo's signing key, as did:key or multibase")
	docArg := fs.String("did-doc", "", "verify: a DID document (JSON) holding the repo's #atproto key")
	didArg := fs.String("did", "", "verify: the DID the repo must belong to (required with --key; default: the DID document's)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("car %s needs one CAR file ('-' for stdin)", sub)
	}
	if sub == "inspect" {
		c, err := loadCAR(e, fs.Arg(0))
		if err != nil {
			return err
		}
		s, err := summarise(e, c)
		if err != nil {
			return err
		}
		return printSummary(e, s, *asJSON)
	}
	key, did, err := verificationKey(e, *keyArg, *docArg, *didArg)
	if err != nil {
		return err
	}
	data, err := readInput(e, fs.Arg(0))
	if err != nil {
		return err
	}
	vr, err := repo.VerifyCAR(e.ctx, bytes.NewReader(data), repo.VerifyOptions{Key: key, DID: did, CAR: repo.CAROptions{MaxCARBytes: maxInputBytes}})
	if err != nil {
		return invalidErr("verification failed: %v", err)
	}
	s := &carSummary{
		Roots: []string{vr.CommitCID.String()}, DID: vr.Commit.DID, Rev: vr.Commit.Rev,
		Data: vr.Commit.Data.String(), Records: len(vr.Records), Collections: map[string]int{}, Verified: true,
	}
	for _, r := range vr.Records {
		s.Collections[r.Collection]++
	}
	return printSummary(e, s, *asJSON)
}

// verificationKey returns the key to verify against, from --key or
// --did-doc, and the DID the evidence must belong to: --did, required with
// --key (one host key signs every community on the host), or the DID
// document's.
func verificationKey(e *env, keyArg, docArg, didArg string) (atcrypto.PublicKey, string, error) {
	switch {
	case keyArg != "" && docArg != "":
		return nil, "", usageErr("give either --key or --did-doc, not both")
	case keyArg != "" && didArg == "":
		return nil, "", usageErr("--key needs --did: one key may sign many repositories, so a key alone does not say whose it is")
	case keyArg != "":
		k, err := parsePublicKey(keyArg)
		if err != nil {
			return nil, "", usageErr("the --key value is not a did:key or multibase public key (the value is not echoed: it may be a private key): %v", err)
		}
		return k, didArg, nil
	case docArg != "":
		b, err := readInput(e, docArg)
		if err != nil {
			return nil, "", err
		}
		var doc plc.Document
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, "", invalidErr("%s is not a DID document: %v", docArg, err)
		}
		k, err := doc.SigningKey()
		if err != nil {
			return nil, "", invalidErr("%s: no usable #atproto key: %v", docArg, err)
		}
		if didArg == "" {
			didArg = doc.ID
		}
		return k, didArg, nil
	}
	return nil, "", usageErr("verification needs the signing key: --key did:key:... or --did-doc FILE")
}

func summarise(e *env, c *carContents) (*carSummary, error) {
	s := &carSummary{Blocks: c.Count, BlockBytes: c.Bytes}
	for _, r := range c.Roots {
		s.Roots = append(s.Roots, r.String())
	}
	if len(c.Roots) != 1 {
		return s, nil
	}
	raw, err := c.Blocks.GetBlock(e.ctx, c.Roots[0])
	if err != nil {
		return s, nil // a CAR whose root is not in it: nothing more to say
	}
	commit, err := repo.DecodeCommit(raw)
	if err != nil {
		return s, nil // not a repo commit
	}
	s.DID, s.Rev, s.Data = commit.DID, commit.Rev, commit.Data.String()
	s.Collections = map[string]int{}
	err = mst.Load(c.Blocks, commit.Data).Walk(e.ctx, func(key string, _ cid.Cid) error {
		s.Records++
		coll, _, _ := strings.Cut(key, "/")
		s.Collections[coll]++
		return nil
	})
	if err != nil {
		return nil, invalidErr("the MST under the commit is not readable: %v", err)
	}
	return s, nil
}

func printSummary(e *env, s *carSummary, asJSON bool) error {
	if asJSON {
		return writeJSON(e, s)
	}
	printf(e, "roots:   %s\n", strings.Join(s.Roots, ", "))
	if s.Blocks > 0 {
		printf(e, "blocks:  %d (%d bytes)\n", s.Blocks, s.BlockBytes)
	}
	if s.DID != "" {
		printf(e, "repo:    %s rev %s\n", s.DID, s.Rev)
		printf(e, "data:    %s\n", s.Data)
		printf(e, "records: %d\n", s.Records)
		names := make([]string, 0, len(s.Collections))
		for n := range s.Collections {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			printf(e, "  %-40s %d\n", n, s.Collections[n])
		}
	}
	if s.Verified {
		printf(e, "verified: commit signature, every block hash, canonical MST, every record\n")
	}
	return nil
}
