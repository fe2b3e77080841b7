package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	indigorepo "github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/community"
	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// MinMessages is the fewest messages Run accepts: enough for a private
// message and a public message of alice's to exist with the default seed.
const MinMessages = 32

// Options configures Run. The zero value of each field means its default.
type Options struct {
	// Dir holds the SQLite files (hosts, private audiences, directory).
	// Required; Run never removes it.
	Dir string
	// Messages is how many chat messages the members write (default 1000);
	// about one in eight goes to the private channel.
	Messages int
	// Writers is how many client goroutines send them at once (default 16).
	Writers int
	// Seed makes the generated conversation reproducible (default 1).
	Seed uint64
	// Out receives the account of each step (nil: discarded).
	Out io.Writer
	// Now is the clock of the directory, the hosts and the clients (their
	// sessions and join proofs) (nil: time.Now). Service-auth JWTs are
	// signed and checked against the real time (indigo's).
	Now func() time.Time

	// fault, in tests, sabotages one step's action (not its check) so
	// that the check must catch it: "revoke" skips the revocation,
	// "export" flips a byte of the CAR, "authorship" signs the bundle's
	// claim with the wrong author, "migrate" leaves the hostile operation
	// in place.
	fault string
}

// Report holds what each step measured and checked.
type Report struct {
	DID             string
	Channels        []string
	PublicMessages  int // public messages found by listing the repo
	PrivateMessages int // private messages a reader of the audience sees
	Commits         int // commits (sync events) on the first host
	RevokedErr      error
	CARBytes        int
	CARRecords      int
	PrivateInCAR    bool
	BundleBytes     int
	BundleAuthor    string
	TamperErr       error
	HostileOp       string
	MigratedTo      string
	NewHostWrites   int
	Steps           []Step
}

// Step is one step of the account: its name and how long it took.
type Step struct {
	Name     string
	Duration time.Duration
}

type member struct {
	name string
	did  string
	key  *ucan.KeySigner
	sess *community.Session
}

// runner carries the state shared by the steps.
type runner struct {
	opts      Options
	out       io.Writer
	w         *world
	rep       *Report
	host1     *community.Host
	keys1     hostKeys
	c         *community.Community
	founder   *member
	mod       *member
	people    []*member // alice, bob, carol
	byName    map[string]*member
	recov     *atcrypto.PrivateKeyP256
	car       []byte
	stage     []byte // the private channel's backup (an insider's audience CAR)
	secret    string // text of one private message, which must never be public
	sample    string // rkey of one of alice's public messages
	bobSample string // and of one of bob's
}

const (
	private     = "staff"
	nsidMessage = community.NSIDMessage
	nsidChannel = community.NSIDChannel
)

var roles = []community.Role{
	{Name: "member", Collections: []string{"dev.townhall.chat.*"}},
	{Name: "insider", Collections: []string{"dev.townhall.chat.*"}, Audiences: []string{private}},
	{Name: "moderator", Moderator: true},
}

