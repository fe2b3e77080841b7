package community

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// DefaultMaxMigrationBytes bounds each CAR Migrate reads (the repository
// and every audience CAR) and, by default, the audience CAR
// VerifyAudienceCAR reads.
const DefaultMaxMigrationBytes = 256 << 20

// MigrateOptions describes a move of a community to this host.
type MigrateOptions struct {
	// Repo is the repository CAR: the old host's export
	// (com.atproto.sync.getRepo) or a member's backup. Required.
	Repo io.Reader
	// Commit, if defined, pins the repository: the CAR's root must be this
	// commit (an error wrapping repo.ErrWrongRoot otherwise). Pass a
	// commit you saw while the old host was still trusted (from a relay's
	// firehose, your own backup, a bundle). Without it, a CAR signed by an
	// earlier key of the DID is only as trustworthy as that key's holder,
	// and an old host keeps its old key: Migrate then only refuses a
	// commit whose rev is dated after the key was replaced in the audit
	// log (plus repo.DefaultMaxClockSkew), a date the holder can backdate.
	Commit cid.Cid
	// Audiences are audience CARs (AudienceView.WriteCAR) of the private
	// trees to carry over; each must match its anchor in Repo. Audiences
	// left out keep their anchors, but their records stay behind: writes
	// to them fail until their blocks are supplied.
	Audiences []io.Reader
	// RecoveryKey is a recovery (rotation) key of the community, higher in
	// priority than the old host's. It signs the PLC operation that points
	// the DID to this host's signing key, endpoint and rotation key.
	RecoveryKey atcrypto.PrivateKey
	// Nullify, if set, is the CID of a hostile operation (for instance the
	// old host pointing the DID to its own key) that the move forks around,
	// nullifying it and everything after it. Only within plc.RecoveryWindow.
	Nullify string
	// MaxBytes bounds Repo and each of Audiences (default
	// DefaultMaxMigrationBytes); a larger one is refused with
	// ErrRecordTooLarge.
	MaxBytes int64
}

