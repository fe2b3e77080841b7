package repo

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// commitEvents writes one record per time in ts, each commit at its time
// (the repository's clock), and returns the #commit events of those
// commits and the #sync event EmitSync writes after them.
func commitEvents(t *testing.T, ts ...time.Time) ([]*CommitEvent, *SyncEvent) {
	t.Helper()
	ctx := context.Background()
	now := ts[0]
	s := NewMemStore()
	r, err := Create(ctx, s, testDID, fixedKey(t), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for i, at := range ts {
		now = at
		if _, err := r.Apply(ctx, []Write{{Action: ActionCreate, Collection: "app.bsky.feed.post", RKey: "3k2222222222" + string(rune('a'+i)), Record: post(i)}}, ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sev, err := r.EmitSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := ReadEvents(ctx, s, EventsOptions{DID: testDID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []*CommitEvent
	for _, e := range evs {
		if e.Commit != nil {
			out = append(out, e.Commit)
		}
	}
	return out[len(out)-len(ts):], sev // after Create's commit, if any
}

// consumerClock is the consumer's clock in tests that check events from
// repositories on fakeClock: fixed an hour after fakeClock starts, so that
// their revs are never in its future and no result depends on the real
// clock.
func consumerClock() time.Time { return time.Date(2026, 1, 2, 4, 4, 5, 0, time.UTC) }

// eventClock is a consumer clock fixed at an event's time field, for
// fixtures: the time at which the event was emitted.
func eventClock(t testing.TB, datetime string) func() time.Time {
	t.Helper()
	dt, err := syntax.ParseDatetime(datetime)
	if err != nil {
		t.Fatal(err)
	}
	at := dt.Time()
	return func() time.Time { return at }
}

func revTime(t *testing.T, rev string) time.Time {
	t.Helper()
	tid, err := syntax.ParseTID(rev)
	if err != nil {
		t.Fatal(err)
	}
	return tid.Time()
}

// TestRevClock: a rev dated more than MaxClockSkew (DefaultMaxClockSkew if
// zero) after the consumer's clock is refused with ErrFutureRev (not
// ErrRevOrder, which says the rev is not after the known one), by
// VerifyCommitEvent and VerifySyncEvent alike; a negative MaxClockSkew
// disables the check.
func TestRevClock(t *testing.T) {
	ctx := context.Background()
	pub, _ := fixedKey(t).PublicKey()
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	commits, sev := commitEvents(t, t0)
	verify := map[string]func(clock func() time.Time, skew time.Duration) error{
		"commit": func(clock func() time.Time, skew time.Duration) error {
			_, err := VerifyCommitEvent(ctx, commits[0], CommitCheckOptions{Key: pub, DID: testDID, Now: clock, MaxClockSkew: skew})
			return err
		},
		"sync": func(clock func() time.Time, skew time.Duration) error {
			_, err := VerifySyncEvent(ctx, sev, SyncCheckOptions{Key: pub, DID: testDID, Now: clock, MaxClockSkew: skew})
			return err
		},
	}
	revs := map[string]string{"commit": commits[0].Rev, "sync": sev.Rev}
	at := func(x time.Time) func() time.Time { return func() time.Time { return x } }
	for name, check := range verify {
		rt := revTime(t, revs[name])
		for _, c := range []struct {
			clock time.Time
			skew  time.Duration
			ok    bool
		}{
			{rt, 0, true},
			{rt.Add(-DefaultMaxClockSkew), 0, true},
			{rt.Add(-DefaultMaxClockSkew - time.Microsecond), 0, false},
			{rt.Add(-time.Hour), 0, false},
			{rt.Add(-time.Hour), 2 * time.Hour, true},
			{rt.Add(-3 * time.Hour), 2 * time.Hour, false},
			{rt.Add(-10 * 365 * 24 * time.Hour), -1, true},
		} {
			err := check(at(c.clock), c.skew)
			if c.ok && err != nil {
				t.Errorf("%s: clock %s, skew %s: %v", name, c.clock, c.skew, err)
			}
			if !c.ok && (!errors.Is(err, ErrFutureRev) || errors.Is(err, ErrRevOrder) || !strings.Contains(err.Error(), "dated in the future")) {
				t.Errorf("%s: clock %s, skew %s: %v, want ErrFutureRev alone", name, c.clock, c.skew, err)
			}
		}
	}
}

// TestRevClockDefault: with no Now the check runs against the time now.
// The revs are dated 2200, so whatever the machine's clock says this
// century, they are in the future.
func TestRevClockDefault(t *testing.T) {
	ctx := context.Background()
	pub, _ := fixedKey(t).PublicKey()
	commits, sev := commitEvents(t, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, rev := range []string{commits[0].Rev, sev.Rev} {
		if y := revTime(t, rev).Year(); y != 2200 {
			t.Fatalf("rev %s is dated %d", rev, y)
		}
	}
	if _, err := VerifyCommitEvent(ctx, commits[0], CommitCheckOptions{Key: pub, DID: testDID}); !errors.Is(err, ErrFutureRev) {
		t.Errorf("VerifyCommitEvent, rev %s: %v, want ErrFutureRev", commits[0].Rev, err)
	}
	if _, err := VerifySyncEvent(ctx, sev, SyncCheckOptions{Key: pub, DID: testDID}); !errors.Is(err, ErrFutureRev) {
		t.Errorf("VerifySyncEvent, rev %s: %v, want ErrFutureRev", sev.Rev, err)
	}
}

// TestFutureRevDoesNotWedge: a commit dated ten years ahead, once accepted,
// would make every later honest commit fail ErrRevOrder. The default check
// refuses it (ErrFutureRev), and the consumer's state still accepts the honest commit.
func TestFutureRevDoesNotWedge(t *testing.T) {
	ctx := context.Background()
	pub, _ := fixedKey(t).PublicKey()
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	future, _ := commitEvents(t, t0, t0.AddDate(10, 0, 0))
	honest, _ := commitEvents(t, t0, t0.Add(time.Minute))
	consumer := func() time.Time { return t0.Add(2 * time.Minute) }
	st, err := VerifyCommitEvent(ctx, future[0], CommitCheckOptions{Key: pub, DID: testDID, Now: consumer})
	if err != nil {
		t.Fatal(err)
	}
	// The first commits differ only by their signatures.
	if st2, err := VerifyCommitEvent(ctx, honest[0], CommitCheckOptions{Key: pub, DID: testDID, Now: consumer}); err != nil || st2.Rev != st.Rev || st2.Data != st.Data {
		t.Fatalf("the two histories do not share their first tree and rev: %v", err)
	}
	if _, err := VerifyCommitEvent(ctx, future[1], CommitCheckOptions{Key: pub, DID: testDID, Now: consumer, Known: st}); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("a rev ten years ahead: %v, want ErrFutureRev", err)
	}
	if _, err := VerifyCommitEvent(ctx, honest[1], CommitCheckOptions{Key: pub, DID: testDID, Now: consumer, Known: st}); err != nil {
		t.Fatalf("the honest commit after the refused one: %v", err)
	}
	// Without the check, the future commit is accepted and wedges the
	// consumer: this is what the default prevents.
	wedged, err := VerifyCommitEvent(ctx, future[1], CommitCheckOptions{Key: pub, DID: testDID, Now: consumer, MaxClockSkew: -1, Known: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCommitEvent(ctx, honest[1], CommitCheckOptions{Key: pub, DID: testDID, Now: consumer, Known: wedged}); !errors.Is(err, ErrRevOrder) {
		t.Fatalf("after the future commit: %v, want ErrRevOrder", err)
	}
}

// TestSkipSignatureWithKey: InsecureSkipSignature with a key would ignore
// the key; both event checks refuse the combination.
func TestSkipSignatureWithKey(t *testing.T) {
	ctx := context.Background()
	pub, _ := fixedKey(t).PublicKey()
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	commits, sev := commitEvents(t, t0)
	consumer := func() time.Time { return t0.Add(time.Minute) }
	if _, err := VerifyCommitEvent(ctx, commits[0], CommitCheckOptions{Key: pub, DID: testDID, InsecureSkipSignature: true, Now: consumer}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyCommitEvent: %v, want ErrBadSignature", err)
	}
	if _, err := VerifySyncEvent(ctx, sev, SyncCheckOptions{Key: pub, DID: testDID, InsecureSkipSignature: true, Now: consumer}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifySyncEvent: %v, want ErrBadSignature", err)
	}
	if _, err := VerifyCommitEvent(ctx, commits[0], CommitCheckOptions{Now: consumer}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyCommitEvent, no key: %v, want ErrBadSignature", err)
	}
	if _, err := VerifyCommitEvent(ctx, commits[0], CommitCheckOptions{InsecureSkipSignature: true, Now: consumer}); err != nil {
		t.Errorf("VerifyCommitEvent, InsecureSkipSignature alone: %v", err)
	}
}

// TestVerifyNilEvent: each event check refuses a nil event with
// ErrBadEvent instead of panicking.
func TestVerifyNilEvent(t *testing.T) {
	ctx := context.Background()
	pub, _ := fixedKey(t).PublicKey()
	checks := map[string]func() error{
		"VerifyCommitEvent": func() error {
			_, err := VerifyCommitEvent(ctx, nil, CommitCheckOptions{Key: pub, DID: testDID})
			return err
		},
		"VerifySyncEvent": func() error {
			_, err := VerifySyncEvent(ctx, nil, SyncCheckOptions{Key: pub, DID: testDID})
			return err
		},
	}
	for name, check := range checks {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("panic: %v", p)
				}
			}()
			if err := check(); !errors.Is(err, ErrBadEvent) {
				t.Fatalf("nil event: %v, want ErrBadEvent", err)
			}
		})
	}
}

// TestEventDID: one key signs two repositories (as a community host signs
// every community it hosts). A consumer of A that pins that key accepts
// no event of B, #commit or #sync, whether it names A in the options or
// in its known state; options with a key and no DID to bind it to are
// refused; and a known state without a data root refuses an event with
// prevData instead of skipping the comparison (audit 4, F7).
func TestEventDID(t *testing.T) {
	ctx := context.Background()
	key := fixedKey(t)
	pub, _ := key.PublicKey()
	const didA, didB = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
	s := NewMemStore()
	clock := fakeClock()
	if _, err := Create(ctx, s, didA, key, Options{Now: clock}); err != nil {
		t.Fatal(err)
	}
	b, err := Create(ctx, s, didB, key, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Apply(ctx, []Write{{Action: ActionCreate, Collection: "app.chat.message", Record: post(1)}}, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sev, err := b.EmitSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		did   string
		known *SyncState
		want  error
	}{
		"DID of A":          {didA, nil, ErrBadEvent},
		"no DID":            {"", nil, ErrBadEvent},
		"known without DID": {"", &SyncState{Rev: "2222222222222"}, ErrBadEvent},
		"known state of A":  {"", &SyncState{DID: didA, Rev: "2222222222222"}, ErrBadEvent},
		"DID of B":          {didB, nil, nil},
	} {
		_, err := VerifyCommitEvent(ctx, res.Event, CommitCheckOptions{Key: pub, DID: c.did, Known: c.known, Now: consumerClock})
		var ve *VerifyError
		if c.want == nil && err != nil || c.want != nil && (!errors.Is(err, c.want) || !errors.As(err, &ve)) {
			t.Errorf("%s: VerifyCommitEvent: %v, want %v", name, err, c.want)
		}
		_, err = VerifySyncEvent(ctx, sev, SyncCheckOptions{Key: pub, DID: c.did, Known: c.known, Now: consumerClock})
		if c.want == nil && err != nil || c.want != nil && (!errors.Is(err, c.want) || !errors.As(err, &ve)) {
			t.Errorf("%s: VerifySyncEvent: %v, want %v", name, err, c.want)
		}
	}
	// A known state of B without a data root (from getLatestCommit, say).
	prev, err := ReadEvents(ctx, s, EventsOptions{DID: didB, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Event.PrevData == nil || prev[0].Commit == nil {
		t.Fatal("no prevData or no creation event")
	}
	noData := &SyncState{DID: didB, Rev: prev[0].Commit.Rev, Commit: prev[0].Commit.Commit}
	if _, err := VerifyCommitEvent(ctx, res.Event, CommitCheckOptions{Key: pub, Known: noData, Now: consumerClock}); !errors.Is(err, ErrPrevData) {
		t.Errorf("known state without data root: %v, want ErrPrevData", err)
	}
	full, err := VerifyCommitEvent(ctx, prev[0].Commit, CommitCheckOptions{Key: pub, DID: didB, Now: consumerClock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCommitEvent(ctx, res.Event, CommitCheckOptions{Key: pub, Known: full, Now: consumerClock}); err != nil {
		t.Errorf("known state with its data root: %v", err)
	}
}