// Run plays the whole story on a fresh directory and returns what it
// measured. It returns an error as soon as a step's check fails.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Dir == "" {
		return nil, errors.New("chatspace: Options.Dir is required")
	}
	if opts.Messages == 0 {
		opts.Messages = 1000
	}
	if opts.Messages < MinMessages {
		return nil, fmt.Errorf("chatspace: Options.Messages is %d; the story needs at least %d (public and private messages by every member)", opts.Messages, MinMessages)
	}
	if opts.Writers <= 0 {
		opts.Writers = 16
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &runner{opts: opts, out: opts.Out, rep: &Report{}, byName: map[string]*member{}}
	if r.out == nil {
		r.out = io.Discard
	}
	w, err := newWorld(ctx, opts.Dir, opts.Now)
	if err != nil {
		return nil, fmt.Errorf("chatspace: %w", err)
	}
	defer w.close()
	r.w = w
	start := time.Now()
	steps := []struct {
		name string
		f    func(context.Context) (string, error)
	}{
		{"create", r.create},
		{"onboard", r.onboard},
		{"write", r.write},
		{"revoke", r.revoke},
		{"export", r.export},
		{"authorship", r.authorship},
		{"migrate", r.migrate},
	}
	for i, s := range steps {
		t0 := time.Now()
		detail, err := s.f(ctx)
		d := time.Since(t0)
		if err != nil {
			fmt.Fprintf(r.out, "%d. %s FAILED after %s: %v\n", i+1, s.name, round(d), err)
			return r.rep, fmt.Errorf("chatspace: step %s: %w", s.name, err)
		}
		r.rep.Steps = append(r.rep.Steps, Step{s.name, d})
		fmt.Fprintf(r.out, "%d. %s (%s)\n", i+1, s.name, round(d))
		for _, l := range strings.Split(detail, "\n") {
			fmt.Fprintf(r.out, "   %s\n", l)
		}
	}
	fmt.Fprintf(r.out, "all %d steps checked in %s: %d messages (%d private), %d commits on host1, CAR %s with %d records, bundle %s, migrated to %s\n",
		len(steps), round(time.Since(start)), r.rep.PublicMessages+r.rep.PrivateMessages, r.rep.PrivateMessages, r.rep.Commits,
		size(r.rep.CARBytes), r.rep.CARRecords, size(r.rep.BundleBytes), r.rep.MigratedTo)
	return r.rep, nil
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(10 * time.Millisecond)
	case d > time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// create: a host on SQLite, the founder's recovery key, and the community
// with its did:plc in the directory.
func (r *runner) create(ctx context.Context) (string, error) {
	var err error
	if r.host1, r.keys1, err = r.w.newHost(ctx, "host1"); err != nil {
		return "", err
	}
	if r.recov, err = atcrypto.GeneratePrivateKeyP256(); err != nil {
		return "", err
	}
	recPub, err := r.recov.PublicKey()
	if err != nil {
		return "", err
	}
	founderDID, err := r.w.account("ada")
	if err != nil {
		return "", err
	}
	jr, key, err := r.w.login(founderDID, "did:web:host1.example", "")
	if err != nil {
		return "", err
	}
	r.c, err = r.host1.Create(ctx, community.CreateOptions{
		Name: "Gardeners", Description: "A chat space for people who grow things.",
		RecoveryKeys: []string{recPub.DIDKey()}, Founders: []community.JoinRequest{jr},
		Roles: roles, JoinRole: "member",
	})
	if err != nil {
		return "", err
	}
	r.rep.DID = r.c.DID()
	// Check what the directory now says about the DID.
	data, err := r.w.plc.Data(ctx, r.c.DID())
	if err != nil {
		return "", err
	}
	switch {
	case data.PDSEndpoint() != "https://host1.example":
		return "", fmt.Errorf("the DID's endpoint is %q, not host1", data.PDSEndpoint())
	case len(data.RotationKeys) != 2 || data.RotationKeys[0] != recPub.DIDKey():
		return "", fmt.Errorf("the recovery key is not the first rotation key: %v", data.RotationKeys)
	case data.RotationKeys[1] != didKey(r.keys1.rotation):
		return "", fmt.Errorf("host1's rotation key is not the last rotation key: %v", data.RotationKeys)
	case data.VerificationMethods["atproto"] != r.host1.SigningKeyDID():
		return "", errors.New("the DID's signing key is not host1's")
	}
	m, err := r.c.Membership(ctx, key.DID())
	if err != nil {
		return "", err
	}
	sess, err := community.NewSession(m, key)
	if err != nil {
		return "", err
	}
	// The founder holds a root delegation of "/" from the community.
	if len(m.Grants) == 0 || m.Grants[0].Command != "/" {
		return "", errors.New("the founder holds no root delegation")
	}
	sess.Now = r.opts.Now
	r.founder = &member{name: "ada", did: founderDID, key: key, sess: sess}
	r.byName["ada"] = r.founder
	return fmt.Sprintf("%s on host1 (SQLite); directory: %s\nrotation keys: [founders' recovery key, host1's key]; atproto key: host1's; founder ada holds \"/\"",
		r.c.DID(), hostOf(r.w.plcURL)), nil
}

func didKey(k *atcrypto.PrivateKeyP256) string {
	pub, err := k.PublicKey()
	if err != nil {
		return ""
	}
	return pub.DIDKey()
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Host + " (in process, SQLite)"
}

// onboard: the founder invites mo as moderator; mo invites alice and bob as
// insiders (they may read and write the private channel); carol joins
// through the open member role. The moderator creates the private audience
// and the channels.
func (r *runner) onboard(ctx context.Context) (string, error) {
	for _, p := range []struct {
		name string
		role *community.Role
	}{{"mo", &roles[2]}, {"alice", &roles[1]}, {"bob", &roles[1]}, {"carol", nil}} {
		did, err := r.w.account(p.name)
		if err != nil {
			return "", err
		}
		jr, key, err := r.w.login(did, r.c.DID(), r.c.DID())
		if err != nil {
			return "", err
		}
		inviter := r.mod
		if p.name == "mo" {
			inviter = r.founder
		}
		if p.role != nil {
			if jr.Invite, err = inviter.sess.Invite(key.DID(), did, *p.role, time.Time{}); err != nil {
				return "", err
			}
		}
		m, err := r.c.Join(ctx, jr)
		if err != nil {
			return "", fmt.Errorf("join %s: %w", p.name, err)
		}
		if m.Member != did || m.SessionKey != key.DID() || len(m.Grants) == 0 {
			return "", fmt.Errorf("join %s: unexpected membership %+v", p.name, m)
		}
		sess, err := community.NewSession(m, key)
		if err != nil {
			return "", err
		}
		sess.Now = r.opts.Now
		mb := &member{name: p.name, did: did, key: key, sess: sess}
		r.byName[p.name] = mb
		if p.name == "mo" {
			if m.Grants[0].Command != "/" || len(m.Grants[0].Chain) != 2 {
				return "", fmt.Errorf("mo's grant is %s with a chain of %d, want \"/\" from the founder", m.Grants[0].Command, len(m.Grants[0].Chain))
			}
			r.mod = mb
			continue
		}
		r.people = append(r.people, mb)
	}
	if g := r.byName["carol"].sess.Membership.Grants; len(g) != 1 || g[0].Command != "/repo" || len(g[0].Chain) != 1 {
		return "", fmt.Errorf("carol's open-join grants: %+v", g)
	}
	// A member without the insider role holds no grant to read the audience.
	if _, err := r.byName["carol"].sess.Read(private); err == nil {
		return "", errors.New("carol's session can read the private channel")
	}
	if _, err := invoke(ctx, r.c)(r.mod.sess.CreateAudience(private, "insider")); err != nil {
		return "", err
	}
	r.rep.Channels = []string{"general", "seeds", "compost", private}
	var ws []community.Write
	for _, ch := range r.rep.Channels {
		rec := map[string]any{"$type": nsidChannel, "name": ch, "createdAt": r.ts(0)}
		if ch == private {
			rec["audience"] = private
		}
		ws = append(ws, community.Write{Action: repo.ActionCreate, Collection: nsidChannel, RKey: ch, Record: rec})
	}
	if _, err := invoke(ctx, r.c)(r.mod.sess.Batch(ws)); err != nil {
		return "", err
	}
	return fmt.Sprintf("mo invited by ada as moderator (\"/\", chain of 2); alice, bob invited by mo as insiders; carol joined by the open member role\nservice-auth JWTs from each member's PDS key, Ed25519 session keys; channels: %s (private)",
		strings.Join(r.rep.Channels[:3], ", ")+", "+private), nil
}

// invoke returns a function that sends to c a request a client just
// signed (or reports why it could not be signed):
// invoke(ctx, c)(sess.Create(...)).
func invoke(ctx context.Context, c *community.Community) func(*community.Request, error) (*community.Result, error) {
	return func(req *community.Request, err error) (*community.Result, error) {
		if err != nil {
			return nil, fmt.Errorf("signing the request: %w", err)
		}
		return c.Invoke(ctx, req)
	}
}

// read is invoke for an /audience/read.
func read(ctx context.Context, c *community.Community) func(*community.Request, error) (*community.AudienceView, error) {
	return func(req *community.Request, err error) (*community.AudienceView, error) {
		if err != nil {
			return nil, fmt.Errorf("signing the request: %w", err)
		}
		return c.ReadAudience(ctx, req)
	}
}

func (r *runner) ts(i int) string {
	return time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * 37 * time.Second).Format("2006-01-02T15:04:05.000Z")
}

