package mst

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/internal/testvectors"
)

// The fuzz targets of this file take untrusted blocks as one byte string:
// each block is a 2-byte big-endian length and that many bytes, and is
// stored under the CID of its bytes (so that most inputs get past the hash
// check to the node rules). The seeds are proofs and #commit inversion
// blocks of the interop commit-proof fixtures; their committed corpus is
// under testdata/fuzz/.

// fuzzMaxBlocks and fuzzMaxOps bound one input's work.
const (
	fuzzMaxBlocks = 64
	fuzzMaxOps    = 32
)

// joinBlocks encodes blocks in the fuzz targets' format.
func joinBlocks(blocks []Block) []byte {
	var out []byte
	for _, b := range blocks {
		out = binary.BigEndian.AppendUint16(out, uint16(len(b.Data)))
		out = append(out, b.Data...)
	}
	return out
}

// splitBlocks decodes blocks in the fuzz targets' format; a truncated last
// block is dropped. Block i is stored under the CID of its bytes, except
// that tamper > 0 gives block (tamper-1) mod n the CID of other bytes.
func splitBlocks(data []byte, tamper uint8) []Block {
	var out []Block
	for len(data) >= 2 && len(out) < fuzzMaxBlocks {
		n := int(binary.BigEndian.Uint16(data))
		if len(data)-2 < n {
			break
		}
		b := data[2 : 2+n]
		out = append(out, Block{CID: sumCID(b), Data: b})
		data = data[2+n:]
	}
	if tamper > 0 && len(out) > 0 {
		i := int(tamper-1) % len(out)
		out[i].CID = sumCID(append(bytes.Clone(out[i].Data), 0))
	}
	return out
}

// fuzzRoot is the CID of block i mod len(blocks), or the empty tree's
// root when there are no blocks.
func fuzzRoot(blocks []Block, i uint8) cid.Cid {
	if len(blocks) == 0 {
		return sumCID(emptyNodeBytes)
	}
	return blocks[int(i)%len(blocks)].CID
}

// The two values of fuzzed ops: the fixtures' leaf value and another.
var (
	fuzzValueA = cid.MustParse("bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454")
	fuzzValueB = testCID("fuzz value B")
)

// Bits of an encoded op's flag byte.
const (
	opHasOld = 1 << iota // Old is defined
	opHasNew             // New is defined
	opOldB               // Old is fuzzValueB, not fuzzValueA
	opNewB               // New is fuzzValueB, not fuzzValueA
)

// joinOps encodes ops for FuzzInvert: per op a flag byte, a key length
// byte and the key. Values other than fuzzValueB are encoded as
// fuzzValueA.
func joinOps(ops []Op) []byte {
	var out []byte
	for _, op := range ops {
		var flag byte
		if op.Old.Defined() {
			flag |= opHasOld
			if op.Old == fuzzValueB {
				flag |= opOldB
			}
		}
		if op.New.Defined() {
			flag |= opHasNew
			if op.New == fuzzValueB {
				flag |= opNewB
			}
		}
		out = append(out, flag, byte(len(op.Key)))
		out = append(out, op.Key...)
	}
	return out
}

// splitOps decodes joinOps' format; a truncated last op is dropped.
func splitOps(data []byte) []Op {
	var out []Op
	for len(data) >= 2 && len(out) < fuzzMaxOps {
		flag, n := data[0], int(data[1])
		if len(data)-2 < n {
			break
		}
		op := Op{Key: string(data[2 : 2+n])}
		if flag&opHasOld != 0 {
			op.Old = fuzzValueA
			if flag&opOldB != 0 {
				op.Old = fuzzValueB
			}
		}
		if flag&opHasNew != 0 {
			op.New = fuzzValueA
			if flag&opNewB != 0 {
				op.New = fuzzValueB
			}
		}
		out = append(out, op)
		data = data[2+n:]
	}
	return out
}

// checkFuzzErr fails unless err wraps one of the package's sentinels.
func checkFuzzErr(t *testing.T, what string, err error) {
	t.Helper()
	for _, s := range []error{ErrNotFound, ErrInvalidNode, ErrInvalidKey, ErrProof} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("%s: untyped error %T: %v", what, err, err)
}

// proofFixture is a commit-proof fixture applied: the trees before and
// after its commit and the commit's ops.
type proofFixture struct {
	name          string
	before, after *Tree
	ops           []Op
	keys          []string // every key the fixture names
}

