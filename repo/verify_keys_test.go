package repo

import (
	"context"
	"errors"
	"math/big"
	"testing"
)

// TestKeyTables checks that a key gets a table after its threshold of
// accepted events (and not from events refused), that events then verify
// with it, that the table refuses what Commit.VerifySignature refuses
// (another key's signature, a changed signature, the high-S twin of a
// valid one), and that the number of tables is bounded.
func TestKeyTables(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		need  int
		order string // the curve's group order, for the high-S twin
	}{
		{"P-256", tableUsesP256, "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"},
		{"K-256", tableUsesK256, "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"},
	} {
		t.Run(c.name, func(t *testing.T) {
			key := testKeys(t)[c.name]
			pub, _ := key.PublicKey()
			other, _ := testKeys(t)[map[string]string{"P-256": "K-256", "K-256": "P-256"}[c.name]].PublicKey()
			r, err := Create(ctx, NewMemStore(), testDID, key, Options{Now: fakeClock()})
			if err != nil {
				t.Fatal(err)
			}
			var evs []*CommitEvent
			for i := range c.need + 2 {
				res, err := r.Apply(ctx, []Write{{Action: ActionCreate, Collection: "app.bsky.feed.post", Record: post(i)}}, ApplyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				evs = append(evs, res.Event)
			}
			kt := NewKeyTables(1)
			// Refused events earn nothing.
			for range c.need + 1 {
				if _, err := VerifyCommitEvent(ctx, evs[0], CommitCheckOptions{Key: other, DID: testDID, Now: consumerClock, KeyTables: kt}); !errors.Is(err, ErrBadSignature) {
					t.Fatalf("another key: %v", err)
				}
			}
			if kt.Len() != 0 {
				t.Fatal("a table from refused events")
			}
			// Nor does one genuine event replayed without a known state
			// (audit 5): only events checked against the consumer's state
			// count, and the first one below has none.
			for range c.need + 1 {
				if _, err := VerifyCommitEvent(ctx, evs[0], CommitCheckOptions{Key: pub, DID: testDID, Now: consumerClock, KeyTables: kt}); err != nil {
					t.Fatalf("replay: %v", err)
				}
			}
			if kt.Len() != 0 {
				t.Fatal("a table from one event replayed without a known state")
			}
			var known *SyncState
			for i, ev := range evs {
				st, err := VerifyCommitEvent(ctx, ev, CommitCheckOptions{Key: pub, DID: testDID, Now: consumerClock, KeyTables: kt, Known: known})
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				known = st
				if want := 0; i >= c.need { // event 0 had no known state
					want = 1
					if kt.Len() != want {
						t.Fatalf("after %d events: %d tables, want %d", i+1, kt.Len(), want)
					}
				} else if kt.Len() != want {
					t.Fatalf("after %d events: %d tables, want %d", i+1, kt.Len(), want)
				}
			}
			// With the table: the same verdicts as Commit.VerifySignature.
			cdata := commitBlock(t, evs[0])
			commit, err := DecodeCommit(cdata)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := new(big.Int).SetString(c.order, 16)
			sv := new(big.Int).SetBytes(commit.Sig[32:])
			twin := append(append([]byte(nil), commit.Sig[:32]...), new(big.Int).Sub(n, sv).FillBytes(make([]byte, 32))...)
			flipped := append([]byte(nil), commit.Sig...)
			flipped[5] ^= 1
			for name, sig := range map[string][]byte{"valid": commit.Sig, "high-S twin": twin, "changed": flipped, "short": commit.Sig[:63], "none": nil} {
				cc := *commit
				cc.Sig = sig
				want := cc.VerifySignature(pub)
				got := kt.verifyCommit(&cc, pub)
				if (got == nil) != (want == nil) || (got != nil && !errors.Is(got, ErrBadSignature)) {
					t.Fatalf("%s: table %v, VerifySignature %v", name, got, want)
				}
				if name == "valid" && got != nil || name != "valid" && got == nil {
					t.Fatalf("%s: %v", name, got)
				}
			}
			// The zero value works, with the default bound.
			var zero KeyTables
			for range c.need {
				zero.noteUse(pub)
			}
			if zero.Len() != 1 || zero.verifyCommit(commit, pub) != nil {
				t.Fatalf("zero KeyTables: %d tables", zero.Len())
			}
			// The bound: another hot key replaces the table.
			for range tableUsesK256 {
				kt.noteUse(other)
			}
			if kt.Len() != 1 {
				t.Fatalf("%d tables with a bound of 1", kt.Len())
			}
			kt.mu.Lock()
			_, has := kt.tables[other.Multibase()]
			kt.mu.Unlock()
			if !has {
				t.Fatal("the new hot key has no table")
			}
		})
	}
}

// commitBlock returns the commit block of ev.
func commitBlock(t *testing.T, ev *CommitEvent) []byte {
	t.Helper()
	_, m, err := readEventCAR(ev.Blocks, CAROptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m[ev.Commit]
}