var phrases = []string{
	"the tomatoes finally ripened", "anyone have spare bean seeds?", "compost is too wet again",
	"frost tonight, cover the lettuce", "the bees are back in the lavender", "who took the good trowel",
	"sowing carrots this weekend", "slugs ate every seedling", "garlic goes in before the first frost",
	"swap meet on saturday", "the rain barrel overflowed", "pumpkins the size of a chair",
}

type job struct {
	i       int
	author  *member
	channel string
	rkey    string
	text    string
}

// write: the members send the messages from several goroutines at once;
// the community's writer folds concurrent requests into shared commits.
func (r *runner) write(ctx context.Context) (string, error) {
	rng := rand.New(rand.NewPCG(r.opts.Seed, 2))
	tids := syntax.NewTIDClock(1)
	writers := []*member{r.mod, r.people[0], r.people[1], r.people[2]}
	insiders := []*member{r.mod, r.people[0], r.people[1]}
	jobs := make([]job, r.opts.Messages)
	nPrivate := 0
	for i := range jobs {
		j := job{i: i, rkey: tids.Next().String()}
		if i%8 == 5 {
			j.channel, j.author = private, insiders[rng.IntN(len(insiders))]
			nPrivate++
		} else {
			j.channel, j.author = r.rep.Channels[rng.IntN(3)], writers[rng.IntN(len(writers))]
		}
		j.text = fmt.Sprintf("%s (#%d)", phrases[rng.IntN(len(phrases))], i)
		jobs[i] = j
	}
	r.secret = jobs[5].text // i%8 == 5: private
	for _, j := range jobs {
		if j.channel == private {
			continue
		}
		if j.author == r.people[0] && r.sample == "" {
			r.sample = j.rkey
		}
		if j.author == r.people[1] && r.bobSample == "" {
			r.bobSample = j.rkey
		}
	}
	if r.sample == "" || r.bobSample == "" {
		return "", errors.New("the generated conversation lacks a public message of alice's or bob's: use more messages or another seed")
	}
	t0 := time.Now()
	queue := make(chan job)
	var mu sync.Mutex
	var firstErr error
	commits := map[cid.Cid]bool{}
	var wg sync.WaitGroup
	for range r.opts.Writers {
		wg.Go(func() {
			for j := range queue {
				rec := map[string]any{"$type": nsidMessage, "channel": j.channel, "text": j.text, "createdAt": r.ts(j.i)}
				var req *community.Request
				var err error
				if j.channel == private {
					rec["nonce"] = community.NewNonce()
					req, err = j.author.sess.Private(private, nsidMessage, j.rkey, rec)
				} else {
					req, err = j.author.sess.Create(nsidMessage, j.rkey, rec)
				}
				var res *community.Result
				if err == nil {
					res, err = r.c.Invoke(ctx, req)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("message %d by %s: %w", j.i, j.author.name, err)
				}
				if res != nil {
					commits[res.Commit] = true
				}
				mu.Unlock()
			}
		})
	}
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	wg.Wait()
	if firstErr != nil {
		return "", firstErr
	}
	// Check: list the public messages back, and read the private channel
	// as an insider.
	n, cursor := 0, ""
	for {
		recs, next, err := r.c.ListRecords(ctx, nsidMessage, repo.ListOptions{Limit: 100, Cursor: cursor})
		if err != nil {
			return "", err
		}
		n += len(recs)
		if next == "" || len(recs) == 0 {
			break
		}
		cursor = next
	}
	if want := len(jobs) - nPrivate; n != want {
		return "", fmt.Errorf("listed %d public messages, want %d", n, want)
	}
	view, err := read(ctx, r.c)(r.people[0].sess.Read(private))
	if err != nil {
		return "", err
	}
	np := 0
	for _, rec := range view.Records {
		if strings.HasPrefix(rec.Collection+"/", nsidMessage+"/") {
			np++
		}
	}
	if np != nPrivate {
		return "", fmt.Errorf("alice reads %d private messages, want %d", np, nPrivate)
	}
	var backup bytes.Buffer
	if err := view.WriteCAR(&backup); err != nil {
		return "", err
	}
	r.stage = backup.Bytes()
	events, err := r.c.Events(ctx, community.EventsOptions{Limit: 1 << 20})
	if err != nil {
		return "", err
	}
	r.rep.PublicMessages, r.rep.PrivateMessages, r.rep.Commits = n, np, len(events)
	return fmt.Sprintf("%d messages by 4 members on %d goroutines: %d public in 3 channels, %d private in %q\n%d commits for these writes (group commit; %.0f messages/s, durable), %d commits in the repo; each checked by listing / reading back",
		len(jobs), r.opts.Writers, n, np, private, len(commits), float64(len(jobs))/time.Since(t0).Seconds(), len(events)), nil
}

