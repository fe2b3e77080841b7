package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
)

// TestReadEventCAR checks readEventCAR's batch of hashes: every block is
// checked, used or not, in batches of every size around the lane count,
// and the first tampered block in CAR order is reported with its offset.
func TestReadEventCAR(t *testing.T) {
	for _, n := range []int{1, 2, 3, 8, 9, 17, 40} {
		var blocks []Block
		for i := range n {
			// Lengths from a few bytes to several SHA-256 blocks.
			b, c, err := drisl.MarshalCID(map[string]any{"v": bytes.Repeat([]byte{byte(i)}, (i*37)%300)})
			if err != nil {
				t.Fatal(err)
			}
			blocks = append(blocks, Block{CID: c, Data: b})
		}
		root := blocks[0].CID
		good := rawCAR([]cid.Cid{root}, blocks)
		got, m, err := readEventCAR(good, CAROptions{})
		if err != nil || got != root || len(m) != n {
			t.Fatalf("%d blocks: root %s, %d blocks, %v", n, got, len(m), err)
		}
		for _, b := range blocks {
			if !bytes.Equal(m[b.CID], b.Data) {
				t.Fatalf("%d blocks: block %s differs", n, b.CID)
			}
		}
		for _, bad := range [][]int{{n - 1}, {n / 2, n - 1}, {0, n / 2}} {
			tampered := make([]Block, n)
			copy(tampered, blocks)
			for _, i := range bad {
				d := bytes.Clone(blocks[i].Data)
				d[len(d)-1] ^= 1
				tampered[i].Data = d
			}
			data := rawCAR([]cid.Cid{root}, tampered)
			first := bad[0]
			// The offset of the first tampered section.
			off := int64(len(rawCAR([]cid.Cid{root}, nil)))
			for _, b := range blocks[:first] {
				l := len(b.CID.Bytes()) + len(b.Data)
				off += int64(len(binary.AppendUvarint(nil, uint64(l))) + l)
			}
			_, _, err := readEventCAR(data, CAROptions{})
			var ve *VerifyError
			if !errors.As(err, &ve) || !errors.Is(err, ErrBlockHash) || ve.CID != blocks[first].CID || ve.Offset != off {
				t.Fatalf("%d blocks, tampered %v: %v (want ErrBlockHash for %s at %d)", n, bad, err, blocks[first].CID, off)
			}
		}
	}
}

// TestOneRootHeader checks the CAR header fast path against the DRISL
// decoder: it reads the headers NewCARWriter writes with one root of either
// codec, and whenever it accepts a header (here every one-byte change of
// those), the decoder accepts it too, with the same root and version 1.
func TestOneRootHeader(t *testing.T) {
	for _, root := range []cid.Cid{blk("root").CID, drisl.SumCID(drisl.CodecRaw, []byte("raw"))} {
		var buf bytes.Buffer
		if _, err := NewCARWriter(&buf, root); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		hb := data[1:] // the length varint is one byte
		if int(data[0]) != len(hb) {
			t.Fatalf("header length %d, %d bytes", data[0], len(hb))
		}
		if got, ok := oneRootHeader(hb); !ok || got != root {
			t.Fatalf("fast path: %s, %v; want %s", got, ok, root)
		}
		accepted := 0
		for i := range hb {
			for _, x := range []byte{1, 0x20, 0x80, 0xff} {
				mut := bytes.Clone(hb)
				mut[i] ^= x
				got, ok := oneRootHeader(mut)
				if !ok {
					continue
				}
				accepted++
				var h carHeader
				err := drisl.Unmarshal(mut, &h)
				if err != nil || h.Version != 1 || len(h.Roots) != 1 || h.Roots[0] != got {
					t.Fatalf("byte %d ^ %#x: fast path reads root %s, decoder %+v, %v", i, x, got, h, err)
				}
			}
		}
		if accepted == 0 {
			t.Fatal("no digest change was accepted: the comparison checked nothing")
		}
		// Other headers go to the decoder, with the same result as before.
		for _, roots := range [][]cid.Cid{nil, {root, root}} {
			var b bytes.Buffer
			if _, err := NewCARWriter(&b, roots...); err != nil {
				t.Fatal(err)
			}
			if _, ok := oneRootHeader(b.Bytes()[1:]); ok {
				t.Fatalf("%d roots: taken by the one-root fast path", len(roots))
			}
			cr, err := NewCARReaderBytes(b.Bytes(), CAROptions{})
			if err != nil || fmt.Sprint(cr.Roots) != fmt.Sprint(append([]cid.Cid{}, roots...)) {
				t.Fatalf("%d roots: %v, %v", len(roots), cr, err)
			}
		}
	}
}

// TestVerifyCommitEventOpMismatch checks that an op whose record is in the
// blocks but not in the tree is refused with ErrBadEvent naming the op,
// whether the event is inverted (mst.Invert finds the mismatch, and the
// lookups then name it) or not (legacy events without prevData).
func TestVerifyCommitEventOpMismatch(t *testing.T) {
	ctx := context.Background()
	key := testKeys(t)["P-256"]
	pub, _ := key.PublicKey()
	r, _ := postRepo(t, key, 50)
	res, err := r.Apply(ctx, []Write{
		{Action: ActionCreate, Collection: "app.bsky.feed.post", Record: post(98)},
		{Action: ActionCreate, Collection: "app.bsky.feed.post", Record: post(99)},
	}, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts := CommitCheckOptions{Key: pub, DID: testDID, Now: consumerClock}
	ev := res.Event
	if _, err := VerifyCommitEvent(ctx, ev, opts); err != nil {
		t.Fatal(err)
	}
	if len(ev.Ops) != 2 || ev.PrevData == nil {
		t.Fatalf("event has %d ops, prevData %v", len(ev.Ops), ev.PrevData)
	}
	for _, legacy := range []bool{false, true} {
		bad := *ev
		bad.Ops = append([]EventOp(nil), ev.Ops...)
		bad.Ops[0].CID, bad.Ops[1].CID = ev.Ops[1].CID, ev.Ops[0].CID // both records are in the blocks
		if legacy {
			bad.PrevData = nil
		}
		_, err := VerifyCommitEvent(ctx, &bad, opts)
		var ve *VerifyError
		if !errors.As(err, &ve) || ve.Rule != ErrBadEvent || !strings.Contains(ve.Detail, "tree does not hold op "+ev.Ops[0].Path) {
			t.Fatalf("legacy %v: swapped op values: %v, want ErrBadEvent naming %s", legacy, err, ev.Ops[0].Path)
		}
	}
}
