package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/townhall-dev/townhall/community"
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// world stands in for the network the example would otherwise need: a
// did:plc directory (the embeddable one, called in process through
// plc.HandlerTransport: no port; its operations in SQLite), members' PDSes (an identity directory holding
// each account's signing key, which signs service-auth JWTs), and the hosts.
type world struct {
	dir     string
	clock   *stepClock
	plcDB   *plc.SQLiteStorage
	plcURL  string       // the directory's base URL (no host resolves it)
	plcHTTP *http.Client // reaches the directory in process
	plc     *plc.Client
	ids     *identity.MockDirectory
	pds     map[string]*atcrypto.PrivateKeyP256
	closers []func() error
}

// stepClock is the directory's clock: the real time, but strictly
// increasing by at least a millisecond per reading, because a did:plc log
// needs strictly increasing timestamps and this example submits several
// operations within one millisecond.
type stepClock struct {
	mu   sync.Mutex
	last time.Time
	now  func() time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now().UTC().Truncate(time.Millisecond)
	if !t.After(c.last) {
		t = c.last.Add(time.Millisecond)
	}
	c.last = t
	return t
}

func newWorld(ctx context.Context, dir string, now func() time.Time) (*world, error) {
	w := &world{dir: dir, clock: &stepClock{now: now}, ids: identity.NewMockDirectory(),
		pds: map[string]*atcrypto.PrivateKeyP256{}}
	db, err := plc.OpenSQLite(ctx, filepath.Join(dir, "plc.db"))
	if err != nil {
		return nil, err
	}
	w.plcDB = db
	w.closers = append(w.closers, db.Close)
	directory := plc.NewDirectory(plc.DirectoryOptions{Storage: db, Now: w.clock.Now})
	w.plcURL = "http://plc.local"
	w.plcHTTP = &http.Client{Transport: plc.HandlerTransport(directory)}
	w.plc = plc.NewClient(w.plcURL, plc.ClientOptions{HTTPClient: w.plcHTTP})
	return w, nil
}

func (w *world) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
}

// account registers an atproto account (a did:plc of its own PDS, outside
// this example) whose PDS signs with a fresh P-256 key.
func (w *world) account(name string) (string, error) {
	did := "did:plc:" + (name + "aaaaaaaaaaaaaaaaaaaaaaaa")[:24]
	k, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		return "", err
	}
	pub, err := k.PublicKey()
	if err != nil {
		return "", err
	}
	w.ids.Insert(identity.Identity{DID: syntax.DID(did), Handle: syntax.Handle(name + ".test"),
		Keys: map[string]identity.VerificationMethod{"atproto": {Type: "Multikey", PublicKeyMultibase: pub.Multibase()}}})
	w.pds[did] = k
	return did, nil
}

// login is what a member's client does: ask its PDS for a service-auth JWT
// (com.atproto.server.getServiceAuth: aud the community, or the host for a
// founder; lxm the join or create method), make a fresh Ed25519 session
// key, and sign the join proof with it.
func (w *world) login(member, aud, communityDID string) (community.JoinRequest, *ucan.KeySigner, error) {
	lxm := community.LXMJoin
	if communityDID == "" {
		lxm = community.LXMCreate
	}
	nsid := syntax.NSID(lxm)
	jwt, err := auth.SignServiceAuth(syntax.DID(member), aud, time.Minute, &nsid, w.pds[member])
	if err != nil {
		return community.JoinRequest{}, nil, err
	}
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return community.JoinRequest{}, nil, err
	}
	key, err := ucan.NewEd25519Signer(priv)
	if err != nil {
		return community.JoinRequest{}, nil, err
	}
	proof, err := community.NewJoinProof(key, community.JoinProofFields{Community: communityDID, Member: member,
		ServiceAuth: jwt, Expiration: w.clock.now().Add(time.Minute)})
	if err != nil {
		return community.JoinRequest{}, nil, err
	}
	return community.JoinRequest{ServiceAuth: jwt, Proof: proof}, key, nil
}

// hostKeys are a host's atproto signing key and did:plc rotation key.
type hostKeys struct {
	signing, rotation *atcrypto.PrivateKeyP256
}

// newHost starts a host on its own SQLite files (repositories and private
// audience blocks) under the world's directory, on the world's clock (which
// its members' sessions and join proofs follow too).
func (w *world) newHost(ctx context.Context, name string) (*community.Host, hostKeys, error) {
	var keys hostKeys
	store, err := repo.OpenSQLite(ctx, filepath.Join(w.dir, name+".db"), repo.SQLiteOptions{})
	if err != nil {
		return nil, keys, err
	}
	w.closers = append(w.closers, store.Close)
	priv, err := community.OpenSQLitePrivateStore(ctx, filepath.Join(w.dir, name+"-private.db"))
	if err != nil {
		return nil, keys, err
	}
	w.closers = append(w.closers, priv.Close)
	if keys.signing, err = atcrypto.GeneratePrivateKeyP256(); err != nil {
		return nil, keys, err
	}
	if keys.rotation, err = atcrypto.GeneratePrivateKeyP256(); err != nil {
		return nil, keys, err
	}
	h, err := community.NewHost(ctx, community.HostOptions{
		Store: store, Private: priv, SigningKey: keys.signing, RotationKey: keys.rotation,
		Endpoint: "https://" + name + ".example", ServiceDID: "did:web:" + name + ".example",
		PLC: w.plc, Identity: w.ids, Now: w.clock.now,
	})
	if err != nil {
		return nil, keys, fmt.Errorf("starting %s: %w", name, err)
	}
	w.closers = append(w.closers, h.Close)
	return h, keys, nil
}
