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

// ListOptions selects a page of ListRecords. The zero value lists the
// first 50 records in ascending record-key order.
type ListOptions struct {
	Cursor  string // the RKey of the last record of the previous page
	Limit   int    // default 50, at most 1000
	Reverse bool
}

// ListRecords lists the records of one collection by record key. It
// returns the records and the cursor of the next page ("" at the end).
func (r *Repo) ListRecords(ctx context.Context, collection string, opts ListOptions) ([]Record, string, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	entries, err := r.store.ListRecords(ctx, r.did, ListQuery{Collection: collection, Cursor: opts.Cursor, Limit: limit, Reverse: opts.Reverse})
	if err != nil {
		return nil, "", err
	}
	out := make([]Record, len(entries))
	if bg, ok := r.store.(BlocksGetter); ok && len(entries) > 0 {
		cids := make([]cid.Cid, len(entries))
		for i, e := range entries {
			cids[i] = e.CID
		}
		datas, err := bg.GetBlocks(ctx, r.did, cids)
		if err != nil {
			return nil, "", fmt.Errorf("records of %s: %w", collection, err)
		}
		for i, e := range entries {
			out[i] = Record{Collection: e.Collection, RKey: e.RKey, CID: e.CID, Value: datas[i]}
		}
	} else {
		for i, e := range entries {
			data, err := r.store.GetBlock(ctx, r.did, e.CID)
			if err != nil {
				return nil, "", fmt.Errorf("record %s/%s: %w", e.Collection, e.RKey, err)
			}
			out[i] = Record{Collection: e.Collection, RKey: e.RKey, CID: e.CID, Value: data}
		}
	}
	next := ""
	if len(out) == limit {
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
