package lexicon

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

type sampleRecord struct {
	Name       string          `json:"name"`
	Collection string          `json:"collection"`
	RKey       string          `json:"rkey"`
	Record     json.RawMessage `json:"record"`
	Path       string          `json:"path"`       // invalid only: expected error path
	Constraint Constraint      `json:"constraint"` // invalid only: expected constraint
}

func TestRealRecordsValid(t *testing.T) {
	cat := both(t, realCatalog(t))
	samples := readFixtures[sampleRecord](t, "testdata/records/valid.json")
	for _, s := range samples {
		v, err := fromJSON(s.Record)
		if err != nil {
			t.Fatal(s.Name, err)
		}
		if err := cat.ValidateRecord(context.Background(), s.Collection, s.RKey, v, ValidateOptions{}); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
}

func TestRealRecordsInvalid(t *testing.T) {
	cat := both(t, realCatalog(t))
	samples := readFixtures[sampleRecord](t, "testdata/records/invalid.json")
	for _, s := range samples {
		v, err := fromJSON(s.Record)
		if err != nil {
			t.Fatal(s.Name, err)
		}
		err = cat.ValidateRecord(context.Background(), s.Collection, s.RKey, v, ValidateOptions{})
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: got %v, want a *ValidationError", s.Name, err)
			continue
		}
		if ve.Path != s.Path || ve.Constraint != s.Constraint {
			t.Errorf("%s: got %q / %s (%v), want %q / %s", s.Name, ve.Path, ve.Constraint, err, s.Path, s.Constraint)
		}
	}
}

func TestOpenUnionStrict(t *testing.T) {
	cat := both(t, realCatalog(t))
	rec := mustJSON(`{"$type":"app.bsky.feed.post","text":"x","createdAt":"2024-11-20T23:15:04Z",
		"embed":{"$type":"com.example.embed.poll","options":["a","b"]}}`)
	ctx := context.Background()
	if err := cat.ValidateRecord(ctx, "app.bsky.feed.post", "", rec, ValidateOptions{}); err != nil {
		t.Fatalf("lenient: %v", err)
	}
	err := cat.ValidateRecord(ctx, "app.bsky.feed.post", "", rec, ValidateOptions{StrictUnions: true})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Path != "embed.$type" || ve.Constraint != ConstraintUnknownType {
		t.Fatalf("strict: %v", err)
	}
	// An unlisted member the catalog knows is checked even when lenient.
	rec = mustJSON(`{"$type":"app.bsky.feed.post","text":"x","createdAt":"2024-11-20T23:15:04Z",
		"embed":{"$type":"app.bsky.feed.like","subject":{"uri":"at://did:plc:x/a.b.c/d","cid":"x"}}}`)
	err = cat.ValidateRecord(ctx, "app.bsky.feed.post", "", rec, ValidateOptions{})
	if !errors.As(err, &ve) || ve.Path != "embed.createdAt" || ve.Constraint != ConstraintRequired {
		t.Fatalf("known unlisted member: %v", err)
	}
}
