package community

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/townhall-dev/townhall/lexicon"
)

// The NSIDs of the community's own records. Collections under
// dev.townhall.community are reserved: only the community's acts (Create,
// Join, Invite, Revoke, Ban, audiences, receipts and the invocations they
// name) write them.
const (
	NSIDProfile    = "dev.townhall.community.profile"
	NSIDRole       = "dev.townhall.community.role"
	NSIDGrant      = "dev.townhall.community.grant"
	NSIDBinding    = "dev.townhall.community.binding"
	NSIDRevocation = "dev.townhall.community.revocation"
	NSIDBan        = "dev.townhall.community.ban"
	NSIDReceipt    = "dev.townhall.community.receipt"
	NSIDAudience   = "dev.townhall.community.audience"
	NSIDInvocation = "dev.townhall.community.invocation"
	NSIDChannel    = "dev.townhall.chat.channel"
	NSIDMessage    = "dev.townhall.chat.message"

	reservedPrefix = "dev.townhall.community."
)

//go:embed lexicons
var lexiconFS embed.FS

// Lexicons returns the schema files of this package's records
// (dev.townhall.community.* and dev.townhall.chat.*) as a file system.
func Lexicons() fs.FS {
	sub, err := fs.Sub(lexiconFS, "lexicons")
	if err != nil { // cannot happen: the directory is embedded
		return lexiconFS
	}
	return sub
}

// newCatalog loads the embedded schemas and the host's extra ones.
func newCatalog(ctx context.Context, extra fs.FS) (*lexicon.Catalog, error) {
	cat := lexicon.NewCatalog(lexicon.CatalogOptions{})
	if err := cat.LoadFS(ctx, lexiconFS, "lexicons"); err != nil {
		return nil, fmt.Errorf("community: loading embedded lexicons: %w", err)
	}
	if extra != nil {
		if err := cat.LoadFS(ctx, extra, "."); err != nil {
			return nil, fmt.Errorf("community: loading extra lexicons: %w", err)
		}
	}
	if err := cat.CheckRefs(ctx); err != nil {
		return nil, fmt.Errorf("community: lexicons: %w", err)
	}
	return cat, nil
}
