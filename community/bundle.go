package community

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/mst"
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// Bundle is the evidence that a member wrote a record, verifiable offline
// with only the community's DID document (VerifyBundle): the signed commit;
// the MST nodes proving, under the commit, the record, its receipt, the
// invocation record the receipt names and the author's binding (for a
// private record: the audience's anchor record, and then, under the
// anchor's root, the record, its receipt and the invocation record); the
// record, receipt, invocation record, binding and anchor bytes; and the
// delegation chain the invocation names. It encodes to DRISL (Marshal,
// ParseBundle).
type Bundle struct {
	DID         string   `cbor:"did"`
	Path        string   `cbor:"path"`
	Audience    string   `cbor:"audience,omitempty"`
	Commit      []byte   `cbor:"commit"`
	Record      []byte   `cbor:"record"`
	Receipt     []byte   `cbor:"receipt"`
	Invocation  []byte   `cbor:"invocation"`
	Binding     []byte   `cbor:"binding"`
	Anchor      []byte   `cbor:"anchor,omitempty"`
	Nodes       [][]byte `cbor:"nodes"`
	Delegations [][]byte `cbor:"delegations"`
}

// Marshal encodes the bundle as DRISL.
func (b *Bundle) Marshal() ([]byte, error) { return drisl.Marshal(b) }

// ParseBundle decodes a bundle.
func ParseBundle(data []byte) (*Bundle, error) {
	var b Bundle
	if err := drisl.Unmarshal(data, &b); err != nil {
		return nil, &Error{Kind: ErrBadBundle, Index: -1, Detail: "encoding", Err: err}
	}
	return &b, nil
}

// Bundle builds the authorship bundle of a public record at the head.
func (c *Community) Bundle(ctx context.Context, collection, rkey string) (*Bundle, error) {
	return c.bundle(ctx, "", collection+"/"+rkey)
}

func (c *Community) bundle(ctx context.Context, aud, path string) (*Bundle, error) {
	head := c.repo.Head()
	store := c.repo.Store()
	get := func(x cid.Cid) ([]byte, error) { return store.GetBlock(ctx, c.did, x) }
	b := &Bundle{DID: c.did, Path: path, Audience: aud}
	var err error
	if b.Commit, err = get(head.Commit); err != nil {
		return nil, err
	}
	pub := c.repo.Tree().LoadRoot(head.Data)
	seen := map[cid.Cid]bool{}
	addNodes := func(bs []mst.Block) {
		for _, n := range bs {
			if !seen[n.CID] {
				seen[n.CID] = true
				b.Nodes = append(b.Nodes, n.Data)
			}
		}
	}
	// prove returns the value at key in t, adding the proof nodes.
	prove := func(t *mst.Tree, key string, read func(cid.Cid) ([]byte, error)) ([]byte, error) {
		nodes, err := t.Prove(ctx, key)
		if err != nil {
			return nil, err
		}
		addNodes(nodes)
		v, ok, err := t.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errf(ErrRecordNotFound, -1, nil, "%s", key)
		}
		return read(v)
	}
	recTree, read := pub, get
	if aud != "" {
		if b.Anchor, err = prove(pub, NSIDAudience+"/"+aud, get); err != nil {
			return nil, err
		}
		var a audienceRecord
		if err := drisl.Unmarshal(b.Anchor, &a); err != nil {
			return nil, err
		}
		src := privateSource{c.host.private, c.did}
		recTree = mst.Options{}.Load(src, a.Root)
		read = func(x cid.Cid) ([]byte, error) { return src.GetBlock(ctx, x) }
	}
	if b.Record, err = prove(recTree, path, read); err != nil {
		return nil, err
	}
	if b.Receipt, err = prove(recTree, ReceiptPath(path), read); err != nil {
		return nil, err
	}
	var rc Receipt
	if err := drisl.Unmarshal(b.Receipt, &rc); err != nil {
		return nil, err
	}
	if b.Invocation, err = prove(recTree, InvocationPath(rc.Invocation), read); err != nil {
		return nil, err
	}
	var ir invocationRecord
	if err := drisl.Unmarshal(b.Invocation, &ir); err != nil {
		return nil, err
	}
	inv, err := ucan.ParseInvocation(ir.Token)
	if err != nil {
		return nil, err
	}
	if b.Binding, err = prove(pub, NSIDBinding+"/"+inv.Issuer, get); err != nil {
		return nil, err
	}
	for _, p := range inv.Proofs {
		tok, err := c.proofs.GetDelegation(ctx, p)
		if err != nil {
			return nil, err
		}
		b.Delegations = append(b.Delegations, tok)
	}
	return b, nil
}