// revoke: the moderator revokes carol's grant; her next write is refused
// with the ucan revocation error; her earlier messages stay.
func (r *runner) revoke(ctx context.Context) (string, error) {
	carol := r.byName["carol"]
	g := carol.sess.Membership.Grants[0].Chain
	grant := drisl.SumCID(drisl.CodecDagCBOR, g[len(g)-1])
	if r.opts.fault != "revoke" {
		if _, err := invoke(ctx, r.c)(r.mod.sess.Revoke(grant, "spamming the seed swap")); err != nil {
			return "", err
		}
	}
	rec := map[string]any{"$type": nsidMessage, "channel": "general", "text": "one more thing...", "createdAt": r.ts(99999)}
	rkey := syntax.NewTIDClock(2).Next().String()
	req, err := carol.sess.Create(nsidMessage, rkey, rec)
	if err != nil {
		return "", err
	}
	_, err = r.c.Invoke(ctx, req)
	if err == nil {
		return "", errors.New("carol's write after the revocation was accepted")
	}
	if !errors.Is(err, community.ErrUnauthorized) || !errors.Is(err, ucan.ErrRevoked) {
		return "", fmt.Errorf("carol's write was refused for the wrong reason: %w", err)
	}
	if _, _, err := r.c.GetRecord(ctx, nsidMessage, rkey); !errors.Is(err, repo.ErrRecordNotFound) {
		return "", fmt.Errorf("the refused record is in the repo: %v", err)
	}
	r.rep.RevokedErr = err
	return fmt.Sprintf("mo revoked carol's /repo grant %s\ncarol's next write: refused (%s); nothing written", short(grant.String()), ucan.ErrorName(err)), nil
}

