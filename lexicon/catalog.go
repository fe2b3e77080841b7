package lexicon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Resolver fetches the schema file of an NSID that is not in a catalog, for
// example from the network (atproto publishes lexicons as
// com.atproto.lexicon.schema records, found through DNS and the authority's
// repository). A Catalog calls it only when it meets a reference it cannot
// satisfy locally and only if CatalogOptions.Resolver is set. The returned
// bytes are the schema file's JSON; its id must be nsid.
type Resolver interface {
	ResolveLexicon(ctx context.Context, nsid string) ([]byte, error)
}

// ResolverFunc adapts a function to the Resolver interface.
type ResolverFunc func(ctx context.Context, nsid string) ([]byte, error)

// ResolveLexicon calls f(ctx, nsid).
func (f ResolverFunc) ResolveLexicon(ctx context.Context, nsid string) ([]byte, error) {
	return f(ctx, nsid)
}

// CatalogOptions configures a Catalog. The zero value means the defaults.
type CatalogOptions struct {
	// Resolver, if set, is asked for schemas missing from the catalog. The
	// default is none: a missing schema is an ErrNotFound error.
	Resolver Resolver
	// MaxSchemaBytes limits the size of one schema file read from a file
	// system or a Resolver. Zero means DefaultMaxSchemaBytes.
	MaxSchemaBytes int64
}

// Catalog holds checked schema files and the validators compiled from them.
// Definitions are compiled once, on first use (or by CheckRefs), into a tree
// with resolved references and precomputed sets; validation then walks only
// that tree. A Catalog is safe for concurrent use.
type Catalog struct {
	opts CatalogOptions

	mu      sync.RWMutex           // guards schemas
	schemas map[string]*SchemaFile // by NSID

	// nodes maps full refs ("nsid" for main, "nsid#name") to compiled
	// definitions. It is read without locks on every validation and only
	// grows, under compileMu, once a definition and everything it
	// references have compiled.
	nodes     sync.Map   // string -> *node
	compileMu sync.Mutex // serialises compilation
}

// NewCatalog returns an empty catalog.
func NewCatalog(opts CatalogOptions) *Catalog {
	if opts.MaxSchemaBytes <= 0 {
		opts.MaxSchemaBytes = DefaultMaxSchemaBytes
	}
	return &Catalog{opts: opts, schemas: make(map[string]*SchemaFile)}
}

// AddJSON parses and checks one schema file and adds it to the catalog.
func (c *Catalog) AddJSON(data []byte) error {
	if int64(len(data)) > c.opts.MaxSchemaBytes {
		return &SchemaError{Msg: fmt.Sprintf("file is %d bytes, more than %d", len(data), c.opts.MaxSchemaBytes)}
	}
	sf, err := parseSchema(data)
	if err != nil {
		return err
	}
	return c.Add(sf)
}

