package repo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/mst"
)

// SyncState is what a consumer knows about a repository after the last
// commit it accepted.
type SyncState struct {
	DID    string
	Rev    string
	Commit cid.Cid
	Data   cid.Cid // MST root of the commit
}

// DefaultMaxClockSkew is how far in the future of the consumer's clock an
// event's rev may be dated when CommitCheckOptions.MaxClockSkew or
// SyncCheckOptions.MaxClockSkew is zero.
const DefaultMaxClockSkew = 5 * time.Minute

// CommitCheckOptions configures VerifyCommitEvent.
type CommitCheckOptions struct {
	// Key is the repository's current signing key. Required unless
	// InsecureSkipSignature is set, and refused with it.
	Key atcrypto.PublicKey
	// InsecureSkipSignature skips the signature check. It exists for
	// archived events whose signing key cannot be resolved (offline tests);
	// a live consumer must never set it.
	InsecureSkipSignature bool
	// DID is the repository the consumer follows: the DID whose document
	// gave Key. The event's repo must be it (ErrBadEvent). Required with
	// Key unless Known names the DID: one key may sign many repositories
	// (a community host signs every community it hosts with one key), so
	// a signature by Key alone does not say which repository the event
	// is for.
	DID string
	// Known is the consumer's state for the repository, nil if it has none.
	// When set, the event must be for Known.DID (if set), its rev must be
	// after Known.Rev and its prevData must equal Known.Data: an event with
	// prevData is refused (ErrPrevData) when Known.Data is undefined (a
	// state from getLatestCommit, say, has no data root to compare with).
	Known *SyncState
	// Now gives the consumer's time; nil means time.Now. A rev dated more
	// than MaxClockSkew after it is refused with ErrFutureRev, as the sync
	// spec asks: accepted, it would make every later commit's rev look old.
	Now func() time.Time
	// MaxClockSkew is how far in the future a rev may be dated: zero means
	// DefaultMaxClockSkew, a negative value disables the check (archived
	// events checked long after, against another time source).
	MaxClockSkew time.Duration
	// InsecureAllowMissingRecords accepts create and update ops whose
	// record block is not in the event, weakening the check. Only for test
	// fixtures that name record CIDs without the records (the atproto
	// commit-proof fixtures); a live consumer must never set it.
	InsecureAllowMissingRecords bool
	// CAR bounds the event's blocks (default: 2 MiB per block, 8 MiB in all).
	CAR CAROptions
	// KeyTables, if set, keeps precomputed tables of keys that have signed
	// many accepted commits, which make their signatures about 2.4 times
	// cheaper to check (see KeyTables). A consumer shares one among all
	// the events it checks.
	KeyTables *KeyTables
}

