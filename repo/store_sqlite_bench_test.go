package repo

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// sqliteImportWrites builds the store writes of a bulk import shaped like
// examples/import's (one importer, 256-write batches): commits of about
// 1,540 blocks, records of about 200 bytes first, then tree nodes of about
// 550 bytes and the commit, and one event each.
func sqliteImportWrites(commits int) ([][]Block, []*StoreWrite) {
	rng := rand.New(rand.NewPCG(7, 9))
	// The store does not hash blocks: random bytes stand for contents
	// and digests.
	pool := make([]byte, 1<<16)
	for i := range pool {
		pool[i] = byte(rng.Uint32())
	}
	block := func(size int) Block {
		off := rng.IntN(len(pool) - size)
		digest := make([]byte, 34)
		digest[0], digest[1] = 0x12, 32
		for i := 2; i < len(digest); i++ {
			digest[i] = byte(rng.Uint32())
		}
		return Block{CID: cid.NewCidV1(cid.DagCBOR, digest), Data: pool[off : off+size : off+size]}
	}
	firsts := make([][]Block, commits)
	ws := make([]*StoreWrite, commits)
	for i := range commits {
		var bs []Block
		for range 980 {
			bs = append(bs, block(150+rng.IntN(100)))
		}
		firsts[i] = bs[:len(bs):len(bs)]
		for range 560 {
			bs = append(bs, block(300+rng.IntN(500)))
		}
		commit := block(160)
		bs = append(bs, commit)
		ws[i] = &StoreWrite{
			Head:   Head{Commit: commit.CID, Data: bs[len(bs)-2].CID, Rev: fmt.Sprintf("3m%011d", i)},
			Blocks: bs,
			Events: []StoredEvent{{Kind: "#sync", Data: make([]byte, 400)}},
		}
	}
	return firsts, ws
}

// BenchmarkSQLiteApplyImport stores a bulk import of 56 commits (about
// 86,000 blocks, 28 MB) in a new database with the default
// synchronous=FULL, as Repo.Apply does (startApply with the records, then
// finish). One op is the whole import.
func BenchmarkSQLiteApplyImport(b *testing.B) {
	ctx := context.Background()
	const did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
	firsts, ws := sqliteImportWrites(56)
	b.ReportAllocs()
	var written int64
	for b.Loop() {
		b.StopTimer()
		s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "imp.db"), SQLiteOptions{CacheKiB: 1024})
		if err != nil {
			b.Fatal(err)
		}
		w0 := procWriteBytes()
		b.StartTimer()
		replaySQLiteImport(b, s, did, firsts, ws, nil)
		b.StopTimer()
		written += procWriteBytes() - w0
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	// What the commits wrote to storage (WAL and checkpoints), before
	// Close's final checkpoint.
	b.ReportMetric(float64(written)/1e6/float64(b.N), "disk-MB/op")
}

// replaySQLiteImport stores the import sqliteImportWrites built in s, a new
// database: the first commit (its first two blocks), then each write as
// Repo.Apply does (startApply with its records, busy, if not nil, while the
// store writes them, then finish). It returns the time spent in finish.
func replaySQLiteImport(b *testing.B, s *SQLiteStore, did string, firsts [][]Block, ws []*StoreWrite, busy func()) time.Duration {
	ctx := context.Background()
	create := &StoreWrite{Head: Head{Commit: ws[0].Blocks[0].CID, Data: ws[0].Blocks[1].CID, Rev: "3l00000000000"},
		Blocks: []Block{ws[0].Blocks[0], ws[0].Blocks[1]}}
	if _, err := s.Apply(ctx, did, create); err != nil {
		b.Fatal(err)
	}
	var wait time.Duration
	prev := create.Head.Commit
	for i, w := range ws {
		w.Expect = prev
		p := s.startApply(ctx, did, prev, firsts[i])
		if busy != nil {
			busy()
		}
		t0 := time.Now()
		if _, err := p.finish(w); err != nil {
			b.Fatal(err)
		}
		wait += time.Since(t0)
		prev = w.Head.Commit
	}
	return wait
}

// procWriteBytes is the process's write_bytes in /proc/self/io (bytes
// sent to storage), or 0 where there is none.
func procWriteBytes() int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkSQLitePipelinedFinish is BenchmarkSQLiteApplyImport with
// synchronous=NORMAL (no fsync per commit) and the caller busy between
// startApply and finish for about as long as Repo.Apply builds a commit's
// tree (hashing 1 MiB): finish-ms/op is how long the caller waits in
// finish over the import, the part of the store's work that does not
// overlap with the caller's.
func BenchmarkSQLitePipelinedFinish(b *testing.B) {
	ctx := context.Background()
	const did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
	firsts, ws := sqliteImportWrites(56)
	work := make([]byte, 1<<20)
	var wait time.Duration
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "imp.db"), SQLiteOptions{NoSync: true, CacheKiB: 1024})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		wait += replaySQLiteImport(b, s, did, firsts, ws, func() { sha256.Sum256(work) })
		b.StopTimer()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(wait.Milliseconds())/float64(b.N), "finish-ms/op")
}

// BenchmarkSQLiteGetBlock reads blocks of the imported database one at a
// time, in a random order.
func BenchmarkSQLiteGetBlock(b *testing.B) {
	ctx := context.Background()
	const did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
	s, cids := sqliteImported(b, did)
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetBlock(ctx, did, cids[rng.IntN(len(cids))]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSQLiteGetBlocks reads blocks of the imported database 64 at a
// time.
func BenchmarkSQLiteGetBlocks(b *testing.B) {
	ctx := context.Background()
	const did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
	s, cids := sqliteImported(b, did)
	rng := rand.New(rand.NewPCG(1, 2))
	want := make([]cid.Cid, 64)
	b.ReportAllocs()
	for b.Loop() {
		for i := range want {
			want[i] = cids[rng.IntN(len(cids))]
		}
		if _, err := s.GetBlocks(ctx, did, want); err != nil {
			b.Fatal(err)
		}
	}
}

// sqliteImported is a database holding a 20-commit import (NoSync), and
// the CIDs of its blocks.
func sqliteImported(b *testing.B, did string) (*SQLiteStore, []cid.Cid) {
	ctx := context.Background()
	_, ws := sqliteImportWrites(20)
	s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "read.db"), SQLiteOptions{NoSync: true, CacheKiB: 1024})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	var cids []cid.Cid
	prev := cid.Undef
	for _, w := range ws {
		w.Expect = prev
		if _, err := s.Apply(ctx, did, w); err != nil {
			b.Fatal(err)
		}
		prev = w.Head.Commit
		for _, bl := range w.Blocks {
			cids = append(cids, bl.CID)
		}
	}
	return s, cids
}