// nullify is the operation Migrate forks around (none under the "migrate"
// fault, which leaves the hostile key in the DID document).
func nullify(op, fault string) string {
	if fault == "migrate" {
		return ""
	}
	return op
}

func short(s string) string {
	if len(s) > 16 {
		return s[:8] + "…" + s[len(s)-6:]
	}
	return s
}

// export: com.atproto.sync.getRepo, verified as an outsider would: only the
// CAR and the DID document from the directory; then indigo's loader, an
// independent implementation, checks it again.
func (r *runner) export(ctx context.Context) (string, error) {
	var car bytes.Buffer
	if err := r.c.Export(ctx, &car); err != nil {
		return "", err
	}
	r.car = car.Bytes()
	r.rep.CARBytes = car.Len()
	outsider := plc.NewClient(r.w.plcURL, plc.ClientOptions{HTTPClient: r.w.plcHTTP})
	doc, err := outsider.Resolve(ctx, r.c.DID())
	if err != nil {
		return "", err
	}
	key, err := doc.SigningKey()
	if err != nil {
		return "", err
	}
	if r.opts.fault == "export" {
		r.car = bytes.Clone(r.car)
		r.car[len(r.car)/2] ^= 1
	}
	vr, err := repo.VerifyCAR(ctx, bytes.NewReader(r.car), repo.VerifyOptions{Key: key, DID: doc.ID, Now: r.opts.Now})
	if err != nil {
		return "", err
	}
	counts := map[string]int{}
	for _, e := range vr.Records {
		counts[e.Collection]++
	}
	if counts[nsidMessage] != r.rep.PublicMessages {
		return "", fmt.Errorf("the CAR holds %d messages, want %d", counts[nsidMessage], r.rep.PublicMessages)
	}
	if bytes.Contains(r.car, []byte(r.secret)) {
		r.rep.PrivateInCAR = true
		return "", errors.New("the public CAR carries a private message")
	}
	ic, irepo, err := indigorepo.LoadRepoFromCAR(ctx, bytes.NewReader(r.car))
	if err != nil {
		return "", fmt.Errorf("indigo: %w", err)
	}
	if err := ic.VerifySignature(key); err != nil {
		return "", fmt.Errorf("indigo: %w", err)
	}
	for _, rec := range vr.Records {
		_, ic2, err := irepo.GetRecordBytes(ctx, syntax.NSID(rec.Collection), syntax.RecordKey(rec.RKey))
		if err != nil || *ic2 != rec.CID {
			return "", fmt.Errorf("indigo reads %s/%s differently: %v", rec.Collection, rec.RKey, err)
		}
	}
	r.rep.CARRecords = len(vr.Records)
	return fmt.Sprintf("CAR %s, %d records (%d messages, %d receipts, %d other), rev %s\nverified with only the DID document's key: signature, every block hash, MST, every record; indigo's loader reads the same records, signature checked; no private text in it",
		size(car.Len()), len(vr.Records), counts[nsidMessage], counts[community.NSIDReceipt],
		len(vr.Records)-counts[nsidMessage]-counts[community.NSIDReceipt], vr.Commit.Rev), nil
}

