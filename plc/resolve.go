package plc

import (
	"context"
	"fmt"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// Resolver gives the validated state of a DID. *Client implements it from
// the audit log it fetches and validates, *Directory from its own storage,
// so code that resolves DIDs runs the same against plc.directory and
// against an in-process directory in tests.
type Resolver interface {
	State(ctx context.Context, did string) (*AuditState, error)
}

var (
	_ Resolver = (*Client)(nil)
	_ Resolver = (*Directory)(nil)
)

// State fetches and validates the audit log of did; see VerifiedState.
func (c *Client) State(ctx context.Context, did string) (*AuditState, error) {
	return c.VerifiedState(ctx, did, ValidateOptions{Keys: c.keys})
}

// ResolveAtproto resolves did through r and returns its atproto signing key
// (verificationMethods.atproto, parsed) and the endpoint of its atproto_pds
// service. A tombstoned DID gives an error wrapping ErrGone.
func ResolveAtproto(ctx context.Context, r Resolver, did string) (atcrypto.PublicKey, string, error) {
	s, err := r.State(ctx, did)
	if err != nil {
		return nil, "", err
	}
	d := s.Data()
	if d == nil {
		return nil, "", fmt.Errorf("%w: %s", ErrGone, did)
	}
	key, err := d.SigningKey()
	if err != nil {
		return nil, "", err
	}
	return key, d.PDSEndpoint(), nil
}
