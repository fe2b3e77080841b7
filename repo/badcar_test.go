package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/mst"
)

// fixedKey is a K-256 key with a fixed secret, so that the bad-CAR corpus
// is deterministic (ECDSA signatures still vary; the corpus does not depend
// on them).
func fixedKey(t testing.TB) atcrypto.PrivateKey {
	k, err := atcrypto.ParsePrivateBytesK256(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// carSections splits a CAR into its header and blocks.
func carSections(t testing.TB, data []byte) (cid.Cid, []Block) {
	root, m, err := readCAR(bytes.NewReader(data), CAROptions{})
	if err != nil {
		t.Fatal(err)
	}
	cr, _ := NewCARReader(bytes.NewReader(data), CAROptions{})
	var out []Block
	for {
		c, _, err := cr.Next()
		if err != nil {
			break
		}
		out = append(out, Block{CID: c, Data: m[c]})
	}
	return root, out
}

func rawCAR(roots []cid.Cid, blocks []Block) []byte {
	var buf bytes.Buffer
	cw, _ := NewCARWriter(&buf, roots...)
	for _, b := range blocks {
		cw.WriteBlock(b.CID, b.Data) //nolint:errcheck // bytes.Buffer
	}
	return buf.Bytes()
}

// goodRepoCAR builds a small repository and exports it.
func goodRepoCAR(t testing.TB, key atcrypto.PrivateKey) []byte {
	ctx := context.Background()
	r, err := Create(ctx, NewMemStore(), testDID, key, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	var ws []Write
	for i := 0; i < 30; i++ {
		ws = append(ws, Write{Action: ActionCreate, Collection: "app.bsky.feed.post", RKey: fmt.Sprintf("3k%011d", i), Record: post(i)})
	}
	if _, err := r.Apply(ctx, ws, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := r.Export(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type badCase struct {
	name string
	car  []byte
	want error
}

// badCARs derives one bad CAR per failure class from a good one.
func badCARs(t testing.TB, key atcrypto.PrivateKey) []badCase {
	good := goodRepoCAR(t, key)
	root, blocks := carSections(t, good)
	commit, err := DecodeCommit(blocks[0].Data)
	if err != nil || blocks[0].CID != root {
		t.Fatal("first block is not the commit")
	}
	isRecord := func(b Block) bool {
		var v map[string]any
		return drisl.Unmarshal(b.Data, &v) == nil && v["$type"] != nil
	}
	var recIdx, nodeIdx int
	for i, b := range blocks {
		if i > 0 && isRecord(b) && recIdx == 0 {
			recIdx = i
		}
		if i > 0 && !isRecord(b) && b.CID != commit.Data && nodeIdx == 0 {
			nodeIdx = i
		}
	}
	without := func(skip int) []Block {
		out := append([]Block(nil), blocks[:skip]...)
		return append(out, blocks[skip+1:]...)
	}
	var cases []badCase
	cases = append(cases, badCase{"truncated", good[:len(good)-7], ErrTruncated})
	cases = append(cases, badCase{"truncated-header", good[:5], ErrTruncated})
	cases = append(cases, badCase{"wrong-root", rawCAR([]cid.Cid{blk("elsewhere").CID}, blocks), ErrWrongRoot})
	cases = append(cases, badCase{"two-roots", rawCAR([]cid.Cid{root, root}, blocks), ErrWrongRoot})
	cases = append(cases, badCase{"missing-record", rawCAR([]cid.Cid{root}, without(recIdx)), ErrMissingBlock})
	cases = append(cases, badCase{"missing-node", rawCAR([]cid.Cid{root}, without(nodeIdx)), ErrMissingBlock})
	tampered := append([]Block(nil), blocks...)
	td := bytes.Clone(tampered[recIdx].Data)
	td[len(td)-2] ^= 0x01
	tampered[recIdx] = Block{CID: tampered[recIdx].CID, Data: td}
	cases = append(cases, badCase{"tampered-record", rawCAR([]cid.Cid{root}, tampered), ErrBlockHash})

	// Wrong key: the same repository signed by another key.
	other, err := atcrypto.ParsePrivateBytesK256(bytes.Repeat([]byte{0x43}, 32))
	if err != nil {
		t.Fatal(err)
	}
	resigned := *commit
	if err := resigned.Sign(other); err != nil {
		t.Fatal(err)
	}
	rdata, rcid, _ := resigned.Encode()
	cases = append(cases, badCase{"wrong-key", rawCAR([]cid.Cid{rcid}, append([]Block{{CID: rcid, Data: rdata}}, blocks[1:]...)), ErrBadSignature})

	// Non-canonical MST: two layer-0 keys in one node whose second entry
	// does not share its prefix with the first (p = 0), signed correctly.
	rec := blk("record")
	rec.Data, rec.CID, _ = drisl.MarshalCID(post(1))
	var keys []string
	for i := 0; len(keys) < 2; i++ {
		k := fmt.Sprintf("app.bsky.feed.post/3k%011d", i)
		if mst.KeyHeight(k) == 0 {
			keys = append(keys, k)
		}
	}
	node := map[string]any{"l": nil, "e": []any{
		map[string]any{"p": int64(0), "k": []byte(keys[0]), "v": rec.CID, "t": nil},
		map[string]any{"p": int64(0), "k": []byte(keys[1]), "v": rec.CID, "t": nil},
	}}
	ndata, ncid, err := drisl.MarshalCID(node)
	if err != nil {
		t.Fatal(err)
	}
	nc := Commit{DID: testDID, Version: 3, Data: ncid, Rev: commit.Rev}
	if err := nc.Sign(key); err != nil {
		t.Fatal(err)
	}
	ncdata, nccid, _ := nc.Encode()
	cases = append(cases, badCase{"non-canonical-mst", rawCAR([]cid.Cid{nccid}, []Block{{CID: nccid, Data: ncdata}, {CID: ncid, Data: ndata}, rec}), ErrBadMST})

	// A record that is not DRISL (raw bytes under a dag-cbor CID is fine
	// for the CAR, not for a record).
	notDRISL := []byte{0xa1, 0x61, 0x61, 0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0} // {"a": NaN}
	bc := drisl.SumCID(drisl.CodecDagCBOR, notDRISL)
	t2, _, _ := mst.Empty(nil).Put(context.Background(), "app.bsky.feed.post/3k00000000000", bc)
	t2root, _ := t2.Root(context.Background())
	t2nodes, _ := t2.NewBlocks(context.Background(), nil)
	bcm := Commit{DID: testDID, Version: 3, Data: t2root, Rev: commit.Rev}
	bcm.Sign(key) //nolint:errcheck
	bcdata, bccid, _ := bcm.Encode()
	bblocks := []Block{{CID: bccid, Data: bcdata}, {CID: bc, Data: notDRISL}}
	for _, n := range t2nodes {
		bblocks = append(bblocks, Block{CID: n.CID, Data: n.Data})
	}
	cases = append(cases, badCase{"bad-record", rawCAR([]cid.Cid{bccid}, bblocks), ErrBadRecord})
	cases = append(cases, badCase{"bad-commit", rawCAR([]cid.Cid{blocks[recIdx].CID}, blocks), ErrBadCommit})
	cases = append(cases, badCase{"not-a-car", []byte("\x05hello"), ErrMalformedCAR})

	// Non-canonical varint framing (CARv1 uses multiformats unsigned
	// varints: minimal, at most 9 bytes). The good CAR's header length is
	// one byte; each case spells the same length differently.
	hlen, rest := good[0], good[1:]
	if hlen >= 0x80 {
		t.Fatal("header length is not a one-byte varint")
	}
	reframe := func(prefix ...byte) []byte { return append(append([]byte(nil), prefix...), rest...) }
	// 10 bytes whose high bits overflow 64 bits: a plain LEB128 reader
	// wraps this to the real header length.
	cases = append(cases, badCase{"varint-overflow", reframe(hlen|0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02), ErrMalformedCAR})
	// 10 bytes that fit in 64 bits, still longer than 9.
	cases = append(cases, badCase{"varint-ten-bytes", reframe(hlen|0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), ErrMalformedCAR})
	cases = append(cases, badCase{"varint-non-minimal", reframe(hlen|0x80, 0x00), ErrMalformedCAR})
	// The same in a block's section length (the first block follows the
	// header).
	first := 1 + int(hlen)
	slen, n := binary.Uvarint(good[first:])
	if n <= 0 {
		t.Fatal("first section length")
	}
	padded := binary.AppendUvarint(nil, slen)
	padded[len(padded)-1] |= 0x80
	padded = append(padded, 0x00)
	cases = append(cases, badCase{"section-varint-non-minimal", append(append(bytes.Clone(good[:first]), padded...), good[first+n:]...), ErrMalformedCAR})
	return cases
}

var allRules = []error{ErrTruncated, ErrMalformedCAR, ErrWrongRoot, ErrMissingBlock, ErrBlockHash, ErrBadCommit, ErrBadSignature, ErrBadMST, ErrBadRecord}

func TestBadCARCorpus(t *testing.T) {
	ctx := context.Background()
	key := fixedKey(t)
	pub, _ := key.PublicKey()
	good := goodRepoCAR(t, key)
	if _, err := VerifyCAR(ctx, bytes.NewReader(good), VerifyOptions{Key: pub, DID: testDID}); err != nil {
		t.Fatalf("good CAR: %v", err)
	}
	for _, c := range badCARs(t, key) {
		t.Run(c.name, func(t *testing.T) {
			_, err := VerifyCAR(ctx, bytes.NewReader(c.car), VerifyOptions{Key: pub, DID: testDID})
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if strings.Contains(c.name, "varint") && !strings.Contains(err.Error(), "varint") {
				t.Fatalf("refused for another reason than the varint: %v", err)
			}
			for _, r := range allRules {
				if r != c.want && errors.Is(err, r) {
					t.Fatalf("error %v also matches %v", err, r)
				}
			}
			// Import refuses it too and stores nothing.
			s := NewMemStore()
			if _, err := Import(ctx, s, bytes.NewReader(c.car), nil, VerifyOptions{Key: pub, DID: testDID}, Options{}); !errors.Is(err, c.want) {
				t.Fatalf("Import: %v", err)
			}
			if _, err := s.Head(ctx, testDID); !errors.Is(err, ErrRepoNotFound) {
				t.Fatal("Import stored a bad repository")
			}
		})
	}
	if _, err := VerifyCAR(ctx, bytes.NewReader(good), VerifyOptions{Key: pub, DID: testDID, Commit: blk("x").CID}); !errors.Is(err, ErrWrongRoot) {
		t.Fatalf("expected commit: %v", err)
	}
	if _, err := VerifyCAR(ctx, bytes.NewReader(good), VerifyOptions{Key: pub, DID: "did:plc:someoneelse"}); !errors.Is(err, ErrBadCommit) {
		t.Fatalf("other DID: %v", err)
	}
}

// TestWriteFuzzCorpus regenerates the committed seed corpus of
// FuzzVerifyCAR when REPO_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("REPO_WRITE_CORPUS") != "1" {
		t.Skip("set REPO_WRITE_CORPUS=1 to rewrite testdata/fuzz/FuzzVerifyCAR")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzVerifyCAR")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	key := fixedKey(t)
	write := func(name string, data []byte) {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("good", goodRepoCAR(t, key))
	for _, c := range badCARs(t, key) {
		write(c.name, c.car)
	}
}

func FuzzVerifyCAR(f *testing.F) {
	key := fixedKey(f)
	pub, _ := key.PublicKey()
	f.Add([]byte{})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := VerifyOptions{Key: pub, DID: testDID, CAR: CAROptions{MaxBlockBytes: 1 << 16, MaxCARBytes: 1 << 20, MaxBlocks: 1 << 12}}
		if err := readAllCAR(data, opts.CAR); err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformedCAR) && !errors.Is(err, ErrBlockHash) {
			t.Fatalf("CAR reader: %v", err)
		}
		v, err := VerifyCAR(ctx, bytes.NewReader(data), opts)
		if err != nil {
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		// Whatever verifies imports, exports and verifies again.
		s := NewMemStore()
		r, err := Import(ctx, s, bytes.NewReader(data), nil, opts, Options{})
		if err != nil {
			t.Fatalf("verified but Import failed: %v", err)
		}
		var out bytes.Buffer
		if err := r.Export(ctx, &out); err != nil {
			t.Fatal(err)
		}
		v2, err := VerifyCAR(ctx, bytes.NewReader(out.Bytes()), opts)
		if err != nil || v2.CommitCID != v.CommitCID || len(v2.Records) != len(v.Records) {
			t.Fatalf("re-export: %v", err)
		}
	})
}
