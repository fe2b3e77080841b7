package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
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
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
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
	Batch    int
	Writers  int
	Seed     uint64
	CacheKiB int       // SQLite page cache per connection (0: the store's default)
	Out      io.Writer // the report (nil: discarded)
	Progress io.Writer // the progress bar (nil: none)
	profile  func(start bool)
	// heapProfile, if set, is called at the end of the import.
	heapProfile func()
}

// Report is what Run measured.
type Report struct {
	Messages     int
	Authors      int
	Requests     int // /repo/batch invocations
	Commits      int // distinct commits that carried them
	Records      int // message records found in the repo afterwards
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
	if o.Batch <= 0 {
		o.Batch = community.DefaultMaxBatchWrites
	}
	if o.Writers <= 0 {
		o.Writers = 64
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	rep := &Report{Messages: o.Messages, Authors: o.Authors}

	t0 := time.Now()
	export := generate(exportOptions{Messages: o.Messages, Authors: o.Authors, Seed: o.Seed})
	env, err := setup(ctx, o)
	if err != nil {
		return nil, err
	}
	defer env.close()
	rep.SetupTime = time.Since(t0)
	fmt.Fprintf(out, "setup: %d messages generated, community %s, %d authors joined, in %s\n",
		len(export), env.c.DID(), len(env.sessions), rep.SetupTime.Round(time.Millisecond))

	// Each author's messages in order, cut into batches.
	var batches [][]message
	pending := make([][]message, o.Authors)
	for _, m := range export {
		pending[m.Author] = append(pending[m.Author], m)
		if len(pending[m.Author]) == o.Batch {
			batches = append(batches, pending[m.Author])
			pending[m.Author] = nil
		}
	}
	for _, p := range pending {
		if len(p) > 0 {
			batches = append(batches, p)
		}
	}
	rep.Requests = len(batches)

	runtime.GC()
	rep.RSSMeasured = resetPeakRSS()
	rep.BaseRSSMiB = procStatusMiB("VmRSS:")
	cpu0 := cpuTime()
	if o.profile != nil {
		o.profile(true)
	}
	stopSampling := sampleGoMemory(&rep.GoPeakMiB)
	start := time.Now()
	commits, err := env.importBatches(ctx, batches, o)
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
	rep.Commits = commits

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
	if rep.Records != len(export) {
		return rep, fmt.Errorf("import: %d messages in the repo, want %d", rep.Records, len(export))
	}
	// What a message and its receipt weigh (the receipt names its batch's
	// invocation, stored once per batch as its own record).
	if recs, _, err := env.c.ListRecords(ctx, community.NSIDMessage, repo.ListOptions{Limit: 100}); err == nil {
		for _, r := range recs {
			rep.MessageBytes += len(r.Value)
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
		rss = fmt.Sprintf("%.1f MiB (RSS when it started: %.1f MiB, after generating the export and onboarding; memory held by the Go runtime at its peak: %.1f MiB; the rest is outside it: the binary's pages and SQLite's allocator)",
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

// importBatches sends the batches from o.Writers goroutines and returns
// the number of distinct commits that carried them.
func (e *env) importBatches(ctx context.Context, batches [][]message, o Options) (int, error) {
	total := 0
	for _, b := range batches {
		total += len(b)
	}
	bar := newProgress(o.Progress, total)
	queue := make(chan []message)
	var mu sync.Mutex
	commits := map[cid.Cid]bool{}
	var firstErr error
	var wg sync.WaitGroup
	for range o.Writers {
		wg.Go(func() {
			ws := make([]community.Write, 0, o.Batch)
			for b := range queue {
				ws = ws[:0]
				for _, m := range b {
					rec := map[string]any{"$type": community.NSIDMessage, "channel": m.Channel, "text": m.Text,
						"createdAt": m.At.Format("2006-01-02T15:04:05.000Z")}
					if m.ReplyTo != "" {
						rec["replyTo"] = m.ReplyTo
					}
					ws = append(ws, community.Write{Action: repo.ActionCreate, Collection: community.NSIDMessage, RKey: m.RKey, Record: rec})
				}
				req, err := e.sessions[b[0].Author].Batch(ws)
				var res *community.Result
				if err == nil {
					res, err = e.c.Invoke(ctx, req)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("import: batch of %s: %w", authorName(b[0].Author), err)
				}
				if res != nil {
					commits[res.Commit] = true
				}
				mu.Unlock()
				if err == nil {
					bar.add(len(b))
				}
			}
		})
	}
	for _, b := range batches {
		queue <- b
	}
	close(queue)
	wg.Wait()
	bar.done()
	return len(commits), firstErr
}

// env is the host, the community and the authors' sessions.
type env struct {
	srv      *httptest.Server
	host     *community.Host
	c        *community.Community
	sessions []*community.Session
	closers  []func() error
}

func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.srv.Close()
}

// setup starts an in-process did:plc directory and a host on SQLite,
// creates the community with an open member role, and joins every author
// (a service-auth JWT signed by the author's PDS key, a session key).
func setup(ctx context.Context, o Options) (*env, error) {
	e := &env{}
	e.srv = httptest.NewServer(plc.NewDirectory(plc.DirectoryOptions{}))
	ids := identity.NewMockDirectory()
	pdsKeys := map[string]*atcrypto.PrivateKeyP256{}
	store, err := repo.OpenSQLite(ctx, filepath.Join(o.Dir, "host.db"), repo.SQLiteOptions{CacheKiB: o.CacheKiB})
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
		PLC: plc.NewClient(e.srv.URL, plc.ClientOptions{}), Identity: ids})
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
		proof, err := community.NewJoinProof(key, communityDID, did, jwt, time.Now().Add(time.Minute))
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
	e.sessions = make([]*community.Session, o.Authors)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range o.Authors {
		jr, key, err := login(authorName(i), e.c.DID(), e.c.DID())
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
				firstErr = fmt.Errorf("import: join %s: %w", authorName(i), err)
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