// VerifyCommitEvent checks a sync 1.1 #commit event inductively, as
// https://atproto.com/specs/sync describes: the event is for opts.DID (or
// Known.DID), the blocks are a well-formed CAR rooted at the commit, the
// commit is for the event's repo and rev and is signed by the key, the rev
// follows the consumer's known rev, every created or updated record is in
// the blocks and in the new tree, and inverting the
// ops on the partial tree gives prevData, which must be the consumer's
// known data root; and the rev is not dated more than opts.MaxClockSkew
// after opts.Now. It returns the consumer's new state.
//
// Events without prevData (written before sync 1.1) skip the inversion and
// are accepted only when the consumer knows no state for the repository.
// The since field is not checked: prevData ties the event to the known
// state more strongly than since does.
func VerifyCommitEvent(ctx context.Context, ev *CommitEvent, opts CommitCheckOptions) (*SyncState, error) {
	if ev == nil {
		return nil, verr(ErrBadEvent, cid.Undef, "no event", nil)
	}
	if _, err := syntax.ParseDID(ev.Repo); err != nil {
		return nil, verr(ErrBadEvent, cid.Undef, "repo", err)
	}
	if err := checkKeyOptions(opts.Key, opts.InsecureSkipSignature); err != nil {
		return nil, err
	}
	if err := checkEventDID(ev.Repo, opts.DID, opts.Key, opts.Known); err != nil {
		return nil, err
	}
	rev, err := parseEventTID(ev.Rev)
	if err != nil {
		return nil, verr(ErrBadEvent, cid.Undef, "rev", err)
	}
	if ev.Time != "" {
		if err := checkEventTime(ev.Time); err != nil {
			return nil, verr(ErrBadEvent, cid.Undef, "time", err)
		}
	}
	if len(ev.Ops) > MaxEventOps || len(ev.Blocks) > MaxEventBlocksBytes {
		return nil, verr(ErrBadEvent, cid.Undef, "event exceeds the #commit limits (200 ops, 2,000,000 bytes of blocks)", nil)
	}
	if err := checkEventRev(ev.Repo, rev, opts.Known, opts.Now, opts.MaxClockSkew); err != nil {
		return nil, err
	}
	if ev.PrevData != nil && opts.Known != nil && !opts.Known.Data.Defined() {
		return nil, verr(ErrPrevData, cid.Undef, "the known state has no data root to compare the event's prevData with", nil)
	}
	copts := opts.CAR
	if copts.MaxCARBytes <= 0 {
		copts.MaxCARBytes = 8 << 20
	}
	root, blocks, err := readEventCAR(ev.Blocks, copts)
	if err != nil {
		return nil, err
	}
	if root != ev.Commit {
		return nil, verr(ErrWrongRoot, root, "CAR root is not the event's commit "+ev.Commit.String(), nil)
	}
	commit, err := eventCommit(blocks, root, ev.Repo, ev.Rev)
	if err != nil {
		return nil, err
	}
	if !opts.InsecureSkipSignature {
		if err := opts.KeyTables.verifyCommit(commit, opts.Key); err != nil {
			return nil, err
		}
	}

	// Ops against the new (partial) tree. readEventCAR checked every
	// block's hash; mst still checks every node it reads.
	after := mst.Options{InsecureSkipHashCheck: true}.Load(blocks, commit.Data)
	mops := make([]mst.Op, 0, len(ev.Ops))
	invertible := true
	for _, op := range ev.Ops {
		if op.Prev == nil && op.Action != ActionCreate {
			invertible = false // legacy op without prev
		}
	}
	// mst.Invert checks every op against the tree before it undoes them,
	// as the lookups below do: when it runs, they are made only if it
	// fails, to name the op (checkOpInTree).
	inverting := invertible && ev.PrevData != nil
	paths := make(map[string]bool, len(ev.Ops))
	for i, op := range ev.Ops {
		if paths[op.Path] {
			return nil, verr(ErrBadEvent, cid.Undef, fmt.Sprintf("op %d: second op on %s", i, op.Path), nil)
		}
		paths[op.Path] = true
		if err := mst.ValidateKey(op.Path); err != nil {
			return nil, verr(ErrBadEvent, cid.Undef, fmt.Sprintf("op %d path", i), err)
		}
		m := mst.Op{Key: op.Path}
		switch op.Action {
		case ActionCreate:
			if op.CID == nil || op.Prev != nil {
				return nil, verr(ErrBadEvent, cid.Undef, fmt.Sprintf("op %d: create needs cid and no prev", i), nil)
			}
			m.New = *op.CID
		case ActionUpdate:
			if op.CID == nil {
				return nil, verr(ErrBadEvent, cid.Undef, fmt.Sprintf("op %d: update needs cid", i), nil)
			}
			m.New = *op.CID
		case ActionDelete:
			if op.CID != nil {
				return nil, verr(ErrBadEvent, cid.Undef, fmt.Sprintf("op %d: delete has a cid", i), nil)
			}
		default:
			return nil, verr(ErrBadEvent, cid.Undef, fmt.Sprintf("op %d: action %q", i, op.Action), nil)
		}
		if op.Prev != nil {
			m.Old = *op.Prev
		}
		if m.New.Defined() {
			if _, ok := blocks[m.New]; !ok && !opts.InsecureAllowMissingRecords {
				return nil, verr(ErrMissingBlock, m.New, "record of op "+op.Path, nil)
			}
			if !inverting {
				if err := checkOpInTree(ctx, after, m); err != nil {
					return nil, err
				}
			}
		}
		mops = append(mops, m)
	}

	switch {
	case ev.PrevData == nil:
		if opts.Known != nil {
			return nil, verr(ErrPrevData, root, "event has no prevData", nil)
		}
	case !invertible:
		return nil, verr(ErrBadEvent, root, "update or delete without prev in a sync 1.1 event", nil)
	default:
		before, err := mst.Invert(ctx, after, mops)
		if err != nil {
			// The error the lookups would have given first, if any.
			for _, m := range mops {
				if m.New.Defined() {
					if err := checkOpInTree(ctx, after, m); err != nil {
						return nil, err
					}
				}
			}
			err = mstErr(err, "inverting ops")
			var ve *VerifyError
			if !errors.As(err, &ve) && ctx.Err() == nil {
				err = verr(ErrBadEvent, root, "inverting ops", err)
			}
			return nil, err
		}
		got, err := before.Root(ctx)
		if err != nil {
			return nil, mstErr(err, "inverted root")
		}
		if got != *ev.PrevData {
			return nil, verr(ErrPrevData, root, "inverted root "+got.String()+" != prevData "+ev.PrevData.String(), nil)
		}
		if opts.Known != nil && *ev.PrevData != opts.Known.Data {
			return nil, verr(ErrPrevData, root, "prevData is not the known data root", nil)
		}
	}
	// Only an event checked inductively earns its key a table: against the
	// consumer's known state (so a replayed event is refused by rev), with
	// prevData (so the ops were inverted) and all its records. Anyone can
	// replay one genuine event any number of times without Known.
	if !opts.InsecureSkipSignature && opts.Known != nil && ev.PrevData != nil && !opts.InsecureAllowMissingRecords {
		opts.KeyTables.noteUse(opts.Key)
	}
	return &SyncState{DID: ev.Repo, Rev: ev.Rev, Commit: root, Data: commit.Data}, nil
}

