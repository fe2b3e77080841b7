package repo

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
)

// GetRecord returns a record's CID and DRISL bytes, or an error wrapping
// ErrRecordNotFound.
func (r *Repo) GetRecord(ctx context.Context, collection, rkey string) (cid.Cid, []byte, error) {
	c, err := r.store.Record(ctx, r.did, collection, rkey)
	if err != nil {
		return cid.Undef, nil, err
	}
	data, err := r.store.GetBlock(ctx, r.did, c)
	if err != nil {
		return cid.Undef, nil, err
	}
	return c, data, nil
}

// Record is one record of a listing.
type Record struct {
	Collection string
	RKey       string
	CID        cid.Cid
	Value      []byte // DRISL bytes
}

// Page sizes of ListOptions.Limit: the default, and the most that
// Repo.ListRecords returns (as com.atproto.repo.listRecords).
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// ListOptions selects a page of records of one collection, ordered by
// record key, for Repo.ListRecords and Store.ListRecords. The zero value is
// the first DefaultListLimit records in ascending record-key order.
type ListOptions struct {
	// Cursor is the RKey of the last record of the previous page: the page
	// starts after it (before it, with Reverse). "" starts at the first.
	Cursor string
	// Limit is the most records a page holds; <= 0 means DefaultListLimit.
	// Repo.ListRecords lowers a larger Limit to MaxListLimit; a Store
	// returns up to Limit.
	Limit int
	// Reverse lists in descending record-key order.
	Reverse bool
}

// ListRecords lists the records of one collection by record key. It
// returns the records and the cursor of the next page ("" at the end).
func (r *Repo) ListRecords(ctx context.Context, collection string, opts ListOptions) ([]Record, string, error) {
	if opts.Limit <= 0 {
		opts.Limit = DefaultListLimit
	}
	opts.Limit = min(opts.Limit, MaxListLimit)
	entries, err := r.store.ListRecords(ctx, r.did, collection, opts)
	if err != nil {
		return nil, "", err
	}
	var datas [][]byte
	if bg, ok := r.store.(BlocksGetter); ok && len(entries) > 0 {
		cids := make([]cid.Cid, len(entries))
		for i, e := range entries {
			cids[i] = e.CID
		}
		if datas, err = bg.GetBlocks(ctx, r.did, cids); err != nil {
			return nil, "", fmt.Errorf("records of %s: %w", collection, err)
		}
	} else {
		datas = make([][]byte, len(entries))
		for i, e := range entries {
			if datas[i], err = r.store.GetBlock(ctx, r.did, e.CID); err != nil {
				return nil, "", fmt.Errorf("record %s/%s: %w", e.Collection, e.RKey, err)
			}
		}
	}
	out := make([]Record, len(entries))
	for i, e := range entries {
		out[i] = Record{Collection: e.Collection, RKey: e.RKey, CID: e.CID, Value: datas[i]}
	}
	next := ""
	if len(out) == opts.Limit {
		next = out[len(out)-1].RKey
	}
	return out, next, nil
}

// Description is what describeRepo reports.
type Description struct {
	DID         string
	Head        cid.Cid
	Rev         string
	Data        cid.Cid
	Collections []string
}

// Describe returns the repository's head and the collections it holds.
func (r *Repo) Describe(ctx context.Context) (Description, error) {
	h, err := r.store.Head(ctx, r.did)
	if err != nil {
		return Description{}, err
	}
	colls, err := r.store.Collections(ctx, r.did)
	if err != nil {
		return Description{}, err
	}
	return Description{DID: r.did, Head: h.Commit, Rev: h.Rev, Data: h.Data, Collections: colls}, nil
}