// VerifyOptions says what VerifyBundle and VerifyAudienceCAR trust: the
// community's DID document, or its signing key and its DID. Give one of
// Document and Key, not both. A key alone never suffices: one host signing
// key (HostOptions.SigningKey) signs the commits of every community on
// the host, so a bundle of another community on the same host verifies
// with it; DID says which community the evidence must belong to.
type VerifyOptions struct {
	// Document is the community's DID document: its ID is the DID the
	// evidence must belong to, its #atproto key must sign the commit.
	Document *plc.Document
	// Key is the community's signing key, used instead of Document. It
	// requires DID.
	Key atcrypto.PublicKey
	// DID is the community the evidence must belong to. Required with Key;
	// with Document, optional, and if set it must be Document.ID.
	// VerifyAudienceCAR takes the DID as an argument: DID, if set, must
	// equal it.
	DID string
	// AuditLog is the DID's did:plc audit log. Records written under an
	// earlier host are signed, in their delegation chains, by that host's
	// key: VerifyBundle accepts the atproto keys of the log's active
	// history for the root delegation (the commit itself must be signed by
	// the current key). The log must validate for the DID. VerifyAudienceCAR
	// does not use it.
	AuditLog []plc.LogEntry
	// MaxBytes bounds the audience CAR VerifyAudienceCAR reads (default
	// DefaultMaxMigrationBytes). VerifyBundle does not use it: a Bundle is
	// already in memory.
	MaxBytes int64
}

// verifyKey applies the rules of VerifyOptions to evidence that says it is
// of the community did: it returns the key the evidence's commit must be
// signed with, or an error wrapping ErrBadBundle if the options are
// incomplete or contradictory or vouch for another DID.
func (o VerifyOptions) verifyKey(did string) (atcrypto.PublicKey, error) {
	switch {
	case o.Key != nil && o.Document != nil:
		return nil, errf(ErrBadBundle, -1, nil, "give VerifyOptions.Key or Document, not both")
	case o.Key != nil:
		if o.DID == "" {
			return nil, errf(ErrBadBundle, -1, nil, "VerifyOptions.Key needs DID: a host's key signs all of its communities")
		}
		if o.DID != did {
			return nil, errf(ErrBadBundle, -1, nil, "the evidence is for %s, not %s", did, o.DID)
		}
		return o.Key, nil
	case o.Document != nil:
		if o.DID != "" && o.DID != o.Document.ID {
			return nil, errf(ErrBadBundle, -1, nil, "VerifyOptions.DID is %s, the DID document %s", o.DID, o.Document.ID)
		}
		if o.Document.ID != did {
			return nil, errf(ErrBadBundle, -1, nil, "DID document is for %s, the evidence for %s", o.Document.ID, did)
		}
		key, err := o.Document.SigningKey()
		if err != nil {
			return nil, &Error{Kind: ErrBadBundle, Index: -1, Detail: "DID document", Err: err}
		}
		return key, nil
	}
	return nil, errf(ErrBadBundle, -1, nil, "no key or DID document")
}

