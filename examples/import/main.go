// Command import bulk-imports a chat export into a community repo and
// reports the import time and peak memory, against Roomy's server (27.3 s
// and 65 MiB for the same 54,930 messages).
//
//	go run ./examples/import [-messages 54930] [-authors 120] [-batch 64] [-window 4096] [-writers 64] [-keep]
//
// The export is generated deterministically (realistic authors, channels,
// timestamps and replies; see export.go) and streamed, as a file would be
// read: the whole export is never in memory. The authors join the
// community first (service-auth JWTs from a local test PDS key, open member
// role); then the timeline is read in order and each author's messages are
// sent as /repo/batch invocations (up to -batch writes each, signed by the
// author's session key; after every -window messages each author's
// unfinished batch is sent too, so that concurrent batches cover a narrow
// stretch of the timeline and a commit edits neighbouring MST keys) from
// -writers goroutines, and the community's writer folds concurrent
// requests into shared commits (group commit).
//
// The batch size is the importer's choice. Every invocation costs a
// signature (client), a verification and a policy check (host) and an
// invocation record, whatever it writes, and in a chat export most
// invocations are an occasional author's few messages sent at a window's
// end; so this importer asks the host to accept batches of up to 64 writes
// (community.Limits.MaxBatchWrites; the default is 32, the most is
// maxBatch) and sends unfinished batches every 4096 messages: 1,889
// invocations instead of 3,665 with 32-write batches every 2048 messages,
// and 5-8% fewer blocks in the repository (a commit carries more
// writes). Nothing per message is skipped: each write still has its CID,
// DRISL, lexicon and existence checked and gets its own receipt. Wider
// windows spread a commit's keys over more of the tree (8192 wrote more
// blocks), and larger batches hold more memory in flight.
//
// The host keeps SQLite's
// page cache at -cache-kib and the Go runtime under a soft memory limit of
// -mem-limit-mib (debug.SetMemoryLimit; both printed), and runs without the
// host's block cache (-block-cache-kib -1): the repository's MST node cache
// already holds the nodes each commit re-reads, and the block cache's 4 MiB
// of live heap under a 40 MiB limit only made the GC run more often (about
// 8% more CPU for the import, and 1 MiB more peak RSS). Every message
// goes through the full path: UCAN validation of the invocation and its
// chain, the lexicon, a receipt, and a durable SQLite commit
// (synchronous=FULL). The import time runs from the first signature to the
// last commit; the peak RSS (VmHWM) is reset just before the import. A
// progress bar goes to stderr. The goals (≤ 1.0 s, ≤ 64 MiB) are checked
// and the output says whether they were met; the exit code is 0 whenever
// the import itself succeeded and every message was found afterwards.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.IntVar(&o.Messages, "messages", 54930, "messages in the generated export")
	fs.IntVar(&o.Authors, "authors", 120, "authors in the generated export")
	fs.IntVar(&o.Batch, "batch", defaultBatch, "writes per /repo/batch invocation (at most 256; the host is configured to accept it)")
	fs.IntVar(&o.Window, "window", 4096, "send every author's unfinished batch after each N messages of the timeline (negative: only full batches)")
	fs.IntVar(&o.Writers, "writers", 64, "client goroutines sending batches at once (more: larger group commits)")
	fs.IntVar(&o.CacheKiB, "cache-kib", 1024, "SQLite page cache per connection in KiB (negative: the store's default, 8192)")
	fs.IntVar(&o.MemLimitMiB, "mem-limit-mib", 40, "the Go runtime's soft memory limit during the import, in MiB (negative: none; GOMEMLIMIT, if set, wins)")
	fs.IntVar(&o.BlockCacheKiB, "block-cache-kib", -1, "the host's block cache in front of SQLite in KiB (0: the default, community.DefaultBlockCacheBytes; negative: none)")
	keep := fs.Bool("keep", false, "keep the SQLite files")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the import to this file")
	quiet := fs.Bool("q", false, "no progress bar")
	memprofile := fs.String("memprofile", "", "write a heap profile (in use at the end of the import) to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || o.Messages <= 0 || o.Authors <= 0 || o.Batch <= 0 || o.Batch > maxBatch || o.Writers <= 0 {
		fmt.Fprintln(stderr, "usage: import [-messages N] [-authors N] [-batch N] [-window N] [-writers N] [-cache-kib N] [-mem-limit-mib N] [-keep] [-cpuprofile FILE] [-q]")
		return 2
	}
	dir, err := os.MkdirTemp("", "townhall-import-")
	if err != nil {
		fmt.Fprintf(stderr, "import: %v\n", err)
		return 1
	}
	if *keep {
		defer fmt.Fprintf(stdout, "kept %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	o.Dir, o.Out = dir, stdout
	if !*quiet {
		o.Progress = stderr
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "import: %v\n", err)
			return 1
		}
		defer f.Close()
		o.profile = func(start bool) {
			if start {
				pprof.StartCPUProfile(f)
			} else {
				pprof.StopCPUProfile()
			}
		}
	}
	if *memprofile != "" {
		o.heapProfile = func() {
			f, err := os.Create(*memprofile)
			if err != nil {
				fmt.Fprintf(stderr, "import: %v\n", err)
				return
			}
			defer f.Close()
			pprof.Lookup("heap").WriteTo(f, 0)
		}
	}
	if _, err := Run(context.Background(), o); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
