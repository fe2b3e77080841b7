package community

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/ucan"
)

// DefaultResolverCacheSize bounds the keys a PLCResolver remembers.
const DefaultResolverCacheSize = 1024

// PLCResolver is a ucan.Resolver for anyone who checks a community's
// invocations outside its host: it resolves a did:plc to the atproto signing
// key of its DID document, computed from the audit log it fetches and
// validates (so the directory is trusted only for its choice of fork), and
// every other DID through Others (members' atproto DIDs, for instance).
// Keys are cached (at most CacheSize); call Forget when a DID's key changes.
type PLCResolver struct {
	PLC       PLC
	Others    ucan.Resolver
	CacheSize int

	mu    sync.Mutex
	cache map[string]ucan.PublicKey
}

// ResolveKey implements ucan.Resolver.
func (r *PLCResolver) ResolveKey(ctx context.Context, did string) (ucan.PublicKey, error) {
	if !strings.HasPrefix(did, "did:plc:") {
		if r.Others != nil {
			return r.Others.ResolveKey(ctx, did)
		}
		return nil, fmt.Errorf("%w: %s", ucan.ErrUnresolvableDID, did)
	}
	r.mu.Lock()
	k, ok := r.cache[did]
	r.mu.Unlock()
	if ok {
		return k, nil
	}
	ak, err := resolveSigningKey(ctx, r.PLC, did)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ucan.ErrUnresolvableDID, did, err)
	}
	k, err = ucan.PublicKeyFromAtcrypto(ak)
	if err != nil {
		return nil, err
	}
	max := r.CacheSize
	if max <= 0 {
		max = DefaultResolverCacheSize
	}
	r.mu.Lock()
	if r.cache == nil || len(r.cache) >= max {
		r.cache = map[string]ucan.PublicKey{}
	}
	r.cache[did] = k
	r.mu.Unlock()
	return k, nil
}

// Forget drops a cached key.
func (r *PLCResolver) Forget(did string) {
	r.mu.Lock()
	delete(r.cache, did)
	r.mu.Unlock()
}

// resolveSigningKey returns the current atproto signing key of did from its
// validated audit log.
func resolveSigningKey(ctx context.Context, p PLC, did string) (atcrypto.PublicKey, error) {
	log, err := p.AuditLog(ctx, did)
	if err != nil {
		return nil, err
	}
	st, err := plc.ValidateAuditLog(did, log, plc.ValidateOptions{Workers: 1})
	if err != nil {
		return nil, err
	}
	d := st.Data()
	if d == nil {
		return nil, plc.ErrGone
	}
	return d.SigningKey()
}