// checkOpInTree checks that the tree after an event holds the new value of
// op m (a create or update).
func checkOpInTree(ctx context.Context, after *mst.Tree, m mst.Op) error {
	got, found, err := after.Get(ctx, m.Key)
	if err != nil {
		return mstErr(err, "op "+m.Key)
	}
	if !found || got != m.New {
		return verr(ErrBadEvent, m.New, "tree does not hold op "+m.Key, nil)
	}
	return nil
}

// EmitSync appends a #sync event declaring the current head, telling
// consumers to resynchronise from it (after a migration, a repair, or any
// break in the #commit chain).
func (r *Repo) EmitSync(ctx context.Context) (*SyncEvent, error) {
	r.settle()
	defer r.mu.Unlock()
	h, err := r.store.Head(ctx, r.did)
	if err != nil {
		return nil, err
	}
	cdata, err := r.store.GetBlock(ctx, r.did, h.Commit)
	if err != nil {
		return nil, err
	}
	car, err := carBytes(h.Commit, []Block{{CID: h.Commit, Data: cdata}})
	if err != nil {
		return nil, err
	}
	ev := &SyncEvent{DID: r.did, Blocks: car, Rev: h.Rev, Time: r.now().UTC().Format("2006-01-02T15:04:05.000Z")}
	data, err := drisl.Marshal(ev)
	if err != nil {
		return nil, err
	}
	seq, err := r.store.Apply(ctx, r.did, &StoreWrite{Expect: h.Commit, Head: h, Events: []StoredEvent{{Kind: KindSync, Data: data}}})
	if err != nil {
		return nil, err
	}
	ev.Seq = seq
	return ev, nil
}

// DefaultMaxSyncCARBytes bounds the blocks of a #sync event when
// SyncCheckOptions.CAR.MaxCARBytes is zero. A #sync event carries only the
// commit block (the lexicon allows 10,000 bytes); the bound is generous.
const DefaultMaxSyncCARBytes = 1 << 20

// SyncCheckOptions configures VerifySyncEvent. Its zero value needs Key
// set; the fields mean what they mean in CommitCheckOptions.
type SyncCheckOptions struct {
	// Key is the repository's current signing key. Required unless
	// InsecureSkipSignature is set, and refused with it.
	Key atcrypto.PublicKey
	// InsecureSkipSignature skips the signature check (archived events in
	// offline tests); a live consumer must never set it.
	InsecureSkipSignature bool
	// DID is the repository the consumer follows: the event's did must be
	// it (ErrBadEvent). Required with Key unless Known names the DID.
	DID string
	// Known is the consumer's state for the repository, nil if it has none.
	// When set, the event must be for Known.DID (if set) and its rev must
	// be after Known.Rev; its data root may differ (that is what #sync
	// announces).
	Known *SyncState
	// Now gives the consumer's time; nil means time.Now. A rev dated more
	// than MaxClockSkew after it is refused with ErrFutureRev.
	Now func() time.Time
	// MaxClockSkew is how far in the future a rev may be dated: zero means
	// DefaultMaxClockSkew, a negative value disables the check.
	MaxClockSkew time.Duration
	// CAR bounds the event's blocks (default: DefaultMaxSyncCARBytes in
	// all, the CAROptions defaults otherwise).
	CAR CAROptions
}

