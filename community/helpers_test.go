package community

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// fakeClock is the injected clock of a test world. It starts at the real
// time (the service-auth JWTs are checked by indigo against the real time)
// and only moves when a test advances it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// world is a did:plc directory reached in process (plc.HandlerTransport:
// no port), an identity directory of members with their PDS keys, and a
// recovery key.
type world struct {
	t        testing.TB
	clock    *fakeClock
	dir      *plc.Directory
	plc      *plc.Client
	ids      *identity.MockDirectory
	recovery *atcrypto.PrivateKeyP256
	pds      map[string]*atcrypto.PrivateKeyP256
	hostKey  *atcrypto.PrivateKeyP256 // newHostOn's keys, reused across restarts
	hostRot  *atcrypto.PrivateKeyP256
}

func newWorld(t testing.TB) *world {
	t.Helper()
	clk := &fakeClock{t: time.Now().UTC().Truncate(time.Millisecond)}
	dir := plc.NewDirectory(plc.DirectoryOptions{Now: clk.Now})
	rec, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, clock: clk, dir: dir, plc: inProcessPLC(dir),
		ids: identity.NewMockDirectory(), recovery: rec, pds: map[string]*atcrypto.PrivateKeyP256{}}
}

// inProcessPLC is a directory client that calls dir in process.
func inProcessPLC(dir *plc.Directory) *plc.Client {
	return dir.Client(plc.ClientOptions{})
}

func (w *world) recoveryDID() string {
	pub, err := w.recovery.PublicKey()
	if err != nil {
		w.t.Fatal(err)
	}
	return pub.DIDKey()
}

// account registers a member DID whose PDS signs with a fresh key.
func (w *world) account(name string) string {
	w.t.Helper()
	did := "did:plc:" + (name + "aaaaaaaaaaaaaaaaaaaaaaaa")[:24]
	k, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		w.t.Fatal(err)
	}
	pub, err := k.PublicKey()
	if err != nil {
		w.t.Fatal(err)
	}
	w.ids.Insert(identity.Identity{DID: syntax.DID(did), Handle: syntax.Handle(name + ".test"),
		Keys: map[string]identity.VerificationMethod{"atproto": {Type: "Multikey", PublicKeyMultibase: pub.Multibase()}}})
	w.pds[did] = k
	return did
}

// jwt is what the member's PDS returns from com.atproto.server.getServiceAuth.
func (w *world) jwt(member, aud, lxm string) string {
	w.t.Helper()
	nsid := syntax.NSID(lxm)
	tok, err := auth.SignServiceAuth(syntax.DID(member), aud, time.Minute, &nsid, w.pds[member])
	if err != nil {
		w.t.Fatal(err)
	}
	return tok
}

// sessionKey is a client's fresh Ed25519 session key.
func sessionKey(t testing.TB) *ucan.KeySigner {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ucan.NewEd25519Signer(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// joinRequest builds a member's join request (aud: the community, or the
// host's service DID when communityDID is "" for Create).
func (w *world) joinRequest(member string, key ucan.Signer, aud, communityDID string) JoinRequest {
	w.t.Helper()
	lxm := LXMJoin
	if communityDID == "" {
		lxm = LXMCreate
	}
	jwt := w.jwt(member, aud, lxm)
	proof, err := NewJoinProof(key, JoinProofFields{Community: communityDID, Member: member, ServiceAuth: jwt,
		Expiration: w.clock.Now().Add(time.Minute)})
	if err != nil {
		w.t.Fatal(err)
	}
	return JoinRequest{ServiceAuth: jwt, Proof: proof}
}

type hostKind int

const (
	memHost hostKind = iota
	sqliteHost
)

// openSQLiteStores opens (or reopens) a host's SQLite repository and
// private stores in dir, and returns a function that closes both.
func openSQLiteStores(t testing.TB, dir string) (*repo.SQLiteStore, *SQLitePrivateStore, func()) {
	t.Helper()
	ctx := context.Background()
	s, err := repo.OpenSQLite(ctx, filepath.Join(dir, "repo.db"), repo.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := OpenSQLitePrivateStore(ctx, filepath.Join(dir, "private.db"))
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s, p, func() { s.Close(); p.Close() }
}

// newHost starts a host on a memory or SQLite store.
func (w *world) newHost(kind hostKind, name string) *Host {
	w.t.Helper()
	var store repo.Store
	var priv PrivateStore
	switch kind {
	case sqliteHost:
		s, p, closeStores := openSQLiteStores(w.t, w.t.TempDir())
		w.t.Cleanup(closeStores)
		store, priv = s, p
	default:
		store, priv = repo.NewMemStore(), NewMemPrivateStore()
	}
	return w.newHostOn(store, priv, name)
}

// newHostOn starts a host on the given stores.
func (w *world) newHostOn(store repo.Store, priv PrivateStore, name string) *Host {
	w.t.Helper()
	ctx := context.Background()
	sk, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		w.t.Fatal(err)
	}
	rk, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		w.t.Fatal(err)
	}
	h, err := NewHost(ctx, HostOptions{Store: store, Private: priv, SigningKey: sk, RotationKey: rk,
		Endpoint: "https://" + name + ".example", ServiceDID: "did:web:" + name + ".example", PLC: w.plc,
		Identity: w.ids, Now: w.clock.Now})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { h.Close() })
	return h
}

