package main

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/community"
	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// maxBatch bounds -batch: the host this command runs accepts /repo/batch
// invocations of up to maxBatch writes (community.Limits.MaxBatchWrites);
// a 256-write invocation is about 35 KB, under UCAN's 64 KiB token limit.
const maxBatch = 256

// Signers: who signs the import's invocations (Options.Signers).
const (
	// SignImporter: one member of the community, the importer, writes the
	// whole export; each message names its export author in its origin.
	SignImporter = "importer"
	// SignAuthors: every export author joins and writes their own messages.
	SignAuthors = "authors"
)

// Defaults per signer mode (Options.Batch, Writers, Window 0). The
// importer sends maxBatch-write invocations, cut from the timeline in
// order, from a few goroutines; authors send 64-write invocations (more
// than community.DefaultMaxBatchWrites, which the host is configured to
// accept) from 64, and every author's unfinished batch every 4096
// messages (see the package doc).
const (
	importerBatch   = maxBatch
	importerWriters = 8
	authorsBatch    = 64
	authorsWriters  = 64
	authorsWindow   = 4096
)

// Goals of issue 10, and Roomy's figures for the same import.
const (
	goalSeconds  = 1.0
	goalMiB      = 64
	roomySeconds = 27.3
	roomyMiB     = 65
)

// Options configures Run; zero values mean the defaults of the command.
type Options struct {
	Dir      string // SQLite files (required)
	Messages int
	Authors  int
	// Signers is SignImporter (""), or SignAuthors.
	Signers string
	Batch   int // writes per invocation (0: the mode's default)
	Writers int // client goroutines (0: the mode's default)
	// Window, for SignAuthors, is how many messages of the timeline are
	// read before every author's unfinished batch is sent (0: 4096;
	// negative: never).
	Window int
	Seed   uint64
	// CacheKiB is SQLite's page cache per connection (0: 1024; negative:
	// the store's default).
	CacheKiB int
	// PageSize is the SQLite file's page size in bytes (0: 8192, which
	// writes half the WAL frames of SQLite's 4096; negative: the store's
	// default, repo.DefaultSQLitePageSize).
	PageSize int
	// MemLimitMiB is the Go runtime's soft memory limit during the import
	// (0: 40; negative: none; an explicit GOMEMLIMIT wins).
	MemLimitMiB int
	// GCPercent is the Go runtime's GC percent during the import (0: 200;
	// negative: the runtime's, 100 or GOGC). Under the soft memory limit the
	// heap can grow to two or three times the 9-13 MB that stays live, so
	// the GC runs a third less often than at 100.
	GCPercent int
	// BlockCacheKiB bounds the host's block cache
	// (community.HostOptions.BlockCacheBytes; 0: the default, negative: none).
	BlockCacheKiB int
	Out           io.Writer // the report (nil: discarded)
	Progress      io.Writer // the progress bar (nil: none)
	profile       func(start bool)
	// heapProfile, if set, is called at the end of the import.
	heapProfile func()
}

// Report is what Run measured.
type Report struct {
	Messages     int
	Authors      int
	Signers      string // Options.Signers
	Requests     int    // /repo/batch invocations
	Commits      int    // distinct commits that carried them
	Records      int    // message records found in the repo afterwards
	SetupTime    time.Duration
	ImportTime   time.Duration
	CPUTime      time.Duration // process CPU time during the import
	PeakRSSMiB   float64       // VmHWM during the import (reset before it)
	BaseRSSMiB   float64       // VmRSS just before the import
	GoPeakMiB    float64       // the Go runtime's peak mapped memory (sampled), for where the RSS goes
	MessageBytes int           // mean DRISL size of a message (first 100)
	ReceiptBytes int           // mean DRISL size of their receipts
	MetTime      bool
	MetMemory    bool
	RSSMeasured  bool
}

