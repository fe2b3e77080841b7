package mst

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
)

// keyAt returns the first key "<prefix><n>" (n = 0, 1, ...) on layer h.
func keyAt(prefix string, h int) string {
	for i := 0; ; i++ {
		k := fmt.Sprintf("%s%d", prefix, i)
		if KeyHeight(k) == h {
			return k
		}
	}
}

// rawEntry is an entry written exactly as given, prefix length included.
type rawEntry struct {
	p      int
	suffix string
	v      cid.Cid
	t      *cid.Cid
}

// rawNode encodes a node with the given fields through package drisl, so
// that the bytes are valid DRISL whatever the MST rules say.
func rawNode(t *testing.T, left *cid.Cid, entries []rawEntry) []byte {
	t.Helper()
	type e struct {
		K []byte   `cbor:"k"`
		P int64    `cbor:"p"`
		T *cid.Cid `cbor:"t"`
		V cid.Cid  `cbor:"v"`
	}
	type n struct {
		E []e      `cbor:"e"`
		L *cid.Cid `cbor:"l"`
	}
	v := n{L: left, E: []e{}}
	for _, x := range entries {
		v.E = append(v.E, e{K: []byte(x.suffix), P: int64(x.p), T: x.t, V: x.v})
	}
	b, err := drisl.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seq returns entries for keys with minimal prefix compression.
func seq(v cid.Cid, keys ...string) []rawEntry {
	var out []rawEntry
	prev := ""
	for _, k := range keys {
		p := CommonPrefixLen(prev, k)
		out = append(out, rawEntry{p: p, suffix: k[p:], v: v})
		prev = k
	}
	return out
}

// put stores data under its CID and returns the CID.
func put(t *testing.T, mb *MemBlocks, data []byte) cid.Cid {
	t.Helper()
	c := sumCID(data)
	if err := mb.PutBlock(context.Background(), c, data); err != nil {
		t.Fatal(err)
	}
	return c
}

// expectRule loads the tree at root, reads every key, and checks that it
// fails with a *NodeError for rule.
func expectRule(t *testing.T, mb *MemBlocks, root cid.Cid, rule Rule) {
	t.Helper()
	err := Load(mb, root).Walk(context.Background(), func(string, cid.Cid) error { return nil })
	var ne *NodeError
	if !errors.As(err, &ne) || !errors.Is(err, ErrInvalidNode) {
		t.Fatalf("walk error = %v, want a *NodeError (%s)", err, rule)
	}
	if ne.Rule != rule {
		t.Fatalf("rule = %q (%v), want %q", ne.Rule, err, rule)
	}
}

func TestStrictLoading(t *testing.T) {
	v := testCID("record")
	k0a, k0b := keyAt("app.bsky.feed.post/a", 0), keyAt("app.bsky.feed.post/b", 0)
	k1 := keyAt("app.bsky.feed.post/m", 1)
	full := func(k string) rawEntry { return rawEntry{suffix: k, v: v} }
	link := func(c cid.Cid) *cid.Cid { return &c }

	t.Run("valid tree loads", func(t *testing.T) {
		var mb MemBlocks
		leaf := put(t, &mb, rawNode(t, nil, []rawEntry{full(k0a)}))
		root := put(t, &mb, rawNode(t, &leaf, []rawEntry{full(k1)}))
		if err := Load(&mb, root).Walk(context.Background(), func(string, cid.Cid) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong layer for a key in a node", func(t *testing.T) {
		var mb MemBlocks
		root := put(t, &mb, rawNode(t, nil, seq(v, k0a, k1)))
		expectRule(t, &mb, root, RuleKeyHeight)
	})
	t.Run("wrong layer for a node under its parent", func(t *testing.T) {
		var mb MemBlocks
		k2 := keyAt("app.bsky.feed.post/z", 2)
		leaf := put(t, &mb, rawNode(t, nil, []rawEntry{full(k0a)}))
		root := put(t, &mb, rawNode(t, &leaf, []rawEntry{full(k2)})) // layer 0 under layer 2
		expectRule(t, &mb, root, RuleKeyHeight)
	})
	t.Run("bad key after a shared prefix", func(t *testing.T) {
		// The second key shares the first one's collection and slash, so
		// only its suffix is new: a bad byte, a second slash, or nothing
		// after the slash must still be caught.
		p := len("app.bsky.feed.post/")
		for _, suffix := range []string{"b c", "b/c", "b\x00", ""} {
			var mb MemBlocks
			root := put(t, &mb, rawNode(t, nil, []rawEntry{full(k0a), {p: p, suffix: suffix, v: v}}))
			expectRule(t, &mb, root, RuleKey)
		}
	})
	t.Run("unsorted keys", func(t *testing.T) {
		var mb MemBlocks
		a, b := k0a, k0b // k0a < k0b
		root := put(t, &mb, rawNode(t, nil, []rawEntry{full(b), {p: CommonPrefixLen(b, a), suffix: a[CommonPrefixLen(b, a):], v: v}}))
		expectRule(t, &mb, root, RuleKeyOrder)
	})
	t.Run("duplicate keys", func(t *testing.T) {
		var mb MemBlocks
		root := put(t, &mb, rawNode(t, nil, []rawEntry{full(k0a), {p: len(k0a), suffix: "", v: v}}))
		expectRule(t, &mb, root, RuleKeyOrder)
	})
	t.Run("prefix length beyond previous key", func(t *testing.T) {
		var mb MemBlocks
		root := put(t, &mb, rawNode(t, nil, []rawEntry{full(k0a), {p: len(k0a) + 5, suffix: "x", v: v}}))
		expectRule(t, &mb, root, RulePrefixLength)
	})
	t.Run("prefix length on the first entry", func(t *testing.T) {
		var mb MemBlocks
		root := put(t, &mb, rawNode(t, nil, []rawEntry{{p: 3, suffix: k0a, v: v}}))
		expectRule(t, &mb, root, RulePrefixLength)
	})
	t.Run("non-minimal prefix compression", func(t *testing.T) {
		var mb MemBlocks
		// k0b shares "app.bsky.feed.post/" with k0a but is stored in full.
		root := put(t, &mb, rawNode(t, nil, []rawEntry{full(k0a), full(k0b)}))
		expectRule(t, &mb, root, RulePrefixMinimal)
	})
	t.Run("empty intermediate node", func(t *testing.T) {
		var mb MemBlocks
		empty := put(t, &mb, rawNode(t, nil, nil))
		root := put(t, &mb, rawNode(t, &empty, []rawEntry{full(k1)}))
		expectRule(t, &mb, root, RuleEmptyNode)
	})
	t.Run("child on the wrong side", func(t *testing.T) {
		var mb MemBlocks
		// A child holding a key above k1 hangs left of k1.
		kHigh := keyAt("app.bsky.feed.post/z", 0)
		leaf := put(t, &mb, rawNode(t, nil, []rawEntry{full(kHigh)}))
		root := put(t, &mb, rawNode(t, &leaf, []rawEntry{full(k1)}))
		expectRule(t, &mb, root, RuleChildSide)
	})
	t.Run("invalid key", func(t *testing.T) {
		var mb MemBlocks
		for _, bad := range []string{"no-slash", "a/b/c", "/rkey", "coll/", "app.bsky/sp ace", "app/é"} {
			root := put(t, &mb, rawNode(t, nil, []rawEntry{full(bad)}))
			expectRule(t, &mb, root, RuleKey)
		}
	})
	t.Run("child below layer 0", func(t *testing.T) {
		var mb MemBlocks
		leaf := put(t, &mb, rawNode(t, nil, []rawEntry{full(k0a)}))
		root := put(t, &mb, rawNode(t, nil, []rawEntry{{suffix: k0b, v: v, t: link(leaf)}}))
		expectRule(t, &mb, root, RuleLeafChild)
	})
	t.Run("root without entries", func(t *testing.T) {
		var mb MemBlocks
		leaf := put(t, &mb, rawNode(t, nil, []rawEntry{full(k0a)}))
		root := put(t, &mb, rawNode(t, &leaf, nil))
		expectRule(t, &mb, root, RuleUntrimmedRoot)
	})
	t.Run("block does not hash to its CID", func(t *testing.T) {
		var mb MemBlocks
		good := rawNode(t, nil, []rawEntry{full(k0a)})
		c := sumCID(good)
		if err := mb.PutBlock(context.Background(), c, rawNode(t, nil, []rawEntry{full(k0b)})); err != nil {
			t.Fatal(err)
		}
		expectRule(t, &mb, c, RuleHash)
	})
	t.Run("non-canonical encoding", func(t *testing.T) {
		good := rawNode(t, nil, []rawEntry{full(k0a)})
		cases := map[string][]byte{
			"missing l":        append([]byte{0xa1}, good[1:len(good)-3]...),
			"trailing byte":    append(append([]byte{}, good...), 0x00),
			"non-minimal int":  nonMinimalP(good),
			"indefinite array": append([]byte{0xa2, 0x61, 'e', 0x9f}, good[4:]...),
			"not a map":        {0x80},
			"empty input":      {},
		}
		for name, data := range cases {
			t.Run(name, func(t *testing.T) {
				var mb MemBlocks
				expectRule(t, &mb, put(t, &mb, data), RuleEncoding)
			})
		}
	})
	t.Run("bad link", func(t *testing.T) {
		var mb MemBlocks
		v0 := cid.NewCidV0(v.Hash()) // CIDv0 is not an atproto link; drisl will not write it
		root := put(t, &mb, appendNode(nil, &node{entries: []entry{{key: k0a, val: v0}}}))
		expectRule(t, &mb, root, RuleLink)
	})
	t.Run("missing block", func(t *testing.T) {
		var mb MemBlocks
		missing := sumCID([]byte("nothing"))
		root := put(t, &mb, rawNode(t, &missing, []rawEntry{full(k1)}))
		err := Load(&mb, root).Walk(context.Background(), func(string, cid.Cid) error { return nil })
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

// nonMinimalP rewrites the first entry's "p": 0 as a one-byte-argument 0.
func nonMinimalP(good []byte) []byte {
	for i := 0; i+2 < len(good); i++ {
		if good[i] == 0x61 && good[i+1] == 'p' && good[i+2] == 0x00 {
			out := append([]byte{}, good[:i+2]...)
			out = append(out, 0x18, 0x00)
			return append(out, good[i+3:]...)
		}
	}
	panic("no p field")
}

func TestKeyValidation(t *testing.T) {
	good := []string{"app.bsky.feed.post/3jqfcqzm3fo2j", "A0/374913", "a/b", "com.example:x/~_-.:", "x/" + string(make([]byte, 0)) + "y"}
	for _, k := range good {
		if err := ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v", k, err)
		}
	}
	long := "a/"
	for len(long) < MaxKeyBytes {
		long += "b"
	}
	if err := ValidateKey(long); err != nil {
		t.Errorf("1024-byte key rejected: %v", err)
	}
	bad := []string{"", "a", "a/", "/b", "a/b/c", "a b/c", "a/b c", "a/é", "a/b\x00", long + "c", "a\\b/c", "a/b?"}
	for _, k := range bad {
		var ke *KeyError
		if err := ValidateKey(k); !errors.As(err, &ke) || !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want a *KeyError", k, err)
		}
	}
	ctx := context.Background()
	tr := Empty(nil)
	if _, _, err := tr.Put(ctx, "bad", testCID("x")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Put with a bad key: %v", err)
	}
	if _, _, err := tr.Get(ctx, "bad"); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Get with a bad key: %v", err)
	}
	if _, _, err := tr.Delete(ctx, "a/b/c"); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Delete with a bad key: %v", err)
	}
}

// TestTrustedSource checks Options.InsecureTrustSource: a trusted load reads the
// same tree and diff as a strict one, skips only the SHA-256 checks (a block
// stored under a wrong CID is accepted, as documented), and still rejects
// the other rules with an error.
func TestTrustedSource(t *testing.T) {
	ctx := context.Background()
	trusted := Options{InsecureTrustSource: true}
	var mb MemBlocks
	e := Empty(nil).Edit()
	for i := range 3000 {
		if _, err := e.Put(ctx, fmt.Sprintf("app.bsky.feed.post/k%05d", i), testCID(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	a := e.Tree()
	rootA, err := a.WriteBlocks(ctx, &mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := a.Delete(ctx, "app.bsky.feed.post/k01234")
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ = b.Put(ctx, "app.bsky.feed.post/k02000", testCID("new"))
	rootB, err := b.WriteBlocks(ctx, &mb, a)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Diff(ctx, Load(&mb, rootA), Load(&mb, rootB))
	if err != nil || len(want) != 2 {
		t.Fatalf("strict diff: %v, %v", want, err)
	}
	ta := trusted.Load(&mb, rootA)
	got, err := Diff(ctx, ta, ta.LoadRoot(rootB))
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("trusted diff = %v, %v; want %v", got, err, want)
	}
	n := 0
	if err := trusted.Load(&mb, rootA).Walk(ctx, func(string, cid.Cid) error { n++; return nil }); err != nil || n != 3000 {
		t.Fatalf("trusted walk: %d keys, %v", n, err)
	}

	v := testCID("record")
	k0a, k0b := keyAt("app.bsky.feed.post/a", 0), keyAt("app.bsky.feed.post/b", 0)
	k1 := keyAt("app.bsky.feed.post/m", 1)
	walk := func(mb *MemBlocks, root cid.Cid) error {
		return trusted.Load(mb, root).Walk(ctx, func(string, cid.Cid) error { return nil })
	}
	// A block under a CID it does not hash to: strict rejects, trusted
	// accepts (the source vouched for it).
	var bad MemBlocks
	data := rawNode(t, nil, seq(v, k0a, k0b))
	wrong := testCID("not the hash")
	wrong = sumCID([]byte(wrong.KeyString()))
	if err := bad.PutBlock(ctx, wrong, data); err != nil {
		t.Fatal(err)
	}
	expectRule(t, &bad, wrong, RuleHash)
	if err := walk(&bad, wrong); err != nil {
		t.Fatalf("trusted load of a mislabelled block: %v", err)
	}
	// Keys on mixed layers go unnoticed after the first (documented).
	var mixed MemBlocks
	root := put(t, &mixed, rawNode(t, nil, seq(v, k0a, k1)))
	expectRule(t, &mixed, root, RuleKeyHeight)
	if err := walk(&mixed, root); err != nil {
		t.Fatalf("trusted load of mixed layers: %v", err)
	}
	// Every other rule is still checked.
	var unsorted MemBlocks
	p := CommonPrefixLen(k0b, k0a)
	root = put(t, &unsorted, rawNode(t, nil, []rawEntry{{suffix: k0b, v: v}, {p: p, suffix: k0a[p:], v: v}}))
	var ne *NodeError
	if err := walk(&unsorted, root); !errors.As(err, &ne) || ne.Rule != RuleKeyOrder {
		t.Fatalf("trusted load of unsorted keys: %v", err)
	}
}
