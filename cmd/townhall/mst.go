package main

import (
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/mst"
	"github.com/townhall-dev/townhall/repo"
)

type mstSummary struct {
	Root    string     `json:"root"`
	Keys    int        `json:"keys"`
	Nodes   int        `json:"nodes"`
	Height  int        `json:"height"`
	Entries []mstEntry `json:"entries,omitempty"`
}

type mstEntry struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Height int    `json:"height"`
}

func runMST(e *env, args []string) error {
	_, args, err := subcommand("mst", args, "inspect")
	if err != nil {
		return err
	}
	fs := newFlags("mst inspect")
	asJSON := fs.Bool("json", false, "print JSON")
	list := fs.Bool("keys", false, "list every key with its value CID and height")
	rootArg := fs.String("root", "", "MST root CID (default: the data root of the CAR's commit)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("mst inspect needs one CAR file ('-' for stdin)")
	}
	c, err := loadCAR(e, fs.Arg(0))
	if err != nil {
		return err
	}
	var root cid.Cid
	switch {
	case *rootArg != "":
		root, err = cid.Decode(*rootArg)
		if err != nil {
			return usageErr("--root %q is not a CID: %v", *rootArg, err)
		}
	case len(c.Roots) == 1:
		raw, err := c.Blocks.GetBlock(e.ctx, c.Roots[0])
		if err != nil {
			return invalidErr("the CAR's root block is missing")
		}
		commit, err := repo.DecodeCommit(raw)
		if err != nil {
			return invalidErr("the CAR's root is not a commit (give --root): %v", err)
		}
		root = commit.Data
	default:
		return usageErr("the CAR has %d roots: give --root CID", len(c.Roots))
	}
	s := &mstSummary{Root: root.String()}
	err = mst.Load(c.Blocks, root).Walk(e.ctx, func(key string, val cid.Cid) error {
		s.Keys++
		h := mst.KeyHeight(key)
		if h+1 > s.Height {
			s.Height = h + 1
		}
		if *list {
			s.Entries = append(s.Entries, mstEntry{Key: key, Value: val.String(), Height: h})
		}
		return nil
	})
	if err != nil {
		return invalidErr("MST does not load: %v", err)
	}
	if *asJSON {
		return writeJSON(e, s)
	}
	printf(e, "root:   %s\nkeys:   %d\nlayers: %d\n", s.Root, s.Keys, s.Height)
	for _, en := range s.Entries {
		printf(e, "%s%s %s\n", strings.Repeat(" ", 0), en.Key, en.Value)
	}
	return nil
}
