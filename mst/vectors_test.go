package mst

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestVectorKeyHeights(t *testing.T) {
	var cases []struct {
		Key    string `json:"key"`
		Height int    `json:"height"`
	}
	readJSON(t, "key_heights.json", &cases)
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		if got := KeyHeight(c.Key); got != c.Height {
			t.Errorf("KeyHeight(%q) = %d, want %d", c.Key, got, c.Height)
		}
	}
}

func TestVectorCommonPrefix(t *testing.T) {
	var cases []struct {
		Left  string `json:"left"`
		Right string `json:"right"`
		Len   int    `json:"len"`
	}
	readJSON(t, "common_prefix.json", &cases)
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		if got := CommonPrefixLen(c.Left, c.Right); got != c.Len {
			t.Errorf("CommonPrefixLen(%q, %q) = %d, want %d", c.Left, c.Right, got, c.Len)
		}
	}
}

// exampleKeys returns the keys of example_keys.txt. Each is named
// "<letter><layer>/<digits>": the digit after the letter is its layer.
func exampleKeys(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("testdata/example_keys.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k := strings.TrimSpace(sc.Text()); k != "" {
			keys = append(keys, k)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestVectorExampleKeys(t *testing.T) {
	keys := exampleKeys(t)
	if len(keys) < 100 {
		t.Fatalf("only %d keys", len(keys))
	}
	ctx := context.Background()
	val := testCID("example")
	tr := Empty(nil)
	for _, k := range keys {
		if err := ValidateKey(k); err != nil {
			t.Fatalf("example key rejected: %v", err)
		}
		want, err := strconv.Atoi(k[1:2])
		if err != nil {
			t.Fatalf("key %q: %v", k, err)
		}
		if got := KeyHeight(k); got != want {
			t.Errorf("KeyHeight(%q) = %d, want %d (named layer)", k, got, want)
		}
		if tr, _, err = tr.Put(ctx, k, val); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := tr.Walk(ctx, func(k string, v cid.Cid) error {
		got = append(got, k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("walk returned %d keys, want %d sorted keys", len(got), len(want))
	}
	checkInvariants(t, tr)
}

type commitProofFixture struct {
	Comment          string   `json:"comment"`
	LeafValue        string   `json:"leafValue"`
	Keys             []string `json:"keys"`
	Adds             []string `json:"adds"`
	Dels             []string `json:"dels"`
	RootBeforeCommit string   `json:"rootBeforeCommit"`
	RootAfterCommit  string   `json:"rootAfterCommit"`
	BlocksInProof    []string `json:"blocksInProof"`
}

func TestVectorCommitProofs(t *testing.T) {
	fixtures := commitProofFixtures(t)
	if len(fixtures) != 6 {
		t.Fatalf("%d fixtures, want 6", len(fixtures))
	}
	ctx := context.Background()
	for _, f := range fixtures {
		t.Run(f.Comment, func(t *testing.T) {
			leaf := cid.MustParse(f.LeafValue)
			before := Empty(nil)
			var err error
			for _, k := range f.Keys {
				if before, _, err = before.Put(ctx, k, leaf); err != nil {
					t.Fatal(err)
				}
			}
			if got := mustRoot(t, before).String(); got != f.RootBeforeCommit {
				t.Fatalf("root before = %s, want %s", got, f.RootBeforeCommit)
			}
			after := before
			var ops []Op
			for _, k := range f.Adds {
				var prev cid.Cid
				if after, prev, err = after.Put(ctx, k, leaf); err != nil {
					t.Fatal(err)
				}
				ops = append(ops, Op{Key: k, Old: prev, New: leaf})
			}
			for _, k := range f.Dels {
				var prev cid.Cid
				if after, prev, err = after.Delete(ctx, k); err != nil {
					t.Fatal(err)
				}
				ops = append(ops, Op{Key: k, Old: prev})
			}
			afterRoot := mustRoot(t, after)
			if afterRoot.String() != f.RootAfterCommit {
				t.Fatalf("root after = %s, want %s", afterRoot, f.RootAfterCommit)
			}
			if got := mustRoot(t, before).String(); got != f.RootBeforeCommit {
				t.Fatalf("before tree changed: %s", got)
			}
			// The ops Diff finds are the ops applied.
			d, err := Diff(ctx, before, after)
			if err != nil {
				t.Fatal(err)
			}
			if s, _ := sortOps(ops); !slices.Equal(d, s) {
				t.Fatalf("Diff = %v, want %v", d, s)
			}

			blocks, err := InversionBlocks(ctx, after, ops)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, b := range blocks {
				got = append(got, b.CID.String())
			}
			want := slices.Clone(f.BlocksInProof)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("proof blocks:\n got %v\nwant %v", got, want)
			}

			// A consumer holding only the proof blocks inverts the ops.
			src := memBlocksOf(t, blocks)
			inv, err := Invert(ctx, Load(src, afterRoot), ops)
			if err != nil {
				t.Fatal(err)
			}
			if got := mustRoot(t, inv).String(); got != f.RootBeforeCommit {
				t.Fatalf("inverted root = %s, want %s", got, f.RootBeforeCommit)
			}
		})
	}
}