// Run generates the export, onboards its authors and imports it.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Dir == "" {
		return nil, errors.New("import: Options.Dir is required")
	}
	if o.Messages <= 0 {
		o.Messages = 54930
	}
	if o.Authors <= 0 {
		o.Authors = 120
	}
	switch o.Signers {
	case "", SignImporter:
		if o.Window != 0 {
			return nil, errors.New("import: a window applies to -signers authors only: the importer sends the timeline in order")
		}
		o.Signers = SignImporter
		o.Batch = cmp.Or(o.Batch, importerBatch)
		o.Writers = cmp.Or(o.Writers, importerWriters)
		o.Window = -1
	case SignAuthors:
		o.Batch = cmp.Or(o.Batch, authorsBatch)
		o.Writers = cmp.Or(o.Writers, authorsWriters)
		o.Window = cmp.Or(o.Window, authorsWindow)
	default:
		return nil, fmt.Errorf("import: Options.Signers is %q, want %q or %q", o.Signers, SignImporter, SignAuthors)
	}
	if o.Batch < 0 || o.Batch > maxBatch || o.Writers < 0 {
		return nil, fmt.Errorf("import: batch %d (1-%d) or writers %d out of range", o.Batch, maxBatch, o.Writers)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.CacheKiB == 0 {
		o.CacheKiB = 1024
	}
	if o.PageSize == 0 {
		o.PageSize = 8192
	}
	if o.MemLimitMiB == 0 {
		o.MemLimitMiB = 40
	}
	if o.GCPercent == 0 {
		o.GCPercent = 200
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	rep := &Report{Messages: o.Messages, Authors: o.Authors, Signers: o.Signers}

	t0 := time.Now()
	env, err := setup(ctx, o)
	if err != nil {
		return nil, err
	}
	defer env.close()
	rep.SetupTime = time.Since(t0)
	joined := "the importer joined (the export's authors are data in each message's origin)"
	if o.Signers == SignAuthors {
		joined = fmt.Sprintf("%d authors joined", len(env.sessions))
	}
	fmt.Fprintf(out, "setup: community %s, %s, in %s\n", env.c.DID(), joined, rep.SetupTime.Round(time.Millisecond))

	// The import starts from what a long-running host would hold: the
	// setup's garbage collected and its freed memory returned to the OS.
	memLimit := "none"
	if o.MemLimitMiB > 0 && os.Getenv("GOMEMLIMIT") == "" {
		prev := debug.SetMemoryLimit(int64(o.MemLimitMiB) << 20)
		defer debug.SetMemoryLimit(prev)
		memLimit = fmt.Sprintf("%d MiB", o.MemLimitMiB)
	} else if v := os.Getenv("GOMEMLIMIT"); v != "" {
		memLimit = "GOMEMLIMIT=" + v
	}
	gcPercent := "the runtime's"
	if o.GCPercent > 0 {
		defer debug.SetGCPercent(debug.SetGCPercent(o.GCPercent))
		gcPercent = strconv.Itoa(o.GCPercent)
	}
	cacheKiB := "the store's default"
	if o.CacheKiB > 0 {
		cacheKiB = fmt.Sprintf("%d KiB", o.CacheKiB)
	}
	pageSize := repo.DefaultSQLitePageSize
	if o.PageSize > 0 {
		pageSize = o.PageSize
	}
	batches := "the timeline cut in order"
	if o.Signers == SignAuthors {
		batches = "each author's messages, unfinished batches sent never"
		if o.Window > 0 {
			batches = fmt.Sprintf("each author's messages, unfinished batches sent every %d messages", o.Window)
		}
	}
	blockCache := "the host's default"
	if o.BlockCacheKiB < 0 {
		blockCache = "none"
	} else if o.BlockCacheKiB > 0 {
		blockCache = fmt.Sprintf("%d KiB", o.BlockCacheKiB)
	}
	fmt.Fprintf(out, "config: signed by %s; batches of up to %d writes (%s), %d writers, SQLite pages of %d bytes and a page cache of %s per connection, host block cache %s, Go soft memory limit %s, GC percent %s\n",
		o.Signers, o.Batch, batches, o.Writers, pageSize, cacheKiB, blockCache, memLimit, gcPercent)
	debug.FreeOSMemory()
	rep.RSSMeasured = resetPeakRSS()
	rep.BaseRSSMiB = procStatusMiB("VmRSS:")
	cpu0 := cpuTime()
	if o.profile != nil {
		o.profile(true)
	}
	stopSampling := sampleGoMemory(&rep.GoPeakMiB)
	start := time.Now()
	commits, requests, err := env.importExport(ctx, newExporter(exportOptions{Messages: o.Messages, Authors: o.Authors, Seed: o.Seed}), o)
	rep.ImportTime = time.Since(start)
	if o.profile != nil {
		o.profile(false)
	}
	stopSampling()
	rep.CPUTime = cpuTime() - cpu0
	if o.heapProfile != nil {
		o.heapProfile()
	}
	rep.PeakRSSMiB = procStatusMiB("VmHWM:")
	if err != nil {
		return rep, err
	}
	rep.Commits, rep.Requests = commits, requests

	// Check: every message is in the repo.
	err = env.c.Repo().Tree().Walk(ctx, func(k string, _ cid.Cid) error {
		if strings.HasPrefix(k, community.NSIDMessage+"/") {
			rep.Records++
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if rep.Records != o.Messages {
		return rep, fmt.Errorf("import: %d messages in the repo, want %d", rep.Records, o.Messages)
	}
	// What a message and its receipt weigh (the receipt names its batch's
	// invocation, stored once per batch as its own record).
	if recs, _, err := env.c.ListRecords(ctx, community.NSIDMessage, repo.ListOptions{Limit: 100}); err == nil {
		for _, r := range recs {
			rep.MessageBytes += len(r.Value)
			var m chatMessage
			if err := drisl.Unmarshal(r.Value, &m); err != nil {
				return rep, fmt.Errorf("import: message %s: %w", r.RKey, err)
			}
			if (m.Origin != nil && m.Origin.Author != "") != (o.Signers == SignImporter) {
				return rep, fmt.Errorf("import: message %s has origin %+v, signed by %s", r.RKey, m.Origin, o.Signers)
			}
			_, rb, err := env.c.GetRecord(ctx, community.NSIDReceipt, community.ReceiptKey(r.Collection+"/"+r.RKey))
			if err != nil {
				return rep, fmt.Errorf("import: receipt of %s: %w", r.RKey, err)
			}
			rep.ReceiptBytes += len(rb)
		}
		if len(recs) > 0 {
			rep.MessageBytes /= len(recs)
			rep.ReceiptBytes /= len(recs)
		}
	}
	rep.MetTime = rep.ImportTime.Seconds() <= goalSeconds
	rep.MetMemory = rep.RSSMeasured && rep.PeakRSSMiB <= goalMiB

	secs := rep.ImportTime.Seconds()
	fmt.Fprintf(out, "imported %d messages (%d /repo/batch invocations of up to %d writes, %d commits, %d writers) in %.2f s: %.0f messages/s, %.2f s CPU\n",
		rep.Records, rep.Requests, o.Batch, rep.Commits, o.Writers, secs, float64(rep.Records)/secs, rep.CPUTime.Seconds())
	fmt.Fprintf(out, "every message checked: UCAN chain, lexicon, receipt, durable commit; all %d found in the repo afterwards\n", rep.Records)
	fmt.Fprintf(out, "a message is %d bytes of DRISL on average, its receipt %d (shared by its batch; the batch's invocation is stored once beside it)\n", rep.MessageBytes, rep.ReceiptBytes)
	rss := "unavailable (no /proc/self/status)"
	if rep.RSSMeasured {
		rss = fmt.Sprintf("%.1f MiB (RSS when it started: %.1f MiB, after onboarding; memory held by the Go runtime at its peak: %.1f MiB; the rest is outside it: the binary's pages and SQLite's allocator)",
			rep.PeakRSSMiB, rep.BaseRSSMiB, rep.GoPeakMiB)
	}
	fmt.Fprintf(out, "peak RSS during the import (VmHWM): %s\n", rss)
	fmt.Fprintf(out, "Roomy's server: %.1f s, %d MiB -> %s, %s\n", roomySeconds, roomyMiB, speedRatio(secs), memRatio(rep))
	fmt.Fprintf(out, "goal ≤ %.1f s import time: %s; goal ≤ %d MiB peak RSS: %s\n", goalSeconds, verdict(rep.MetTime), goalMiB, verdict(rep.MetMemory))
	return rep, nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func speedRatio(secs float64) string {
	if secs <= roomySeconds {
		return fmt.Sprintf("%.1f× faster", roomySeconds/secs)
	}
	return fmt.Sprintf("%.1f× slower", secs/roomySeconds)
}

func memRatio(r *Report) string {
	if !r.RSSMeasured {
		return "memory not measured"
	}
	return fmt.Sprintf("%.0f%% of its memory", 100*r.PeakRSSMiB/roomyMiB)
}

// importExport reads the export, cuts it into batches of o.Batch, sends
// them from o.Writers goroutines, and returns the number of distinct
// commits that carried them and of batches. The importer's batches are
// the timeline in order; an author's are their own messages, in order.
// Only the unfinished batches are held, never the whole export.
func (e *env) importExport(ctx context.Context, ex *exporter, o Options) (commits, requests int, err error) {
	bar := newProgress(o.Progress, ex.o.Messages)
	queue := make(chan []message, o.Writers)
	var mu sync.Mutex
	seen := map[cid.Cid]bool{}
	var firstErr error
	var wg sync.WaitGroup
	for range o.Writers {
		wg.Go(func() {
			ws := make([]community.Write, 0, o.Batch)
			for b := range queue {
				ws = ws[:0]
				signer := 0
				for _, m := range b {
					rec := &chatMessage{Type: community.NSIDMessage, Channel: m.Channel, Text: m.Text,
						CreatedAt: datetime(m.At), ReplyTo: m.ReplyTo}
					if o.Signers == SignImporter {
						rec.Origin = &chatOrigin{Source: exportSource, Author: m.Name}
					} else {
						signer = m.Author
					}
					ws = append(ws, community.Write{Action: repo.ActionCreate, Collection: community.NSIDMessage, RKey: m.RKey, Record: rec})
				}
				req, err := e.sessions[signer].Batch(ws)
				var res *community.Result
				if err == nil {
					res, err = e.c.Invoke(ctx, req)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("import: batch of %s from %s: %w", ws[0].RKey, e.names[signer], err)
				}
				if res != nil {
					seen[res.Commit] = true
				}
				mu.Unlock()
				if err == nil {
					bar.add(len(b))
				}
			}
		})
	}
	// A batch is cut per author, or, for the importer, from the whole
	// timeline (one slot; its Window is negative: only full batches).
	slot := func(m message) int { return m.Author }
	pending := make([][]message, ex.o.Authors)
	if o.Signers == SignImporter {
		slot, pending = func(message) int { return 0 }, make([][]message, 1)
	}
	flush := func() {
		for a, p := range pending {
			if len(p) > 0 {
				queue <- p
				requests++
				pending[a] = nil
			}
		}
	}
	n := 0
	for m, ok := ex.next(); ok; m, ok = ex.next() {
		a := slot(m)
		if pending[a] = append(pending[a], m); len(pending[a]) == o.Batch {
			queue <- pending[a]
			requests++
			pending[a] = nil
		}
		if n++; o.Window > 0 && n%o.Window == 0 {
			flush()
		}
	}
	flush()
	close(queue)
	wg.Wait()
	bar.done()
	return len(seen), requests, firstErr
}

// chatMessage is a dev.townhall.chat.message record as the importer
// encodes it: a struct, which package drisl encodes faster than the
// equivalent map (its keys are sorted once per type, not once per record);
// the bytes are the same.
type chatMessage struct {
	Type      string      `cbor:"$type"`
	Channel   string      `cbor:"channel"`
	Text      string      `cbor:"text"`
	ReplyTo   string      `cbor:"replyTo,omitempty"`
	CreatedAt string      `cbor:"createdAt"`
	Origin    *chatOrigin `cbor:"origin,omitempty"`
}

// chatOrigin is a message's origin: its author in the export, which the
// importer, the record's verified author, claims.
type chatOrigin struct {
	Source string `cbor:"source,omitempty"`
	Author string `cbor:"author"`
}

// exportSource names the generated export in each imported message's
// origin; importerName is the member who imports it.
const (
	exportSource = "generated chat export"
	importerName = "importer"
)

// env is the host, the community and the authors' sessions.
type env struct {
	host     *community.Host
	c        *community.Community
	sessions []*community.Session
	names    []string // of the sessions' members
	closers  []func() error
}

func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// setup starts an in-process did:plc directory (called through
// plc.HandlerTransport: no port) and a host on SQLite,
// creates the community with an open member role, and joins every author
// (a service-auth JWT signed by the author's PDS key, a session key).
func setup(ctx context.Context, o Options) (*env, error) {
	e := &env{}
	plcClient := plc.NewDirectory(plc.DirectoryOptions{}).Client(plc.ClientOptions{})
	ids := identity.NewMockDirectory()
	pdsKeys := map[string]*atcrypto.PrivateKeyP256{}
	store, err := repo.OpenSQLite(ctx, filepath.Join(o.Dir, "host.db"), repo.SQLiteOptions{CacheKiB: o.CacheKiB, PageSize: max(o.PageSize, 0)})
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, store.Close)
	signing, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		return nil, err
	}
	rotation, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		return nil, err
	}
	e.host, err = community.NewHost(ctx, community.HostOptions{Store: store, SigningKey: signing, RotationKey: rotation,
		Endpoint: "https://host.example", ServiceDID: "did:web:host.example",
		PLC: plcClient, Identity: ids, BlockCacheBytes: o.BlockCacheKiB << 10,
		Limits: community.Limits{MaxBatchWrites: max(o.Batch, community.DefaultMaxBatchWrites)}})
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, e.host.Close)
	login := func(name, aud, communityDID string) (community.JoinRequest, *ucan.KeySigner, error) {
		did := "did:plc:" + (name + "aaaaaaaaaaaaaaaaaaaaaaaa")[:24]
		k, err := atcrypto.GeneratePrivateKeyP256()
		if err != nil {
			return community.JoinRequest{}, nil, err
		}
		pub, _ := k.PublicKey()
		ids.Insert(identity.Identity{DID: syntax.DID(did), Handle: syntax.Handle(name + ".test"),
			Keys: map[string]identity.VerificationMethod{"atproto": {Type: "Multikey", PublicKeyMultibase: pub.Multibase()}}})
		pdsKeys[did] = k
		lxm := syntax.NSID(community.LXMJoin)
		if communityDID == "" {
			lxm = community.LXMCreate
		}
		jwt, err := auth.SignServiceAuth(syntax.DID(did), aud, time.Minute, &lxm, k)
		if err != nil {
			return community.JoinRequest{}, nil, err
		}
		_, priv, _ := ed25519.GenerateKey(nil)
		key, err := ucan.NewEd25519Signer(priv)
		if err != nil {
			return community.JoinRequest{}, nil, err
		}
		proof, err := community.NewJoinProof(key, community.JoinProofFields{Community: communityDID, Member: did,
			ServiceAuth: jwt, Expiration: time.Now().Add(time.Minute)})
		if err != nil {
			return community.JoinRequest{}, nil, err
		}
		return community.JoinRequest{ServiceAuth: jwt, Proof: proof}, key, nil
	}
	recovery, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		return nil, err
	}
	recPub, _ := recovery.PublicKey()
	fjr, _, err := login("founder", "did:web:host.example", "")
	if err != nil {
		return nil, err
	}
	e.c, err = e.host.Create(ctx, community.CreateOptions{Name: "Imported chat", RecoveryKeys: []string{recPub.DIDKey()},
		Founders: []community.JoinRequest{fjr}, JoinRole: "member",
		Roles: []community.Role{{Name: "member", Collections: []string{"dev.townhall.chat.*"}}}})
	if err != nil {
		return nil, err
	}
	names := []string{importerName}
	if o.Signers == SignAuthors {
		names = make([]string, o.Authors)
		for i := range names {
			names[i] = authorName(i)
		}
	}
	e.sessions, e.names = make([]*community.Session, len(names)), names
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i, name := range names {
		jr, key, err := login(name, e.c.DID(), e.c.DID())
		if err != nil {
			return nil, err
		}
		wg.Go(func() {
			m, err := e.c.Join(ctx, jr)
			var s *community.Session
			if err == nil {
				s, err = community.NewSession(m, key)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("import: join %s: %w", name, err)
			}
			e.sessions[i] = s
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return e, nil
}

// progress draws a bar on w (a terminal's stderr), redrawn at each 2%.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	total int
	n     int
	shown int
	start time.Time
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, shown: -1, start: time.Now()}
	p.draw()
	return p
}

func (p *progress) add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += n
	if step := p.n * 50 / p.total; step != p.shown {
		p.draw()
	}
}

func (p *progress) draw() {
	if p.w == nil {
		return
	}
	step := p.n * 50 / p.total
	p.shown = step
	fmt.Fprintf(p.w, "\r[%s%s] %6d/%d messages %5.1fs", strings.Repeat("#", step), strings.Repeat(".", 50-step),
		p.n, p.total, time.Since(p.start).Seconds())
}

func (p *progress) done() {
	if p.w != nil {
		fmt.Fprintln(p.w)
	}
}

// sampleGoMemory records the peak of the Go runtime's memory (heap,
// stacks and runtime structures, as mapped from the OS minus what it
// released) every 20 ms until the returned function is called.
func sampleGoMemory(peak *float64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	read := func() {
		metrics.Read(samples)
		mib := float64(samples[0].Value.Uint64()-samples[1].Value.Uint64()) / (1 << 20)
		if mib > *peak {
			*peak = mib
		}
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			read()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		read()
	}
}

// resetPeakRSS resets VmHWM to the current RSS (Linux clear_refs 5); it
// reports whether the platform has it.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// procStatusMiB returns a field of /proc/self/status in MiB (VmHWM: the
// peak resident set; VmRSS: the current one), or 0.
func procStatusMiB(field string) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}