// Migrate moves community did to this host without the old host's help:
// it verifies the repository CAR against the signing keys of the DID's
// audit log (so a backup signed by the old host before it turned hostile is
// accepted; a key the log replaced only for a commit whose rev is dated no
// later than its replacement; see MigrateOptions.Commit for what that does
// not stop), checks and stores the audience trees given, imports it, signs
// with the recovery key and submits the PLC operation that points the DID
// here (a plain update of the head, or a nullifying fork around
// opts.Nullify), re-issues the community's root delegations with this host's
// key (so members' chains keep working; Membership returns the new chains),
// and commits them, signed by this host's key.
func (h *Host) Migrate(ctx context.Context, did string, opts MigrateOptions) (*Community, error) {
	bad := func(cause error, format string, args ...any) error {
		return &Error{Kind: ErrMigration, Index: -1, Detail: fmt.Sprintf(format, args...), Err: cause}
	}
	if opts.Repo == nil || opts.RecoveryKey == nil || h.opts.RotationKey == nil {
		return nil, bad(nil, "needs Repo, RecoveryKey and a host rotation key")
	}
	max := opts.MaxBytes
	if max <= 0 {
		max = DefaultMaxMigrationBytes
	}
	car, err := io.ReadAll(io.LimitReader(opts.Repo, max+1))
	if err != nil {
		return nil, bad(err, "reading the repository")
	}
	if int64(len(car)) > max {
		return nil, errf(ErrRecordTooLarge, -1, nil, "repository CAR larger than %d bytes", max)
	}
	log, err := h.opts.PLC.AuditLog(ctx, did)
	if err != nil {
		return nil, bad(err, "audit log")
	}
	state, err := plc.ValidateAuditLog(did, log, plc.ValidateOptions{})
	if err != nil {
		return nil, bad(err, "audit log")
	}
	// The repository must be signed by a key of the DID's history: try the
	// atproto keys of the log, newest first, up to the hostile operation;
	// a key that a later operation replaced (the hostile one included)
	// signs only commits dated before that.
	hist, err := keyHistory(log, opts.Nullify)
	if err != nil {
		return nil, bad(err, "audit log")
	}
	var vkey atcrypto.PublicKey
	var vr *repo.VerifiedRepo
	var lastErr error
	for i := len(hist) - 1; i >= 0; i-- {
		hk := hist[i]
		if vr, lastErr = repo.VerifyCAR(ctx, bytes.NewReader(car), repo.VerifyOptions{Key: hk.key, DID: did, Commit: opts.Commit, Now: h.now}); lastErr != nil {
			continue
		}
		if lastErr = hk.signedInTime(vr.Commit.Rev); lastErr == nil {
			vkey = hk.key
			break
		}
	}
	if vkey == nil {
		return nil, bad(lastErr, "the repository does not verify with any signing key of the DID's history")
	}
	// Check every audience CAR against its anchor before writing anything.
	anchors := map[string]cid.Cid{}
	for _, e := range vr.Records {
		if e.Collection != NSIDAudience {
			continue
		}
		data, ok := vr.Block(e.CID)
		var a audienceRecord
		if !ok || drisl.Unmarshal(data, &a) != nil {
			return nil, bad(nil, "audience record %s", e.RKey)
		}
		anchors[a.Name] = a.Root
	}
	var private [][]repo.Block
	for i, rd := range opts.Audiences {
		blocks, err := verifyAudienceBackup(ctx, rd, did, vkey, anchors, max)
		if err != nil {
			return nil, bad(err, "audience CAR %d", i)
		}
		private = append(private, blocks)
	}
	// Build (not yet submit) the PLC operation: a key that cannot sign it
	// fails here, before anything is written.
	rot, err := h.opts.RotationKey.PublicKey()
	if err != nil {
		return nil, err
	}
	mo := plc.MoveOptions{NewSigningKey: h.pubKey.DIDKey(), NewEndpoint: h.opts.Endpoint, NewHostRotationKey: rot.DIDKey(),
		Hostile: opts.Nullify}
	var op *plc.Op
	if opts.Nullify != "" {
		op, _, err = plc.Nullify(state, mo, opts.RecoveryKey, h.now())
	} else {
		op, err = plc.Move(state, mo, opts.RecoveryKey)
	}
	if err != nil {
		return nil, bad(err, "building the PLC operation")
	}
	// The private blocks first (as the writer does): a failure after them
	// leaves unreferenced blocks, never anchors whose trees are missing.
	for _, blocks := range private {
		if err := h.private.PutPrivateBlocks(ctx, did, blocks); err != nil {
			return nil, bad(err, "storing audience blocks")
		}
	}
	var r *repo.Repo
	r, err = repo.ImportVerified(ctx, h.opts.Store, vr, h.opts.SigningKey, h.repoOptions()) // verified above, with h.now
	if errors.Is(err, repo.ErrRepoExists) {
		// A retry after a failed PLC submission: accept the same commit.
		r, err = repo.Open(ctx, h.opts.Store, did, h.opts.SigningKey, h.repoOptions())
		if err == nil && r.Head().Commit != vr.CommitCID {
			err = fmt.Errorf("%w: this host holds another commit of %s", repo.ErrRepoExists, did)
		}
	}
	if err != nil {
		return nil, bad(err, "import")
	}
	if err := h.opts.PLC.Submit(ctx, did, op); err != nil {
		return nil, bad(err, "submitting the PLC operation")
	}
	c, err := h.start(ctx, r)
	if err != nil {
		return nil, err
	}
	if err := c.reissueRoots(ctx); err != nil {
		c.stop()
		return nil, bad(err, "re-issuing root delegations")
	}
	h.mu.Lock()
	h.open[did] = c
	h.mu.Unlock()
	return c, nil
}

// historicKey is an atproto key of a DID's history: replaced is when a
// later operation of the log replaced (or removed) it, zero while it is
// the DID's key.
type historicKey struct {
	key      atcrypto.PublicKey
	replaced time.Time
	by       string // the CID of the operation that replaced it
}

