package community

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/mst"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// Community is one community hosted here: its repository, its authorisation
// state (rebuilt from the repository's records) and its single writer.
// It is safe for concurrent use.
type Community struct {
	host      *Host
	did       string
	repo      *repo.Repo
	key       atomic.Pointer[keyHolder]
	validator *ucan.Validator
	proofs    *ucan.MemoryProofStore
	revoked   *ucan.MemoryRevocationStore
	replay    *ucan.MemoryReplayGuard

	mu        sync.RWMutex
	bindings  map[string]string // session key DID -> member DID
	bans      map[string]bool   // member DID -> banned
	grants    map[cid.Cid]*grantRecord
	audiences map[string]*audience // name -> anchor (trees are owned by the writer)
	roles     map[string]Role
	joinRole  string
	jwts      usedJWTs // service-auth JWTs spent on bindings

	changed    chan struct{}            // closed (and replaced) after each commit; guarded by mu
	snap       atomic.Pointer[treeSnap] // the public tree after the writer's last commit
	gen        uint64                   // the writer's commits so far (writer-owned)
	rounds     [recentRounds]round      // the paths of the last commits (writer-owned)
	roundPaths map[pathKey]bool         // the paths of the writer's current round (writer-owned, reused)
	staged     *stagedRound             // the round being stored while the writer builds the next (writer-owned)
	noStaging  bool                     // the writer commits synchronously (while it recovers a failed round)
	precheckMu sync.Mutex               // one caller's prechecks at a time
	// receiptPrefix memoises the receipt key prefix of the last collection.
	receiptPrefix atomic.Pointer[receiptPrefix]
	reqs          chan *request
	inflight      atomic.Int64
	quit          chan struct{}
	done          chan struct{}
	stopOnce      sync.Once
}

type keyHolder struct {
	ucan ucan.PublicKey
	at   atcrypto.PublicKey
}

type audience struct {
	name    string
	root    cid.Cid
	readers []string
	tree    *mst.Tree // writer-owned
}

// DID returns the community's did:plc.
func (c *Community) DID() string { return c.did }

// Repo returns the community's repository (read it freely; never write to
// it directly: writes bypass the authorisation and receipts).
func (c *Community) Repo() *repo.Repo { return c.repo }

func (c *Community) currentKey() ucan.PublicKey { return c.key.Load().ucan }

// SigningKey returns the community's current atproto signing key.
func (c *Community) SigningKey() atcrypto.PublicKey { return c.key.Load().at }

func (c *Community) setKey(k atcrypto.PublicKey) error {
	uk, err := ucan.PublicKeyFromAtcrypto(k)
	if err != nil {
		return err
	}
	c.key.Store(&keyHolder{ucan: uk, at: k})
	return nil
}