func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// authorship: the bundle that proves alice wrote one message, checked
// offline against the DID document; a tampered copy fails.
func (r *runner) authorship(ctx context.Context) (string, error) {
	alice := r.byName["alice"]
	rkey := r.sample
	if r.opts.fault == "authorship" {
		rkey = r.bobSample // a genuine bundle, but of bob's message
	}
	b, err := r.c.Bundle(ctx, nsidMessage, rkey)
	if err != nil {
		return "", err
	}
	data, err := b.Marshal()
	if err != nil {
		return "", err
	}
	doc, err := r.w.plc.Resolve(ctx, r.c.DID())
	if err != nil {
		return "", err
	}
	parsed, err := community.ParseBundle(data)
	if err != nil {
		return "", err
	}
	a, err := community.VerifyBundle(ctx, parsed, community.VerifyOptions{Document: doc})
	if err != nil {
		return "", err
	}
	if a.Author != alice.did || a.SessionKey != alice.key.DID() || a.Path != nsidMessage+"/"+r.sample {
		return "", fmt.Errorf("the bundle proves %s wrote %s, want alice", a.Author, a.Path)
	}
	// Tamper with the text: the record no longer hashes to the proved CID.
	var rec map[string]any
	if err := drisl.Unmarshal(parsed.Record, &rec); err != nil {
		return "", err
	}
	rec["text"] = "alice never wrote this"
	if parsed.Record, err = drisl.Marshal(rec); err != nil {
		return "", err
	}
	_, terr := community.VerifyBundle(ctx, parsed, community.VerifyOptions{Document: doc})
	if !errors.Is(terr, community.ErrBadBundle) {
		return "", fmt.Errorf("a tampered bundle was not refused: %v", terr)
	}
	// A private message's bundle, for a reader of the audience (bob).
	readReq, err := r.byName["bob"].sess.Read(private)
	if err != nil {
		return "", err
	}
	prkey, err := r.privateSample(ctx)
	if err != nil {
		return "", err
	}
	pb, err := r.c.PrivateBundle(ctx, readReq, nsidMessage, prkey)
	if err != nil {
		return "", err
	}
	pa, err := community.VerifyBundle(ctx, pb, community.VerifyOptions{Document: doc})
	if err != nil {
		return "", fmt.Errorf("private bundle: %w", err)
	}
	r.rep.BundleBytes, r.rep.BundleAuthor, r.rep.TamperErr = len(data), a.Author, terr
	return fmt.Sprintf("bundle for %s: %s, %d delegation(s), %d MST nodes\nproves author alice (%s) via %s, session key, chain to the community; tampered copy refused; private bundle proves %s",
		a.Path, size(len(data)), len(parsed.Delegations), len(parsed.Nodes), alice.did, a.Command, r.nameOf(pa.Author)), nil
}