// commitProofFixtures reads the interop commit-proof fixtures from
// internal/testvectors.
func commitProofFixtures(tb testing.TB) []commitProofFixture {
	tb.Helper()
	data, err := fs.ReadFile(testvectors.FS(), "firehose/commit-proof-fixtures.json")
	if err != nil {
		tb.Fatal(err)
	}
	var fixtures []commitProofFixture
	if err := json.Unmarshal(data, &fixtures); err != nil {
		tb.Fatal(err)
	}
	return fixtures
}

// loadProofFixtures builds the commit-proof fixtures' trees.
func loadProofFixtures(tb testing.TB) []proofFixture {
	tb.Helper()
	ctx := context.Background()
	var out []proofFixture
	var err error
	for _, f := range commitProofFixtures(tb) {
		leaf := cid.MustParse(f.LeafValue)
		if leaf != fuzzValueA {
			tb.Fatalf("%s: leaf value %s, want %s", f.Comment, leaf, fuzzValueA)
		}
		pf := proofFixture{name: f.Comment, before: Empty(nil)}
		for _, k := range f.Keys {
			if pf.before, _, err = pf.before.Put(ctx, k, leaf); err != nil {
				tb.Fatal(err)
			}
		}
		pf.after = pf.before
		for _, k := range f.Adds {
			var prev cid.Cid
			if pf.after, prev, err = pf.after.Put(ctx, k, leaf); err != nil {
				tb.Fatal(err)
			}
			pf.ops = append(pf.ops, Op{Key: k, Old: prev, New: leaf})
		}
		for _, k := range f.Dels {
			var prev cid.Cid
			if pf.after, prev, err = pf.after.Delete(ctx, k); err != nil {
				tb.Fatal(err)
			}
			pf.ops = append(pf.ops, Op{Key: k, Old: prev})
		}
		pf.keys = append(append(append(pf.keys, f.Keys...), f.Adds...), f.Dels...)
		out = append(out, pf)
	}
	return out
}

// FuzzVerifyProof feeds VerifyProof untrusted blocks, a root among them
// and a key. It must not panic, and every error wraps a sentinel. When it
// accepts, the path it read is canonical: Prove on the same blocks, if
// they hold the whole path Prove walks, gives a proof made of input blocks
// byte for byte, which VerifyProof accepts with the same answer.
func FuzzVerifyProof(f *testing.F) {
	f.Add("A0/374913", []byte{}, uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, key string, data []byte, rootIndex, tamper uint8) {
		ctx := context.Background()
		blocks := splitBlocks(data, tamper)
		root := fuzzRoot(blocks, rootIndex)
		v, found, err := VerifyProof(ctx, root, key, blocks)
		if err != nil {
			checkFuzzErr(t, "VerifyProof", err)
			return
		}
		if found != v.Defined() {
			t.Fatalf("found %v with value %v", found, v)
		}
		byCID := map[cid.Cid][]byte{}
		for _, b := range blocks {
			byCID[b.CID] = b.Data
		}
		src := memBlocksOf(t, blocks)
		proof, err := Load(src, root).Prove(ctx, key)
		if err != nil {
			checkFuzzErr(t, "Prove", err)
			return
		}
		for _, b := range proof {
			if in, ok := byCID[b.CID]; !ok || !bytes.Equal(in, b.Data) {
				t.Fatalf("Prove returned block %s, which the input does not hold byte for byte", b.CID)
			}
		}
		v2, found2, err := VerifyProof(ctx, root, key, proof)
		if err != nil || v2 != v || found2 != found {
			t.Fatalf("VerifyProof on Prove's proof: %v %v %v, want %v %v", v2, found2, err, v, found)
		}
	})
}

