package lexicon

import (
	"context"
	"errors"
	"net/url"
	"testing"
)

// wantVErr fails t unless err is a *ValidationError at path for constraint.
func wantVErr(t *testing.T, what string, err error, path string, c Constraint) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Errorf("%s: got %v, want a *ValidationError", what, err)
		return
	}
	if ve.Path != path || ve.Constraint != c {
		t.Errorf("%s: got %q / %s (%v), want %q / %s", what, ve.Path, ve.Constraint, err, path, c)
	}
}

func TestParams(t *testing.T) {
	cat := both(t, realCatalog(t))
	ctx := context.Background()
	got, err := cat.ParseParams(ctx, "app.bsky.feed.getTimeline", url.Values{"limit": {"30"}, "cursor": {"abc"}, "extra": {"1", "2"}}, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got["limit"] != int64(30) || got["cursor"] != "abc" || len(got["extra"].([]any)) != 2 {
		t.Fatalf("ParseParams: %#v", got)
	}
	_, err = cat.ParseParams(ctx, "app.bsky.feed.getTimeline", url.Values{"limit": {"0"}}, ValidateOptions{})
	wantVErr(t, "limit 0", err, "limit", ConstraintMinimum)
	_, err = cat.ParseParams(ctx, "app.bsky.feed.getTimeline", url.Values{"limit": {"ten"}}, ValidateOptions{})
	wantVErr(t, "limit ten", err, "limit", ConstraintType)
	_, err = cat.ParseParams(ctx, "app.bsky.feed.getTimeline", url.Values{"limit": {"1", "2"}}, ValidateOptions{})
	wantVErr(t, "limit twice", err, "limit", ConstraintType)

	uris := url.Values{"uris": {"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l6oveex3ii2l", "nope"}}
	_, err = cat.ParseParams(ctx, "app.bsky.feed.getPosts", uris, ValidateOptions{})
	wantVErr(t, "uris[1]", err, "uris[1]", ConstraintFormat)
	_, err = cat.ParseParams(ctx, "app.bsky.feed.getPosts", url.Values{}, ValidateOptions{})
	wantVErr(t, "uris missing", err, "uris", ConstraintRequired)

	err = cat.ValidateParams(ctx, "app.bsky.feed.getPostThread", map[string]any{
		"uri": "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l6oveex3ii2l", "depth": int64(10)}, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = cat.ValidateParams(ctx, "app.bsky.feed.getPostThread", map[string]any{"depth": int64(10)}, ValidateOptions{})
	wantVErr(t, "getPostThread without uri", err, "uri", ConstraintRequired)
	err = cat.ValidateParams(ctx, "app.bsky.feed.post", nil, ValidateOptions{})
	if !errors.Is(err, ErrWrongKind) {
		t.Errorf("params of a record: %v", err)
	}
}

func TestBodies(t *testing.T) {
	cat := both(t, realCatalog(t))
	ctx := context.Background()
	in := mustJSON(`{"repo":"alice.example.com","collection":"app.bsky.feed.like",
		"record":{"$type":"app.bsky.feed.like"}}`)
	if err := cat.ValidateInput(ctx, "com.atproto.repo.createRecord", "application/json; charset=utf-8", in, ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := cat.ValidateInput(ctx, "com.atproto.repo.createRecord", "text/plain", in, ValidateOptions{})
	wantVErr(t, "wrong encoding", err, "", ConstraintEncoding)
	in.(map[string]any)["collection"] = "not an nsid"
	err = cat.ValidateInput(ctx, "com.atproto.repo.createRecord", "application/json", in, ValidateOptions{})
	wantVErr(t, "bad collection", err, "collection", ConstraintFormat)
	if err := cat.ValidateInput(ctx, "com.atproto.repo.uploadBlob", "image/png", nil, ValidateOptions{}); err != nil {
		t.Errorf("uploadBlob */*: %v", err)
	}
	err = cat.ValidateInput(ctx, "app.bsky.feed.getTimeline", "application/json", nil, ValidateOptions{})
	if !errors.Is(err, ErrWrongKind) {
		t.Errorf("input of a query: %v", err)
	}

	if err := cat.ValidateOutput(ctx, "app.bsky.feed.getTimeline", "application/json", mustJSON(`{"feed":[]}`), ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = cat.ValidateOutput(ctx, "app.bsky.feed.getTimeline", "application/json", mustJSON(`{"feed":[{"post":{}}]}`), ValidateOptions{})
	wantVErr(t, "empty post view", err, "feed[0].post.author", ConstraintRequired)
	out := mustJSON(`{"blob":{"$type":"blob","ref":{"$link":"bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"},"mimeType":"image/png","size":10}}`)
	if err := cat.ValidateOutput(ctx, "com.atproto.repo.uploadBlob", "application/json", out, ValidateOptions{}); err != nil {
		t.Errorf("uploadBlob output: %v", err)
	}
}

func TestMessages(t *testing.T) {
	cat := both(t, realCatalog(t))
	ctx := context.Background()
	ident := mustJSON(`{"seq":42,"did":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","time":"2024-11-20T23:15:04.123Z","handle":"alice.example.com"}`)
	if err := cat.ValidateMessage(ctx, "com.atproto.sync.subscribeRepos", "#identity", ident, ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := cat.ValidateMessage(ctx, "com.atproto.sync.subscribeRepos", "#account", ident, ValidateOptions{})
	wantVErr(t, "identity as account", err, "active", ConstraintRequired)
	err = cat.ValidateMessage(ctx, "com.atproto.sync.subscribeRepos", "", ident, ValidateOptions{})
	wantVErr(t, "no type", err, "$type", ConstraintUnion)
	if err := cat.ValidateMessage(ctx, "com.atproto.sync.subscribeRepos", "#future", ident, ValidateOptions{}); err != nil {
		t.Errorf("open union, lenient: %v", err)
	}
	err = cat.ValidateMessage(ctx, "com.atproto.sync.subscribeRepos", "#future", ident, ValidateOptions{StrictUnions: true})
	wantVErr(t, "open union, strict", err, "$type", ConstraintUnknownType)
	if err := cat.ValidateParams(ctx, "com.atproto.sync.subscribeRepos", map[string]any{"cursor": int64(7)}, ValidateOptions{}); err != nil {
		t.Errorf("subscription params: %v", err)
	}
	// A subscription without a message schema is found, but has no
	// messages to validate against.
	quiet := NewCatalog(CatalogOptions{})
	if err := quiet.AddJSON([]byte(`{"lexicon": 1, "id": "town.example.subscribeQuiet", "defs": {"main": {"type": "subscription"}}}`)); err != nil {
		t.Fatal(err)
	}
	err = quiet.ValidateMessage(ctx, "town.example.subscribeQuiet", "#x", ident, ValidateOptions{})
	if !errors.Is(err, ErrWrongKind) || errors.Is(err, ErrNotFound) {
		t.Errorf("message of a subscription without messages: %v, want ErrWrongKind", err)
	}
}

func TestErrors(t *testing.T) {
	cat := both(t, realCatalog(t))
	ctx := context.Background()
	if err := validateErrorBody(t, mustJSON(`{"error":"RecordNotFound","message":"no such record"}`)); err != nil {
		t.Fatal(err)
	}
	wantVErr(t, "no error", validateErrorBody(t, mustJSON(`{"message":"x"}`)), "error", ConstraintRequired)
	wantVErr(t, "spaces", validateErrorBody(t, mustJSON(`{"error":"Not Found"}`)), "error", ConstraintFormat)
	wantVErr(t, "message type", validateErrorBody(t, mustJSON(`{"error":"X","message":3}`)), "message", ConstraintType)
	ok, err := cat.DeclaresError(ctx, "com.atproto.repo.getRecord", "RecordNotFound")
	if err != nil || !ok {
		t.Fatalf("getRecord RecordNotFound: %v %v", ok, err)
	}
	ok, err = cat.DeclaresError(ctx, "com.atproto.repo.getRecord", "FutureCursor")
	if err != nil || ok {
		t.Fatalf("getRecord FutureCursor: %v %v", ok, err)
	}
}
