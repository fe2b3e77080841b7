package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	indigorepo "github.com/bluesky-social/indigo/atproto/repo"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
)

const repoBenchDID = "did:plc:w4xbfzo7kqfes5zb7r6qv3rw"

// repoClock is a deterministic clock: one millisecond per call.
func repoClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

func repoKey(b *testing.B) atcrypto.PrivateKey {
	k, err := atcrypto.ParsePrivateBytesP256(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		b.Fatal(err)
	}
	return k
}

var chatWords = strings.Fields(`the a to and of I you it is that in we for this on have
be with so not just what are was do can if but at like my all get they about think
know me from out one up no now will there good time how when yes see ok our yeah
right need going make meeting tomorrow today channel thread link doc draft review
merge deploy bug fix test release issue coffee lunch thanks great sounds plan idea
community moderation invite room post update schedule agenda notes vote proposal`)

// chatMessage is the i-th of a deterministic stream of chat messages:
// 5-40 words of text, one of 200 authors, one of 12 rooms, a timestamp a
// few seconds after the previous one, sometimes a reply reference.
type chatMessage struct {
	Type      string `cbor:"$type"`
	Text      string `cbor:"text"`
	Author    string `cbor:"author"`
	Room      string `cbor:"room"`
	CreatedAt string `cbor:"createdAt"`
	ReplyTo   string `cbor:"replyTo,omitempty"`
}

type chatGen struct {
	rng *rand.Rand
	t   time.Time
	sb  strings.Builder
}

func newChatGen() *chatGen {
	return &chatGen{rng: rand.New(rand.NewPCG(54930, 1)), t: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)}
}

func (g *chatGen) next(i int) chatMessage {
	g.sb.Reset()
	n := 5 + g.rng.IntN(36)
	for w := 0; w < n; w++ {
		if w > 0 {
			g.sb.WriteByte(' ')
		}
		g.sb.WriteString(chatWords[g.rng.IntN(len(chatWords))])
	}
	g.t = g.t.Add(time.Duration(1+g.rng.IntN(30)) * time.Second)
	m := chatMessage{
		Type:      "dev.townhall.chat.message",
		Text:      g.sb.String(),
		Author:    fmt.Sprintf("did:plc:author%020d", g.rng.IntN(200)),
		Room:      "room" + strconv.Itoa(g.rng.IntN(12)),
		CreatedAt: g.t.Format("2006-01-02T15:04:05.000Z"),
	}
	if i > 0 && g.rng.IntN(5) == 0 {
		m.ReplyTo = "msg" + strconv.Itoa(g.rng.IntN(i))
	}
	return m
}

// peakRSSMiB returns the process's peak resident set (VmHWM).
func peakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuSeconds returns the user+system CPU time of the process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// resetPeakRSS resets VmHWM to the current RSS (Linux clear_refs 5).
func resetPeakRSS() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) //nolint:errcheck // best effort
}

const (
	chatRecords   = 54930
	chatBatchSize = 500
)