// Authorship is what a verified bundle proves.
type Authorship struct {
	DID        string
	Path       string
	Audience   string
	Record     cid.Cid
	Author     string // the member's atproto DID (from the binding, signed by the community)
	SessionKey string // the key that signed the invocation
	Invocation cid.Cid
	Command    string
	Chain      []cid.Cid // the delegation chain, root first
	WrittenAt  time.Time // the receipt's createdAt
	Commit     cid.Cid
	Rev        string
}

// VerifyBundle checks a bundle offline: the bundle and its commit are of
// the community opts names (Document.ID, or DID with Key) and the commit is
// signed by its key; the MST nodes prove the record, its receipt and the
// author's binding under the commit (for a private record, via the
// audience's anchor and its private tree); the receipt names this path,
// record CID and audience; its invocation wrote exactly that CID and is
// valid, with its delegation chain back to the community, at the time the
// receipt records; the invoker is the session key bound to the author.
// Every failure wraps ErrBadBundle (and the cause).
func VerifyBundle(ctx context.Context, b *Bundle, opts VerifyOptions) (*Authorship, error) {
	bad := func(cause error, format string, args ...any) error {
		return &Error{Kind: ErrBadBundle, Index: -1, Detail: fmt.Sprintf(format, args...), Err: cause}
	}
	if b == nil {
		return nil, bad(nil, "no bundle")
	}
	key, err := opts.verifyKey(b.DID)
	if err != nil {
		return nil, err
	}
	commit, err := repo.DecodeCommit(b.Commit)
	if err != nil {
		return nil, bad(err, "commit")
	}
	if commit.DID != b.DID {
		return nil, bad(nil, "commit is for %s", commit.DID)
	}
	if err := commit.VerifySignature(key); err != nil {
		return nil, bad(err, "commit signature")
	}
	blocks := make([]mst.Block, len(b.Nodes))
	for i, n := range b.Nodes {
		blocks[i] = mst.Block{CID: drisl.SumCID(drisl.CodecDagCBOR, n), Data: n}
	}
	proveIn := func(root cid.Cid, k string, data []byte) error {
		v, ok, err := mst.VerifyProof(ctx, root, k, blocks)
		if err != nil {
			return bad(err, "proof of %s", k)
		}
		if !ok {
			return bad(nil, "%s is proved absent", k)
		}
		if got := drisl.SumCID(drisl.CodecDagCBOR, data); got != v {
			return bad(nil, "%s: the bytes hash to %s, the tree holds %s", k, got, v)
		}
		return nil
	}
	root := commit.Data
	if b.Audience != "" {
		if err := proveIn(commit.Data, NSIDAudience+"/"+b.Audience, b.Anchor); err != nil {
			return nil, err
		}
		var a audienceRecord
		if err := drisl.Unmarshal(b.Anchor, &a); err != nil || a.Name != b.Audience {
			return nil, bad(err, "anchor record")
		}
		root = a.Root
	}
	if err := proveIn(root, b.Path, b.Record); err != nil {
		return nil, err
	}
	if err := proveIn(root, ReceiptPath(b.Path), b.Receipt); err != nil {
		return nil, err
	}
	recCID := drisl.SumCID(drisl.CodecDagCBOR, b.Record)
	var rc Receipt
	if err := drisl.Unmarshal(b.Receipt, &rc); err != nil || rc.Type != NSIDReceipt {
		return nil, bad(err, "receipt")
	}
	// The receipt names the invocation; its record is proved in the same
	// tree, and its token must hash to the CID the receipt names.
	if err := proveIn(root, InvocationPath(rc.Invocation), b.Invocation); err != nil {
		return nil, err
	}
	var ir invocationRecord
	if err := drisl.Unmarshal(b.Invocation, &ir); err != nil || ir.Type != NSIDInvocation {
		return nil, bad(err, "invocation record")
	}
	if drisl.SumCID(drisl.CodecDagCBOR, ir.Token) != rc.Invocation {
		return nil, bad(nil, "the invocation record does not hold the invocation the receipt names")
	}
	inv, err := ucan.ParseInvocation(ir.Token)
	if err != nil {
		return nil, bad(err, "invocation")
	}
	if inv.CID() != rc.Invocation || inv.Subject != b.DID {
		return nil, bad(nil, "invocation CID or subject")
	}
	// What was written (action, path, audience, record CID) is what the
	// member signed: the invocation's arguments.
	if !invocationWrites(inv, b.Path, b.Audience, recCID) {
		return nil, bad(nil, "the invocation does not write %s with CID %s", b.Path, recCID)
	}
	if err := proveIn(commit.Data, NSIDBinding+"/"+inv.Issuer, b.Binding); err != nil {
		return nil, err
	}
	var bind bindingRecord
	if err := drisl.Unmarshal(b.Binding, &bind); err != nil {
		return nil, bad(err, "binding")
	}
	if bind.SessionKey != inv.Issuer || bind.Member != rc.Author {
		return nil, bad(nil, "the invoker %s is not bound to the author %s", inv.Issuer, rc.Author)
	}
	at, err := time.Parse(time.RFC3339, rc.CreatedAt)
	if err != nil {
		return nil, bad(err, "receipt time")
	}
	keys := []atcrypto.PublicKey{key}
	if len(opts.AuditLog) > 0 {
		// The log must be the DID's own (its genesis hashes to the DID, each
		// operation signed by an authorised rotation key), or any key could
		// be slipped in.
		st, err := plc.ValidateAuditLog(b.DID, opts.AuditLog, plc.ValidateOptions{Workers: 1})
		if err != nil {
			return nil, bad(err, "audit log")
		}
		for _, e := range st.Entries() {
			if e.Nullified || e.Operation.VerificationMethods == nil {
				continue
			}
			if k, err := atcrypto.ParsePublicDIDKey(e.Operation.VerificationMethods["atproto"]); err == nil {
				keys = append(keys, k)
			}
		}
	}
	var chain []*ucan.Delegation
	// Fail closed: a key the ucan package cannot use is a verification
	// failure, never a pass (with no usable key the chain is unchecked).
	verr := errors.New("no usable community key")
	for _, k := range keys {
		uk, err := ucan.PublicKeyFromAtcrypto(k)
		if err != nil {
			verr = fmt.Errorf("community key: %w", err)
			continue
		}
		v := ucan.NewValidator(ucan.ValidatorOptions{Executor: b.DID, Resolver: staticResolver{b.DID, uk},
			Now: func() time.Time { return at }, CacheSize: -1})
		_, chain, verr = v.ValidateChain(ctx, ir.Token, b.Delegations...)
		if verr == nil {
			break
		}
	}
	if verr != nil {
		return nil, bad(verr, "invocation chain")
	}
	out := &Authorship{DID: b.DID, Path: b.Path, Audience: b.Audience, Record: recCID, Author: rc.Author,
		SessionKey: inv.Issuer, Invocation: inv.CID(), Command: inv.Command, WrittenAt: at, Rev: commit.Rev}
	if _, out.Commit, err = commit.Encode(); err != nil {
		return nil, bad(err, "commit")
	}
	for _, d := range chain {
		out.Chain = append(out.Chain, d.CID())
	}
	return out, nil
}

// invocationWrites reports whether inv creates or updates path (in aud)
// with exactly the record CID rc.
func invocationWrites(inv *ucan.Invocation, path, aud string, rc cid.Cid) bool {
	specs, err := parseWrites(inv, 1<<10)
	if err != nil || !strings.HasPrefix(inv.Command, "/repo/") {
		return false
	}
	for _, w := range specs {
		if w.collection+"/"+w.rkey == path && w.audience == aud && w.cid == rc && w.action != repo.ActionDelete {
			return true
		}
	}
	return false
}

type staticResolver struct {
	did string
	key ucan.PublicKey
}

func (r staticResolver) ResolveKey(_ context.Context, did string) (ucan.PublicKey, error) {
	if did == r.did {
		return r.key, nil
	}
	return nil, fmt.Errorf("%w: %s", ucan.ErrUnresolvableDID, did)
}