// VerifySyncEvent checks a #sync event: it is for opts.DID (or Known.DID),
// its blocks are a CAR holding the commit it declares, for the event's DID
// and rev, signed by opts.Key, and
// its rev is not dated more than opts.MaxClockSkew after opts.Now. It
// returns the state a consumer resynchronises to (fetch the repository at
// that commit, e.g. with getRepo, and check it with VerifyCAR).
func VerifySyncEvent(ctx context.Context, ev *SyncEvent, opts SyncCheckOptions) (*SyncState, error) {
	if ev == nil {
		return nil, verr(ErrBadEvent, cid.Undef, "no event", nil)
	}
	if err := checkKeyOptions(opts.Key, opts.InsecureSkipSignature); err != nil {
		return nil, err
	}
	if err := checkEventDID(ev.DID, opts.DID, opts.Key, opts.Known); err != nil {
		return nil, err
	}
	rev, err := parseEventTID(ev.Rev)
	if err != nil {
		return nil, verr(ErrBadEvent, cid.Undef, "rev", err)
	}
	if err := checkEventRev(ev.DID, rev, opts.Known, opts.Now, opts.MaxClockSkew); err != nil {
		return nil, err
	}
	copts := opts.CAR
	if copts.MaxCARBytes <= 0 {
		copts.MaxCARBytes = DefaultMaxSyncCARBytes
	}
	root, blocks, err := readEventCAR(ev.Blocks, copts)
	if err != nil {
		return nil, err
	}
	commit, err := eventCommit(blocks, root, ev.DID, ev.Rev)
	if err != nil {
		return nil, err
	}
	if !opts.InsecureSkipSignature {
		if err := commit.VerifySignature(opts.Key); err != nil {
			return nil, err
		}
	}
	return &SyncState{DID: ev.DID, Rev: ev.Rev, Commit: root, Data: commit.Data}, nil
}

// checkEventDID checks the event's repository against the DID the
// consumer follows (want, if set) and refuses (ErrBadEvent) a key with no
// DID to bind it to, from want or known.
func checkEventDID(did, want string, key atcrypto.PublicKey, known *SyncState) error {
	if want != "" && did != want {
		return verr(ErrBadEvent, cid.Undef, "event for "+did+", want "+want, nil)
	}
	if want == "" && key != nil && (known == nil || known.DID == "") {
		return verr(ErrBadEvent, cid.Undef, "the options' DID is required with a key: a key alone does not name the repository", nil)
	}
	return nil
}

// checkKeyOptions refuses signature options that check nothing (no key)
// or that ignore the key given (InsecureSkipSignature with a key).
func checkKeyOptions(key atcrypto.PublicKey, skip bool) error {
	switch {
	case key != nil && skip:
		return verr(ErrBadSignature, cid.Undef, "a key and InsecureSkipSignature: the key would be ignored", nil)
	case key == nil && !skip:
		return verr(ErrBadSignature, cid.Undef, "no key to verify with", nil)
	}
	return nil
}

// checkEventRev checks an event's repo and rev against the consumer's
// known state (nil: none): the event must be for known.DID (if set) and its
// rev after known.Rev. It then refuses a rev dated more than skew after
// clock's time (https://atproto.com/specs/sync: consumers reject revs in
// the future): a nil clock is time.Now, a zero skew DefaultMaxClockSkew,
// and a negative skew disables the check.
func checkEventRev(did string, rev syntax.TID, known *SyncState, clock func() time.Time, skew time.Duration) error {
	if known != nil {
		if known.DID != "" && known.DID != did {
			return verr(ErrBadEvent, cid.Undef, "event for "+did+", state for "+known.DID, nil)
		}
		if string(rev) <= known.Rev {
			return verr(ErrRevOrder, cid.Undef, string(rev)+" is not after "+known.Rev, nil)
		}
	}
	return checkRevTime(rev, clock, skew)
}

// eventCommit reads and checks the commit block root of an event's CAR
// (from readEventCAR, which checked its hash): it must be present, decode,
// and name the event's DID and rev.
func eventCommit(blocks blockMap, root cid.Cid, did, rev string) (*Commit, error) {
	cdata, ok := blocks[root]
	if !ok {
		return nil, verr(ErrMissingBlock, root, "commit block", nil)
	}
	commit, err := DecodeCommit(cdata)
	if err != nil {
		return nil, err
	}
	if commit.DID != did || commit.Rev != rev {
		return nil, verr(ErrBadEvent, root, "commit DID or rev differs from the event's", nil)
	}
	return commit, nil
}
