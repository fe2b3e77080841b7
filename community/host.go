package community

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/identity"

	"github.com/townhall-dev/townhall/lexicon"
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// Defaults of Limits.
const (
	DefaultMaxRecordBytes   = 64 << 10
	DefaultMaxBatchWrites   = 32
	DefaultMaxGroupCommit   = 256
	DefaultMaxInvocationTTL = 10 * time.Minute
	DefaultMaxGroupWait     = 10 * time.Millisecond
)

// Limits bound what a community accepts. The zero value means the defaults.
type Limits struct {
	// MaxRecordBytes bounds one record's DRISL bytes (default 64 KiB;
	// atproto's own ceiling is 1 MiB).
	MaxRecordBytes int
	// MaxBatchWrites bounds the writes of one /repo/batch invocation
	// (default 32).
	MaxBatchWrites int
	// MaxGroupCommit bounds how many queued requests the writer folds into
	// one commit (default 256).
	MaxGroupCommit int
	// MaxInvocationTTL bounds exp - now of a write invocation and of a
	// join proof, and exp - iat of a service-auth JWT (default 10
	// minutes). Invocations without exp and JWTs without exp or iat are
	// refused, so that the replay guard's memory stays bounded.
	MaxInvocationTTL time.Duration
	// MaxGroupWait bounds how long the writer, finding the queue empty
	// while other callers are still validating their requests, waits for
	// them before committing (default 2 ms; negative: never wait). A lone
	// writer never waits.
	MaxGroupWait time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if l.MaxBatchWrites <= 0 {
		l.MaxBatchWrites = DefaultMaxBatchWrites
	}
	if l.MaxGroupCommit <= 0 {
		l.MaxGroupCommit = DefaultMaxGroupCommit
	}
	if l.MaxGroupWait == 0 {
		l.MaxGroupWait = DefaultMaxGroupWait
	}
	if l.MaxInvocationTTL <= 0 {
		l.MaxInvocationTTL = DefaultMaxInvocationTTL
	}
	return l
}

// PLC is the part of a did:plc directory client a host needs; *plc.Client
// implements it (against plc.directory or an embedded plc.Directory).
type PLC interface {
	Submit(ctx context.Context, did string, op *plc.Op) error
	AuditLog(ctx context.Context, did string) ([]plc.LogEntry, error)
}

// HostOptions configures a Host. Store, SigningKey and PLC are required.
type HostOptions struct {
	// Store keeps the public repositories (repo.OpenSQLite for durable
	// hosting, repo.NewMemStore for tests).
	Store repo.Store
	// Private keeps the blocks of private audience trees; nil means an
	// in-memory store (NewMemPrivateStore).
	Private PrivateStore
	// SigningKey is the host's atproto signing key: it signs commits and,
	// as the community's DID, the root delegations.
	SigningKey atcrypto.PrivateKey
	// RotationKey is the host's did:plc rotation key, the last (lowest
	// priority) rotation key of the communities it creates. Required by
	// Create and Migrate.
	RotationKey atcrypto.PrivateKey
	// Endpoint is the host's service URL, published in DID documents.
	Endpoint string
	// ServiceDID is the host's own DID: the audience of the service-auth
	// JWTs founders present to Create.
	ServiceDID string
	// PLC talks to the did:plc directory.
	PLC PLC
	// Identity resolves members' DIDs to verify service-auth JWTs
	// (identity.DefaultDirectory() in production, a MockDirectory in tests).
	Identity identity.Directory
	// Resolver resolves principals that are neither did:key nor a
	// community hosted here (as ucan.ValidatorOptions.Resolver does); nil
	// means none.
	Resolver ucan.Resolver
	// Lexicons, if set, holds extra schema files (*.json) that members'
	// records are validated against. Collections with no schema are refused.
	Lexicons fs.FS
	// Now gives the time of validation, revs and record timestamps; nil
	// means time.Now. Service-auth JWTs are checked against the real time
	// by indigo's validator.
	Now func() time.Time
	// Limits bound requests.
	Limits Limits
	// CacheNodes bounds the MST nodes each repository keeps decoded.
	CacheNodes int
	// BlockCacheBytes bounds the host's in-memory cache of repository
	// blocks (MST nodes mostly) in front of Store, in bytes (default
	// DefaultBlockCacheBytes; negative: no cache).
	BlockCacheBytes int
}

