package main

import (
	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/lexicon"
)

func runLexicon(e *env, args []string) error {
	_, args, err := subcommand("lexicon", args, "validate")
	if err != nil {
		return err
	}
	fs := newFlags("lexicon validate")
	asJSON := fs.Bool("json", false, "print JSON")
	dir := fs.String("dir", "", "directory of lexicon schema files (required)")
	collection := fs.String("collection", "", "the record's collection NSID (default: its $type)")
	rkey := fs.String("rkey", "", "the record key, to check the schema's key type")
	strict := fs.Bool("strict-unions", false, "reject open-union members of unknown $type")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() != 1 {
		return usageErr("lexicon validate needs --dir DIR and one record file (JSON, '-' for stdin)")
	}
	cat := lexicon.NewCatalog(lexicon.CatalogOptions{})
	if err := cat.LoadDir(e.ctx, *dir); err != nil {
		return invalidErr("cannot load lexicons from %s: %v", *dir, err)
	}
	data, err := readInput(e, fs.Arg(0))
	if err != nil {
		return err
	}
	rec, err := drisl.UnmarshalJSON(data)
	if err != nil {
		return invalidErr("the record is not atproto JSON: %v", err)
	}
	coll := *collection
	if coll == "" {
		if m, ok := rec.(map[string]any); ok {
			coll, _ = m["$type"].(string)
		}
	}
	if coll == "" {
		return usageErr("the record has no $type: give --collection NSID")
	}
	verr := cat.ValidateRecord(e.ctx, coll, *rkey, rec, lexicon.ValidateOptions{StrictUnions: *strict})
	if *asJSON {
		out := map[string]any{"valid": verr == nil, "collection": coll}
		if verr != nil {
			out["error"] = verr.Error()
		}
		if err := writeJSON(e, out); err != nil {
			return err
		}
	}
	if verr != nil {
		return invalidErr("record does not match %s: %v", coll, verr)
	}
	if !*asJSON {
		printf(e, "valid %s record\n", coll)
	}
	return nil
}