// FuzzInvert feeds Invert a partial tree of untrusted blocks and ops. It
// must not panic, and every error wraps a sentinel. When it succeeds, the
// result holds each op's old value, and applying the ops to it again
// gives back the root inverted from (unless a node it needs is missing).
func FuzzInvert(f *testing.F) {
	f.Add([]byte{}, uint8(0), joinOps([]Op{{Key: "A0/374913", New: fuzzValueA}}))
	f.Fuzz(func(t *testing.T, data []byte, rootIndex uint8, opData []byte) {
		ctx := context.Background()
		blocks := splitBlocks(data, 0)
		root := fuzzRoot(blocks, rootIndex)
		ops := splitOps(opData)
		src := memBlocksOf(t, blocks)
		before, err := Invert(ctx, Load(src, root), ops)
		if err != nil {
			checkFuzzErr(t, "Invert", err)
			return
		}
		for _, op := range ops {
			v, found, err := before.Get(ctx, op.Key)
			if err != nil {
				t.Fatalf("Get(%s) on the inverted tree: %v", op.Key, err)
			}
			if found != op.Old.Defined() || v != op.Old {
				t.Fatalf("inverted tree holds %v (%v) at %s, op says old %v", v, found, op.Key, op.Old)
			}
		}
		again := before
		for _, op := range ops {
			if op.New.Defined() {
				again, _, err = again.Put(ctx, op.Key, op.New)
			} else {
				again, _, err = again.Delete(ctx, op.Key)
			}
			if errors.Is(err, ErrNotFound) {
				return // a partial tree: the blocks need not hold every node a forward edit reads
			}
			if err != nil {
				t.Fatalf("reapplying %s: %v", op.Key, err)
			}
		}
		got, err := again.Root(ctx)
		if errors.Is(err, ErrNotFound) {
			return
		}
		if err != nil || got != root {
			t.Fatalf("ops reapplied give root %v (%v), want %s", got, err, root)
		}
	})
}

// fuzzProofSeeds are FuzzVerifyProof's inputs from the fixtures: for every
// key a fixture names, and one it does not, the after tree's proof; and
// whether the key is in that tree.
func fuzzProofSeeds(tb testing.TB) (map[string][]any, map[string]bool) {
	ctx := context.Background()
	out, present := map[string][]any{}, map[string]bool{}
	for i, pf := range loadProofFixtures(tb) {
		for j, k := range append(pf.keys, "Z9/000000") {
			proof, err := pf.after.Prove(ctx, k)
			if err != nil {
				tb.Fatal(err)
			}
			name := fmt.Sprintf("fixture%d-key%d", i, j)
			out[name] = []any{k, joinBlocks(proof), uint8(0), uint8(0)}
			if _, present[name], err = pf.after.Get(ctx, k); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return out, present
}

// fuzzInvertSeeds are FuzzInvert's inputs from the fixtures: each commit's
// inversion blocks and ops.
func fuzzInvertSeeds(tb testing.TB) map[string][]any {
	ctx := context.Background()
	out := map[string][]any{}
	for i, pf := range loadProofFixtures(tb) {
		blocks, err := InversionBlocks(ctx, pf.after, pf.ops)
		if err != nil {
			tb.Fatal(err)
		}
		root := mustRoot(tb, pf.after)
		idx := slices.IndexFunc(blocks, func(b Block) bool { return b.CID == root })
		if idx < 0 {
			tb.Fatalf("%s: the inversion blocks lack the root", pf.name)
		}
		out[fmt.Sprintf("fixture%d", i)] = []any{joinBlocks(blocks), uint8(idx), joinOps(pf.ops)}
	}
	return out
}

// TestFuzzProofSeeds: the fixture seeds decode to what they encode, so the
// fuzzers start from proofs that verify and inversions that give the
// fixtures' roots before their commits.
func TestFuzzProofSeeds(t *testing.T) {
	ctx := context.Background()
	fixtures := loadProofFixtures(t)
	seeds, present := fuzzProofSeeds(t)
	for name, s := range seeds {
		key, data := s[0].(string), s[1].([]byte)
		blocks := splitBlocks(data, 0)
		if !bytes.Equal(joinBlocks(blocks), data) {
			t.Fatalf("%s: blocks do not round-trip", name)
		}
		_, found, err := VerifyProof(ctx, fuzzRoot(blocks, 0), key, blocks)
		if err != nil || found != present[name] {
			t.Errorf("%s: VerifyProof(%s): found %v, %v", name, key, found, err)
		}
	}
	invert := fuzzInvertSeeds(t)
	for i, pf := range fixtures {
		s := invert[fmt.Sprintf("fixture%d", i)]
		blocks, ops := splitBlocks(s[0].([]byte), 0), splitOps(s[2].([]byte))
		if !slices.Equal(ops, pf.ops) {
			t.Fatalf("%s: ops %v decode as %v", pf.name, pf.ops, ops)
		}
		src := memBlocksOf(t, blocks)
		inv, err := Invert(ctx, Load(src, fuzzRoot(blocks, s[1].(uint8))), ops)
		if err != nil {
			t.Fatalf("%s: %v", pf.name, err)
		}
		if got, want := mustRoot(t, inv), mustRoot(t, pf.before); got != want {
			t.Errorf("%s: inverted root %s, want %s", pf.name, got, want)
		}
	}
}