// start builds the community's state from r and starts its writer.
func (h *Host) start(ctx context.Context, r *repo.Repo) (*Community, error) {
	c := &Community{
		host:      h,
		did:       r.DID(),
		repo:      r,
		proofs:    ucan.NewMemoryProofStore(),
		revoked:   ucan.NewMemoryRevocationStore(),
		bindings:  map[string]string{},
		bans:      map[string]bool{},
		grants:    map[cid.Cid]*grantRecord{},
		audiences: map[string]*audience{},
		roles:     map[string]Role{},
		changed:   make(chan struct{}),
		reqs:      make(chan *request, 1024),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	if err := c.setKey(h.pubKey); err != nil {
		return nil, err
	}
	c.replay = ucan.NewMemoryReplayGuard(ucan.MemoryReplayGuardOptions{Now: h.opts.Now})
	// The community executes invocations addressed to it: aud is its DID
	// (a Session leaves aud out, which means the subject: the community).
	// Their subject is the community too: refused in the validator, an
	// outsider's invocation on a did:key of its own earns no hot-key table.
	c.validator = ucan.NewValidator(ucan.ValidatorOptions{
		Executor:    c.did,
		Subject:     c.did,
		Resolver:    communityResolver{c},
		Proofs:      c.proofs,
		Revocations: c.revoked,
		Replay:      c.replay,
		Now:         h.opts.Now,
		// A /repo/batch's writes are read from drisl.Map (parseWrite
		// reads both models); every other command's arguments are
		// scalars or lists of them.
		OrderedArgs: true,
	})
	if err := c.load(ctx); err != nil {
		return nil, err
	}
	c.snap.Store(&treeSnap{tree: r.Tree()})
	go c.run()
	return c, nil
}

// load rebuilds the authorisation state from the repository's records.
func (c *Community) load(ctx context.Context) error {
	if _, data, err := c.repo.GetRecord(ctx, NSIDProfile, "self"); err == nil {
		var p profileRecord
		if err := drisl.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("community: loading the profile: %w", err)
		}
		c.joinRole = p.JoinRole
	}
	err := c.eachRecord(ctx, NSIDRole, func(rkey string, data []byte) error {
		var r roleRecord
		if err := drisl.Unmarshal(data, &r); err != nil {
			return err
		}
		c.roles[r.Name] = Role{Name: r.Name, Collections: r.Collections, Audiences: r.Audiences, Moderator: r.Moderator}
		return nil
	})
	if err != nil {
		return err
	}
	err = c.eachRecord(ctx, NSIDGrant, func(rkey string, data []byte) error {
		var g grantRecord
		if err := drisl.Unmarshal(data, &g); err != nil {
			return err
		}
		c.addGrant(&g)
		return nil
	})
	if err != nil {
		return err
	}
	err = c.eachRecord(ctx, NSIDBinding, func(rkey string, data []byte) error {
		var b bindingRecord
		if err := drisl.Unmarshal(data, &b); err != nil {
			return err
		}
		c.bindings[b.SessionKey] = b.Member
		c.jwts.claim(jwtKey(b.ServiceAuth))
		return nil
	})
	if err != nil {
		return err
	}
	err = c.eachRecord(ctx, NSIDRevocation, func(rkey string, data []byte) error {
		var rv revocationRecord
		if err := drisl.Unmarshal(data, &rv); err != nil {
			return err
		}
		return c.revoked.AddRevocation(ctx, rv.Delegation, drisl.SumCID(drisl.CodecDagCBOR, rv.Invocation))
	})
	if err != nil {
		return err
	}
	err = c.eachRecord(ctx, NSIDBan, func(rkey string, data []byte) error {
		var b banRecord
		if err := drisl.Unmarshal(data, &b); err != nil {
			return err
		}
		c.bans[b.Member] = true
		return nil
	})
	if err != nil {
		return err
	}
	// Invocations committed within the last MaxInvocationTTL may still be
	// unexpired: the replay guard learns them again from their records.
	ttl := c.host.limits.MaxInvocationTTL
	now := c.host.now()
	learn := func(data []byte) error {
		var r invocationRecord
		if err := drisl.Unmarshal(data, &r); err != nil {
			return err
		}
		at, err := time.Parse(time.RFC3339, r.CreatedAt)
		if err != nil || at.Add(ttl).Before(now) {
			return nil
		}
		ic := drisl.SumCID(drisl.CodecDagCBOR, r.Token)
		if err := c.replay.Record(ctx, ic, at.Add(ttl)); err != nil && !errors.Is(err, ucan.ErrReplayed) {
			return err
		}
		return nil
	}
	err = c.eachRecord(ctx, NSIDInvocation, func(rkey string, data []byte) error { return learn(data) })
	if err != nil {
		return err
	}
	src := privateSource{c.host.private, c.did}
	return c.eachRecord(ctx, NSIDAudience, func(rkey string, data []byte) error {
		var a audienceRecord
		if err := drisl.Unmarshal(data, &a); err != nil {
			return err
		}
		t := mst.Options{}.Load(src, a.Root)
		c.audiences[a.Name] = &audience{name: a.Name, root: a.Root, readers: a.Readers, tree: t}
		// The private invocation records teach the replay guard too. An
		// audience whose blocks did not migrate is skipped (its writes fail
		// anyway).
		ents, err := t.List(ctx, mst.ListOptions{Prefix: NSIDInvocation + "/"})
		if err != nil {
			return nil
		}
		for _, e := range ents {
			data, err := src.GetBlock(ctx, e.Value)
			if err != nil {
				return nil
			}
			if err := learn(data); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *Community) eachRecord(ctx context.Context, collection string, fn func(rkey string, data []byte) error) error {
	cursor := ""
	for {
		recs, next, err := c.repo.ListRecords(ctx, collection, repo.ListOptions{Cursor: cursor, Limit: 1000})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := fn(r.RKey, r.Value); err != nil {
				return fmt.Errorf("community: loading %s/%s: %w", collection, r.RKey, err)
			}
		}
		if next == "" || len(recs) == 0 {
			return nil
		}
		cursor = next
	}
}

func (c *Community) addGrant(g *grantRecord) {
	c.grants[g.TokenCID] = g
	_, _ = c.proofs.Put(g.Token)
}

// memberOf returns the member a session key is bound to.
func (c *Community) memberOf(sessionKey string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	m, ok := c.bindings[stripFragment(sessionKey)]
	return m, ok
}

func (c *Community) isBanned(member string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.bans[member]
}

func stripFragment(did string) string {
	if i := strings.IndexByte(did, '#'); i >= 0 {
		return did[:i]
	}
	return did
}

// Grant is one delegation a session key holds, with the chain that proves
// it: delegation tokens, root (issued by the community) first, ending with
// the delegation to the session key.
type Grant struct {
	Command string
	Chain   [][]byte
}

// Membership is what a member's client needs to invoke: the member's DID,
// the session key, and the grants it holds.
type Membership struct {
	Community  string
	Member     string
	SessionKey string
	Grants     []Grant
}

// Membership returns the current grants of a session key, each with its
// chain rebuilt from the grant records (revoked delegations are skipped; the
// newest root is preferred, so after a migration chains start at the roots
// the new host re-issued).
func (c *Community) Membership(ctx context.Context, sessionKey string) (*Membership, error) {
	member, ok := c.memberOf(sessionKey)
	if !ok {
		return nil, errf(ErrNotMember, -1, nil, "%s", sessionKey)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	m := &Membership{Community: c.did, Member: member, SessionKey: sessionKey}
	for _, g := range c.sortedGrants() {
		if g.Audience != sessionKey {
			continue
		}
		chain, ok := c.chainLocked(ctx, g, 0)
		if !ok {
			continue
		}
		m.Grants = append(m.Grants, Grant{Command: g.Command, Chain: chain})
	}
	return m, nil
}

// sortedGrants returns the grants newest first.
func (c *Community) sortedGrants() []*grantRecord {
	out := make([]*grantRecord, 0, len(c.grants))
	for _, g := range c.grants {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedAt != out[j].CreatedAt {
			return out[i].CreatedAt > out[j].CreatedAt
		}
		return out[i].TokenCID.KeyString() < out[j].TokenCID.KeyString()
	})
	return out
}

func (c *Community) chainLocked(ctx context.Context, g *grantRecord, depth int) ([][]byte, bool) {
	if depth >= ucan.DefaultMaxChainLength {
		return nil, false
	}
	if r, _ := c.revoked.IsRevoked(ctx, g.TokenCID); r {
		return nil, false
	}
	if g.Issuer == c.did {
		if !c.rootValid(g) {
			return nil, false
		}
		return [][]byte{g.Token}, true
	}
	for _, p := range c.sortedGrants() {
		if p.Audience != g.Issuer || !ucan.CommandCovers(p.Command, g.Command) {
			continue
		}
		if chain, ok := c.chainLocked(ctx, p, depth+1); ok {
			return append(chain, g.Token), true
		}
	}
	return nil, false
}

// rootValid reports whether a root delegation verifies with the
// community's current key (after a migration, roots signed by the old host
// are superseded by re-issued ones).
func (c *Community) rootValid(g *grantRecord) bool {
	d, err := ucan.ParseDelegation(g.Token)
	if err != nil {
		return false
	}
	return c.currentKey().Verify(d.SignedBytes(), d.Signature) == nil
}

// GetRecord returns a public record's CID and DRISL bytes. Private records
// are never returned here (they are not in the public tree).
func (c *Community) GetRecord(ctx context.Context, collection, rkey string) (cid.Cid, []byte, error) {
	return c.repo.GetRecord(ctx, collection, rkey)
}

// ListRecords lists public records of one collection.
func (c *Community) ListRecords(ctx context.Context, collection string, opts repo.ListOptions) ([]repo.Record, string, error) {
	return c.repo.ListRecords(ctx, collection, opts)
}

// Export writes the public repository as a CAR (com.atproto.sync.getRepo).
// It walks the public tree only: private audience trees are not in it.
func (c *Community) Export(ctx context.Context, w io.Writer) error {
	return c.repo.Export(ctx, w)
}

// EventsOptions selects a page of Community.Events. It is
// repo.EventsOptions without the DID, which is the community's. The zero
// value is the first repo.DefaultEventsLimit events.
type EventsOptions struct {
	// Cursor is the Seq of the last event already read: the page holds
	// events with a greater Seq. 0 reads from the start.
	Cursor int64
	// Limit is the most events a page holds; <= 0 means
	// repo.DefaultEventsLimit.
	Limit int
}

// Events returns a page of the sync events of the community's repository,
// in order, as opts selects (repo.ReadEvents for the community's DID).
// Pass the last Seq returned as the next Cursor.
func (c *Community) Events(ctx context.Context, opts EventsOptions) ([]repo.Event, error) {
	return repo.ReadEvents(ctx, c.repo.Store(), repo.EventsOptions{DID: c.did, Cursor: opts.Cursor, Limit: opts.Limit})
}

// Audiences returns the names of the community's audiences.
func (c *Community) Audiences() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.audiences))
	for n := range c.audiences {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Close stops the community's writer; queued requests fail with ErrClosed.
func (c *Community) Close() error {
	c.host.mu.Lock()
	if c.host.open[c.did] == c {
		delete(c.host.open, c.did)
	}
	c.host.mu.Unlock()
	c.stop()
	return nil
}

func (c *Community) stop() {
	c.stopOnce.Do(func() { close(c.quit) })
	<-c.done
}

// Changed returns a channel that is closed after the community's next
// commit: wait on it, then read Events from your last cursor (a long poll
// or a WebSocket feed without polling). Call it again after each wake-up.
func (c *Community) Changed() <-chan struct{} {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.changed
}

// notify wakes the waiters of Changed.
func (c *Community) notify() {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}