// keyHistory returns the atproto keys of log's active operations in
// order, up to the operation nullify names (excluded: it replaces the key
// before it).
func keyHistory(log []plc.LogEntry, nullify string) ([]historicKey, error) {
	var hist []historicKey
	for _, e := range log {
		if e.Nullified {
			continue
		}
		hostile := nullify != "" && e.CID == nullify
		k, kerr := atcrypto.ParsePublicDIDKey(e.Operation.VerificationMethods["atproto"])
		if n := len(hist); n > 0 && hist[n-1].replaced.IsZero() && (hostile || kerr != nil || k.DIDKey() != hist[n-1].key.DIDKey()) {
			at, err := plc.ParseTime(e.CreatedAt)
			if err != nil {
				return nil, fmt.Errorf("entry %s: %w", e.CID, err)
			}
			hist[n-1].replaced, hist[n-1].by = at, e.CID
		}
		if hostile {
			break
		}
		if kerr == nil && (len(hist) == 0 || !hist[len(hist)-1].replaced.IsZero()) {
			hist = append(hist, historicKey{key: k})
		}
	}
	return hist, nil
}

// signedInTime refuses a commit rev dated more than
// repo.DefaultMaxClockSkew after the key was replaced.
func (hk historicKey) signedInTime(rev string) error {
	if hk.replaced.IsZero() {
		return nil
	}
	tid, err := syntax.ParseTID(rev)
	if err != nil {
		return fmt.Errorf("commit rev %q: %w", rev, err)
	}
	if at := tid.Time(); at.After(hk.replaced.Add(repo.DefaultMaxClockSkew)) {
		return fmt.Errorf("the commit (rev %s) is dated %s, after operation %s replaced its signing key %s at %s: "+
			"that key's holder signed it after losing the key's authority (pin a commit you trust with MigrateOptions.Commit)",
			rev, at.UTC().Format(time.RFC3339), hk.by, hk.key.DIDKey(), hk.replaced.UTC().Format(time.RFC3339))
	}
	return nil
}

// verifyAudienceBackup checks an audience CAR (at most max bytes, parsed
// once) against the anchors of the repository being imported and returns
// its blocks.
func verifyAudienceBackup(ctx context.Context, rd io.Reader, did string, key atcrypto.PublicKey, anchors map[string]cid.Cid, max int64) ([]repo.Block, error) {
	car, err := readAudienceCAR(ctx, rd, did, key, max)
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(anchors)) {
		v, err := car.view(ctx, name)
		if err != nil {
			continue
		}
		if v.Root != anchors[name] {
			return nil, errf(ErrBadBundle, -1, nil, "audience %q: the CAR holds root %s, the repository anchors %s", name, v.Root, anchors[name])
		}
		return v.Blocks, nil
	}
	return nil, errf(ErrBadBundle, -1, nil, "the CAR proves no audience of the repository")
}

// reissueRoots re-signs every unrevoked root delegation with the current
// key and records the new grants in one commit.
func (c *Community) reissueRoots(ctx context.Context) error {
	now := timestamp(c.host.now())
	var ops []op
	var grants []*grantRecord
	c.mu.RLock()
	for _, g := range c.sortedGrants() {
		if g.Issuer != c.did || c.rootValid(g) {
			continue
		}
		if r, _ := c.revoked.IsRevoked(ctx, g.TokenCID); r {
			continue
		}
		old, err := ucan.ParseDelegation(g.Token)
		if err != nil {
			c.mu.RUnlock()
			return err
		}
		f := ucan.DelegationFields{Audience: old.Audience, Subject: old.Subject, Command: old.Command,
			Policy: old.Policy, Meta: old.Meta}
		if old.NotBefore != nil {
			f.NotBefore = time.Unix(*old.NotBefore, 0)
		}
		if old.Expiration == nil {
			f.NoExpiration = true
		} else {
			f.Expiration = time.Unix(*old.Expiration, 0)
		}
		d, err := ucan.NewDelegation(c.host.signer.WithDID(c.did), f)
		if err != nil {
			c.mu.RUnlock()
			return err
		}
		ng := grantOf(d, g.Member, g.Role, now)
		grants = append(grants, ng)
		ops = append(ops, op{action: repo.ActionCreate, collection: NSIDGrant, rkey: d.CID().String(), value: ng})
	}
	c.mu.RUnlock()
	if len(ops) == 0 {
		return nil
	}
	_, err := c.submit(ctx, &request{ops: ops, after: func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, g := range grants {
			c.addGrant(g)
		}
	}})
	return err
}
