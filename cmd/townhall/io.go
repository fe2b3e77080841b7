package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
)

// maxInputBytes bounds what a command reads from one file or stdin.
const maxInputBytes = 256 << 20

// readInput reads a named file, or stdin for "-" or "".
func readInput(e *env, name string) ([]byte, error) {
	var r io.Reader
	if name == "" || name == "-" {
		r = e.stdin
		name = "stdin"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, ioErr("cannot read %s: %v", name, unwrapPathErr(err))
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxInputBytes+1))
	if err != nil {
		return nil, ioErr("cannot read %s: %v", name, err)
	}
	if len(b) > maxInputBytes {
		return nil, invalidErr("%s is larger than %d bytes", name, maxInputBytes)
	}
	return b, nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// newFlags returns a flag set that reports errors as usage errors instead
// of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	// Allow flags after positional arguments, as most CLIs do.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return usageErr("%s: %v", fs.Name(), err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

// writeJSON prints v as indented JSON.
func writeJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return ioErr("cannot write output: %v", err)
	}
	return nil
}

func printf(e *env, format string, a ...any) {
	fmt.Fprintf(e.stdout, format, a...)
}