// member is a test member: DID, session key and session.
type member struct {
	did  string
	key  *ucan.KeySigner
	sess *Session
}

var testRoles = []Role{
	{Name: "member", Collections: []string{"dev.townhall.chat.*"}},
	{Name: "insider", Collections: []string{"dev.townhall.chat.*"}, Audiences: []string{"staff"}},
	{Name: "moderator", Moderator: true},
}

// newCommunity creates a community with one founder on h.
func (w *world) newCommunity(h *Host, joinRole string) (*Community, *member) {
	w.t.Helper()
	did := w.account("founder")
	key := sessionKey(w.t)
	c, err := h.Create(context.Background(), CreateOptions{Name: "Test", RecoveryKeys: []string{w.recoveryDID()},
		Founders: []JoinRequest{w.joinRequest(did, key, h.opts.ServiceDID, "")}, Roles: testRoles, JoinRole: joinRole})
	if err != nil {
		w.t.Fatal(err)
	}
	return c, w.session(c, did, key)
}

func (w *world) session(c *Community, did string, key *ucan.KeySigner) *member {
	w.t.Helper()
	m, err := c.Membership(context.Background(), key.DID())
	if err != nil {
		w.t.Fatal(err)
	}
	s, err := NewSession(m, key)
	if err != nil {
		w.t.Fatal(err)
	}
	s.Now = w.clock.Now
	return &member{did: did, key: key, sess: s}
}

// join adds a member: invited by inviter with role, or by open join when
// inviter is nil.
func (w *world) join(c *Community, name string, inviter *member, role Role) *member {
	w.t.Helper()
	did := w.account(name)
	key := sessionKey(w.t)
	jr := w.joinRequest(did, key, c.DID(), c.DID())
	if inviter != nil {
		inv, err := inviter.sess.Invite(key.DID(), did, role, time.Time{})
		if err != nil {
			w.t.Fatal(err)
		}
		jr.Invite = inv
	}
	m, err := c.Join(context.Background(), jr)
	if err != nil {
		w.t.Fatalf("join %s: %v", name, err)
	}
	s, err := NewSession(m, key)
	if err != nil {
		w.t.Fatal(err)
	}
	s.Now = w.clock.Now
	return &member{did: did, key: key, sess: s}
}

func message(text string) map[string]any {
	return map[string]any{"$type": NSIDMessage, "channel": "general", "text": text, "createdAt": "2026-01-01T00:00:00.000Z"}
}

var tidClock = syntax.NewTIDClock(1)

func newTID() string { return tidClock.Next().String() }

// rq unwraps a request builder's result.
func (w *world) rq(r *Request, err error) *Request {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

type mres[T any] struct {
	v   T
	err error
}

// m wraps a (value, error) result: m(f()).must(t).
func m[T any](v T, err error) mres[T] { return mres[T]{v, err} }

func (r mres[T]) must(t testing.TB) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}
