package repo

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
)

// Event kinds, as in the firehose frame header's "t".
const (
	KindCommit = "#commit"
	KindSync   = "#sync"
)

// EventOp is one record operation of a #commit event (the repoOp of
// com.atproto.sync.subscribeRepos). CID is the new record (nil for a
// delete); Prev is the record it replaces (nil for a create). A decoded
// event may hold any Action string; VerifyCommitEvent refuses one that is
// not ActionCreate, ActionUpdate or ActionDelete.
type EventOp struct {
	Action Action   `cbor:"action"`
	Path   string   `cbor:"path"` // collection/rkey
	CID    *cid.Cid `cbor:"cid"`
	Prev   *cid.Cid `cbor:"prev,omitempty"`
}

// CommitEvent is a sync 1.1 #commit message of com.atproto.sync.subscribeRepos
// (https://atproto.com/specs/sync). Blocks is a CAR slice whose root is the
// commit: the commit block, the new records, the new MST nodes, and the
// nodes a consumer needs to invert the ops (so that it can check PrevData).
type CommitEvent struct {
	Seq      int64     `cbor:"seq"`
	Rebase   bool      `cbor:"rebase"` // deprecated, always false
	TooBig   bool      `cbor:"tooBig"` // deprecated, always false
	Repo     string    `cbor:"repo"`
	Commit   cid.Cid   `cbor:"commit"`
	Rev      string    `cbor:"rev"`
	Since    *string   `cbor:"since"` // rev of the previous commit, nil for the first
	Blocks   []byte    `cbor:"blocks"`
	Ops      []EventOp `cbor:"ops"`
	Blobs    []cid.Cid `cbor:"blobs"`
	PrevData *cid.Cid  `cbor:"prevData,omitempty"` // MST root of the previous commit
	Time     string    `cbor:"time"`
}

// SyncEvent is a sync 1.1 #sync message: it declares the repository's
// current commit (Blocks is a CAR holding just the commit block), telling
// consumers to resynchronise if they disagree.
type SyncEvent struct {
	Seq    int64  `cbor:"seq"`
	DID    string `cbor:"did"`
	Blocks []byte `cbor:"blocks"`
	Rev    string `cbor:"rev"`
	Time   string `cbor:"time"`
}

// Event is one entry of the event log: exactly one of Commit and Sync is set.
type Event struct {
	Seq    int64
	Commit *CommitEvent
	Sync   *SyncEvent
}

type frameHeader struct {
	Op int64  `cbor:"op"`
	T  string `cbor:"t"`
}

// Frame returns the event as a subscribeRepos WebSocket frame: a DRISL
// header {op: 1, t} followed by the DRISL body.
func (e *Event) Frame() ([]byte, error) {
	var t string
	var body any
	switch {
	case e.Commit != nil:
		t, body = KindCommit, e.Commit
	case e.Sync != nil:
		t, body = KindSync, e.Sync
	default:
		return nil, fmt.Errorf("%w: empty event", ErrBadEvent)
	}
	out, err := drisl.Marshal(&frameHeader{Op: 1, T: t})
	if err != nil {
		return nil, err
	}
	return drisl.AppendMarshal(out, body)
}

func decodeStoredEvent(se StoredEvent) (Event, error) {
	ev := Event{Seq: se.Seq}
	switch se.Kind {
	case KindCommit:
		var c CommitEvent
		if err := drisl.Unmarshal(se.Data, &c); err != nil {
			return ev, fmt.Errorf("%w: stored event %d: %w", ErrBadEvent, se.Seq, err)
		}
		c.Seq = se.Seq
		ev.Commit = &c
	case KindSync:
		var s SyncEvent
		if err := drisl.Unmarshal(se.Data, &s); err != nil {
			return ev, fmt.Errorf("%w: stored event %d: %w", ErrBadEvent, se.Seq, err)
		}
		s.Seq = se.Seq
		ev.Sync = &s
	default:
		return ev, fmt.Errorf("%w: stored event %d has kind %q", ErrBadEvent, se.Seq, se.Kind)
	}
	return ev, nil
}

// DefaultEventsLimit is the page size of ReadEvents and Store.Events when
// the caller gives none.
const DefaultEventsLimit = 100

// EventsOptions selects a page of the event log for ReadEvents. The zero
// value is the first DefaultEventsLimit events of every repository.
type EventsOptions struct {
	// DID reads the events of one repository; "" reads those of every
	// repository in the store.
	DID string
	// Cursor is the Seq of the last event already read: the page holds
	// events with a greater Seq. 0 reads from the start.
	Cursor int64
	// Limit is the most events a page holds; <= 0 means
	// DefaultEventsLimit.
	Limit int
}

// ReadEvents returns a page of the store's event log, in order, as opts
// selects. Pass the last Seq returned as the next Cursor.
func ReadEvents(ctx context.Context, s Store, opts EventsOptions) ([]Event, error) {
	stored, err := s.Events(ctx, opts.DID, opts.Cursor, opts.Limit)
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(stored))
	for _, se := range stored {
		ev, err := decodeStoredEvent(se)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// carBytes writes blocks into an in-memory CAR with root as its only root.
func carBytes(root cid.Cid, blocks []Block) ([]byte, error) {
	n := 64
	for _, b := range blocks {
		n += len(b.Data) + cidLen + 4
	}
	buf := bytes.NewBuffer(make([]byte, 0, n))
	cw, err := NewCARWriter(buf, root)
	if err != nil {
		return nil, err
	}
	for _, b := range blocks {
		if err := cw.WriteBlock(b.CID, b.Data); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
