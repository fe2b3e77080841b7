// Command import bulk-imports a chat export into a community repo and
// reports the import time and peak memory, against Roomy's server (27.3 s
// and 65 MiB for the same 54,930 messages).
//
//	go run ./examples/import [-signers importer|authors] [-messages 54930] [-authors 120] [-batch N] [-window N] [-writers N] [-keep]
//
// The export is generated deterministically (realistic authors, channels,
// timestamps and replies; see export.go) and streamed, as a file would be
// read: the whole export is never in memory.
//
// Who signs (-signers). A chat export (Discord's, Slack's, a Roomy
// space's) is history: its authors signed nothing and the importer holds
// none of their keys. So by default one member of the community, the
// importer (a bridge or a moderator's tool), writes the whole export: it
// joins like any member (service-auth JWT, session key, the open member
// role), reads the timeline in order and sends it as /repo/batch
// invocations of up to -batch writes (256: about 17 KB in the batch's
// shared form, which names the collection once; UCAN's token limit is
// 64 KiB) from -writers goroutines, and the community's
// writer folds concurrent requests into shared commits (group commit).
// Each message records its export author in its origin
// (dev.townhall.chat.message#origin): that is the importer's claim, and the
// record's verified author, the one its receipt names and
// community.VerifyBundle proves, is the importer. Nothing per message is
// skipped: each write still has its CID, DRISL, lexicon and existence
// checked and gets its own receipt, and each batch costs a signature, a
// verification, a policy check and an invocation record.
//
// With -signers authors, every author of the export joins with a key of
// their own (which a real importer could not have: this mode measures
// many members writing at once) and sends their own messages, in order,
// in batches of up to 64 (community.Limits.MaxBatchWrites is raised for it;
// the default is 32); every -window messages (4096) each author's
// unfinished batch is sent too, so that concurrent batches cover a narrow
// stretch of the timeline and a commit edits neighbouring MST keys. In a
// chat export most of these invocations are an occasional author's few
// messages: 1,889 invocations instead of the importer's 215.
//
// The host keeps its SQLite file in pages of -page-size bytes (8192: half
// the WAL frames of SQLite's 4096) and SQLite's page cache at -cache-kib,
// and the Go runtime under a soft memory limit of -mem-limit-mib
// (debug.SetMemoryLimit) with a GC percent of -gc-percent (200; all four
// printed), and runs without the
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
	"runtime/trace"
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
	fs.StringVar(&o.Signers, "signers", SignImporter, "who signs: importer (one member writes the whole export; each message names its export author) or authors (every author joins and writes their own)")
	fs.IntVar(&o.Batch, "batch", 0, "writes per /repo/batch invocation, at most 256 (0: 256 for the importer, 64 for authors; the host is configured to accept it)")
	fs.IntVar(&o.Window, "window", 0, "authors only: send every author's unfinished batch after each N messages of the timeline (0: 4096; negative: only full batches)")
	fs.IntVar(&o.Writers, "writers", 0, "client goroutines sending batches at once (0: 8 for the importer, 64 for authors; more: larger group commits)")
	fs.IntVar(&o.CacheKiB, "cache-kib", 1024, "SQLite page cache per connection in KiB (negative: the store's default, 8192)")
	fs.IntVar(&o.MemLimitMiB, "mem-limit-mib", 40, "the Go runtime's soft memory limit during the import, in MiB (negative: none; GOMEMLIMIT, if set, wins)")
	fs.IntVar(&o.GCPercent, "gc-percent", 200, "the Go runtime's GC percent during the import (negative: the runtime's, GOGC or 100)")
	fs.IntVar(&o.PageSize, "page-size", 8192, "the SQLite file's page size in bytes (negative: the store's default, 4096)")
	fs.IntVar(&o.BlockCacheKiB, "block-cache-kib", -1, "the host's block cache in front of SQLite in KiB (0: the default, community.DefaultBlockCacheBytes; negative: none)")
	keep := fs.Bool("keep", false, "keep the SQLite files")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the import to this file")
	quiet := fs.Bool("q", false, "no progress bar")
	memprofile := fs.String("memprofile", "", "write a heap profile (in use at the end of the import) to this file")
	tracefile := fs.String("trace", "", "write an execution trace of the import to this file (go tool trace)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || o.Messages <= 0 || o.Authors <= 0 || o.Batch < 0 || o.Batch > maxBatch || o.Writers < 0 ||
		(o.Signers != SignImporter && o.Signers != SignAuthors) {
		fmt.Fprintln(stderr, "usage: import [-signers importer|authors] [-messages N] [-authors N] [-batch N] [-window N] [-writers N] [-cache-kib N] [-page-size N] [-mem-limit-mib N] [-gc-percent N] [-keep] [-cpuprofile FILE] [-memprofile FILE] [-trace FILE] [-q]")
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
	// The CPU profile and the execution trace record just the import.
	for _, rec := range []struct {
		file  string
		start func(io.Writer) error
		stop  func()
	}{{*cpuprofile, pprof.StartCPUProfile, pprof.StopCPUProfile}, {*tracefile, trace.Start, trace.Stop}} {
		if rec.file == "" {
			continue
		}
		f, err := os.Create(rec.file)
		if err != nil {
			fmt.Fprintf(stderr, "import: %v\n", err)
			return 1
		}
		defer f.Close()
		prev := o.profile
		o.profile = func(start bool) {
			if prev != nil {
				prev(start)
			}
			if start {
				rec.start(f)
			} else {
				rec.stop()
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
