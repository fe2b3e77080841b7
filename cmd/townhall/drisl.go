package main

import (
	"encoding/hex"
	"strings"

	"github.com/townhall-dev/townhall/drisl"
)

func runDrisl(e *env, args []string) error {
	sub, args, err := subcommand("drisl", args, "decode", "encode")
	if err != nil {
		return err
	}
	fs := newFlags("drisl " + sub)
	useHex := fs.Bool("hex", false, "DRISL bytes are hex text instead of binary")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usageErr("drisl %s takes at most one input file (default stdin)", sub)
	}
	in, err := readInput(e, fs.Arg(0))
	if err != nil {
		return err
	}
	if sub == "decode" {
		if *useHex {
			in, err = hex.DecodeString(strings.TrimSpace(string(in)))
			if err != nil {
				return invalidErr("input is not hex: %v", err)
			}
		}
		var v any
		if err := drisl.Unmarshal(in, &v); err != nil {
			return invalidErr("not strict DRISL: %v", err)
		}
		out, err := drisl.MarshalJSON(v)
		if err != nil {
			return invalidErr("cannot express as atproto JSON: %v", err)
		}
		printf(e, "%s\n", out)
		return nil
	}
	v, err := drisl.UnmarshalJSON(in)
	if err != nil {
		return invalidErr("not atproto JSON: %v", err)
	}
	out, c, err := drisl.MarshalCID(v)
	if err != nil {
		return invalidErr("cannot encode as DRISL: %v", err)
	}
	if *useHex {
		printf(e, "%s\n", hex.EncodeToString(out))
		e.stderr.Write([]byte("cid " + c.String() + "\n"))
		return nil
	}
	if _, err := e.stdout.Write(out); err != nil {
		return ioErr("cannot write output: %v", err)
	}
	return nil
}