// Host runs communities on one store: one writer goroutine per open
// community. It is safe for concurrent use.
type Host struct {
	opts    HostOptions
	catalog *lexicon.Catalog
	signer  *ucan.KeySigner
	pubKey  atcrypto.PublicKey
	limits  Limits
	private PrivateStore

	mu     sync.Mutex
	open   map[string]*Community
	closed bool

	createJWTs usedJWTs // founders' service-auth JWTs spent by Create
}

// NewHost checks opts and loads the lexicons.
func NewHost(ctx context.Context, opts HostOptions) (*Host, error) {
	if opts.Store == nil || opts.SigningKey == nil || opts.PLC == nil {
		return nil, errors.New("community: HostOptions needs Store, SigningKey and PLC")
	}
	cat, err := newCatalog(ctx, opts.Lexicons)
	if err != nil {
		return nil, err
	}
	signer, err := ucan.NewAtcryptoSigner(opts.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("community: signing key: %w", err)
	}
	pub, err := opts.SigningKey.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("community: signing key: %w", err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BlockCacheBytes == 0 {
		opts.BlockCacheBytes = DefaultBlockCacheBytes
	}
	if opts.BlockCacheBytes > 0 {
		opts.Store = newBlockCache(opts.Store, opts.BlockCacheBytes)
	}
	h := &Host{opts: opts, catalog: cat, signer: signer, pubKey: pub, limits: opts.Limits.withDefaults(),
		private: opts.Private, open: map[string]*Community{}}
	if h.private == nil {
		h.private = NewMemPrivateStore()
	}
	return h, nil
}

// SigningKeyDID returns the did:key of the host's atproto signing key.
func (h *Host) SigningKeyDID() string { return h.pubKey.DIDKey() }

// Catalog returns the host's lexicon catalog.
func (h *Host) Catalog() *lexicon.Catalog { return h.catalog }

func (h *Host) now() time.Time { return h.opts.Now() }

// Open opens a community this host already holds (after a restart). It
// refuses (ErrMigration) when the community's DID document no longer names
// this host's signing key. Its state (bindings, grants, revocations, bans, audiences) is rebuilt
// from its repository.
func (h *Host) Open(ctx context.Context, did string) (*Community, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if c, ok := h.open[did]; ok {
		return c, nil
	}
	// The DID document must still name this host's key: a community that
	// moved away (or was taken over) is not written here.
	k, err := resolveSigningKey(ctx, h.opts.PLC, did)
	if err != nil {
		return nil, &Error{Kind: ErrMigration, Index: -1, Detail: "resolving " + did, Err: err}
	}
	if k.DIDKey() != h.pubKey.DIDKey() {
		return nil, errf(ErrMigration, -1, nil, "%s names signing key %s, not this host's: the community has moved", did, k.DIDKey())
	}
	r, err := repo.Open(ctx, h.opts.Store, did, h.opts.SigningKey, h.repoOptions())
	if err != nil {
		return nil, err
	}
	c, err := h.start(ctx, r)
	if err != nil {
		return nil, err
	}
	h.open[did] = c
	return c, nil
}

func (h *Host) repoOptions() repo.Options {
	return repo.Options{Now: h.opts.Now, CacheNodes: h.opts.CacheNodes}
}

// Close stops every open community's writer. It does not close the stores.
func (h *Host) Close() error {
	h.mu.Lock()
	cs := make([]*Community, 0, len(h.open))
	for _, c := range h.open {
		cs = append(cs, c)
	}
	h.open = map[string]*Community{}
	h.closed = true
	h.mu.Unlock()
	for _, c := range cs {
		c.stop()
	}
	return nil
}

// communityResolver resolves the community's own DID to its current signing
// key and everything else through the host's resolver.
type communityResolver struct {
	c *Community
}

func (r communityResolver) ResolveKey(ctx context.Context, did string) (ucan.PublicKey, error) {
	if did == r.c.did {
		return r.c.currentKey(), nil
	}
	if r.c.host.opts.Resolver != nil {
		return r.c.host.opts.Resolver.ResolveKey(ctx, did)
	}
	return nil, fmt.Errorf("%w: %s", ucan.ErrUnresolvableDID, did)
}
