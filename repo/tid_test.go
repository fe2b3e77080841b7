package repo

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// tidEnd is the last instant a TID can date: 2^53-1 microseconds after the
// UNIX epoch.
var tidEnd = time.Date(2255, 6, 5, 23, 47, 34, 740991000, time.UTC)

// TestTIDClockRange: the TID clock dates TIDs from 1970 to tidEnd and
// refuses, with ErrClockRange, a reading outside that range and a step
// past the latest TID, instead of wrapping to a TID that sorts before the
// ones it issued.
func TestTIDClockRange(t *testing.T) {
	if got := time.UnixMicro(maxTIDMicros).UTC(); !got.Equal(tidEnd) {
		t.Fatalf("maxTIDMicros is %s, want %s", got, tidEnd)
	}
	var now time.Time
	c := newTIDClock(func() time.Time { return now }, 0)

	now = tidEnd.Add(-time.Microsecond)
	a, err := c.next()
	if err != nil {
		t.Fatal(err)
	}
	now = tidEnd
	b, err := c.next()
	if err != nil {
		t.Fatal(err)
	}
	if b != "bzzzzzzzzzz22" || a >= b || !b.Time().Equal(tidEnd) {
		t.Fatalf("TIDs at the end of the range: %s then %s (%s)", a, b, b.Time())
	}
	// The clock does not move: no TID after the latest.
	if tid, err := c.next(); !errors.Is(err, ErrClockRange) {
		t.Fatalf("step past the latest TID: %q %v, want ErrClockRange", tid, err)
	}

	for _, at := range []time.Time{
		tidEnd.Add(time.Microsecond),
		time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2540, 11, 7, 23, 35, 8, 481984000, time.UTC), // syntax.NewTID wraps it to bzzzzzz3ji222
		time.Unix(-1, 0), // syntax.NewTID wraps it to bzzzzzz3ji222 too
		time.Unix(0, -1),
		{}, // year 1
		time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC), // beyond int64 microseconds
	} {
		c := newTIDClock(func() time.Time { return at }, 0)
		if tid, err := c.next(); !errors.Is(err, ErrClockRange) {
			t.Errorf("clock at %s: %q %v, want ErrClockRange", at, tid, err)
		}
	}
	// The epoch itself is in range.
	c = newTIDClock(func() time.Time { return time.Unix(0, 0) }, 0)
	if tid, err := c.next(); err != nil || tid.Time().After(time.UnixMicro(1)) {
		t.Fatalf("clock at the epoch: %q %v", tid, err)
	}

	// A rev seen at the top of the range (the spec's first-character set
	// allows timestamps up to 2^54-1): nothing follows it.
	c = newTIDClock(func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }, 0)
	c.observe(syntax.TID("jzzzzzzzzzzzz"))
	if tid, err := c.next(); !errors.Is(err, ErrClockRange) {
		t.Fatalf("after jzzzzzzzzzzzz: %q %v, want ErrClockRange", tid, err)
	}
}

// TestRevClockPast2255: a repository whose clock passes the end of the TID
// range refuses the commit with ErrClockRange (the rev would wrap to 1970
// and sort before the head's) and keeps its head, whether the TID is the
// rev or a generated record key; Create refuses such a clock too.
func TestRevClockPast2255(t *testing.T) {
	ctx := context.Background()
	now := tidEnd.Add(-time.Minute)
	clock := func() time.Time { return now }
	r, err := Create(ctx, NewMemStore(), testDID, fixedKey(t), Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(ctx, []Write{{Action: ActionCreate, Collection: "app.bsky.feed.post", Record: post(1)}}, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	head := r.Head()
	now = tidEnd.AddDate(1, 0, 0)
	for name, w := range map[string]Write{
		"rev":        {Action: ActionCreate, Collection: "app.bsky.feed.post", RKey: "self", Record: post(2)},
		"record key": {Action: ActionCreate, Collection: "app.bsky.feed.post", Record: post(3)},
	} {
		res, err := r.Apply(ctx, []Write{w}, ApplyOptions{})
		if !errors.Is(err, ErrClockRange) {
			rev := ""
			if res != nil {
				rev = res.Rev
			}
			t.Errorf("%s: rev %q after %q: %v, want ErrClockRange", name, rev, head.Rev, err)
		}
		if r.Head() != head {
			t.Fatalf("%s: the head moved from %+v to %+v", name, head, r.Head())
		}
	}
	if _, err := Create(ctx, NewMemStore(), testDID, fixedKey(t), Options{Now: clock}); !errors.Is(err, ErrClockRange) {
		t.Errorf("Create with the clock in %d: %v, want ErrClockRange", now.Year(), err)
	}
}
