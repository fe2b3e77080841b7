package repo

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
)

// TestApplyInsecureSkipRecordCheck: the knob does weaken Apply, which is
// why its name says Insecure: without it a pre-encoded record whose CID
// is not its bytes' is refused (ErrRecordCID); with it the write is
// committed and the exported repository no longer verifies
// (ErrBlockHash). With right bytes it stores what Apply would.
func TestApplyInsecureSkipRecordCheck(t *testing.T) {
	ctx := context.Background()
	key := fixedKey(t)
	pub, _ := key.PublicKey()
	data, c, err := drisl.MarshalCID(post(1))
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := drisl.MarshalCID(post(2))
	write := func(raw []byte, skip bool) Write {
		return Write{Action: ActionCreate, Collection: "app.bsky.feed.post", RKey: "3k22222222222",
			Record: drisl.Raw(raw), RecordCID: c, InsecureSkipRecordCheck: skip}
	}
	r, err := Create(ctx, NewMemStore(), testDID, key, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(ctx, []Write{write(other, false)}, ApplyOptions{}); !errors.Is(err, ErrRecordCID) {
		t.Fatalf("wrong CID, checked: %v, want ErrRecordCID", err)
	}
	if _, err := r.Apply(ctx, []Write{write(other, true)}, ApplyOptions{}); err != nil {
		t.Fatalf("wrong CID, unchecked: %v", err)
	}
	var car bytes.Buffer
	if err := r.Export(ctx, &car); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCAR(ctx, &car, VerifyOptions{Key: pub, DID: testDID, Now: fakeClock()}); !errors.Is(err, ErrBlockHash) {
		t.Fatalf("repository with an unchecked wrong CID: %v, want ErrBlockHash", err)
	}

	good, err := Create(ctx, NewMemStore(), testDID, key, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := good.Apply(ctx, []Write{write(data, true)}, ApplyOptions{})
	if err != nil || res.Results[0].CID != c {
		t.Fatalf("right bytes, unchecked: %v", err)
	}
	car.Reset()
	if err := good.Export(ctx, &car); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCAR(ctx, &car, VerifyOptions{Key: pub, DID: testDID, Now: fakeClock()}); err != nil {
		t.Fatalf("repository with right bytes: %v", err)
	}
}
