// Command chatspace is Townhall's main job: one run of a community repo's
// whole life, offline, on embedded SQLite in a temporary directory.
//
//	go run ./examples/chatspace [-keep] [-messages N] [-writers N]
//
// It starts an in-process did:plc directory (plc's embeddable handler,
// called through plc.HandlerTransport with no port open, its operations in
// SQLite) and a host; creates a community and its did:plc; onboards a moderator and three members with
// service-auth JWTs signed by their (simulated) PDS keys; writes about a
// thousand messages in three public channels and one private channel;
// revokes a member and shows her next write refused; exports the repo and
// verifies it as an outsider would, with only the CAR and the DID document
// from the directory (and again with indigo); builds and verifies an
// authorship bundle; lets the first host turn hostile and moves the
// community to a second host with the founders' recovery key; and writes
// again there. Each step prints what it checked and its figures; the
// command exits 1 if any check fails (2 for bad flags).
//
// -keep keeps the directory (host1.db, host2.db, their -private.db files
// and plc.db) and prints its path.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("chatspace", flag.ContinueOnError)
	keep := fs.Bool("keep", false, "keep the SQLite files in the temporary directory")
	messages := fs.Int("messages", 1000, "how many chat messages the members write")
	writers := fs.Int("writers", 16, "how many client goroutines send them at once")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || *messages < MinMessages || *writers <= 0 {
		fmt.Fprintf(os.Stderr, "usage: chatspace [-keep] [-messages N>=%d] [-writers N>0]\n", MinMessages)
		return 2
	}
	dir, err := os.MkdirTemp("", "chatspace-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "chatspace: %v\n", err)
		return 1
	}
	if *keep {
		defer fmt.Printf("kept %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	fmt.Printf("chatspace: a community repo, end to end, offline (SQLite in %s)\n", dir)
	_, err = Run(context.Background(), Options{Dir: dir, Messages: *messages, Writers: *writers, Out: os.Stdout})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