func (r *runner) nameOf(did string) string {
	for n, m := range r.byName {
		if m.did == did {
			return n
		}
	}
	return did
}

// privateSample returns the rkey of a private message, as bob reads it.
func (r *runner) privateSample(ctx context.Context) (string, error) {
	view, err := read(ctx, r.c)(r.byName["bob"].sess.Read(private))
	if err != nil {
		return "", err
	}
	for _, rec := range view.Records {
		if rec.Collection == nsidMessage {
			return rec.RKey, nil
		}
	}
	return "", errors.New("bob reads no private message")
}

// migrate: host1 turns hostile (points the DID at a key of its own and
// stops serving); the founders' recovery key nullifies that operation and
// moves the community to host2, from the export and alice's backup of the
// private channel; the members keep writing there.
func (r *runner) migrate(ctx context.Context) (string, error) {
	state, err := r.w.plc.VerifiedState(ctx, r.c.DID(), plc.ValidateOptions{})
	if err != nil {
		return "", err
	}
	evil, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		return "", err
	}
	evilPub, err := evil.PublicKey()
	if err != nil {
		return "", err
	}
	hostile, err := plc.Update(state, plc.UpdateOptions{VerificationMethods: map[string]string{"atproto": evilPub.DIDKey()}}, r.keys1.rotation)
	if err != nil {
		return "", err
	}
	if err := r.w.plc.Submit(ctx, r.c.DID(), hostile); err != nil {
		return "", err
	}
	hostileCID, err := hostile.CID()
	if err != nil {
		return "", err
	}
	r.rep.HostileOp = hostileCID.String()
	if err := r.host1.Close(); err != nil {
		return "", err
	}
	if _, err := invoke(ctx, r.c)(r.byName["alice"].sess.Create(nsidMessage, syntax.NewTIDClock(3).Next().String(),
		map[string]any{"$type": nsidMessage, "channel": "general", "text": "hello?", "createdAt": r.ts(0)})); !errors.Is(err, community.ErrClosed) {
		return "", fmt.Errorf("host1 still accepts writes: %v", err)
	}

	host2, _, err := r.w.newHost(ctx, "host2")
	if err != nil {
		return "", err
	}
	c2, err := host2.Migrate(ctx, r.c.DID(), community.MigrateOptions{
		Repo: bytes.NewReader(r.car), Audiences: []io.Reader{bytes.NewReader(r.stage)},
		RecoveryKey: r.recov, Nullify: nullify(hostileCID.String(), r.opts.fault),
	})
	if err != nil {
		return "", err
	}
	data, err := r.w.plc.Data(ctx, r.c.DID())
	if err != nil {
		return "", err
	}
	if data.PDSEndpoint() != "https://host2.example" || data.VerificationMethods["atproto"] != host2.SigningKeyDID() {
		return "", fmt.Errorf("the DID does not point to host2: %+v", data)
	}
	log, err := r.w.plc.AuditLog(ctx, r.c.DID())
	if err != nil {
		return "", err
	}
	nullified := false
	for _, e := range log {
		if e.CID == hostileCID.String() {
			nullified = e.Nullified
		}
	}
	if !nullified {
		return "", errors.New("the hostile operation is not nullified in the audit log")
	}
	// Members fetch their re-issued chains and write again; carol stays revoked.
	for _, m := range append([]*member{r.mod}, r.people...) {
		if m.sess.Membership, err = c2.Membership(ctx, m.key.DID()); err != nil && m.name != "carol" {
			return "", fmt.Errorf("%s's membership on host2: %w", m.name, err)
		}
	}
	tids := syntax.NewTIDClock(4)
	rec := map[string]any{"$type": nsidMessage, "channel": "general", "text": "we moved! hello from host2", "createdAt": r.ts(100000)}
	if _, err := invoke(ctx, c2)(r.byName["alice"].sess.Create(nsidMessage, tids.Next().String(), rec)); err != nil {
		return "", fmt.Errorf("alice on host2: %w", err)
	}
	prec := map[string]any{"$type": nsidMessage, "channel": private, "text": "the staff channel came along", "createdAt": r.ts(100001), "nonce": community.NewNonce()}
	if _, err := invoke(ctx, c2)(r.byName["bob"].sess.Private(private, nsidMessage, tids.Next().String(), prec)); err != nil {
		return "", fmt.Errorf("bob on host2 (private): %w", err)
	}
	if _, err := invoke(ctx, c2)(r.byName["carol"].sess.Create(nsidMessage, tids.Next().String(), rec)); err == nil {
		return "", errors.New("carol, revoked, wrote on host2")
	}
	view, err := read(ctx, c2)(r.byName["alice"].sess.Read(private))
	if err != nil {
		return "", err
	}
	if len(view.Records) != r.rep.PrivateMessages+1 {
		return "", fmt.Errorf("host2's private channel holds %d records, want %d", len(view.Records), r.rep.PrivateMessages+1)
	}
	// The new head verifies against the new DID document; alice's old
	// message still proves its author with the audit log's key history.
	var car2 bytes.Buffer
	if err := c2.Export(ctx, &car2); err != nil {
		return "", err
	}
	doc2, err := r.w.plc.Resolve(ctx, r.c.DID())
	if err != nil {
		return "", err
	}
	key2, err := doc2.SigningKey()
	if err != nil {
		return "", err
	}
	vr, err := repo.VerifyCAR(ctx, bytes.NewReader(car2.Bytes()), repo.VerifyOptions{Key: key2, DID: r.c.DID(), Now: r.opts.Now})
	if err != nil {
		return "", err
	}
	b, err := c2.Bundle(ctx, nsidMessage, r.sample)
	if err != nil {
		return "", err
	}
	if _, err := community.VerifyBundle(ctx, b, community.VerifyOptions{Document: doc2, AuditLog: log}); err != nil {
		return "", fmt.Errorf("alice's old message on host2: %w", err)
	}
	r.rep.MigratedTo, r.rep.NewHostWrites = data.PDSEndpoint(), 2
	return fmt.Sprintf("host1 turned hostile: op %s set its own key, then stopped (writes: closed)\nrecovery key nullified it and moved the DID to host2 from the %s export + alice's private backup\non host2: alice and bob wrote (public, private), carol still refused; new CAR %s, %d records, verifies against the new DID document",
		short(hostileCID.String()), size(len(r.car)), size(car2.Len()), len(vr.Records)), nil
}