// BenchmarkRepoImportChat writes 54,930 chat messages as signed commits of
// 500 records into a new SQLite repository on disk (synchronous=FULL), and
// reports the wall time per import, records/s, CPU time and the process's
// peak RSS during the import. Commits of more than 200 ops are announced by
// #sync events (the #commit limit), as a bulk import should be. No peer can host a repository, so there is no peer
// sub-benchmark (Roomy's server: 27.3 s, 65 MiB peak).
func BenchmarkRepoImportChat(b *testing.B) {
	b.Run("townhall", func(b *testing.B) {
		ctx := context.Background()
		key := repoKey(b)
		b.ReportAllocs()
		var peak, cpu float64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dir := b.TempDir()
			runtime.GC()
			resetPeakRSS()
			cpu0 := cpuSeconds()
			b.StartTimer()
			s, err := repo.OpenSQLite(ctx, filepath.Join(dir, "chat.db"), repo.SQLiteOptions{})
			if err != nil {
				b.Fatal(err)
			}
			r, err := repo.Create(ctx, s, repoBenchDID, key, repo.Options{Now: repoClock()})
			if err != nil {
				b.Fatal(err)
			}
			g := newChatGen()
			ws := make([]repo.Write, 0, chatBatchSize)
			for n := 0; n < chatRecords; {
				// Generating the messages is not part of the import.
				b.StopTimer()
				gen0 := cpuSeconds()
				ws = ws[:0]
				for j := 0; j < chatBatchSize && n < chatRecords; j, n = j+1, n+1 {
					ws = append(ws, repo.Write{Action: repo.ActionCreate, Collection: "dev.townhall.chat.message", Record: g.next(n)})
				}
				cpu0 += cpuSeconds() - gen0
				b.StartTimer()
				if _, err := r.Apply(ctx, ws, repo.ApplyOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cpu += cpuSeconds() - cpu0
			peak = max(peak, peakRSSMiB())
			b.StartTimer()
		}
		b.ReportMetric(float64(chatRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(peak, "peak-RSS-MiB")
		// CPU time is what the import costs on an idle machine; the wall
		// time also counts waiting for fsync and, on a shared machine, for
		// the CPU.
		b.ReportMetric(cpu/float64(b.N), "cpu-s/op")
	})
}

// BenchmarkRepoDurableCommit applies single-record commits to a SQLite
// repository on disk with synchronous=FULL: each op is one durable commit.
func BenchmarkRepoDurableCommit(b *testing.B) {
	b.Run("townhall", func(b *testing.B) {
		ctx := context.Background()
		s, err := repo.OpenSQLite(ctx, filepath.Join(b.TempDir(), "d.db"), repo.SQLiteOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		r, err := repo.Create(ctx, s, repoBenchDID, repoKey(b), repo.Options{Now: repoClock()})
		if err != nil {
			b.Fatal(err)
		}
		g := newChatGen()
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := cpuSeconds()
		for i := 0; i < b.N; i++ {
			if _, err := r.Apply(ctx, []repo.Write{{Action: repo.ActionCreate, Collection: "dev.townhall.chat.message", Record: g.next(i)}}, repo.ApplyOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
		// CPU per commit: what a commit costs apart from waiting for fsync
		// (and, on a shared machine, for the CPU).
		b.ReportMetric((cpuSeconds()-cpu0)*1e9/float64(b.N), "cpu-ns/op")
	})
}

// repoCorpus is a 10,000-message repository in SQLite, its CAR export, and
// 200 #commit events (1-4 ops each) written on top of it.
type repoCorpusT struct {
	dir    string
	store  *repo.SQLiteStore
	r      *repo.Repo
	car    []byte
	events []*repo.CommitEvent
	pub    atcrypto.PublicKey
}

var (
	repoOnce   sync.Once
	repoCorpus repoCorpusT
	repoErr    error
)

func loadRepoCorpus(b *testing.B) *repoCorpusT {
	repoOnce.Do(func() {
		ctx := context.Background()
		c := &repoCorpus
		// One fixed directory, replaced by each run, so that runs leave at
		// most one corpus behind (the benchmarks share it through repoOnce,
		// so no b.TempDir can hold it).
		c.dir = filepath.Join(os.TempDir(), "townhall-repo-bench-corpus")
		if repoErr = os.RemoveAll(c.dir); repoErr != nil {
			return
		}
		if repoErr = os.MkdirAll(c.dir, 0o755); repoErr != nil {
			return
		}
		key := repoKey(b)
		c.pub, _ = key.PublicKey()
		if c.store, repoErr = repo.OpenSQLite(ctx, filepath.Join(c.dir, "corpus.db"), repo.SQLiteOptions{NoSync: true}); repoErr != nil {
			return
		}
		if c.r, repoErr = repo.Create(ctx, c.store, repoBenchDID, key, repo.Options{Now: repoClock()}); repoErr != nil {
			return
		}
		g := newChatGen()
		var ws []repo.Write
		for n := 0; n < 10000; n++ {
			ws = append(ws, repo.Write{Action: repo.ActionCreate, Collection: "dev.townhall.chat.message", Record: g.next(n)})
			if len(ws) == 1000 {
				if _, repoErr = c.r.Apply(ctx, ws, repo.ApplyOptions{}); repoErr != nil {
					return
				}
				ws = ws[:0]
			}
		}
		var buf bytes.Buffer
		if repoErr = c.r.Export(ctx, &buf); repoErr != nil {
			return
		}
		c.car = buf.Bytes()
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 200; i++ {
			var ws []repo.Write
			for j := 0; j < 1+rng.IntN(4); j++ {
				ws = append(ws, repo.Write{Action: repo.ActionCreate, Collection: "dev.townhall.chat.message", Record: g.next(10000 + i)})
			}
			res, err := c.r.Apply(ctx, ws, repo.ApplyOptions{})
			if err != nil {
				repoErr = err
				return
			}
			c.events = append(c.events, res.Event)
		}
	})
	if repoErr != nil {
		b.Fatal(repoErr)
	}
	return &repoCorpus
}

// BenchmarkRepoCARExport streams the 10,000-record repository (at its state
// after the corpus events) out of SQLite as a CAR.
func BenchmarkRepoCARExport(b *testing.B) {
	c := loadRepoCorpus(b)
	b.Run("townhall", func(b *testing.B) {
		ctx := context.Background()
		var buf bytes.Buffer
		if err := c.r.Export(ctx, &buf); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(buf.Len()))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			buf.Reset()
			if err := c.r.Export(ctx, &buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRepoCARVerify reads and fully verifies the 10,000-record CAR in
// memory: townhall's VerifyCAR (hashes, commit signature, strict MST, every
// record DRISL-valid) against indigo's LoadRepoFromCAR plus
// Commit.VerifySignature (indigo does not check records).
func BenchmarkRepoCARVerify(b *testing.B) {
	c := loadRepoCorpus(b)
	ctx := context.Background()
	b.Run("townhall", func(b *testing.B) {
		b.SetBytes(int64(len(c.car)))
		b.ReportAllocs()
		cpu0 := cpuSeconds()
		defer func() { b.ReportMetric((cpuSeconds()-cpu0)*1e9/float64(b.N), "cpu-ns/op") }()
		for i := 0; i < b.N; i++ {
			if _, err := repo.VerifyCAR(ctx, bytes.NewReader(c.car), repo.VerifyOptions{Key: c.pub, DID: repoBenchDID}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("indigo", func(b *testing.B) {
		b.SetBytes(int64(len(c.car)))
		b.ReportAllocs()
		cpu0 := cpuSeconds()
		defer func() { b.ReportMetric((cpuSeconds()-cpu0)*1e9/float64(b.N), "cpu-ns/op") }()
		for i := 0; i < b.N; i++ {
			commit, _, err := indigorepo.LoadRepoFromCAR(ctx, bytes.NewReader(c.car))
			if err != nil {
				b.Fatal(err)
			}
			if err := commit.VerifySignature(c.pub); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRepoCARImport verifies the 10,000-record CAR and stores it as a
// new repository in a SQLite file (synchronous=FULL).
func BenchmarkRepoCARImport(b *testing.B) {
	c := loadRepoCorpus(b)
	b.Run("townhall", func(b *testing.B) {
		ctx := context.Background()
		b.SetBytes(int64(len(c.car)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dir := b.TempDir()
			b.StartTimer()
			s, err := repo.OpenSQLite(ctx, filepath.Join(dir, "imp.db"), repo.SQLiteOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := repo.Import(ctx, s, bytes.NewReader(c.car), nil, repo.VerifyOptions{Key: c.pub, DID: repoBenchDID}, repo.Options{}); err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	})
}

// BenchmarkRepoVerifyCommit verifies #commit events (1-4 creates each, on a
// 10,000-record repository) one at a time, cycling over 200 events.
// townhall: VerifyCommitEvent with the signature check (P-256).
// townhall-tables: the same with a repo.KeyTables shared by the events, as a
// consumer following the repository keeps one (the key's table is built
// from the first 17 events, checked in order, before the timer starts). townhall-nosig:
// the same without the signature, which is the work indigo's
// VerifyCommitMessage does (it checks no signature). indigo: VerifyCommitMessage
// on the same events, decoded from the same wire bytes.
func BenchmarkRepoVerifyCommit(b *testing.B) {
	c := loadRepoCorpus(b)
	ctx := context.Background()
	run := func(opts repo.CommitCheckOptions) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				if _, err := repo.VerifyCommitEvent(ctx, c.events[i%len(c.events)], opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((cpuSeconds()-cpu0)*1e9/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		}
	}
	b.Run("townhall", run(repo.CommitCheckOptions{Key: c.pub, DID: repoBenchDID}))
	b.Run("townhall-tables", func(b *testing.B) {
		opts := repo.CommitCheckOptions{Key: c.pub, DID: repoBenchDID, KeyTables: repo.NewKeyTables(0)}
		// The key earns its table as a consumer's would: from events
		// checked one after another against the state each gives.
		var known *repo.SyncState
		for i := 0; opts.KeyTables.Len() == 0; i++ {
			if i == len(c.events) {
				b.Fatal("no table after every event")
			}
			o := opts
			o.Known = known
			st, err := repo.VerifyCommitEvent(ctx, c.events[i], o)
			if err != nil {
				b.Fatal(err)
			}
			known = st
		}
		b.ResetTimer()
		run(opts)(b)
	})
	b.Run("townhall-nosig", run(repo.CommitCheckOptions{InsecureSkipSignature: true}))
	b.Run("indigo", func(b *testing.B) {
		msgs := make([]*comatproto.SyncSubscribeRepos_Commit, len(c.events))
		for i, ev := range c.events {
			data, err := drisl.Marshal(ev)
			if err != nil {
				b.Fatal(err)
			}
			var m comatproto.SyncSubscribeRepos_Commit
			if err := m.UnmarshalCBOR(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
			msgs[i] = &m
		}
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := cpuSeconds()
		for i := 0; i < b.N; i++ {
			if _, err := indigorepo.VerifyCommitMessage(ctx, msgs[i%len(msgs)]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric((cpuSeconds()-cpu0)*1e9/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
