// Package repo hosts atproto repositories: it creates, writes, stores,
// exports, imports and verifies them, and produces and checks the sync 1.1
// event stream. It is what a PDS, a community server or a test suite embeds.
//
// Specs: the repository format, https://atproto.com/specs/repository
// (commit objects v3, MST, CAR files, record proofs); sync 1.1,
// https://atproto.com/specs/sync (#commit with ops, prev CIDs, prevData and
// inversion blocks; #sync; inductive verification by consumers); CAR v1,
// https://ipld.io/specs/transport/car/carv1/.
//
// # Concepts
//
// A repository is a signed Merkle Search Tree (package mst) mapping
// "collection/rkey" to record CIDs. Each change is a commit {did, version:
// 3, data: MST root, rev: TID, prev: null, sig}, signed with a P-256 or
// K-256 key (indigo's atcrypto, low-S). A Repo applies a batch of Writes as
// exactly one commit (Apply); revs come from a monotonic TID clock with an
// injectable time source. ApplyOptions.SwapCommit gives optimistic
// concurrency; Write.SwapRecord does the same per record.
//
// Reads: GetRecord, ListRecords (cursor, limit, reverse), Describe. Proofs:
// ProveRecord writes the getRecord CAR (commit, MST path, record) and
// VerifyRecordProof checks one. CAR: Export streams the whole repository,
// ExportSince the blocks written after a rev; VerifyCAR and Import check
// everything (hashes, single root = commit, signature, canonical and
// complete MST, every record valid DRISL) with a distinct sentinel per
// failure (ErrTruncated, ErrMalformedCAR, ErrWrongRoot, ErrBlockHash,
// ErrBadCommit, ErrBadSignature, ErrBadMST, ErrMissingBlock, ErrBadRecord),
// each inside a *VerifyError that names the block or byte offset.
// VerifyOptions (for VerifyCAR, Import and VerifyRecordProof) needs both
// the key and the DID it was resolved from: one
// key may sign many repositories (a community host signs all of its
// communities with one), so a signature alone does not say whose CAR it is.
//
// Sync: every commit appends a #commit event (ops with prev CIDs, prevData,
// a CAR of the commit, new records, new MST nodes and the blocks needed to
// invert the ops) to the store's event log, in the same transaction; Import
// and EmitSync append a #sync event (VerifySyncEvent checks one, with
// SyncCheckOptions like VerifyCommitEvent's CommitCheckOptions). A commit
// too large for a #commit event (over MaxEventOps = 200 ops or
// MaxEventBlocksBytes = 2,000,000 bytes of blocks, the lexicon's limits) is
// announced by a #sync event instead, as sync 1.1 prescribes in place of
// the deprecated tooBig flag; consumers then fetch the repository. ReadEvents
// reads the log from a cursor; Event.Frame gives the WebSocket frame.
// VerifyCommitEvent is the consumer side: event for the DID the consumer
// follows (CommitCheckOptions.DID, or Known.DID; required with a Key, which
// may sign many repositories), CAR well-formed and rooted at the
// commit, commit for the event's repo and rev, signature, rev after the
// known rev, created and updated records present in the blocks and in the
// tree, and the ops inverted on the partial tree give prevData, which must
// be the consumer's known root. Both event checks refuse a rev dated more
// than MaxClockSkew (DefaultMaxClockSkew, 5 minutes, unless set; negative
// disables) after the consumer's Now (time.Now unless injected): a rev
// far in the future, once accepted, would make every later commit's rev
// look old (ErrFutureRev); VerifyCAR and Import apply the same bound to a
// repository's commit, whose rev would otherwise date every later local
// commit in the future. Options with both a Key and InsecureSkipSignature
// are refused. VerifyCommitEvent hashes all of an event's blocks in one
// eight-lane batch (internal/sha256x8) and loads the partial tree with
// mst.Options.InsecureSkipHashCheck; a consumer following repositories passes one
// KeyTables in CommitCheckOptions.KeyTables so that the keys that sign
// many accepted commits get precomputed verification tables (bounded, least
// recently used evicted; earned only by events that verified completely).
//
// # Storage
//
// A Store keeps blocks and per-repository state. Its only read-modify-write
// is Apply, a compare-and-swap on the head inside one transaction, so a
// Postgres implementation needs nothing but a transaction and a row lock
// (SELECT ... FOR UPDATE on the repos row). MemStore is in memory;
// SQLiteStore is one SQLite file with this schema (version 4, in PRAGMA
// user_version; OpenSQLite converts a version 1, 2 or 3 file in one
// transaction):
//
//	repos            (id INTEGER PRIMARY KEY, did TEXT UNIQUE, commit_cid, rev, data_cid)
//	block_packs      (id INTEGER PRIMARY KEY, repo, h, cid BLOB, data BLOB, n)  -- n blocks; h: version 3's key, 0 since
//	key_pages        (lo INTEGER PRIMARY KEY, keys BLOB)      -- key entries from lo up to the next row's lo
//	recent_key_pages (bucket INTEGER PRIMARY KEY, keys BLOB)  -- the latest commits' entries, by the key's top 6 bits
//	commits          (repo, rev, first_block, PRIMARY KEY (repo, rev)) WITHOUT ROWID
//	events           (seq INTEGER PRIMARY KEY AUTOINCREMENT, repo, kind, data)
//	                 INDEX events_by_repo (repo, seq)
//	VIEW blocks (pack, repo, i, cid, data), block_keys (lo, i), recent_keys (bucket, i)  -- a row per block, per key entry
//
// Blocks are append-only: a commit appends its records, MST nodes and commit
// block, and the commits table records where they start, so ExportSince is
// one range scan. Consecutive blocks share a row of block_packs up to 2,000
// bytes (in cid each one's CID and lengths, in data their data; a larger
// block, like every row of version 3, is a row of its own with its CID and
// data), so a commit inserts a row per two thousand bytes, not one per
// block. The block key is 4 bytes of the digest mixed with the repository
// id; the key index maps it to the pack: 12-byte entries (key, pack id),
// sorted, in blobs of up to 320 entries (a page). The keys of a commit land
// at random in key order, so a commit rewrites nearly every row of the key
// table it adds to: that is why the latest commits' entries go to the small
// recent_key_pages (at most about 30 pages; a commit reads the rows its
// keys go to, merges its keys in and writes those rows back), which a commit merges into key_pages,
// reading and rewriting each row it adds to and splitting the full ones,
// once they hold 8,192 entries (a write of that many blocks, a CAR import,
// files its own entries in key_pages directly). A few statements per page
// of keys replace version 3's B-tree insert per key (two, counting the
// merge) and row per block. A lookup reads a row of each table in one
// statement, then the packs they name, checking each block's repo and CID,
// so a key collision costs a pack read, never a wrong block. The key index
// rows read are kept as hints (up to 1 MiB per store): a pack never
// changes once committed, so a stale copy may lack a key (the read then
// asks the index) but never misleads, and most reads take one statement,
// the pack's. (Version 3 kept a row per block in blocks and a row per key
// in block_keys or recent_keys, WITHOUT ROWID tables that a commit's keys
// were inserted into one by one. Version 2 kept one index on blocks (h): at the
// end of the 54,930-record import each 500-record commit rewrote its ~250
// pages, 60% of the frames the import wrote to the WAL. Earlier layouts:
// blocks keyed by CID in a WITHOUT ROWID table spent twice the CPU writing
// pages; version 1's index on (repo, 8-byte digest tail) compared the equal
// repo column first at every step, and its records table cost a row per
// record.) A block written again by a later commit is stored again; nothing
// is ever deleted (no garbage collection yet).
//
// SQLiteStore keeps no record table: its record index is the head's tree.
// Record, ListRecords and Collections read the repos row and walk the tree
// at its data CID (mst.Options.InsecureTrustSource: blocks were hashed or
// verified when written; a node cache per repository, for up to 64
// repositories), so a commit writes nothing per record beyond the
// record's block. StoreWrite.Records is for stores that keep a table
// (MemStore does).
//
// Atomicity: Repo.Apply builds the whole commit in memory (new tree, new
// blocks, signed commit, event) and hands it to Store.Apply, which runs one
// BEGIN IMMEDIATE transaction: check the head is still the expected commit
// (else ErrConflict, retried internally unless a swapCommit was given), insert
// the blocks, the commit row and the event, update the head, COMMIT. With
// SQLiteStore, a batch of 64 records or more overlaps the two: the
// transaction begins, checks the head and inserts the encoded records on a
// goroutine of its own while Apply builds the tree and signs the commit;
// the rest follows in the same transaction, and a batch refused meanwhile
// (an existing record, a swapRecord mismatch) rolls it back.
// Repo.ApplyAsync pipelines commits instead: it returns once a commit is
// built and signed, and the store writes the commits in the order they
// were built, each in its own transaction, while the caller builds the
// next on top of it (the unstored commits' tree nodes are served from
// memory until stored). A commit whose base fails to be stored fails with
// ErrConflict without reaching the store; Head and Tree show stored
// commits only, LatestTree the latest built.
// SQLite's WAL makes that all or nothing: a process killed at any point
// leaves either the previous head with its blocks and events, or the new
// one; TestCrashRecovery SIGKILLs writers at random points and checks the
// reopened repository verifies, its record index equals its tree, its event
// log verifies inductively up to the head, and the head is the last commit
// the child reported (or the one it was reporting). With the
// default synchronous=FULL a commit is on disk when Apply returns;
// SQLiteOptions.NoSync trades that for speed (a power loss may then lose the
// last commits, never corrupt them). Writers in one process are serialised
// by a mutex per Repo; writers in other processes or Repo handles are
// caught by the compare-and-swap, so no update is lost.
//
// # Driver and figures
//
// modernc.org/sqlite is the only pure-Go SQLite driver the module proxy
// serves here, and pure Go is required (go run without cgo), so the choice
// was between its settings, measured with bench/repo_test.go. WAL with
// synchronous=FULL; statements prepared once; multi-row INSERTs of 64 rows
// (one database/sql call per 64 blocks instead of one per block), OR FAIL
// so that SQLite keeps no statement journal; temp_store=MEMORY. Profiling
// the 54,930-message import showed 6.3 s of CPU with the first schema
// (blocks keyed by CID in a WITHOUT ROWID table; 45% in SQLite, much of it
// random page writes and statement-journal syscalls) and 3.0 s after
// multi-row INSERTs. Reloading the tree after each commit, hashing each
// block once, keeping to a few prepared statement shapes (64, 32, ..., 1
// rows) and announcing commits of more than 200 ops with #sync (so a bulk
// import builds no inversion blocks) brought it to 1.9 s; continuing after
// each commit from mst's Tree.Stored and one MST descent per create, to
// 1.3 s (65% in SQLite). Schema version 2 (no records table, the 4-byte
// integer block key, no statement journal, CIDs bound without a copy)
// takes it from 5.80 G to 4.13 G instructions for the whole benchmark
// process (callgrind; SQLite's share 1.74 G -> 0.96 G), from 1.04 M to
// 0.66 M allocations, and to 0.64-0.69 of the CPU time (medians of 5
// interleaved runs each, four times, on the shared machine at load
// average 13-21: 1.43 s -> 0.99 s in the quietest), 50 MiB peak RSS.
// Then it was SHA-256 of records and nodes (20% of the instructions),
// SQLite's two B-tree inserts per block and its WAL writes (about 210
// frames per 500-record commit, most of them index pages that the random
// keys touch; 171 fsyncs per import). Since: records encoded and hashed
// on GOMAXPROCS goroutines; schema version 3 (the two key tables: 47,300
// -> 25,800 WAL and database writes, for 14% more instructions, every key
// being inserted twice); the record INSERTs overlapped with the tree work
// (startApply); checkpoints every 4,000 pages (144 -> 126 fsyncs). The
// import is now 4.54 G instructions and 126 fsyncs. Version 3's CPU
// cost was the price of its I/O: on a disk where a synchronous write costs
// milliseconds, each commit's fsync waits for fewer pages. Then schema
// version 4 (block packs, the key index in blobs, key hints): the store's
// share of the import replayed alone (BenchmarkSQLiteApplyImport, 56
// commits of about 1,540 blocks) 2.32 G -> 0.79 G instructions
// (callgrind; 2.07 G -> 0.67 G with GOGC=off), 294 K -> 121 K
// allocations, 75.9 -> 78.8 disk-MB; a block read takes 0.98 times the
// instructions (BenchmarkSQLiteGetBlock, GOGC=off: 43.0 K -> 42.1 K; about
// 1.1 times with the collector on), 64 at once 0.84 times (GetBlocks, 1.81
// M -> 1.51 M), as most reads find their pack in the hints; without the
// hints, two statements per read instead of one cost about twice the
// time. Packs of 1,000 bytes read a little faster
// but cost 1.30 G instructions to write (1.44 G with key rows of 96
// entries: more statements per merge), packs of 3,000 bytes fill a page
// with one row (104 disk-MB). The whole import's CPU went from 2.32 s to
// 1.71 s (medians of 5 interleaved runs on the loaded machine). Tried and
// not kept: a merge rewriting runs of rows by a range DELETE and multi-row
// INSERTs (+4.9% instructions); checkpoints every 8,000 pages (-0.5%);
// filing a pipelined write's first keys before finish (no less CPU, and
// no shorter wait in finish on the loaded two-core machine); merging the
// recent rows at 16,384 entries (91 disk-MB); checkpoints on a goroutine of the store's own (PASSIVE, every 4
// MiB committed), which cannot restart the WAL under a steady stream of
// commits and measured no faster; 8 and 16 KiB pages (no CPU gain, 20 and
// 55 MiB more RSS). Larger pages are nonetheless an option
// (SQLiteOptions.PageSize, for new files): their gain is in system time,
// which callgrind does not count: half the WAL frames, each one or two
// write system calls, made BenchmarkSQLiteApplyImport 21% faster with
// 8 KiB pages (and 2% less disk), and examples/import, whose page cache is
// 1 MiB per connection, uses them; with the default 8 MiB cache the
// bench module's RepoImportChat peaked at 63 MiB instead of 53, so the
// default stays 4 KiB. The checkpoint threshold is 16 MiB of WAL
// whatever the page size. Durable single-record commits are fsync-bound:
// 150-310 per second on the test machine's disk (4 ms per synchronous
// 4 KiB write). See bench/README.md
// for the medians; the test machine was shared and loaded, so wall times
// there are several times the CPU times.
//
// # CAR
//
// The CAR reader and writer are written here (car.go, about 200 lines)
// rather than taken from github.com/ipld/go-car/v2: atproto needs only CAR
// v1 with CIDv1 sha2-256 dag-cbor/raw blocks; the reader must check every
// block's hash, bound every allocation by configured limits (CAROptions)
// whatever lengths the input claims, and report truncation and bad framing
// as typed errors with byte offsets; and go-car/v2 would bring go-ipld-prime
// and its dependencies into the library for that. Section and header
// lengths are multiformats unsigned varints, as CARv1 specifies: minimally
// encoded and at most 9 bytes; anything else is ErrMalformedCAR.
//
// # Writes
//
// Record keys are checked by a byte loop (internal/recordkey, shared with
// lexicon and community) rather than indigo's syntax.ParseRecordKey, whose
// regular expression cost 4% of a community bulk import (about 8,900
// instructions per key against 240); it accepts
// exactly what ParseRecordKey accepts (tests over the interop vectors and
// every key of one and two bytes, and a differential fuzz target). A
// caller that has already encoded and hashed a record passes it as a
// drisl.Raw with Write.RecordCID: Apply skips the copy, still checks the
// bytes are a strict DRISL map, and re-hashes them against the CID (a
// wrong CID would store a block no verifier accepts). Write.InsecureSkipRecordCheck
// skips that validation and re-hash for bytes the caller itself checked
// in the same process (package community sets it for the records its
// writer has hashed and decoded, from its own copy); never for bytes read
// from anywhere else.
//
// # Limits
//
// No blob storage, no garbage collection of unreferenced blocks, no
// rebase or repo deletion events; the event log is unbounded. Record values
// are checked to be DRISL maps, not validated against lexicons (package
// lexicon does that). VerifyCommitEvent accepts events without prevData
// (pre-sync-1.1) only when the consumer has no state for the repository,
// and checks MST key syntax rather than NSID syntax on op paths, as the
// reference implementation's fixtures require.
package repo