// Add adds a schema file returned by ParseSchema. The catalog keeps sf: the
// caller must not modify it afterwards.
func (c *Catalog) Add(sf *SchemaFile) error {
	if sf == nil {
		return &SchemaError{Msg: "nil schema file"}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.schemas[sf.ID]; ok {
		return fmt.Errorf("%w: %s", ErrDuplicate, sf.ID)
	}
	c.schemas[sf.ID] = sf
	return nil
}

// LoadFS adds every *.json file under root in fsys (an embed.FS, os.DirFS,
// fstest.MapFS, ...), in lexical order. Errors name the file.
func (c *Catalog) LoadFS(ctx context.Context, fsys fs.FS, root string) error {
	var files []string
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lexicon: loading schemas: %w", err)
	}
	sort.Strings(files)
	for _, p := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := c.readFile(fsys, p)
		if err != nil {
			return fmt.Errorf("lexicon: %s: %w", p, err)
		}
		if err := c.AddJSON(data); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

func (c *Catalog) readFile(fsys fs.FS, p string) ([]byte, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, c.opts.MaxSchemaBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > c.opts.MaxSchemaBytes {
		return nil, &SchemaError{Msg: fmt.Sprintf("file is more than %d bytes", c.opts.MaxSchemaBytes)}
	}
	return data, nil
}

// LoadCatalog returns a catalog of every *.json schema file under root in
// fsys (typically an embed.FS the caller ships), with every reference
// checked (CheckRefs): the one call a service needs before validating.
func LoadCatalog(ctx context.Context, fsys fs.FS, root string, opts CatalogOptions) (*Catalog, error) {
	c := NewCatalog(opts)
	if err := c.LoadFS(ctx, fsys, root); err != nil {
		return nil, err
	}
	if err := c.CheckRefs(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadDir adds every *.json file under the directory dir.
func (c *Catalog) LoadDir(ctx context.Context, dir string) error {
	return c.LoadFS(ctx, os.DirFS(dir), ".")
}

// Schema returns the schema file with the given NSID, if the catalog has it.
func (c *Catalog) Schema(nsid string) (*SchemaFile, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	sf, ok := c.schemas[nsid]
	return sf, ok
}

// NSIDs returns the NSIDs of the schemas in the catalog, sorted.
func (c *Catalog) NSIDs() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return sortedKeys(c.schemas)
}

// CheckRefs compiles every definition in the catalog, resolving every
// reference (asking the Resolver, if any, for missing schemas). It reports
// the first reference that cannot be resolved or that points to a
// definition of the wrong kind, as a *SchemaError with its path.
func (c *Catalog) CheckRefs(ctx context.Context) error {
	for _, id := range c.NSIDs() {
		sf, _ := c.Schema(id)
		for _, name := range sortedKeys(sf.Defs) {
			ref := id
			if name != "main" {
				ref += "#" + name
			}
			if _, err := c.lookup(ctx, ref); err != nil {
				return err
			}
		}
	}
	return nil
}

// lookup returns the compiled node of a full reference ("nsid" or
// "nsid#name"), compiling it (and what it references) on first use.
func (c *Catalog) lookup(ctx context.Context, ref string) (*node, error) {
	return c.compileRef(ctx, ref, true)
}

// lookupLocal is lookup without the Resolver.
func (c *Catalog) lookupLocal(ctx context.Context, ref string) (*node, error) {
	return c.compileRef(ctx, ref, false)
}

func (c *Catalog) compileRef(ctx context.Context, ref string, resolve bool) (*node, error) {
	if n, ok := c.nodes.Load(ref); ok {
		return n.(*node), nil
	}
	if !resolve && !c.hasSchema(ref) {
		// Unknown without the Resolver: answer without taking compileMu or
		// allocating, so that open-union members of unknown types are cheap.
		return nil, ErrNotFound
	}
	c.compileMu.Lock()
	defer c.compileMu.Unlock()
	if n, ok := c.nodes.Load(ref); ok { // compiled meanwhile
		return n.(*node), nil
	}
	cc := &compiler{cat: c, ctx: ctx, resolve: resolve, pending: make(map[string]*node)}
	n, err := cc.named(ref, "", "")
	if err != nil {
		return nil, err
	}
	for k, v := range cc.pending {
		c.nodes.Store(k, v)
	}
	return n, nil
}

// hasSchema reports whether the catalog holds the schema file of ref.
func (c *Catalog) hasSchema(ref string) bool {
	nsid, _ := splitRef(ref)
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.schemas[nsid]
	return ok
}

// findDef returns the definition named by a full reference, asking the
// Resolver for a missing schema. Called with compileMu held.
func (c *Catalog) findDef(ctx context.Context, ref string, resolve bool) (*SchemaFile, *Def, error) {
	nsid, name, ok := strings.Cut(ref, "#")
	if !ok {
		name = "main"
	}
	c.mu.RLock()
	sf := c.schemas[nsid]
	c.mu.RUnlock()
	if sf == nil {
		if c.opts.Resolver == nil || !resolve {
			return nil, nil, fmt.Errorf("%w: %s", ErrNotFound, nsid)
		}
		if _, err := syntax.ParseNSID(nsid); err != nil {
			return nil, nil, fmt.Errorf("%w: invalid NSID %q", ErrNotFound, nsid)
		}
		var err error
		sf, err = c.resolve(ctx, nsid)
		if err != nil {
			return nil, nil, err
		}
	}
	def := sf.Defs[name]
	if def == nil {
		return nil, nil, fmt.Errorf("%w: %s has no definition %q", ErrNotFound, nsid, name)
	}
	return sf, def, nil
}

func (c *Catalog) resolve(ctx context.Context, nsid string) (*SchemaFile, error) {
	data, err := c.opts.Resolver.ResolveLexicon(ctx, nsid)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: resolver: %w", ErrNotFound, nsid, err)
	}
	if int64(len(data)) > c.opts.MaxSchemaBytes {
		return nil, &SchemaError{ID: nsid, Msg: fmt.Sprintf("resolved file is %d bytes, more than %d", len(data), c.opts.MaxSchemaBytes)}
	}
	sf, err := parseSchema(data)
	if err != nil {
		return nil, err
	}
	if sf.ID != nsid {
		return nil, &SchemaError{ID: sf.ID, Path: "id", Msg: fmt.Sprintf("resolver returned %s for %s", sf.ID, nsid)}
	}
	if err := c.Add(sf); err != nil && !errors.Is(err, ErrDuplicate) {
		return nil, err
	}
	got, _ := c.Schema(nsid)
	return got, nil
}

// splitRef splits a full reference into NSID and definition name.
func splitRef(ref string) (nsid, name string) {
	nsid, name, ok := strings.Cut(ref, "#")
	if !ok {
		name = "main"
	}
	return nsid, name
}
